"""The folders at the top of the NFS export: the Job that prepares the three on an export we do not run, and the
Job that prepares the teams' folders (hub.groups) on any export."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.storage.nfs_endpoint import NfsEndpoint
from components.settings import StorageSettings

# The notebook user of the Jupyter Docker Stacks images (jovyan, group users): jupyter/docker-stacks,
# images/docker-stacks-foundation/Dockerfile, 'ARG NB_UID="1000"' and 'ARG NB_GID="100"', at the commits that built
# the images in use: 92e38afb8743c95e67b098695cc332e7d05a0568 (2026-08-07) and
# 8209386950497966c8a9aa446b9a84a5dd78eab5 (2026-08-08).
NOTEBOOK_UID = 1000
NOTEBOOK_GID = 100
# The tag 1.37.0 is docker-library/busybox's latest-1/glibc (docker-library/official-images, library/busybox at
# 37079fb336f572a88700cf32e5e1f6be54a04e8f: "Tags: 1.37.0, 1.37", "amd64-Directory: latest-1/glibc/amd64"), built by
# latest-1/glibc/Dockerfile.builder (docker-library/busybox at e7bf068f570ae5a3236675c3c6b22a576773e833): BusyBox's
# "make defconfig", then "busybox --install /bin". Its root filesystem, the image's one layer (sha256 436a1b1f...;
# latest-1/glibc/amd64/rootfs.tar.gz on branch dist-amd64 at 70ce0fb98bee360bbcce132660d727bf6ce55a99), has sh,
# mkdir, stat, chown and chmod in /bin (all the applets: tests/test_image_layout.py); stat -c is
# FEATURE_STAT_FORMAT, "default y" (coreutils/stat.c, mirror/busybox at 371fe9f71d445d18be28c82a2a6d82115c8af19d,
# its newest commit, older than 1.37.0). latest-1/glibc/amd64/image-config.json sets no User: it runs as root.
BUSYBOX_IMAGE = "docker.io/library/busybox:1.37.0"
PREPARE_FOLDERS_SCRIPT = (Path(__file__).parent / "files" / "prepare-folders.sh").read_text()
PREPARE_GROUP_FOLDERS_SCRIPT = (Path(__file__).parent / "files" / "prepare-group-folders.sh").read_text()
LABELS = {"app.kubernetes.io/part-of": "ml-training", "app.kubernetes.io/component": "storage"}
# The capabilities prepare-folders.sh uses as root: chown(2) of each folder to the notebook user (CAP_CHOWN), then
# chmod(2) of a folder that the notebook user now owns (EPERM without CAP_FOWNER), where the shared folder's
# set-group-ID bit, for a group root is not in, stays only with CAP_FSETID. mkdir needs none: the export's top
# directory is root's on a new volume or a node's directory that the kubelet creates, and over NFS the server
# decides, root not squashed.
PREPARE_FOLDERS_CAPABILITIES = ("CHOWN", "FOWNER", "FSETID")
# prepare-group-folders.sh does the same to the teams' folders, and leaves their parent folder root's (mkdir as root).
PREPARE_GROUP_FOLDERS_CAPABILITIES = PREPARE_FOLDERS_CAPABILITIES
# The owner of the groups folder itself: only root renames or removes a team's folder (prepare-group-folders.sh).
GROUPS_OWNER = "0:0"


# The pod of a Job that writes the public folder as the notebook user, who owns it (prepare-folders.sh: owner
# USER_UID:USER_GID, mode 755), not as root.
AS_NOTEBOOK_USER = {"runAsUser": NOTEBOOK_UID, "runAsGroup": NOTEBOOK_GID, "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"}}


def _as_root_with(capabilities: tuple[str, ...]) -> dict:
    """The container settings of a folder script: root with only the capabilities it uses, its requests and limit."""
    return {
        "securityContext": {
            "runAsUser": 0,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": list(capabilities)},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }


def prepare_folders_container(settings: StorageSettings, export_dir: str) -> dict:
    """A container that creates the folders in the export mounted at export_dir (volume "export")."""
    return {
        "name": "prepare-folders",
        "image": BUSYBOX_IMAGE,
        "command": ["sh", "-c", PREPARE_FOLDERS_SCRIPT],
        "env": [
            {"name": "EXPORT_DIR", "value": export_dir},
            {"name": "PUBLIC_FOLDER", "value": settings.public_folder},
            {"name": "SHARED_FOLDER", "value": settings.shared_folder},
            {"name": "HOME_FOLDER", "value": settings.home_folder},
            {"name": "USER_UID", "value": str(NOTEBOOK_UID)},
            {"name": "USER_GID", "value": str(NOTEBOOK_GID)},
        ],
        # Root, as chown needs (the export must not squash root: README, Storage), with only what the script does
        # as root to folders it may not own (tests/test_security.py runs it with exactly these on a fresh and on a
        # prepared export; busybox's chown and chmod are the syscalls chown(2) and chmod(2)).
        **_as_root_with(PREPARE_FOLDERS_CAPABILITIES),
        "volumeMounts": [{"name": "export", "mountPath": export_dir}],
    }


def prepare_group_folders_container(settings: StorageSettings, export_dir: str) -> dict:
    """A container that creates the teams' folders in the export mounted at export_dir (volume "export")."""
    return {
        "name": "prepare-group-folders",
        "image": BUSYBOX_IMAGE,
        "command": ["sh", "-c", PREPARE_GROUP_FOLDERS_SCRIPT],
        "env": [
            {"name": "EXPORT_DIR", "value": export_dir},
            {"name": "GROUPS_FOLDER", "value": settings.groups_folder},
            {"name": "GROUPS_OWNER", "value": GROUPS_OWNER},
            {"name": "TEAM_FOLDERS", "value": " ".join(settings.group_folders)},
            {"name": "USER_UID", "value": str(NOTEBOOK_UID)},
            {"name": "USER_GID", "value": str(NOTEBOOK_GID)},
        ],
        # As prepare-folders above (tests/storage/test_storage_scripts.py runs it with exactly these capabilities).
        **_as_root_with(PREPARE_GROUP_FOLDERS_CAPABILITIES),
        "volumeMounts": [{"name": "export", "mountPath": export_dir}],
    }


def content_hash(*parts: str) -> str:
    """A short hash for a Job name, so that a Job with changed work is a new Job."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class FolderPreparationArgs:
    settings: StorageSettings
    cluster: ClusterResult
    endpoint: NfsEndpoint


def _export_job(resource_name: str, job_name: str, container: dict, args: FolderPreparationArgs,
                parent: pulumi.Resource) -> k8s.batch.v1.Job:
    """A one-shot Job that runs a folder script's container on the export, mounted over NFS."""
    return k8s.batch.v1.Job(
        resource_name,
        metadata={"name": job_name, "namespace": args.cluster.namespace, "labels": LABELS},
        spec={
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": args.cluster.core_node_selector,
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": [{"name": "export", "nfs": args.endpoint.volume_source()}],
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=parent, provider=args.cluster.provider),
    )


class FolderPreparation(pulumi.ComponentResource):
    """A one-shot Job that prepares the folders on an external or Filestore export, mounted over NFS."""

    job: k8s.batch.v1.Job
    endpoint: NfsEndpoint  # the export once the folders exist: its consumers wait for the Job

    def __init__(self, name: str, args: FolderPreparationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:FolderPreparation", name, None, opts)
        settings = args.settings
        job_name = "prepare-folders-" + content_hash(
            PREPARE_FOLDERS_SCRIPT, settings.public_folder, settings.shared_folder, settings.home_folder)
        self.job = _export_job(f"{name}-job", job_name, prepare_folders_container(settings, "/export"), args, self)
        self.endpoint = args.endpoint.once(self.job.metadata.name)
        self.register_outputs({"job": self.job.metadata.name})


class GroupFolderPreparation(pulumi.ComponentResource):
    """A one-shot Job that creates the teams' folders over NFS, on every kind of export.

    A Job of its own, also beside the in-cluster server (whose init container prepares the other folders): a team
    added during a class then restarts no NFS server, which would stall every trainee's files for its grace period."""

    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: FolderPreparationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:GroupFolderPreparation", name, None, opts)
        settings = args.settings
        job_name = "prepare-group-folders-" + content_hash(
            PREPARE_GROUP_FOLDERS_SCRIPT, settings.groups_folder, *settings.group_folders)
        self.job = _export_job(f"{name}-job", job_name, prepare_group_folders_container(settings, "/export"), args,
                               self)
        self.register_outputs({"job": self.job.metadata.name})
