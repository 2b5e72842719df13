"""SAP Vora: off by default; when enabled, the customer's chart in its own namespace with a secret pull secret."""

from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest

from tests.conftest import config_error, run_preview
from tests.kubernetes_objects import manifest
from tools import preview as offline

PASSWORD_STAND_IN = "secure-value-of-mltraining:services.vora.registryPassword"  # what the preview passes for a secret
VORA = {
    "services.vora.enabled": True,
    "services.vora.chart": "vora",
    "services.vora.repository": "https://charts.example.com/sap",
    "services.vora.version": "2.3.41",
    "services.vora.registry": "registry.example.com:5000",
    "services.vora.registryUsername": "vora-pull",
    "services.vora.registryPassword": {"secure": "not-the-real-one"},
    "services.vora.values": {"global": {"imageRegistry": "mirror.example.com"}, "vora": {"docker": {"imagePullSecret": "vora-registry"}}},
}


def vora_resources(preview):
    component = [r for r in preview.resources if r.type == "mltraining:services:Vora"]
    return component + [r for r in preview.resources if r.parent in {c.urn for c in component}]


@pytest.fixture(scope="module")
def vora_gke():
    return run_preview("gke", VORA)


def singleuser(preview) -> dict:
    return preview.releases()["jupyterhub"].inputs["values"]["singleuser"]


def namespace_rules(preview) -> list[dict]:
    return [rule for rule in singleuser(preview)["networkPolicy"]["egress"]
            if any("namespaceSelector" in peer for peer in rule["to"])]


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_vora_is_off_by_default_and_creates_nothing(stack, request):
    preview = request.getfixturevalue(stack)
    assert vora_resources(preview) == []
    assert "vora" not in preview.releases()
    assert "VORA_NAMESPACE" not in singleuser(preview)["extraEnv"]
    assert namespace_rules(preview) == []


def test_notebooks_may_reach_the_vora_namespace(vora_gke):
    assert singleuser(vora_gke)["extraEnv"]["VORA_NAMESPACE"] == "vora"
    [rule] = namespace_rules(vora_gke)
    assert rule == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "vora"}}}]}


def test_enabled_vora_installs_the_pinned_chart_into_its_own_namespace(vora_gke):
    [namespace] = [r for r in vora_resources(vora_gke) if r.type == "kubernetes:core/v1:Namespace"]
    assert namespace.inputs["metadata"]["name"] == "vora"
    release = vora_gke.releases()["vora"]
    assert release.inputs["chart"] == "vora"
    assert release.inputs["version"] == "2.3.41"
    assert release.inputs["repositoryOpts"] == {"repo": "https://charts.example.com/sap"}
    assert release.inputs["namespace"] == "vora"
    assert namespace.urn in release.dependsOn


def test_release_values_name_the_pull_secret_and_merge_the_extra_values(vora_gke):
    [secret] = [r for r in vora_resources(vora_gke) if r.type == "kubernetes:core/v1:Secret"]
    release = vora_gke.releases()["vora"]
    values = release.inputs["values"]
    # The extra values win over the defaults key by key; the pull secret's name stays.
    assert values["global"] == {"imageRegistry": "mirror.example.com", "imagePullSecrets": [{"name": secret.inputs["metadata"]["name"]}]}
    assert values["vora"] == {"docker": {"imagePullSecret": "vora-registry"}}
    assert secret.urn in release.dependsOn  # pods never start without their pull secret


def test_pull_secret_is_a_docker_config_and_its_password_stays_secret(vora_gke):
    [secret] = [r for r in vora_resources(vora_gke) if r.type == "kubernetes:core/v1:Secret"]
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert secret.inputs["metadata"]["namespace"] == "vora"
    assert secret.inputs["data"] == "[secret]"  # the whole map: Pulumi's Secret marks its data secret too
    everything = json.dumps([r.as_json() for r in vora_gke.resources]) + json.dumps(vora_gke.outputs)
    for leaked in (PASSWORD_STAND_IN, base64.b64encode(PASSWORD_STAND_IN.encode()).decode(),
                   base64.b64encode(f"vora-pull:{PASSWORD_STAND_IN}".encode()).decode()):
        assert leaked not in everything


def test_docker_config_json_is_what_kubectl_writes():
    from components.services.vora import docker_config_json

    config = json.loads(docker_config_json("registry.example.com:5000", "vora-pull", "s3cr:et"))
    entry = config["auths"]["registry.example.com:5000"]
    assert entry["username"] == "vora-pull" and entry["password"] == "s3cr:et"
    assert base64.b64decode(entry["auth"]).decode() == "vora-pull:s3cr:et"


def test_merge_values_merges_maps_and_replaces_everything_else():
    from components.services.vora import merge_values

    base = {"global": {"imageRegistry": "a", "imagePullSecrets": [{"name": "s"}]}, "keep": 1}
    extra = {"global": {"imagePullSecrets": [{"name": "t"}], "more": True}, "keep": {"now": "a map"}}
    assert merge_values(base, extra) == {
        "global": {"imageRegistry": "a", "imagePullSecrets": [{"name": "t"}], "more": True}, "keep": {"now": "a map"}}
    assert base["global"]["imagePullSecrets"] == [{"name": "s"}]  # inputs untouched


def test_local_chart_path_and_oci_chart(tmp_path):
    chart = tmp_path / "vora-2.3.41.tgz"
    chart.write_bytes(b"not read in a preview")
    local = {**VORA, "services.vora.chart": str(chart), "services.vora.repository": None, "services.vora.version": None}
    release = run_preview("baremetal", local).releases()["vora"]
    assert release.inputs["chart"] == str(chart)
    assert "version" not in release.inputs and "repositoryOpts" not in release.inputs

    oci = {**VORA, "services.vora.chart": "oci://registry.example.com/charts/vora", "services.vora.repository": None}
    release = run_preview("baremetal", oci).releases()["vora"]
    assert release.inputs["chart"] == "oci://registry.example.com/charts/vora"
    assert release.inputs["version"] == "2.3.41"
    assert "repositoryOpts" not in release.inputs


@pytest.mark.parametrize("version", ["1.31", "1.33", "1.35"])
def test_namespace_and_pull_secret_are_valid_kubernetes_objects(vora_gke, version):
    declared = [r for r in vora_resources(vora_gke) if r.type.startswith("kubernetes:core/v1:")]
    assert sorted(r.inputs["kind"] for r in declared) == ["Namespace", "Secret"]
    for resource in declared:
        kubernetes_validate.validate(manifest(resource), version, strict=True)


P = "Invalid configuration mltraining:services.vora"


@pytest.mark.parametrize("overrides, message", [
    ({**VORA, "services.vora.chart": None},
     f"{P}.chart = (unset): expected the customer's Vora chart: a local path, an oci:// reference or a chart name in services.vora.repository"),
    ({**VORA, "services.vora.registryPassword": "plain"},
     f"{P}.registryPassword = [plaintext, not shown]: expected a secret: pulumi config set --stack baremetal --path --secret services.vora.registryPassword"),
    ({**VORA, "services.vora.version": None},
     f"{P}.version = (unset): expected the exact version of the Vora chart to pull"),
    ({**VORA, "services.vora.version": "^2.3"},
     f'{P}.version = "^2.3": expected an exact chart version such as 2.3.41, not a range'),
    ({**VORA, "services.vora.registry": None},
     f"{P}.registry = (unset): expected the customer's private registry that holds the Vora images"),
    ({**VORA, "services.vora.registry": "https://registry.example.com"},
     f'{P}.registry = "https://registry.example.com": expected a registry host (and port) such as registry.example.com:5000'),
    ({**VORA, "services.vora.registryUsername": None},
     f"{P}.registryUsername = (unset): expected the user name for the Vora image registry"),
    ({**VORA, "services.vora.repository": None},
     f'{P}.chart = "vora": expected a chart directory or .tgz that exists, or a chart name with services.vora.repository'),
    ({**VORA, "services.vora.namespace": "jupyterhub"},
     f"{P}.namespace = \"jupyterhub\": expected a namespace of its own, not the environment's namespace"),
    ({**VORA, "services.vora.values": ["not", "a", "map"]},
     f'{P}.values = ["not", "a", "map"]: expected a map of Helm values'),
    ({"services.vora.enabled": True},
     f"{P}.chart = (unset): expected the customer's Vora chart: a local path, an oci:// reference or a chart name in services.vora.repository"),
])
def test_bad_vora_configuration_is_one_line(overrides, message):
    assert config_error("baremetal", overrides) == message


def test_a_real_run_without_the_registry_password_names_the_command_that_sets_it():
    from components.settings import MissingSecret

    with pytest.raises(MissingSecret) as caught:
        offline._run_once("baremetal", {**VORA, "services.vora.registryPassword": None})  # no stand-ins
    assert str(caught.value) == (f"{P}.registryPassword = (unset): expected the password of the Vora image registry: "
                                 "pulumi config set --stack baremetal --path --secret services.vora.registryPassword")
