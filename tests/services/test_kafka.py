"""Kafka: the Strimzi operator release, a KRaft cluster valid for Strimzi 1.2.0's v1 CRDs, and its wiring."""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml

from tests.conftest import config_error, run_preview
from tests.kubernetes_objects import waits_for
from tools import reference

CRD_FILES = {"Kafka": "040-Crd-kafka.yaml", "KafkaTopic": "043-Crd-kafkatopic.yaml", "KafkaNodePool": "045-Crd-kafkanodepool.yaml"}
KINDS = tuple(CRD_FILES)
RELEASE = "kubernetes:helm.sh/v3:Release"


def closed(schema):
    """The schema with unknown fields forbidden wherever it lists the fields: the API server would drop them
    silently (a structural schema prunes), so a field renamed or removed in v1 must fail here instead."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    return result


def spec_schema(kind: str, api_version: str) -> dict:
    crd = yaml.safe_load((reference.folder() / "strimzi-1.2.0" / CRD_FILES[kind]).read_text())
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return closed(served["schema"]["openAPIV3Schema"]["properties"]["spec"])


def validate_custom_resource(inputs: dict) -> None:
    jsonschema.Draft7Validator(spec_schema(inputs["kind"], inputs["apiVersion"])).validate(inputs["spec"])


def custom_resources(preview) -> dict[str, dict]:
    return {kind: preview.of_type(f"kubernetes:kafka.strimzi.io/v1:{kind}") for kind in KINDS}


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_custom_resources_are_valid_strimzi_1_2_0_v1(stack, request):
    preview = request.getfixturevalue(stack)
    for kind, resources in custom_resources(preview).items():
        [resource] = resources
        assert resource.inputs["apiVersion"] == "kafka.strimzi.io/v1"
        assert resource.inputs["kind"] == kind
        validate_custom_resource(resource.inputs)


def test_the_validation_rejects_v1beta2_fields_and_bad_values(gke):
    [kafka] = custom_resources(gke)["Kafka"]
    [pool] = custom_resources(gke)["KafkaNodePool"]
    for resource, path, value in (
        (kafka, ("spec", "kafka", "replicas"), 3),  # moved to KafkaNodePool in v1
        (kafka, ("spec", "zookeeper"), {"replicas": 3}),  # removed with ZooKeeper
        (kafka, ("spec", "entityOperator", "topicOperator", "reconciliationIntervalSeconds"), 60),  # renamed to ...Ms
        (pool, ("spec", "roles"), ["broker", "zookeeper"]),
        (pool, ("spec", "storage", "type"), "persistent"),
    ):
        broken = copy.deepcopy(resource.inputs)
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            validate_custom_resource(broken)


def test_strimzi_operator_is_a_pinned_release_in_the_environment_namespace(gke, baremetal):
    strimzi = gke.releases()["strimzi"]
    assert strimzi.inputs["chart"] == "oci://quay.io/strimzi-helm/strimzi-kafka-operator"
    assert strimzi.inputs["version"] == "1.2.0"
    # Installed there, it watches exactly that namespace (STRIMZI_NAMESPACE = its own namespace).
    assert strimzi.inputs["namespace"] == "jupyterhub"
    assert "watchNamespaces" not in strimzi.inputs["values"] and "watchAnyNamespace" not in strimzi.inputs["values"]
    assert strimzi.inputs["values"]["nodeSelector"] == {"hub.jupyter.org/node-purpose": "core"}
    assert baremetal.releases()["strimzi"].inputs["values"] == {}  # no core pool there: anywhere


def test_kraft_cluster_sized_from_each_stack(gke, baremetal):
    for preview, replicas, size, factor, min_insync in ((gke, 3, "20Gi", 3, 2), (baremetal, 1, "10Gi", 1, 1)):
        resources = custom_resources(preview)
        [kafka], [pool], [topic] = resources["Kafka"], resources["KafkaNodePool"], resources["KafkaTopic"]
        assert pool.inputs["spec"]["replicas"] == replicas
        assert pool.inputs["spec"]["roles"] == ["controller", "broker"]
        assert pool.inputs["spec"]["storage"] == {"type": "persistent-claim", "size": size, "deleteClaim": False,
                                                  "class": "jupyterhub-data"}  # Retain (tests/storage/test_teardown.py)
        # A node pool belongs to the cluster its label names; v1 needs no node-pools/kraft annotations.
        assert pool.inputs["metadata"]["labels"] == {"strimzi.io/cluster": kafka.inputs["metadata"]["name"]}
        assert "annotations" not in kafka.inputs["metadata"]
        spec = kafka.inputs["spec"]
        assert spec["kafka"]["version"] == "4.3.1"
        assert spec["kafka"]["config"]["default.replication.factor"] == factor
        assert spec["kafka"]["config"]["offsets.topic.replication.factor"] == factor
        assert spec["kafka"]["config"]["min.insync.replicas"] == min_insync
        assert spec["entityOperator"]["topicOperator"] == {}
        assert topic.inputs["metadata"]["labels"] == {"strimzi.io/cluster": kafka.inputs["metadata"]["name"]}
        assert topic.inputs["spec"]["replicas"] == factor


def test_kafka_pods_stay_on_core_nodes_on_gke(gke, baremetal):
    resources = custom_resources(gke)
    [kafka], [pool] = resources["Kafka"], resources["KafkaNodePool"]
    for template in (pool.inputs["spec"]["template"], kafka.inputs["spec"]["entityOperator"]["template"]):
        [term] = template["pod"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert term == {"matchExpressions": [{"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["core"]}]}
    [pool] = custom_resources(baremetal)["KafkaNodePool"]
    assert "template" not in pool.inputs["spec"]


def test_version_and_replicas_come_from_config():
    preview = run_preview("baremetal", {"services.kafka.version": "4.2.1", "services.kafka.replicas": 2,
                                        "services.kafka.storageSize": "50Gi"})
    resources = custom_resources(preview)
    [kafka], [pool] = resources["Kafka"], resources["KafkaNodePool"]
    assert kafka.inputs["spec"]["kafka"]["version"] == "4.2.1"
    assert pool.inputs["spec"]["replicas"] == 2
    assert pool.inputs["spec"]["storage"]["size"] == "50Gi"
    assert kafka.inputs["spec"]["kafka"]["config"]["min.insync.replicas"] == 1
    validate_custom_resource(kafka.inputs)
    validate_custom_resource(pool.inputs)


def test_custom_resources_wait_for_the_operator_and_the_topic_for_its_cluster(gke):
    strimzi = gke.releases()["strimzi"]
    resources = custom_resources(gke)
    [kafka], [pool], [topic] = resources["Kafka"], resources["KafkaNodePool"], resources["KafkaTopic"]
    assert strimzi.urn in kafka.dependsOn and strimzi.urn in pool.dependsOn
    assert kafka.urn in topic.dependsOn


def test_kafka_waits_for_neither_storage_nor_the_hub(gke, baremetal):
    for preview in (gke, baremetal):
        kafka = [r for r in preview.resources if r.type.startswith("kubernetes:kafka.strimzi.io/")]
        kafka.append(preview.releases()["strimzi"])
        storage = [r for r in preview.resources if r.type.startswith("mltraining:storage:")]
        storage += [r for r in preview.resources if r.parent in {s.urn for s in storage}]
        hub = [r for r in preview.of_type(RELEASE) if r.inputs.get("chart") == "jupyterhub"]
        assert storage and hub, "storage and the hub are part of every stack"
        assert waits_for(preview, kafka, storage + hub) == []


def test_bootstrap_address_is_a_stack_output_in_the_environment_namespace(gke):
    assert gke.outputs["kafkaBootstrapServers"] == "kafka-kafka-bootstrap.jupyterhub.svc:9092"
    preview = run_preview("baremetal", {"namespace": "training"})
    assert preview.outputs["kafkaBootstrapServers"] == "kafka-kafka-bootstrap.training.svc:9092"
    [kafka] = custom_resources(preview)["Kafka"]
    assert kafka.inputs["metadata"]["namespace"] == "training"
    assert preview.releases()["strimzi"].inputs["namespace"] == "training"


def singleuser(preview) -> dict:
    return preview.releases()["jupyterhub"].inputs["values"]["singleuser"]


def broker_rules(preview) -> list[dict]:
    return [rule for rule in singleuser(preview)["networkPolicy"]["egress"]
            if any("strimzi.io/cluster" in peer.get("podSelector", {}).get("matchLabels", {}) for peer in rule["to"])]


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_notebooks_get_the_bootstrap_address_and_a_path_to_exactly_the_brokers(stack, request):
    preview = request.getfixturevalue(stack)
    assert singleuser(preview)["extraEnv"]["KAFKA_BOOTSTRAP_SERVERS"] == preview.outputs["kafkaBootstrapServers"]
    resources = custom_resources(preview)
    [kafka], [pool] = resources["Kafka"], resources["KafkaNodePool"]
    [rule] = broker_rules(preview)
    [peer] = rule["to"]
    # The labels Strimzi gives the pods of a node pool with the broker role, in the cluster declared here.
    assert "broker" in pool.inputs["spec"]["roles"]
    assert peer == {"podSelector": {"matchLabels": {"strimzi.io/cluster": kafka.inputs["metadata"]["name"],
                                                    "strimzi.io/kind": "Kafka", "strimzi.io/broker-role": "true"}}}
    listener_ports = [listener["port"] for listener in kafka.inputs["spec"]["kafka"]["listeners"]]
    assert rule["ports"] == [{"protocol": "TCP", "port": port} for port in listener_ports]


def test_kafka_off_creates_nothing_and_puts_nothing_into_notebooks():
    for stack in ("gke", "baremetal"):
        preview = run_preview(stack, {"services.kafka.enabled": False})
        assert not [r for r in preview.resources if "strimzi" in r.type or r.type == "mltraining:services:Kafka"]
        assert "strimzi" not in preview.releases()
        assert "kafkaBootstrapServers" not in preview.outputs
        assert "KAFKA_BOOTSTRAP_SERVERS" not in singleuser(preview)["extraEnv"]
        assert broker_rules(preview) == []


@pytest.mark.parametrize("overrides, message", [
    ({"services.kafka.replicas": 0},
     "Invalid configuration mltraining:services.kafka.replicas = 0: expected a whole number between 1 and 9"),
    ({"services.kafka.version": "4.1.1"},
     'Invalid configuration mltraining:services.kafka.version = "4.1.1": expected one of 4.2.0, 4.2.1, 4.3.0, 4.3.1'),
    ({"services.kafka.version": "latest"},
     'Invalid configuration mltraining:services.kafka.version = "latest": expected one of 4.2.0, 4.2.1, 4.3.0, 4.3.1'),
    ({"services.kafka.storageSize": "10GB"},
     'Invalid configuration mltraining:services.kafka.storageSize = "10GB": expected a Kubernetes quantity such as 100Gi'),
])
def test_bad_kafka_configuration_is_one_line(overrides, message):
    assert config_error("baremetal", overrides) == message


def test_a_paused_cluster_carries_strimzis_pause_annotation(gke):
    def kafka(preview):
        [resource] = preview.of_type("kubernetes:kafka.strimzi.io/v1:Kafka")
        return resource.inputs["metadata"]

    assert "annotations" not in kafka(gke)
    paused = run_preview("gke", {"services.kafka.paused": True})
    assert kafka(paused)["annotations"] == {"strimzi.io/pause-reconciliation": "true"}


def test_strimzis_crds_of_the_pinned_version_are_applied_before_the_operator(gke):
    """Helm never upgrades a chart's crds/: the release's CRD bundle is applied first, the chart skips its own."""
    [crds] = gke.of_type("kubernetes:yaml/v2:ConfigFile")
    assert crds.inputs["file"] == ("https://github.com/strimzi/strimzi-kafka-operator/releases/download/1.2.0/"
                                   "strimzi-crds-1.2.0.yaml")
    operator = gke.releases()["strimzi"]
    assert operator.inputs["skipCrds"] is True
    assert crds.urn in operator.dependsOn
    for kind in KINDS:
        for resource in gke.of_type(f"kubernetes:kafka.strimzi.io/v1:{kind}"):
            assert gke.depends_on(resource, operator) and gke.depends_on(resource, crds)
