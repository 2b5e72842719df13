"""Storage for the three folders: where the NFS export is, and the claims and class that use it.

NfsStorage puts together, by storage.mode, the NFS server (or an external one), the folders on the
export, the datasets and course material, the volumes of the public and shared folders, and the
provisioner of the personal folders. The result types below are the contract the hub and the tests rely on.

    in-cluster  GceDataDisk (gke) | StorageClassVolume | a node's directory  ->  NfsServer
    filestore   FilestoreShare                                              ->  FolderPreparation
    external    storage.server:storage.path                                 ->  FolderPreparation
    then        DatasetSeeding, CourseMaterials (if any), NfsVolumes (public, shared), NfsProvisioner (personal folders)
    and         GroupFolderPreparation (the teams' folders, with hub.groups)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.cluster.cluster import ClusterResult
from components.storage.data_volume import GceDataDisk, GceDataDiskArgs, StorageClassVolume, StorageClassVolumeArgs
from components.storage.datasets import DatasetSeeding, DatasetSeedingArgs
from components.storage.filestore import FilestoreShare, FilestoreShareArgs
from components.storage.filestore import mount_options as filestore_mount_options
from components.storage.folders import FolderPreparation, FolderPreparationArgs, GroupFolderPreparation
from components.storage.materials import CourseMaterials, CourseMaterialsArgs
from components.storage.nfs_endpoint import NfsEndpoint
from components.storage.nfs_server import NfsServer, NfsServerArgs
from components.storage.provisioner import NfsProvisioner, NfsProvisionerArgs
from components.settings import ClusterSettings, StorageSettings
from components.storage.volumes import NfsVolumes, NfsVolumesArgs


@dataclass(frozen=True)
class StorageResult:
    endpoint: NfsEndpoint
    public_claim: pulumi.Output[str]  # PVC of the public folder, ReadOnlyMany
    shared_claim: pulumi.Output[str]  # PVC of the shared folder, ReadWriteMany
    storage_class: pulumi.Output[str]  # StorageClass of the personal folders (dynamic provisioner)
    trainees_claim: Optional[pulumi.Output[str]] = None  # PVC of every personal folder (hub.trainerView)
    groups_claim: Optional[pulumi.Output[str]] = None  # PVC of the teams' folders, once they exist (hub.groups)


# Mount options of every NFS volume, by storage.mode: the in-cluster Ganesha serves NFSv4.1+ only; Filestore
# by tier (filestore.mount_options); an external server negotiates with the client.
def mount_options(settings: StorageSettings) -> tuple[str, ...]:
    if settings.mode == "filestore":
        return filestore_mount_options(settings.filestore_tier)
    return ("nfsvers=4.1",) if settings.mode == "in-cluster" else ()


@dataclass(frozen=True)
class NfsStorageArgs:
    settings: StorageSettings
    cluster: ClusterResult
    cluster_settings: ClusterSettings  # the cluster's name and, on gke, its project, location and network


class NfsStorage(pulumi.ComponentResource):
    """The NFS export by storage.mode, its folders, datasets and course material, and the volumes that mount it."""

    result: StorageResult

    def __init__(self, name: str, args: NfsStorageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:NfsStorage", name, None, opts)
        settings, cluster = args.settings, args.cluster
        child = pulumi.ResourceOptions(parent=self)

        # The export, once its folders exist: everything below mounts it through these outputs.
        if settings.mode == "in-cluster":
            endpoint = NfsServer(f"{name}-server", NfsServerArgs(
                settings=settings, cluster=cluster, data_volume=self._data_volume(name, args),
                node_selector=self._server_node_selector(args),
            ), opts=child).endpoint
        else:
            if settings.mode == "filestore":
                endpoint = FilestoreShare(f"{name}-filestore", FilestoreShareArgs(
                    settings=settings, gke=args.cluster_settings.gke, instance_name=f"{args.cluster_settings.name}-nfs",
                ), opts=child).endpoint
            else:
                endpoint = NfsEndpoint(server=pulumi.Output.from_input(settings.server),
                                       path=pulumi.Output.from_input(settings.path))
            endpoint = FolderPreparation(f"{name}-folders", FolderPreparationArgs(
                settings=settings, cluster=cluster, endpoint=endpoint), opts=child).endpoint

        if settings.datasets:
            DatasetSeeding(f"{name}-datasets", DatasetSeedingArgs(
                settings=settings, cluster=cluster, endpoint=endpoint, anonymous_gcs=cluster.kind != "gke",
            ), opts=child)
        if settings.materials:
            CourseMaterials(f"{name}-materials", CourseMaterialsArgs(settings=settings, cluster=cluster, endpoint=endpoint),
                            opts=child)
        options = mount_options(settings)
        volumes = NfsVolumes(f"{name}-volumes", NfsVolumesArgs(
            settings=settings, cluster=cluster, endpoint=endpoint, mount_options=options), opts=child)
        provisioner = NfsProvisioner(f"{name}-provisioner", NfsProvisionerArgs(
            settings=settings, cluster=cluster, endpoint=endpoint, mount_options=options), opts=child)
        groups_claim = volumes.groups_claim
        if settings.group_folders:
            # A member's server mounts its team's folder as a subPath, which the kubelet would otherwise create as
            # root: whoever mounts the claim waits for the folders (and a changed list of teams, for the new Job).
            folders = GroupFolderPreparation(f"{name}-groups", FolderPreparationArgs(
                settings=settings, cluster=cluster, endpoint=endpoint), opts=child)
            groups_claim = pulumi.Output.all(groups_claim, folders.job.metadata.name).apply(lambda parts: parts[0])

        self.result = StorageResult(
            endpoint=endpoint,
            public_claim=volumes.public_claim,
            shared_claim=volumes.shared_claim,
            storage_class=provisioner.storage_class_name,
            trainees_claim=volumes.trainees_claim,
            groups_claim=groups_claim,
        )
        self.register_outputs({"server": endpoint.server, "path": endpoint.path,
                               "storage_class": provisioner.storage_class_name})

    def _data_volume(self, name: str, args: NfsStorageArgs) -> dict:
        """The pod volume source of the in-cluster server's data."""
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        if args.cluster_settings.type == "gke":
            disk = GceDataDisk(f"{name}-data", GceDataDiskArgs(
                settings=settings, gke=args.cluster_settings.gke, cluster=args.cluster,
                disk_name=f"{args.cluster_settings.name}-nfs-data",
            ), opts=child)
            return {"persistentVolumeClaim": {"claimName": disk.claim_name}}
        if settings.host_path:
            return {"hostPath": {"path": settings.host_path, "type": "DirectoryOrCreate"}}
        claim = StorageClassVolume(f"{name}-data", StorageClassVolumeArgs(settings=settings, cluster=args.cluster),
                                   opts=child)
        return {"persistentVolumeClaim": {"claimName": claim.claim_name}}

    @staticmethod
    def _server_node_selector(args: NfsStorageArgs) -> dict[str, str]:
        selector = dict(args.cluster.core_node_selector)
        if args.settings.host_path and args.cluster_settings.type != "gke":
            selector["kubernetes.io/hostname"] = args.settings.node
        return selector
