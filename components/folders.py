"""The three folders at the top of the NFS export, and the Job that prepares them on an export we do not run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import ClusterResult
from components.nfs_endpoint import NfsEndpoint
from components.settings import StorageSettings

# The notebook user of the Jupyter Docker Stacks images (jovyan, group users).
NOTEBOOK_UID = 1000
NOTEBOOK_GID = 100
BUSYBOX_IMAGE = "docker.io/library/busybox:1.37.0"
PREPARE_FOLDERS_SCRIPT = (Path(__file__).parent / "files" / "prepare-folders.sh").read_text()
LABELS = {"app.kubernetes.io/part-of": "ml-training", "app.kubernetes.io/component": "storage"}


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
        # chown needs root; the export must not squash root (see README, Storage).
        "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False},
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


class FolderPreparation(pulumi.ComponentResource):
    """A one-shot Job that prepares the folders on an external or Filestore export, mounted over NFS."""

    job: k8s.batch.v1.Job
    endpoint: NfsEndpoint  # the export once the folders exist: its consumers wait for the Job

    def __init__(self, name: str, args: FolderPreparationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:FolderPreparation", name, None, opts)
        settings = args.settings
        job_name = "prepare-folders-" + content_hash(
            PREPARE_FOLDERS_SCRIPT, settings.public_folder, settings.shared_folder, settings.home_folder)
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={"name": job_name, "namespace": args.cluster.namespace, "labels": LABELS},
            spec={
                "backoffLimit": 3,
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": args.cluster.core_node_selector,
                        "automountServiceAccountToken": False,
                        "containers": [prepare_folders_container(settings, "/export")],
                        "volumes": [{"name": "export", "nfs": args.endpoint.volume_source()}],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=args.cluster.provider),
        )
        self.endpoint = args.endpoint.once(self.job.metadata.name)
        self.register_outputs({"job": self.job.metadata.name})
