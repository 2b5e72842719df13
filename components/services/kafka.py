"""Kafka for every notebook: the Strimzi operator (Helm) and a KRaft cluster declared as Strimzi resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.settings import KafkaSettings
from components.services.user_access import UserAccess

STRIMZI_CHART = "oci://quay.io/strimzi-helm/strimzi-kafka-operator"
STRIMZI_VERSION = "1.2.0"
STRIMZI_API = "kafka.strimzi.io/v1"
# Helm installs a chart's crds/ only on the first install and never upgrades them, so the CRDs of the pinned
# version come from the release's own bundle (strimzi/strimzi-kafka-operator, tag 1.2.0,
# helm-charts/helm3/strimzi-kafka-operator/README.md, "Upgrading your Clusters": "The helm upgrade command does not
# upgrade the Custom Resource Definitions"). They are applied before the operator, so that it finds them when it
# starts. That README updates the CRDs "after upgrading the Cluster Operator": a change of STRIMZI_VERSION
# whose CRDs drop a version the running operator uses must be rolled out in that order, the release first
# (pulumi up --target its URN), then the rest.
STRIMZI_CRDS = (f"https://github.com/strimzi/strimzi-kafka-operator/releases/download/{STRIMZI_VERSION}/"
                f"strimzi-crds-{STRIMZI_VERSION}.yaml")

CLUSTER_NAME = "kafka"
POOL_NAME = "nodes"
# Strimzi leaves a resource with this annotation alone (strimzi/strimzi-kafka-operator, tag 1.2.0,
# api/src/main/java/io/strimzi/api/ResourceAnnotations.java, ANNO_STRIMZI_IO_PAUSE_RECONCILIATION).
PAUSE_ANNOTATION = "strimzi.io/pause-reconciliation"
LISTENER_PORT = 9092
EXAMPLE_TOPIC = "training"

# Labels Strimzi puts on the pods of a node pool with the broker role.
BROKER_LABELS = {"strimzi.io/cluster": CLUSTER_NAME, "strimzi.io/kind": "Kafka", "strimzi.io/broker-role": "true"}


@dataclass(frozen=True)
class KafkaArgs:
    settings: KafkaSettings
    cluster: ClusterResult


def replication(replicas: int) -> dict[str, int]:
    """Replication of Kafka's internal topics (and new topics) for a cluster of this many nodes."""
    factor = min(replicas, 3)
    return {"factor": factor, "min_insync": max(1, factor - 1)}


def core_affinity(node_selector: dict[str, str]) -> dict:
    """A pod template that keeps Strimzi's pods on the core nodes ({} where the cluster has none)."""
    if not node_selector:
        return {}
    terms = [{"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in node_selector.items()]}]
    return {"pod": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}


class Kafka(pulumi.ComponentResource):
    """The Strimzi 1.2.0 operator and one Kafka cluster in KRaft mode whose nodes are controller and broker."""

    crds: k8s.yaml.v2.ConfigFile
    operator: k8s.helm.v3.Release
    kafka: k8s.apiextensions.CustomResource
    node_pool: k8s.apiextensions.CustomResource
    topic: k8s.apiextensions.CustomResource
    bootstrap_servers: pulumi.Output[str]
    user_access: UserAccess

    def __init__(self, name: str, args: KafkaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:services:Kafka", name, None, opts)
        settings, cluster = args.settings, args.cluster
        child = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        namespace = cluster.namespace

        self.crds = k8s.yaml.v2.ConfigFile(f"{name}-strimzi-crds", file=STRIMZI_CRDS, opts=child)
        # Installed into the environment namespace, the operator watches exactly that namespace (the chart's
        # default; listing it in watchNamespaces as well would create duplicate RoleBindings).
        self.operator = k8s.helm.v3.Release(
            f"{name}-strimzi",
            name="strimzi",
            chart=STRIMZI_CHART,
            version=STRIMZI_VERSION,
            namespace=namespace,
            values={"nodeSelector": dict(cluster.core_node_selector)} if cluster.core_node_selector else {},
            skip_crds=True,  # the CRDs above, which stay in step with the version
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.crds])),
        )
        # The custom resources need the operator's CRDs, and the operator to act on them.
        after_operator = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.operator]))
        rep = replication(settings.replicas)
        template = core_affinity(cluster.core_node_selector)

        self.node_pool = k8s.apiextensions.CustomResource(
            f"{name}-node-pool",
            api_version=STRIMZI_API,
            kind="KafkaNodePool",
            metadata={"name": POOL_NAME, "namespace": namespace, "labels": {"strimzi.io/cluster": CLUSTER_NAME}},
            spec={
                "replicas": settings.replicas,
                "roles": ["controller", "broker"],
                # Messages outlive the cluster: the claims stay when a node or the cluster is deleted, and their
                # volumes (a Retain class) when the namespace is.
                "storage": {"type": "persistent-claim", "size": settings.storage_size, "deleteClaim": False,
                            "class": cluster.data_storage_class},
                "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                **({"template": template} if template else {}),
            },
            opts=after_operator,
        )
        self.kafka = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version=STRIMZI_API,
            kind="Kafka",
            metadata={"name": CLUSTER_NAME, "namespace": namespace,
                      **({"annotations": {PAUSE_ANNOTATION: "true"}} if settings.paused else {})},
            spec={
                "kafka": {
                    "version": settings.version,
                    "listeners": [{"name": "plain", "port": LISTENER_PORT, "type": "internal", "tls": False}],
                    "config": {
                        "offsets.topic.replication.factor": rep["factor"],
                        "transaction.state.log.replication.factor": rep["factor"],
                        "transaction.state.log.min.isr": rep["min_insync"],
                        "default.replication.factor": rep["factor"],
                        "min.insync.replicas": rep["min_insync"],
                    },
                },
                "entityOperator": {"topicOperator": {}, **({"template": template} if template else {})},
            },
            opts=after_operator,
        )
        self.topic = k8s.apiextensions.CustomResource(
            f"{name}-topic",
            api_version=STRIMZI_API,
            kind="KafkaTopic",
            metadata={"name": EXAMPLE_TOPIC, "namespace": namespace, "labels": {"strimzi.io/cluster": CLUSTER_NAME}},
            spec={"partitions": 3, "replicas": rep["factor"]},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.kafka])),
        )

        # From the namespace alone, so that the hub does not wait for Kafka to be created.
        self.bootstrap_servers = pulumi.Output.concat(
            CLUSTER_NAME, "-kafka-bootstrap.", namespace, f".svc:{LISTENER_PORT}")
        self.user_access = UserAccess(
            environment={"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers},
            # Clients bootstrap through the Service, then talk to every broker pod on the listener port.
            egress=({"to": [{"podSelector": {"matchLabels": dict(BROKER_LABELS)}}],
                     "ports": [{"protocol": "TCP", "port": LISTENER_PORT}]},),
        )
        self.register_outputs({"bootstrapServers": self.bootstrap_servers})
