"""Course end on gke: the Cloud Storage bucket that ./tools/archive uploads every trainee's archive to.

The archive Job (tools/archive.py) runs as the Kubernetes service account ARCHIVER in the environment's namespace.
The cluster's node pools run GKE's metadata server (components/cluster/cluster.py, workload_metadata_config GKE_METADATA), so
a pod never sees the nodes' service account: it acts as its own Workload Identity principal, which the bucket lets
create objects and nothing else (roles/storage.objectCreator: no reading, replacing or deleting). Download links are
signed as a service account of their own that may only read the bucket (README, "Course end").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_gcp as gcp

from components.settings import GkeSettings, StorageSettings

# The Kubernetes service account of the archive Job, named in the bucket's grant before the Job exists.
ARCHIVER = "archiver"
SECONDS_PER_DAY = 24 * 3600


def workload_principal(project_number: int, project: str, namespace: str, service_account: str) -> str:
    """A Kubernetes service account as an IAM principal of Workload Identity Federation for GKE: the cluster's
    workload pool PROJECT.svc.id.goog (components/cluster/cluster.py) names it by namespace and name (GKE documentation,
    "Authenticate to Google Cloud APIs from GKE workloads"; the same form README, Datasets, gives for dataset-seeder)."""
    return (f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
            f"{project}.svc.id.goog/subject/ns/{namespace}/sa/{service_account}")


def bucket_location(gke: GkeSettings) -> str:
    """The cluster's region (the region of a zonal cluster's zone), where the data disk is too."""
    region = gke.location if gke.regional else gke.location.rsplit("-", 1)[0]
    return region.upper()


@dataclass(frozen=True)
class ArchiveBucketArgs:
    settings: StorageSettings  # archive_bucket, archive_retention_days
    gke: GkeSettings
    cluster_name: str
    namespace: str


class ArchiveBucket(pulumi.ComponentResource):
    """A private bucket of archives kept storage.archiveRetentionDays days, that `pulumi destroy` never deletes."""

    bucket: gcp.storage.Bucket
    bucket_name: pulumi.Output[str]
    link_signer: pulumi.Output[str]  # the e-mail of the service account that signs download links

    def __init__(self, name: str, args: ArchiveBucketArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:ArchiveBucket", name, None, opts)
        settings, gke = args.settings, args.gke
        child = pulumi.ResourceOptions(parent=self)
        days = settings.archive_retention_days
        # Argument names and types as pulumi-gcp 10.2.0 declares them (pulumi_gcp/storage/bucket.py, BucketArgs;
        # _inputs.py: BucketRetentionPolicyArgs.retention_period is a string of seconds, BucketLifecycleRuleArgs).
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=settings.archive_bucket,
            project=gke.project,
            location=bucket_location(gke),
            storage_class="STANDARD",
            # IAM alone decides who reads (no object ACLs), and nothing in it is ever public.
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # No archive can be deleted or replaced before it is `days` old, not even by the project's owners.
            retention_policy=gcp.storage.BucketRetentionPolicyArgs(retention_period=str(days * SECONDS_PER_DAY)),
            # Cloud Storage deletes an archive the day after its retention ends; the personal folders stay on the
            # NFS export all the same.
            lifecycle_rules=[gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=days + 1),
            )],
            # A bucket that holds archives is never emptied to delete it.
            force_destroy=False,
            # pulumi destroy stops at it, and after `pulumi state unprotect` Pulumi only forgets it.
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        gcp.storage.BucketIAMMember(
            f"{name}-archiver",
            bucket=self.bucket.name,
            role="roles/storage.objectCreator",
            member=self.bucket.project_number.apply(
                lambda number: workload_principal(number, gke.project, args.namespace, ARCHIVER)),
            opts=child,
        )
        # Signed URLs need a service account's signature; whoever may impersonate this one (README) signs links
        # that read one archive for at most seven days.
        signer = gcp.serviceaccount.Account(
            f"{name}-link-signer",
            # 6 to 30 characters, starting with a letter as a GKE cluster's name does.
            account_id=f"{args.cluster_name[:21]}-archives",
            project=gke.project,
            display_name="Signs download links of course-end archives",
            opts=child,
        )
        gcp.storage.BucketIAMMember(
            f"{name}-link-reader",
            bucket=self.bucket.name,
            role="roles/storage.objectViewer",
            member=signer.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=child,
        )
        self.bucket_name = self.bucket.name
        self.link_signer = signer.email
        self.register_outputs({"bucket": self.bucket_name, "link_signer": self.link_signer})
