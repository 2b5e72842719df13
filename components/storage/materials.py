"""Course material: a Job that checks out the configured git repositories into folders of the public folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.storage.datasets import CLOUD_CLI_IMAGE
from components.storage.folders import AS_NOTEBOOK_USER, LABELS, content_hash
from components.storage.nfs_endpoint import NfsEndpoint
from components.settings import Material, StorageSettings

# git and ssh run in the dataset Job's image (components/storage/datasets.py), whose debian_slim/Dockerfile installs
# "openssh-client" and "git" (GoogleCloudPlatform/cloud-sdk-docker at b8db7c9eda7dac3c824959698cee461442ee2d26,
# unchanged there until 8bdbef49d728ce34211537d1213011225369f54b, which keeps both) on Debian 12: git 2.39 and
# OpenSSH 9.2, the versions tests/storage/test_storage_scripts.py runs the script with (StrictHostKeyChecking=accept-new:
# OpenSSH 7.6 and later). ssh wants a passwd entry for its uid: 1000 is the image's cloudsdk ("useradd -r -u 1000
# -m ... cloudsdk"). mktemp, readlink, ln and mv -T (rename(2) over the link) are Debian's coreutils.
CLONE_MATERIALS_SCRIPT = (Path(__file__).parent / "files" / "clone-materials.sh").read_text()
KEYS_DIR = "/etc/material-keys"


def material_lines(materials: tuple[Material, ...]) -> str:
    """The script's input: one line per repository, URL REF FOLDER KEY KNOWN_HOSTS (files in KEYS_DIR, or "-")."""
    def files(m: Material) -> str:
        if m.deploy_key is None:
            return "- -"
        return f"{KEYS_DIR}/{m.folder}.key " + (f"{KEYS_DIR}/{m.folder}.known_hosts" if m.known_hosts else "-")

    return "\n".join(f"{m.url} {m.ref} {m.folder} {files(m)}" for m in materials)


@dataclass(frozen=True)
class CourseMaterialsArgs:
    settings: StorageSettings
    cluster: ClusterResult
    endpoint: NfsEndpoint


class CourseMaterials(pulumi.ComponentResource):
    """Checks out storage.materials into the public folder; a changed list is a new Job, so it runs again.

    The deploy keys of ssh repositories are a Kubernetes Secret, mounted into the Job's pod only."""

    job: k8s.batch.v1.Job
    keys: Optional[k8s.core.v1.Secret]  # None when no repository needs a key

    def __init__(self, name: str, args: CourseMaterialsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:CourseMaterials", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)
        namespace = args.cluster.namespace
        with_keys = [m for m in settings.materials if m.deploy_key is not None]
        volumes = [{"name": "export", "nfs": args.endpoint.volume_source()}]
        mounts = [{"name": "export", "mountPath": "/export"}]
        self.keys = None
        if with_keys:
            data: dict[str, pulumi.Input[str]] = {}
            for m in with_keys:
                data[f"{m.folder}.key"] = m.deploy_key
                if m.known_hosts:
                    data[f"{m.folder}.known_hosts"] = m.known_hosts + "\n"
            self.keys = k8s.core.v1.Secret(
                f"{name}-keys",
                metadata={"name": "material-deploy-keys", "namespace": namespace, "labels": LABELS},
                type="Opaque",
                string_data=data,  # the keys are secret Outputs, so the whole map is secret
                opts=child,
            )
            # Mode 0444: the files are root's and the Job's user is not; the script copies the key to a file of
            # its own that only it reads, as ssh wants.
            volumes.append({"name": "keys", "secret": {"secretName": self.keys.metadata.name, "defaultMode": 0o444}})
            mounts.append({"name": "keys", "mountPath": KEYS_DIR, "readOnly": True})
        lines = material_lines(settings.materials)
        known_hosts = "\n".join(m.known_hosts for m in settings.materials)
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={
                "name": "clone-materials-" + content_hash(CLONE_MATERIALS_SCRIPT, settings.public_folder, lines,
                                                          known_hosts),
                "namespace": namespace,
                "labels": LABELS,
            },
            spec={
                # A failure three times fails the Job, and with it `pulumi up`; the pod's log names the repository.
                "backoffLimit": 2,
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "nodeSelector": args.cluster.core_node_selector,
                        "securityContext": AS_NOTEBOOK_USER,
                        "containers": [{
                            "name": "clone-materials",
                            "image": CLOUD_CLI_IMAGE,
                            "command": ["sh", "-c", CLONE_MATERIALS_SCRIPT],
                            "env": [
                                {"name": "MATERIALS", "value": lines},
                                {"name": "PUBLIC_DIR", "value": f"/export/{settings.public_folder}"},
                            ],
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                            "volumeMounts": mounts,
                        }],
                        "volumes": volumes,
                    },
                },
            },
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="30m"))),
        )
        self.register_outputs({"job": self.job.metadata.name})
