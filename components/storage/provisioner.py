"""Personal folders: the NFS CSI driver and a StorageClass whose volumes are folders under home/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.storage.folders import LABELS
from components.storage.nfs_endpoint import NfsEndpoint
from components.settings import StorageSettings

# The NFS CSI driver of Kubernetes SIG Storage: dynamic volumes as subdirectories of an export, named by
# a template, and kept (retain) or renamed (archive) when deleted.
CSI_DRIVER_NFS_REPOSITORY = "https://kubernetes-csi.github.io/csi-driver-nfs"
CSI_DRIVER_NFS_CHART = "csi-driver-nfs"
CSI_DRIVER_NFS_VERSION = "4.13.4"
DRIVER = "nfs.csi.k8s.io"
# By default the chart registers the driver with fsGroupPolicy File (kubernetes-csi/csi-driver-nfs, tag v4.13.4,
# charts/v4.13.4/csi-driver-nfs/values.yaml feature.enableFSGroupPolicy: true, and templates/
# csi-nfs-driverinfo.yaml), so the kubelet re-owns every file of a volume to the pod's fsGroup, recursively
# over NFS, at every mount: a trainee's server would start slower the more they have saved. Without it the
# CSIDriver keeps Kubernetes' default ReadWriteOnceWithFSType, which changes nothing on a volume without an
# fsType, as NFS volumes are. Folders stay writable for uid 1000 (mountPermissions of the StorageClass below)
# and private (each is mounted only into its owner's server).
DRIVER_FEATURES = {"enableFSGroupPolicy": False}


@dataclass(frozen=True)
class NfsProvisionerArgs:
    settings: StorageSettings
    cluster: ClusterResult
    endpoint: NfsEndpoint
    mount_options: tuple[str, ...]


class NfsProvisioner(pulumi.ComponentResource):
    """Installs the driver (kube-system), unless the cluster runs it already, and declares the StorageClass of
    personal folders."""

    release: Optional[k8s.helm.v3.Release]  # None with storage.nfsCsiDriver existing
    storage_class: k8s.storage.v1.StorageClass
    storage_class_name: pulumi.Output[str]

    def __init__(self, name: str, args: NfsProvisionerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:NfsProvisioner", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)
        self.release = self._driver(name, args, child) if settings.nfs_csi_driver == "install" else None
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-storage-class",
            metadata={"name": pulumi.Output.concat(args.cluster.namespace, "-personal"), "labels": LABELS},
            provisioner=DRIVER,
            # A driver the cluster runs already must know these parameters: subDir's ${pvc.metadata.name} since
            # csi-driver-nfs v4.1.0, onDelete since v4.3.0 and its value archive since v4.5.0 (kubernetes-csi/
            # csi-driver-nfs, pkg/nfs/controllerserver.go newNFSVolume and pkg/nfs/utils.go supportedOnDeleteValues at
            # those tags); an older one refuses every claim ("invalid parameter", or "invalid value archive").
            parameters={
                "server": args.endpoint.server,
                "share": args.endpoint.path.apply(lambda path: f"{path.rstrip('/')}/{settings.home_folder}"),
                # One folder per claim, named after it: a claim deleted and created again (same user) gets
                # the same folder back.
                "subDir": "${pvc.metadata.name}",
                "onDelete": settings.on_delete,
                # Trainees' servers all run as uid 1000, and a folder is mounted only into its owner's pod,
                # so the mode isolates nobody; 0777 keeps the folder writable whichever uid the export maps
                # the driver's mkdir to.
                "mountPermissions": "0777",
            },
            # Deleting a claim keeps its volume and folder; an admin reclaims them deliberately.
            reclaim_policy="Retain",
            volume_binding_mode="Immediate",
            mount_options=list(args.mount_options),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[self.release] if self.release else [])),
        )
        self.storage_class_name = self.storage_class.metadata.name
        self.register_outputs({"storage_class": self.storage_class_name})

    @staticmethod
    def _driver(name: str, args: NfsProvisionerArgs, child: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
        controller = {
            "replicas": 1,
            # Even if a volume's reclaim policy is switched to Delete, its folder stays.
            "defaultOnDeletePolicy": "retain",
            # Volume snapshots are not used; the sidecar would need the snapshot CRDs.
            "enableSnapshotter": False,
        }
        if args.cluster.core_node_selector:
            controller["nodeSelector"] = args.cluster.core_node_selector
        return k8s.helm.v3.Release(
            f"{name}-release",
            # The name and namespace of upstream's own install command (kubernetes-csi/csi-driver-nfs, tag v4.13.4,
            # charts/README.md): a cluster that runs the driver that way needs storage.nfsCsiDriver existing.
            name="csi-driver-nfs",
            chart=CSI_DRIVER_NFS_CHART,
            version=CSI_DRIVER_NFS_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CSI_DRIVER_NFS_REPOSITORY),
            # Upstream's place: its pods use the system-cluster-critical priority class, which GKE allows
            # only there. The node plugin tolerates every taint, so it also runs on the user pool.
            namespace="kube-system",
            # Names the export in `helm list`; and the driver is installed once the export is served.
            description=pulumi.Output.concat("NFS CSI driver for the personal folders on ", args.endpoint.server,
                                             ":", args.endpoint.path),
            values={
                "controller": controller,
                "feature": dict(DRIVER_FEATURES),
                "storageClass": {"create": False},
                "externalSnapshotter": {"enabled": False},
            },
            opts=child,
        )
