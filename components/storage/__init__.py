"""Storage: the one NFS export with the public, shared and personal folders, and what fills and keeps it."""
