"""The hub: Zero to JupyterHub with the trainees' servers, their folders and the class schedule."""
