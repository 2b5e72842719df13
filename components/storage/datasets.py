"""Dataset seeding: a Job that copies the configured datasets into the public folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.storage.folders import AS_NOTEBOOK_USER, LABELS, content_hash
from components.storage.nfs_endpoint import NfsEndpoint
from components.settings import Dataset, StorageSettings

# curl for https://, gcloud for gs://, sha256sum: all in Google's Cloud CLI image, pinned by version.
# GoogleCloudPlatform/cloud-sdk-docker builds VERSION-slim from debian_slim/Dockerfile (generate_cloudbuild.py:
# 'debian_slim': 'slim', REBRAND_NAME='google-cloud-cli', GCRIO_PROJECT='google.com/cloudsdktool'). The repository
# has no tag for 555.0.0, released about February 2026 (README.md names 533.0.0 on 2025-09-05, 378b353, and 566.0.0
# on 2026-04-29, be3d974): debian_slim/Dockerfile was then as b8db7c9eda7dac3c824959698cee461442ee2d26 (2025-07-21)
# left it until 8bdbef49d728ce34211537d1213011225369f54b (2026-04-15) moved it to Debian 13:
# "FROM marketplace.gcr.io/google/debian12:latest", "apt-get install ... curl ... git gnupg",
# "google-cloud-cli=${CLOUD_SDK_VERSION}-0" (gcloud; README.md at 4d912428f54aecf49c855b52bd863baa53db5c28 points
# to "gcloud storage"). No USER line: it runs as root, but the Job runs it as the notebook user. sha256sum, cut, mkdir,
# dirname, rm, chmod and mv are Debian's coreutils, an Essential package of every Debian 12 system.
CLOUD_CLI_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:555.0.0-slim"
SEED_DATASETS_SCRIPT = (Path(__file__).parent / "files" / "seed-datasets.sh").read_text()
SERVICE_ACCOUNT = "dataset-seeder"


def dataset_lines(datasets: tuple[Dataset, ...]) -> str:
    """The script's input: one line per file, URL SHA256 TARGET (SHA256 "-" when not given)."""
    return "\n".join(f"{d.url} {d.sha256 or '-'} {d.target}" for d in datasets)


@dataclass(frozen=True)
class DatasetSeedingArgs:
    settings: StorageSettings
    cluster: ClusterResult
    endpoint: NfsEndpoint
    # Outside GKE there are no Google credentials: read gs:// objects anonymously (public buckets only).
    anonymous_gcs: bool


class DatasetSeeding(pulumi.ComponentResource):
    """Copies storage.datasets into the public folder; a changed list is a new Job, so it runs again.

    On gke the Job reads gs:// objects as its Kubernetes service account (Workload Identity): grant that
    principal read access to private buckets (README, Storage)."""

    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: DatasetSeedingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:DatasetSeeding", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)
        namespace = args.cluster.namespace
        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata={"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": LABELS},
            automount_service_account_token=False,
            opts=child,
        )
        lines = dataset_lines(settings.datasets)
        environment = [
            {"name": "DATASETS", "value": lines},
            {"name": "PUBLIC_DIR", "value": f"/export/{settings.public_folder}"},
            # gcloud's configuration, whatever HOME the runtime gives uid 1000 (the image's user cloudsdk, "useradd
            # -r -u 1000 -m ... cloudsdk" in debian_slim/Dockerfile; the image's own settings are root's, in
            # /root/.config): CLOUDSDK_CONFIG, `gcloud topic configurations`.
            {"name": "CLOUDSDK_CONFIG", "value": "/tmp/gcloud"},
        ]
        if args.anonymous_gcs:
            environment.append({"name": "CLOUDSDK_AUTH_DISABLE_CREDENTIALS", "value": "true"})
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={
                "name": "seed-datasets-" + content_hash(SEED_DATASETS_SCRIPT, settings.public_folder, lines),
                "namespace": namespace,
                "labels": LABELS,
            },
            spec={
                # A download that fails three times fails the Job, and with it `pulumi up`.
                "backoffLimit": 2,
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": account.metadata.name,
                        "automountServiceAccountToken": False,
                        "nodeSelector": args.cluster.core_node_selector,
                        # The script only creates, replaces and reads files in the public folder.
                        "securityContext": AS_NOTEBOOK_USER,
                        "containers": [{
                            "name": "seed-datasets",
                            "image": CLOUD_CLI_IMAGE,
                            "command": ["sh", "-c", SEED_DATASETS_SCRIPT],
                            "env": environment,
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                            "volumeMounts": [{"name": "export", "mountPath": "/export"}],
                        }],
                        "volumes": [{"name": "export", "nfs": args.endpoint.volume_source()}],
                    },
                },
            },
            # Large datasets take a while; `pulumi up` waits for the Job to finish.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="60m"))),
        )
        self.register_outputs({"job": self.job.metadata.name})
