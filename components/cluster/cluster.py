"""The cluster layer: a new GKE cluster or an existing one, both giving the same typed result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.settings import ClusterSettings, GkeSettings, NodePoolSettings

# Zero to JupyterHub's conventions for dedicated user nodes: the chart's user pods prefer nodes with
# this label and tolerate this taint. GKE taint keys may not contain '/', hence the '_' variant.
USER_NODE_LABEL = {"hub.jupyter.org/node-purpose": "user"}
USER_NODE_TAINT = {"key": "hub.jupyter.org_dedicated", "value": "user", "effect": "NoSchedule"}
CORE_NODE_LABEL = {"hub.jupyter.org/node-purpose": "core"}


@dataclass(frozen=True)
class ClusterResult:
    """What every later component needs to know about the cluster."""

    provider: k8s.Provider
    name: pulumi.Output[str]
    kind: str  # "gke" or "existing"
    namespace: pulumi.Output[str]
    # Placement of trainees' pods: empty when the cluster has no dedicated user nodes.
    user_node_selector: dict[str, str]
    user_tolerations: tuple[dict[str, str], ...]
    # Placement of the environment's own pods (hub, NFS server, services): the core pool on gke.
    core_node_selector: dict[str, str]
    # The StorageClass of every volume that holds data (HDFS, Kafka, the hub's database): reclaim policy Retain,
    # so that `pulumi destroy`, which deletes the namespace and so every claim in it, keeps the volumes.
    data_storage_class: pulumi.Output[str]
    kubeconfig: Optional[pulumi.Output[str]] = None  # secret; only for a cluster this program creates


def _user_placement(dedicated: bool) -> dict:
    if not dedicated:
        return {"user_node_selector": {}, "user_tolerations": ()}
    # kubectl and the chart spell the toleration with operator Equal.
    return {"user_node_selector": dict(USER_NODE_LABEL), "user_tolerations": ({**USER_NODE_TAINT, "operator": "Equal"},)}


# Pod Security Admission (https://kubernetes.io/docs/concepts/security/pod-security-standards/): the namespace
# admits its pods at the strictest level they all meet, and warns at the next level up. That is privileged:
# - gke: the in-cluster NFS server adds DAC_READ_SEARCH and SYS_RESOURCE (components/storage/nfs_server.py), which are not
#   in baseline's list of capabilities that may be added (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL,
#   MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT). The server stays in this namespace: it
#   mounts the data claim, and a pod mounts only claims of its own namespace; moving it moves the data.
# - baremetal: with hub.metadataBlock iptables, its default there, every trainee's pod has Zero to JupyterHub's
#   privileged init container block-cloud-metadata (privileged, NET_ADMIN; jupyterhub/files/hub/jupyterhub_config.py
#   at 4.4.0).
# warn: baseline names every pod beyond it when it is created (README, Security).
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/warn": "baseline",
}


def _namespace(name: str, namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace,
            labels={"app.kubernetes.io/part-of": "ml-training", **POD_SECURITY_LABELS},
        ),
        opts=opts,
    )


# GKE's Persistent Disk CSI driver and the disk type of the data volumes (kubernetes-sigs/gcp-compute-persistent-
# disk-csi-driver, README.md, "CreateVolume Parameters": the "type" parameter; pd-balanced as in GKE's own
# default class standard-rwo).
GKE_DISK_PROVISIONER = "pd.csi.storage.gke.io"
GKE_DATA_DISK = {"type": "pd-balanced"}


def _data_storage_class(name: str, namespace: pulumi.Output[str], provisioner: str, parameters: dict[str, str],
                        opts: pulumi.ResourceOptions, expandable: bool) -> k8s.storage.v1.StorageClass:
    return k8s.storage.v1.StorageClass(
        f"{name}-data-storage-class",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=pulumi.Output.concat(namespace, "-data"),
                                            labels={"app.kubernetes.io/part-of": "ml-training"}),
        provisioner=provisioner,
        parameters=parameters or None,
        # A deleted claim leaves its volume Released, with the data, for a new claim to take over (README,
        # "Tearing down").
        reclaim_policy="Retain",
        # A volume is made where its pod is scheduled (zonal disks, node-local volumes).
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True if expandable else None,
        opts=opts,
    )


@dataclass(frozen=True)
class GkeClusterArgs:
    settings: ClusterSettings
    namespace: str


class GkeCluster(pulumi.ComponentResource):
    """A GKE cluster with a core pool and an autoscaling user pool, and a Kubernetes provider for it."""

    cluster: gcp.container.Cluster
    result: ClusterResult

    def __init__(self, name: str, args: GkeClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:cluster:GkeCluster", name, None, opts)
        gke: GkeSettings = args.settings.gke

        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=args.settings.name,
            project=gke.project,
            location=gke.location,
            network=gke.network,
            subnetwork=gke.subnetwork or None,
            # The pools below replace the default pool, which GKE insists on creating first.
            remove_default_node_pool=True,
            initial_node_count=1,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=gke.release_channel),
            min_master_version=gke.version or None,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{gke.project}.svc.id.goog",
            ),
            # Dataplane V2 enforces NetworkPolicy (the hub's user network policy relies on it).
            datapath_provider="ADVANCED_DATAPATH",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(),
            # Checked by the provider, and by Pulumi: `pulumi destroy` refuses to run while it is on, and
            # `pulumi destroy --exclude-protected` keeps the cluster (and its Released data volumes) but deletes
            # its node pools (README, "Tearing down").
            deletion_protection=gke.deletion_protection,
            maintenance_policy=_maintenance_policy(gke),
            opts=pulumi.ResourceOptions(parent=self, protect=gke.deletion_protection),
        )

        # The core pool has a fixed size; the user pool follows the class, down to min_nodes when idle.
        self.core_pool = self._pool(name, "core", gke, gke.core_pool, labels=CORE_NODE_LABEL, taints=[],
                                    autoscaling=False)
        self.user_pool = self._pool(name, "user", gke, gke.user_pool, labels=USER_NODE_LABEL,
                                    taints=[USER_NODE_TAINT], autoscaling=True)

        kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.cluster.name, self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate
            ).apply(lambda parts: gke_kubeconfig(*parts))
        )
        provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=kubeconfig,
            # Replace the provider (and so every Kubernetes object) only when the cluster itself changes,
            # not when a rotated certificate or endpoint changes the kubeconfig text.
            cluster_identifier=f"projects/{gke.project}/locations/{gke.location}/clusters/{args.settings.name}",
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.core_pool, self.user_pool]),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = _namespace(name, args.namespace, on_cluster)
        data_class = _data_storage_class(name, namespace.metadata.name, GKE_DISK_PROVISIONER, GKE_DATA_DISK, on_cluster,
                                         expandable=True)

        self.result = ClusterResult(
            provider=provider,
            name=self.cluster.name,
            kind="gke",
            namespace=namespace.metadata.name,
            core_node_selector=dict(CORE_NODE_LABEL),
            data_storage_class=data_class.metadata.name,
            kubeconfig=kubeconfig,
            **_user_placement(True),
        )
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint, "kubeconfig": kubeconfig})

    def _pool(self, name: str, role: str, gke: GkeSettings, pool: NodePoolSettings, labels: dict,
              taints: list[dict], autoscaling: bool) -> gcp.container.NodePool:
        sizing = dict(
            initial_node_count=max(pool.min_nodes, 1),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                min_node_count=pool.min_nodes,
                max_node_count=pool.max_nodes,
            ),
        ) if autoscaling else dict(node_count=pool.min_nodes)
        return gcp.container.NodePool(
            f"{name}-{role}-pool",
            name=role,
            project=gke.project,
            location=gke.location,
            cluster=self.cluster.name,
            **sizing,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.machine_type,
                disk_size_gb=pool.disk_size_gb,
                spot=pool.spot,
                labels=labels,
                taints=[gcp.container.NodePoolNodeConfigTaintArgs(
                    key=t["key"], value=t["value"], effect="NO_SCHEDULE") for t in taints],
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA",
                ),
            ),
            # A changed initial size must not recreate a pool that the autoscaler has resized.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )


def _maintenance_policy(gke: GkeSettings) -> Optional[gcp.container.ClusterMaintenancePolicyArgs]:
    """When GKE may upgrade the cluster and drain its nodes: in the windows, never in an exclusion."""
    window = gke.maintenance_window
    if window is None and not gke.maintenance_exclusions:
        return None
    return gcp.container.ClusterMaintenancePolicyArgs(
        recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
            start_time=window.start, end_time=window.end, recurrence=window.recurrence) if window else None,
        maintenance_exclusions=[gcp.container.ClusterMaintenancePolicyMaintenanceExclusionArgs(
            exclusion_name=e.name, start_time=e.start, end_time=e.end,
            exclusion_options=gcp.container.ClusterMaintenancePolicyMaintenanceExclusionExclusionOptionsArgs(scope=e.scope),
        ) for e in gke.maintenance_exclusions] or None,
    )


def gke_kubeconfig(cluster_name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates with the gke-gcloud-auth-plugin, as gcloud writes it, but with the
    application-default credentials that Pulumi's GCP provider uses too (`gcloud auth application-default
    login`, or a service account in CI), rather than gcloud's own login: the plugin's flag
    --use_application_default_credentials (kubernetes/cloud-provider-gcp, cmd/gke-gcloud-auth-plugin/main.go)."""
    context = f"gke-{cluster_name}"
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": f"https://{endpoint}",
            "certificate-authority-data": ca_certificate,
        }}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "users": [{"name": context, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "gke-gcloud-auth-plugin",
            "args": ["--use_application_default_credentials"],
            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
        }}}],
    }, indent=2)


@dataclass(frozen=True)
class ExistingClusterArgs:
    settings: ClusterSettings
    namespace: str


class ExistingCluster(pulumi.ComponentResource):
    """Any cluster a kubeconfig names (bare metal, kind, EKS, AKS): a provider, no cloud resources."""

    result: ClusterResult

    def __init__(self, name: str, args: ExistingClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:cluster:ExistingCluster", name, None, opts)
        provider = k8s.Provider(
            f"{name}-provider",
            # Unset kubeconfig and context mean $KUBECONFIG (or ~/.kube/config) and its current context.
            kubeconfig=args.settings.kubeconfig or None,
            context=args.settings.context or None,
            cluster_identifier=f"existing/{args.settings.name}",
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = _namespace(name, args.namespace, on_cluster)
        settings = args.settings
        if settings.data_provisioner:
            data_class = _data_storage_class(name, namespace.metadata.name, settings.data_provisioner,
                                             settings.data_storage_parameters, on_cluster, expandable=False).metadata.name
        else:  # the cluster's own class, which must be Retain (README, "Tearing down")
            data_class = pulumi.Output.from_input(settings.data_storage_class)
        self.result = ClusterResult(
            provider=provider,
            name=pulumi.Output.from_input(args.settings.name),
            kind="existing",
            namespace=namespace.metadata.name,
            core_node_selector={},
            data_storage_class=data_class,
            **_user_placement(args.settings.dedicated_user_nodes),
        )
        self.register_outputs({"name": args.settings.name})
