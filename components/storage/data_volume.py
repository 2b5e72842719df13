"""The volume the in-cluster NFS server keeps all data on: a protected GCE disk with daily snapshots (gke),
or a claim from a StorageClass of an existing cluster. Neither can be deleted by `pulumi destroy`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.storage.folders import LABELS
from components.settings import GkeSettings, StorageSettings, quantity_bytes

CLAIM_NAME = "nfs-data"
# Never deleted with the stack: `pulumi destroy` fails on a protected resource, and once unprotected it
# only forgets the resource. Deleting the data takes a deliberate step outside Pulumi.
KEEP = pulumi.ResourceOptions(protect=True, retain_on_delete=True)


def size_gib(quantity: str) -> int:
    return math.ceil(quantity_bytes(quantity) / 2**30)


@dataclass(frozen=True)
class GceDataDiskArgs:
    settings: StorageSettings
    gke: GkeSettings
    cluster: ClusterResult
    disk_name: str  # unique in the project and zone


class GceDataDisk(pulumi.ComponentResource):
    """A persistent disk with a daily snapshot schedule, bound to a claim through a PersistentVolume."""

    disk: gcp.compute.Disk
    snapshot_schedule: gcp.compute.ResourcePolicy
    claim_name: pulumi.Output[str]

    def __init__(self, name: str, args: GceDataDiskArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:GceDataDisk", name, None, opts)
        settings, gke = args.settings, args.gke
        zone = settings.zone
        region = zone.rsplit("-", 1)[0]
        labels = {"app": "ml-training", "component": "nfs-data"}

        self.disk = gcp.compute.Disk(
            f"{name}-disk",
            name=args.disk_name,
            project=gke.project,
            zone=zone,
            type=settings.disk_type,
            size=size_gib(settings.size),
            labels=labels,
            # A larger storage.size grows the disk through its claim (below), which also grows the filesystem.
            opts=pulumi.ResourceOptions.merge(KEEP, pulumi.ResourceOptions(parent=self, ignore_changes=["size"])),
        )
        self.snapshot_schedule = gcp.compute.ResourcePolicy(
            f"{name}-snapshot-schedule",
            name=f"{args.disk_name}-daily",
            project=gke.project,
            region=region,
            description="Daily snapshots of the training environment's NFS data disk.",
            snapshot_schedule_policy=gcp.compute.ResourcePolicySnapshotSchedulePolicyArgs(
                schedule=gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleArgs(
                    daily_schedule=gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleDailyScheduleArgs(
                        days_in_cycle=1, start_time="03:00",  # UTC, outside class hours in Europe
                    ),
                ),
                retention_policy=gcp.compute.ResourcePolicySnapshotSchedulePolicyRetentionPolicyArgs(
                    max_retention_days=settings.snapshot_retention_days,
                    # Snapshots outlive the disk: the last line of defence.
                    on_source_disk_delete="KEEP_AUTO_SNAPSHOTS",
                ),
                snapshot_properties=gcp.compute.ResourcePolicySnapshotSchedulePolicySnapshotPropertiesArgs(
                    labels=labels,
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        gcp.compute.DiskResourcePolicyAttachment(
            f"{name}-snapshot-attachment",
            name=self.snapshot_schedule.name,
            disk=self.disk.name,
            project=gke.project,
            zone=zone,
            opts=pulumi.ResourceOptions(parent=self),
        )

        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)
        namespace = args.cluster.namespace
        # The volume and its claim are of the cluster's data class, which allows expansion: a larger request of
        # the claim makes the PD CSI driver grow the disk and then, on the node, the ext4 filesystem the NFS
        # server exports. The volume's capacity is the resizer's to update: Pulumi leaves it as created.
        expandable_class = args.cluster.data_storage_class
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-volume",
            metadata={"name": pulumi.Output.concat(namespace, "-", CLAIM_NAME), "labels": LABELS},
            spec={
                "capacity": {"storage": settings.size},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": expandable_class,
                "volumeMode": "Filesystem",
                "csi": {
                    "driver": "pd.csi.storage.gke.io",
                    "volumeHandle": pulumi.Output.concat("projects/", gke.project, "/zones/", zone, "/disks/", self.disk.name),
                    "fsType": "ext4",
                },
                # A zonal disk attaches only to nodes of its zone.
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.gke.io/zone", "operator": "In", "values": [zone]},
                ]}]}},
                "claimRef": {"namespace": namespace, "name": CLAIM_NAME},
            },
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(ignore_changes=["spec.capacity"])),
        )
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-claim",
            metadata={"name": CLAIM_NAME, "namespace": namespace, "labels": LABELS},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": expandable_class,
                "volumeName": volume.metadata.name,
                "resources": {"requests": {"storage": settings.size}},
            },
            opts=k8s_opts,
        )
        self.claim_name = claim.metadata.name
        self.register_outputs({"disk": self.disk.self_link, "claim": self.claim_name})


@dataclass(frozen=True)
class StorageClassVolumeArgs:
    settings: StorageSettings
    cluster: ClusterResult


class StorageClassVolume(pulumi.ComponentResource):
    """A claim from storage.storageClass (or the cluster's Retain class for data), kept when the stack is destroyed."""

    claim_name: pulumi.Output[str]

    def __init__(self, name: str, args: StorageClassVolumeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:StorageClassVolume", name, None, opts)
        settings = args.settings
        spec = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": settings.size}},
            # Deleting the namespace deletes this claim despite its protection: only a Retain class keeps the data.
            "storageClassName": settings.storage_class or args.cluster.data_storage_class,
        }
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-claim",
            metadata={"name": CLAIM_NAME, "namespace": args.cluster.namespace, "labels": LABELS},
            spec=spec,
            opts=pulumi.ResourceOptions.merge(KEEP, pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)),
        )
        self.claim_name = claim.metadata.name
        self.register_outputs({"claim": self.claim_name})
