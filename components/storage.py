"""Storage for the three folders: where the NFS export is, and the claims and class that use it.

NfsStorage puts together, by storage.mode, the NFS server (or an external one), the folders on the
export, the datasets, the volumes of the public and shared folders, and the provisioner of the personal
folders. The result types below are the contract the hub and the tests rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.cluster import ClusterResult
from components.settings import GkeSettings, StorageSettings


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


@dataclass(frozen=True)
class NfsStorageArgs:
    settings: StorageSettings
    cluster: ClusterResult
    namespace: str  # the environment's namespace, also a prefix of cluster-wide names
    gke: Optional[GkeSettings] = None  # the GCP project, location and network of a gke cluster


class NfsStorage(pulumi.ComponentResource):
    """The NFS storage of the environment, by storage.mode (work in progress: wiring first)."""

    result: StorageResult

    def __init__(self, name: str, args: NfsStorageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:NfsStorage", name, None, opts)
        s = args.settings
        self.result = StorageResult(
            endpoint=NfsEndpoint(server=pulumi.Output.from_input(s.server), path=pulumi.Output.from_input(s.path or "/export")),
            public_claim=pulumi.Output.from_input("public"),
            shared_claim=pulumi.Output.from_input("shared"),
            storage_class=pulumi.Output.from_input(f"{args.namespace}-nfs-home"),
        )
        self.register_outputs({"server": self.result.endpoint.server, "path": self.result.endpoint.path})
