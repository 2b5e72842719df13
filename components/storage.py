"""Storage for the three folders: where the NFS export is, and the claims and class that use it.

The NfsStorage component and its modes are built here (see the storage issue); the result types below
are the contract the hub and the tests rely on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class NfsEndpoint:
    """Where the export is. For the in-cluster server, server is the Service's cluster IP: the kubelet
    mounts NFS volumes from the node, where cluster DNS names do not resolve."""

    server: pulumi.Output[str]
    path: pulumi.Output[str]


@dataclass(frozen=True)
class StorageResult:
    endpoint: NfsEndpoint
    public_claim: pulumi.Output[str]  # PVC of the public folder, ReadOnlyMany
    shared_claim: pulumi.Output[str]  # PVC of the shared folder, ReadWriteMany
    storage_class: pulumi.Output[str]  # StorageClass of the personal folders (dynamic provisioner)
