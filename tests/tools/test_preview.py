"""The offline preview: its files, their format, redaction, and its exit status."""

import json
import subprocess
import sys
import uuid

import pytest

from tools import preview as offline

KEYS = {"urn", "type", "name", "custom", "parent", "dependsOn", "provider", "protect", "retainOnDelete",
        "deleteBeforeReplace", "ignoreChanges", "inputs"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.preview", *args], cwd=offline.ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("preview-gke")
    result = run_cli("gke", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_resources_json_has_exactly_the_documented_keys(written):
    out, _ = written
    resources = json.loads((out / "resources.json").read_text())
    assert resources
    urns = {r["urn"] for r in resources}
    for resource in resources:
        assert set(resource) == KEYS
        assert isinstance(resource["custom"], bool)
        assert resource["parent"] in urns | {"urn:pulumi:gke::mltraining::pulumi:pulumi:Stack::mltraining-gke"}
        assert all(dependency in urns for dependency in resource["dependsOn"])
        for flag in ("protect", "retainOnDelete", "deleteBeforeReplace"):
            assert isinstance(resource[flag], bool)
        assert all(isinstance(path, str) for path in resource["ignoreChanges"])
    assert [r["urn"] for r in resources] == sorted(urns)


def test_dependencies_include_those_through_inputs(written):
    out, _ = written
    resources = {r["name"]: r for r in json.loads((out / "resources.json").read_text())}
    # The node pools name the cluster through its output; no explicit depends_on says so.
    assert resources["gke-cluster"]["urn"] in resources["gke-user-pool"]["dependsOn"]


def test_outputs_and_secrets_are_redacted(written):
    out, _ = written
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["clusterName"] == "ml-training"
    everything = (out / "resources.json").read_text() + (out / "outputs.json").read_text()
    for path in (out / "values").glob("*.yaml"):
        everything += path.read_text()
    assert "secure-value-of-" not in everything  # the stand-in for a secure: value never leaks
    assert "gke-gcloud-auth-plugin" not in everything  # the kubeconfig is secret as a whole


def test_values_are_written_for_every_helm_release(written):
    out, _ = written
    resources = json.loads((out / "resources.json").read_text())
    releases = {r["inputs"].get("name", r["name"]) for r in resources if r["type"] == offline.HELM_RELEASE}
    assert {p.stem for p in (out / "values").glob("*.yaml")} == releases


def test_tree_names_components_and_their_resources(written):
    _, tree = written
    assert "mltraining:cluster:GkeCluster  gke" in tree
    assert "    gcp:container/cluster:Cluster  gke-cluster  (name=ml-training [protect])" in tree


def test_unknowns_are_marked():
    assert offline.redact(offline.rpc.UNKNOWN) == "[unknown]"
    secret = {offline.rpc._special_sig_key: offline.rpc._special_secret_sig, "value": "x"}
    assert offline.redact({"a": [secret]}) == {"a": ["[secret]"]}


def test_mock_service_gets_a_stable_cluster_ip():
    assert offline.mock_cluster_ip("nfs") == offline.mock_cluster_ip("nfs")
    assert offline.mock_cluster_ip("nfs").startswith("10.96.")


def test_invalid_configuration_exits_non_zero_with_one_line():
    stack = f"invalid-{uuid.uuid4().hex[:8]}"
    stack_file = offline.ROOT / f"Pulumi.{stack}.yaml"
    stack_file.write_text("config:\n  mltraining:cluster:\n    type: gke\n  mltraining:storage:\n    size: 100GB\n")
    try:
        result = run_cli(stack)
    finally:
        stack_file.unlink()
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: Invalid configuration gcp:project = (unset): expected the GCP project of the cluster: "
        "pulumi config set gcp:project ID"
    ]


def test_unknown_stack_is_an_error():
    result = run_cli("no-such-stack")
    assert result.returncode != 0
    assert "Pulumi.no-such-stack.yaml" in result.stderr


def test_the_laptop_stack_previews_small_with_every_service():
    """Pulumi.dev.yaml: one node of a laptop or CI cluster, every service on with one replica."""
    preview = offline.run("dev")
    assert preview.stand_ins == []  # the dummy login needs no secret until a password is set
    assert {"sparkMasterUrl", "kafkaBootstrapServers", "hdfsUrl"} <= set(preview.outputs)
    replicas = {r.inputs["metadata"]["name"]: r.inputs["spec"]["replicas"]
                for r in preview.resources if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")}
    assert replicas == {"nfs-server": 1, "spark-master": 1, "spark-worker": 1, "hdfs-namenode": 1, "hdfs-datanode": 1}
    [pool] = preview.of_type("kubernetes:kafka.strimzi.io/v1:KafkaNodePool")
    assert pool.inputs["spec"]["replicas"] == 1
    hub = preview.releases()["jupyterhub"].inputs["values"]
    assert hub["proxy"]["service"]["type"] == "ClusterIP" and hub["hub"]["config"]["JupyterHub"][
        "authenticator_class"] == "dummy"
    assert preview.outputs["hubPortForward"]
    # With the trainees' password set, as the README says, ./tools/up asks for the admin's.
    assert offline.run("dev", {"auth.dummyPassword": {"secure": "x"}}).stand_ins == ["auth.dummyAdminPassword"]
