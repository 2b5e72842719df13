"""Storage for the three folders: where the NFS export is, and the claims and class that use it.

NfsStorage puts together, by storage.mode, the NFS server (or an external one), the folders on the
export, the datasets, the volumes of the public and shared folders, and the provisioner of the personal
folders. The result types below are the contract the hub and the tests rely on.

    in-cluster  GceDataDisk (gke) | StorageClassVolume | a node's directory  ->  NfsServer
    filestore   FilestoreShare                                              ->  FolderPreparation
    external    storage.server:storage.path                                 ->  FolderPreparation
    then        DatasetSeeding (if any), NfsVolumes (public, shared), NfsProvisioner (personal folders)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.cluster import ClusterResult
from components.data_volume import GceDataDisk, GceDataDiskArgs, StorageClassVolume, StorageClassVolumeArgs
from components.datasets import DatasetSeeding, DatasetSeedingArgs
from components.filestore import FilestoreShare, FilestoreShareArgs
from components.folders import FolderPreparation, FolderPreparationArgs
from components.nfs_server import NfsServer, NfsServerArgs
from components.provisioner import NfsProvisioner, NfsProvisionerArgs
from components.settings import ClusterSettings, StorageSettings
from components.volumes import NfsVolumes, NfsVolumesArgs


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


# Mount options of every NFS volume, by storage.mode: the in-cluster Ganesha serves NFSv4.1+ only; every
# Filestore tier serves NFSv3 (v4.1 only on request); an external server negotiates with the client.
MOUNT_OPTIONS = {"in-cluster": ("nfsvers=4.1",), "filestore": ("nfsvers=3",), "external": ()}


@dataclass(frozen=True)
class NfsStorageArgs:
    settings: StorageSettings
    cluster: ClusterResult
    cluster_settings: ClusterSettings  # the cluster's name and, on gke, its project, location and network


class NfsStorage(pulumi.ComponentResource):
    """The NFS export by storage.mode, its folders and datasets, and the volumes that mount it."""

    result: StorageResult

    def __init__(self, name: str, args: NfsStorageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:NfsStorage", name, None, opts)
        s, cluster = args.settings, args.cluster
        child = pulumi.ResourceOptions(parent=self)

        # The export, once its folders exist: everything below mounts it through these outputs.
        if s.mode == "in-cluster":
            server = NfsServer(f"{name}-server", NfsServerArgs(
                settings=s, cluster=cluster, data_volume=self._data_volume(name, args),
                node_selector=self._server_node_selector(args),
            ), opts=child)
            address, path = server.server, server.path
        else:
            if s.mode == "filestore":
                share = FilestoreShare(f"{name}-filestore", FilestoreShareArgs(
                    settings=s, gke=args.cluster_settings.gke, instance_name=f"{args.cluster_settings.name}-nfs",
                ), opts=child)
                address, path = share.server, share.path
            else:
                address, path = pulumi.Output.from_input(s.server), pulumi.Output.from_input(s.path)
            folders = FolderPreparation(f"{name}-folders", FolderPreparationArgs(
                settings=s, cluster=cluster, server=address, path=path), opts=child)
            address, path = folders.server, folders.path

        if s.datasets:
            DatasetSeeding(f"{name}-datasets", DatasetSeedingArgs(
                settings=s, cluster=cluster, server=address, path=path, anonymous_gcs=cluster.kind != "gke",
            ), opts=child)
        mount_options = MOUNT_OPTIONS[s.mode]
        volumes = NfsVolumes(f"{name}-volumes", NfsVolumesArgs(
            settings=s, cluster=cluster, server=address, path=path, mount_options=mount_options), opts=child)
        provisioner = NfsProvisioner(f"{name}-provisioner", NfsProvisionerArgs(
            settings=s, cluster=cluster, server=address, path=path, mount_options=mount_options), opts=child)

        self.result = StorageResult(
            endpoint=NfsEndpoint(server=address, path=path),
            public_claim=volumes.public_claim,
            shared_claim=volumes.shared_claim,
            storage_class=provisioner.storage_class_name,
        )
        self.register_outputs({"server": address, "path": path, "storage_class": provisioner.storage_class_name})

    def _data_volume(self, name: str, args: NfsStorageArgs) -> dict:
        """The pod volume source of the in-cluster server's data."""
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        if args.cluster_settings.type == "gke":
            disk = GceDataDisk(f"{name}-data", GceDataDiskArgs(
                settings=s, gke=args.cluster_settings.gke, cluster=args.cluster,
                disk_name=f"{args.cluster_settings.name}-nfs-data",
            ), opts=child)
            return {"persistentVolumeClaim": {"claimName": disk.claim_name}}
        if s.host_path:
            return {"hostPath": {"path": s.host_path, "type": "DirectoryOrCreate"}}
        claim = StorageClassVolume(f"{name}-data", StorageClassVolumeArgs(settings=s, cluster=args.cluster), opts=child)
        return {"persistentVolumeClaim": {"claimName": claim.claim_name}}

    @staticmethod
    def _server_node_selector(args: NfsStorageArgs) -> dict[str, str]:
        selector = dict(args.cluster.core_node_selector)
        if args.settings.host_path and args.cluster_settings.type != "gke":
            selector["kubernetes.io/hostname"] = args.settings.node
        return selector
