"""A Google Filestore instance as the NFS export (storage.mode filestore)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_gcp as gcp

from components.storage.data_volume import KEEP, size_gib
from components.storage.nfs_endpoint import NfsEndpoint
from components.settings import FILESTORE_ZONAL_TIERS, GkeSettings, StorageSettings

SHARE_NAME = "training"
# Tiers that serve NFSv4.1 (pulumi/pulumi-gcp 10.2.0, sdk/python/pulumi_gcp/filestore/instance.py, `protocol`:
# "NFSv4.1 can be used with HIGH_SCALE_SSD, ZONAL, REGIONAL and ENTERPRISE"); the basic tiers serve NFSv3 only.
NFS4_TIERS = ("ZONAL", "REGIONAL", "ENTERPRISE")


def mount_options(tier: str) -> tuple[str, ...]:
    """NFSv4.1, whose locks are part of the protocol, where the tier serves it; else NFSv3 without the lock
    protocol (NLM), which needs rpc.statd on every node: locks then hold within a node only, and no program of
    the environment relies on locks across nodes (the trainees' SQLite files stay off NFS)."""
    return ("nfsvers=4.1",) if tier in NFS4_TIERS else ("nfsvers=3", "nolock")


@dataclass(frozen=True)
class FilestoreShareArgs:
    settings: StorageSettings
    gke: GkeSettings
    instance_name: str  # unique in the project and location


class FilestoreShare(pulumi.ComponentResource):
    """A protected Filestore instance on the cluster's network; its IP and file share are the export."""

    instance: gcp.filestore.Instance
    endpoint: NfsEndpoint

    def __init__(self, name: str, args: FilestoreShareArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:FilestoreShare", name, None, opts)
        settings, gke = args.settings, args.gke
        region = gke.location if gke.regional else gke.location.rsplit("-", 1)[0]
        self.instance = gcp.filestore.Instance(
            f"{name}-instance",
            name=args.instance_name,
            project=gke.project,
            # Basic and zonal tiers live in a zone, regional and enterprise tiers in a region.
            location=settings.zone if settings.filestore_tier in FILESTORE_ZONAL_TIERS else region,
            tier=settings.filestore_tier,
            protocol="NFS_V4_1" if settings.filestore_tier in NFS4_TIERS else "NFS_V3",
            file_shares=gcp.filestore.InstanceFileSharesArgs(name=SHARE_NAME, capacity_gb=size_gib(settings.size)),
            networks=[gcp.filestore.InstanceNetworkArgs(network=gke.network, modes=["MODE_IPV4"])],
            deletion_protection_enabled=True,
            deletion_protection_reason="Holds the trainees' folders.",
            labels={"app": "ml-training", "component": "nfs-data"},
            opts=pulumi.ResourceOptions.merge(KEEP, pulumi.ResourceOptions(parent=self)),
        )
        self.endpoint = NfsEndpoint(
            server=self.instance.networks.apply(lambda networks: networks[0].ip_addresses[0]),
            path=self.instance.file_shares.apply(lambda share: f"/{share.name}"),
        )
        self.register_outputs({"server": self.endpoint.server, "path": self.endpoint.path})
