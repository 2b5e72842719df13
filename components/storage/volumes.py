"""The public and shared folders as claims, and those of the trainers' view and the team folders when configured:
a release of the local chart charts/nfs-volumes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.storage.folders import LABELS
from components.storage.nfs_endpoint import NfsEndpoint
from components.settings import StorageSettings

CHART = Path(__file__).resolve().parents[2] / "charts" / "nfs-volumes"
PUBLIC_CLAIM = "nfs-public"
SHARED_CLAIM = "nfs-shared"
TRAINEES_CLAIM = "nfs-trainees"  # the folder of every personal folder (hub.trainerView)
GROUPS_CLAIM = "nfs-groups"  # the folder of the teams' folders (hub.groups)


@dataclass(frozen=True)
class NfsVolumesArgs:
    settings: StorageSettings
    cluster: ClusterResult
    endpoint: NfsEndpoint
    mount_options: tuple[str, ...]


class NfsVolumes(pulumi.ComponentResource):
    """PersistentVolumes bound to claims: public ReadOnlyMany (mounted read-only), shared ReadWriteMany; with
    hub.trainerView the personal folders' folder, with hub.groups the teams' folders' folder, ReadWriteMany."""

    release: k8s.helm.v3.Release
    public_claim: pulumi.Output[str]
    shared_claim: pulumi.Output[str]
    trainees_claim: Optional[pulumi.Output[str]]  # None without hub.trainerView
    groups_claim: Optional[pulumi.Output[str]]  # None without hub.groups

    def __init__(self, name: str, args: NfsVolumesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:NfsVolumes", name, None, opts)
        settings = args.settings
        values = {
            "server": args.endpoint.server,
            "path": args.endpoint.path,
            "mountOptions": list(args.mount_options),
            "labels": LABELS,
            "public": {"folder": settings.public_folder, "claimName": PUBLIC_CLAIM, "size": settings.size},
            "shared": {"folder": settings.shared_folder, "claimName": SHARED_CLAIM, "size": settings.size},
        }
        if settings.trainer_view:
            values["trainees"] = {"folder": settings.home_folder, "claimName": TRAINEES_CLAIM, "size": settings.size}
        if settings.group_folders:
            values["groups"] = {"folder": settings.groups_folder, "claimName": GROUPS_CLAIM, "size": settings.size}
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="nfs-volumes",
            # Relative to the working directory (the project directory under Pulumi): the same on every checkout.
            chart=os.path.join(".", os.path.relpath(CHART)),
            namespace=args.cluster.namespace,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, provider=args.cluster.provider),
        )
        # The claim names, as outputs of the release: whoever mounts them waits for it.
        self.public_claim = self.release.name.apply(lambda _: PUBLIC_CLAIM)
        self.shared_claim = self.release.name.apply(lambda _: SHARED_CLAIM)
        self.trainees_claim = self.release.name.apply(lambda _: TRAINEES_CLAIM) if settings.trainer_view else None
        self.groups_claim = self.release.name.apply(lambda _: GROUPS_CLAIM) if settings.group_folders else None
        self.register_outputs({"public_claim": self.public_claim, "shared_claim": self.shared_claim})
