"""services.monitoring: Prometheus and Grafana with JupyterHub's dashboards, off by default.

The charts' values are checked against facts read in the pinned charts (their values.yaml, and the prometheus chart's
values.schema.json): the schema itself is not in the reference data (README, Test), so these tests state the keys and
types the program sets, each of which exists there. The dashboards are the files tools/dashboards.py rendered; their
queries are checked against what the program makes Prometheus collect.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import jupyterhub.metrics
import kubernetes_validate
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from components.services import monitoring
from components.hub.hub import HUB_SECRET, SMOKE_TOKEN_KEY, api_token_key
from tests.conftest import config_error, run_preview
from tests.engines import require_engine
from tests.hub_engine import local_session, missing_engines, release_values, start_hub
from tests.kubernetes_objects import KUBERNETES_VERSIONS, children, manifest, one
from tests.hub.test_hub_engine import with_secrets
from tests.hub.test_hub_values_schema import chart_file, schema_errors
from tools import dashboards as dashboards_tool
from tools import reference

COMPONENT = "mltraining:services:Monitoring"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ON = {"services.monitoring.enabled": True}
CORE = {"hub.jupyter.org/node-purpose": "core"}


@pytest.fixture(scope="module", params=["gke", "baremetal"])
def monitored(request):
    return run_preview(request.param, ON)


def values(preview, release: str) -> dict:
    return preview.releases()[release].inputs["values"]


def hub_values(preview) -> dict:
    return values(preview, "jupyterhub")


# --- off by default ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_off_by_default_nothing_is_declared_and_the_hub_is_unchanged(stack, request):
    preview = request.getfixturevalue(stack)
    assert preview.of_type(COMPONENT) == []
    assert {"prometheus", "grafana"}.isdisjoint(preview.releases())
    assert not [r for r in preview.of_type(POLICY) if r.inputs["metadata"]["name"] in ("prometheus", "grafana")]
    hub = hub_values(preview)["hub"]
    assert set(hub["services"]) == {"smoke-test"} and set(hub["loadRoles"]) == {"smoke-test"}
    assert "service" not in hub
    assert not {"grafanaPortForward", "grafanaAdminPassword"} & set(preview.outputs)


# --- the releases -----------------------------------------------------------------------------------------------


def test_both_charts_pinned_in_the_environment_namespace_through_the_cluster_provider(monitored):
    [component] = monitored.of_type(COMPONENT)
    [provider] = monitored.of_type("pulumi:providers:kubernetes")
    releases = monitored.releases()
    expected = {
        "prometheus": ("prometheus", "29.27.0", "https://prometheus-community.github.io/helm-charts"),
        "grafana": ("grafana", "12.11.1", "https://grafana-community.github.io/helm-charts"),
    }
    for name, (chart, version, repository) in expected.items():
        release = releases[name]
        assert (release.inputs["chart"], release.inputs["version"], release.inputs["repositoryOpts"]) == (
            chart, version, {"repo": repository})
        assert release.inputs["namespace"] == monitored.outputs["namespace"] == "jupyterhub"
        assert release.parent == component.urn
        assert release.provider.startswith(provider.urn + "::")


def test_prometheus_keeps_its_samples_on_the_retain_data_class(monitored):
    server = values(monitored, "prometheus")["server"]
    volume = server["persistentVolume"]
    assert volume["enabled"] is True and volume["size"] == "20Gi"
    [data_class] = [c for c in monitored.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
                    if c.inputs["metadata"]["name"] == volume["storageClass"]]
    assert data_class.inputs["reclaimPolicy"] == "Retain"
    # Helm leaves the claim when the release goes (monitoring turned off, or a teardown).
    assert volume["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert server["retention"] == "30d"
    assert server["retentionSize"] == "16384MB"  # 80% of 20Gi, in MiB


def test_retention_and_volume_size_from_the_settings():
    preview = run_preview("baremetal", {**ON, "services.monitoring.retentionDays": 90,
                                        "services.monitoring.storageSize": "50Gi"})
    server = values(preview, "prometheus")["server"]
    assert (server["retention"], server["persistentVolume"]["size"], server["retentionSize"]) == ("90d", "50Gi", "40960MB")


def test_the_node_exporter_runs_unless_the_cluster_has_one(monitored):
    assert values(monitored, "prometheus")["prometheus-node-exporter"]["enabled"] is True
    without = values(run_preview("baremetal", {**ON, "services.monitoring.nodeExporter": False}), "prometheus")
    assert without["prometheus-node-exporter"]["enabled"] is False
    assert without["kube-state-metrics"]["collectors"] == list(monitoring.KUBE_STATE_METRICS_COLLECTORS)


def test_the_hub_is_scraped_as_a_service_that_may_only_read_metrics(monitored):
    hub = hub_values(monitored)["hub"]
    assert hub["services"]["prometheus"] == {}
    role = hub["loadRoles"]["prometheus"]
    assert role["scopes"] == ["read:metrics"] and role["services"] == ["prometheus"]
    # The chart's annotation-based jobs would scrape it without a token.
    assert hub["service"] == {"annotations": {"prometheus.io/scrape": "false"}}

    server = values(monitored, "prometheus")["server"]
    [volume] = server["extraVolumes"]
    # One key of the hub Secret, the one the chart generates for that service, and nothing else of it.
    assert volume["secret"] == {"secretName": HUB_SECRET, "items": [{"key": "hub.services.prometheus.apiToken",
                                                                    "path": "token"}]}
    [mount] = server["extraVolumeMounts"]
    assert mount == {"name": volume["name"], "mountPath": "/etc/hub-metrics", "readOnly": True}
    [job] = yaml.safe_load(values(monitored, "prometheus")["extraScrapeConfigs"])
    assert job == {
        "job_name": "jupyterhub",
        "metrics_path": "/hub/metrics",
        "authorization": {"type": "Bearer", "credentials_file": "/etc/hub-metrics/token"},
        "static_configs": [{"targets": ["hub:8081"],
                            "labels": {"app": "jupyterhub", "component": "hub", "namespace": "jupyterhub"}}],
    }
    # Prometheus starts once the hub (and its Secret) exists.
    assert monitored.depends_on(monitored.releases()["prometheus"], monitored.releases()["jupyterhub"])


def test_the_hub_values_with_the_metrics_reader_pass_the_hub_chart_schema(monitored):
    assert schema_errors(hub_values(monitored)) == []


def test_the_hub_network_policy_admits_prometheus():
    """z2jh 4.4.0 admits pods of the namespace labelled hub.jupyter.org/network-access-hub to the hub's port
    (jupyterhub/templates/hub/netpol.yaml), with its policy on by default."""
    defaults = yaml.safe_load((reference.folder() / "z2jh-4.4.0" / "values.yaml").read_text())
    assert defaults["hub"]["networkPolicy"]["enabled"] is True
    assert defaults["hub"]["networkPolicy"]["interNamespaceAccessLabels"] == "ignore"  # the same namespace only
    preview = run_preview("baremetal", ON)
    assert "networkPolicy" not in hub_values(preview)["hub"]
    assert values(preview, "prometheus")["server"]["podLabels"] == {"hub.jupyter.org/network-access-hub": "true"}
    assert preview.releases()["prometheus"].inputs["namespace"] == preview.releases()["jupyterhub"].inputs["namespace"]


def test_grafana_reads_prometheus_and_provisions_the_dashboards(monitored):
    grafana = values(monitored, "grafana")
    [source] = grafana["datasources"]["datasources.yaml"]["datasources"]
    # The chart's server Service: "<release>-server" when the release's name holds the chart's, port 80.
    assert monitored.releases()["prometheus"].inputs["name"] == "prometheus"
    assert source == {"name": "Prometheus", "type": "prometheus", "uid": "prometheus", "url": "http://prometheus-server",
                      "access": "proxy", "isDefault": True, "editable": False}
    [provider] = grafana["dashboardProviders"]["dashboardproviders.yaml"]["providers"]
    assert provider["type"] == "file" and provider["folder"] == "JupyterHub Default Dashboards"
    # The chart mounts dashboardsConfigMaps.<provider> at /var/lib/grafana/dashboards/<provider>.
    assert grafana["dashboardsConfigMaps"] == {provider["name"]: "grafana-dashboards-jupyterhub"}
    assert provider["options"] == {"path": f"/var/lib/grafana/dashboards/{provider['name']}"}
    configmap = one(monitored, "kubernetes:core/v1:ConfigMap", "grafana-dashboards-jupyterhub")
    assert configmap.inputs["metadata"]["namespace"] == "jupyterhub"
    assert set(configmap.inputs["data"]) == {f"{name}.json" for name in monitoring.DASHBOARDS}
    assert monitored.depends_on(monitored.releases()["grafana"], configmap)


def test_grafana_is_reached_by_port_forward_and_its_password_stays_in_the_cluster(monitored):
    grafana = values(monitored, "grafana")
    assert grafana["service"] == {"type": "ClusterIP"}
    assert "ingress" not in grafana
    # The chart generates the password into its Secret and keeps it there: nothing of it in the values.
    assert "adminPassword" not in grafana and "admin" not in grafana
    assert not [r for r in children(monitored, COMPONENT) if r.type == "kubernetes:core/v1:Secret"]
    assert monitored.outputs["grafanaPortForward"] == "kubectl --namespace jupyterhub port-forward service/grafana 3000:80"
    assert monitored.outputs["grafanaAdminPassword"] == (
        "kubectl --namespace jupyterhub get secret grafana --output jsonpath='{.data.admin-password}' | base64 --decode")


def test_pods_are_hardened_and_placed_on_the_core_pool(monitored):
    prometheus, grafana = values(monitored, "prometheus"), values(monitored, "grafana")
    hardened = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert prometheus["server"]["containerSecurityContext"] == hardened
    assert prometheus["configmapReload"]["prometheus"]["containerSecurityContext"] == hardened
    assert prometheus["prometheus-node-exporter"]["containerSecurityContext"] == hardened
    assert prometheus["server"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    for resources in (prometheus["server"]["resources"], prometheus["kube-state-metrics"]["resources"],
                      prometheus["prometheus-node-exporter"]["resources"], grafana["resources"],
                      prometheus["configmapReload"]["prometheus"]["resources"]):
        assert set(resources["requests"]) == {"cpu", "memory"} and set(resources["limits"]) == {"memory"}
    # Only what the dashboards read, so kube-state-metrics may read no Secret.
    assert prometheus["kube-state-metrics"]["collectors"] == ["nodes", "pods", "services"]
    assert prometheus["alertmanager"] == {"enabled": False} and prometheus["prometheus-pushgateway"] == {"enabled": False}
    assert grafana["rbac"] == {"create": False} and grafana["automountServiceAccountToken"] is False
    expected = CORE if monitored.stack == "gke" else {}
    assert prometheus["server"]["nodeSelector"] == prometheus["kube-state-metrics"]["nodeSelector"] == expected
    assert grafana["nodeSelector"] == expected


def test_network_policies_let_only_grafana_ask_prometheus(monitored):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in children(monitored, COMPONENT) if r.type == POLICY}
    assert set(policies) == {"prometheus", "kube-state-metrics", "grafana"}
    server = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "prometheus",
              "app.kubernetes.io/component": "server"}
    grafana = {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "grafana"}
    assert policies["prometheus"] == {"podSelector": {"matchLabels": server}, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"podSelector": {"matchLabels": grafana}}], "ports": [{"protocol": "TCP", "port": 9090}]}]}
    assert policies["kube-state-metrics"]["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": server}}], "ports": [{"protocol": "TCP", "port": 8080}]}]
    assert policies["grafana"]["policyTypes"] == ["Ingress", "Egress"]
    assert policies["grafana"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 3000}]}]
    [to_prometheus, dns] = policies["grafana"]["egress"]
    assert to_prometheus == {"to": [{"podSelector": {"matchLabels": server}}], "ports": [{"protocol": "TCP", "port": 9090}]}
    assert "to" not in dns and {p["port"] for p in dns["ports"]} == {53}
    # So Grafana tries nothing outside: no update checks, usage reports or plugin downloads.
    assert values(monitored, "grafana")["grafana.ini"] == {
        "analytics": {"check_for_updates": False, "check_for_plugin_updates": False, "reporting_enabled": False},
        "plugins": {"preinstall_disabled": True}}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_objects_are_valid_kubernetes(version):
    preview = run_preview("gke", ON)
    objects = [r for r in children(preview, COMPONENT) if r.custom and not r.type.startswith("kubernetes:helm.sh/")]
    assert len(objects) == 4
    for resource in objects:
        kubernetes_validate.validate(manifest(resource), version, strict=True)


# --- the values against the pinned charts --------------------------------------------------------------------------

# Every value the program sets, by path, and the type the chart documents for it: prometheus-community/helm-charts
# prometheus-29.27.0 charts/prometheus/values.yaml and values.schema.json (which types server.*, alertmanager.enabled,
# prometheus-pushgateway.enabled, configmapReload.prometheus.* and extraScrapeConfigs as below; its
# server.persistentVolume lists no storageClass, which values.yaml documents in a comment and templates/pvc.yaml
# reads), the subcharts' values.yaml at kube-state-metrics-8.4.0 and prometheus-node-exporter-4.56.1, and
# grafana-community/helm-charts grafana-12.11.1 charts/grafana/values.yaml (no schema). Maps and lists below them
# are the chart's free-form ones (resources, selectors, labels, Kubernetes objects).
PROMETHEUS_KEYS = {
    ("alertmanager", "enabled"): bool,
    ("prometheus-pushgateway", "enabled"): bool,
    ("configmapReload", "prometheus", "containerSecurityContext"): dict,
    ("configmapReload", "prometheus", "resources"): dict,
    ("extraScrapeConfigs",): str,
    ("kube-state-metrics", "collectors"): list,
    ("kube-state-metrics", "metricLabelsAllowlist"): list,
    ("kube-state-metrics", "metricAnnotationsAllowList"): list,
    ("kube-state-metrics", "nodeSelector"): dict,
    ("kube-state-metrics", "resources"): dict,
    ("prometheus-node-exporter", "enabled"): bool,
    ("prometheus-node-exporter", "containerSecurityContext"): dict,
    ("prometheus-node-exporter", "resources"): dict,
    ("server", "containerSecurityContext"): dict,
    ("server", "securityContext"): dict,
    ("server", "extraVolumes"): list,
    ("server", "extraVolumeMounts"): list,
    ("server", "nodeSelector"): dict,
    ("server", "podLabels"): dict,
    ("server", "resources"): dict,
    ("server", "retention"): str,
    ("server", "retentionSize"): str,
    ("server", "persistentVolume", "enabled"): bool,
    ("server", "persistentVolume", "size"): str,
    ("server", "persistentVolume", "storageClass"): str,
    ("server", "persistentVolume", "annotations"): dict,
}
GRAFANA_KEYS = {
    ("rbac", "create"): bool,
    ("serviceAccount", "automountServiceAccountToken"): bool,
    ("automountServiceAccountToken",): bool,
    ("testFramework", "enabled"): bool,
    ("persistence", "enabled"): bool,
    ("service", "type"): str,
    ("resources",): dict,
    ("nodeSelector",): dict,
    ("datasources",): dict,
    ("dashboardProviders",): dict,
    ("dashboardsConfigMaps",): dict,
    ("grafana.ini",): dict,
}


def leaves(value: dict, known: dict, path: tuple = ()) -> dict:
    """The values by path, down to the documented keys."""
    found = {}
    for key, item in value.items():
        here = (*path, key)
        if here in known or not isinstance(item, dict):
            found[here] = item
        else:
            found.update(leaves(item, known, here))
    return found


@pytest.mark.parametrize(("release", "known"), [("prometheus", PROMETHEUS_KEYS), ("grafana", GRAFANA_KEYS)])
def test_every_value_is_a_documented_key_of_its_type(monitored, release, known):
    given = leaves(values(monitored, release), known)
    assert set(given) == set(known)
    for path, value in given.items():
        assert isinstance(value, known[path]) and not (known[path] is not bool and isinstance(value, bool)), path


def test_the_schema_enumerations_and_formats_are_met(monitored):
    """values.schema.json of prometheus-29.27.0 has no enumeration for these keys; the formats are Prometheus's own:
    a duration for --storage.tsdb.retention.time and a size with a unit for --storage.tsdb.retention.size."""
    server = values(monitored, "prometheus")["server"]
    assert re.fullmatch(r"[0-9]+d", server["retention"])
    assert re.fullmatch(r"[0-9]+MB", server["retentionSize"])
    assert re.fullmatch(r"[0-9]+(Mi|Gi|Ti)", server["persistentVolume"]["size"])
    # kube-state-metrics' allowlists: "resource=[key,...]" (kube-state-metrics 8.4.0, values.yaml).
    for entry in values(monitored, "prometheus")["kube-state-metrics"]["metricLabelsAllowlist"]:
        assert re.fullmatch(r"[a-z]+=\[[^\]]+\]", entry)


# --- the dashboards ---------------------------------------------------------------------------------------------


def shipped() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in monitoring.dashboards().items()}


def queries(value) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k in ("expr", "query") and isinstance(v, str)] + [
            q for v in value.values() for q in queries(v)]
    if isinstance(value, list):
        return [q for v in value for q in queries(v)]
    return []


def titles(dashboard: dict) -> set[str]:
    found = set()

    def walk(panels):
        for panel in panels:
            found.add(panel.get("title"))
            walk(panel.get("panels", []))
    walk(dashboard["panels"])
    return found


def test_the_dashboards_are_those_of_the_pinned_commit_as_deploy_py_names_them():
    dashboards = shipped()
    assert set(dashboards) == {f"{name}.json" for name in monitoring.DASHBOARDS}
    assert "homedirs.json" not in dashboards  # its one panel needs an exporter that is not deployed
    for file_name, dashboard in dashboards.items():
        assert dashboard["uid"] == dashboards_tool.dashboard_uid(f"dashboards/{file_name.removesuffix('.json')}.jsonnet")
        [source] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
        assert source["query"] == "prometheus"  # any Prometheus data source: the one provisioned
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)


def test_what_the_readme_says_each_dashboard_shows():
    dashboards = shipped()
    assert {"Running Servers", "Daily Active Users", "Weekly Active Users"} <= titles(dashboards["activity.json"])
    assert {"Server Start Times", "Server Start Failures", "User CPU usage distribution",
            "User memory usage distribution", "Images used by user pods"} <= titles(dashboards["jupyterhub.json"])
    assert {"CPU Usage", "Memory Usage", "CPU Requests", "Memory Requests"} <= titles(dashboards["user.json"])
    assert {"Running Users", "Node CPU Utilization %", "Node Memory Utilization %"} <= titles(dashboards["cluster.json"])


def test_the_dashboards_read_only_what_prometheus_collects():
    """Every kube-state-metrics family and pod label or annotation the queries use is collected, and the hub's
    metrics carry the labels the queries select them by."""
    everything = "\n".join(q for d in shipped().values() for q in queries(d))
    families = set(re.findall(r"\bkube_([a-z]+)_", everything))
    assert families == {"node", "pod", "service"}
    assert {f"{family}s" for family in families} == set(monitoring.KUBE_STATE_METRICS_COLLECTORS)
    labels = set(re.findall(r"\blabel_(app|component|hub_jupyter_org_username)\b", everything))
    assert labels == {"app", "component", "hub_jupyter_org_username"}
    assert monitoring.KUBE_STATE_METRICS_POD_LABELS[0] == "pods=[app,component,hub.jupyter.org/username]"
    assert set(re.findall(r"\bannotation_([a-z_]+)", everything)) == {"hub_jupyter_org_username"}
    assert monitoring.KUBE_STATE_METRICS_POD_ANNOTATIONS == ("pods=[hub.jupyter.org/username]",)
    # The hub's metrics: JupyterHub 5.5.4's own (the hub image's), selected by their own labels or those the scrape
    # job adds.
    hub_metrics = {metric._name: set(metric._labelnames) for metric in vars(jupyterhub.metrics).values()
                   if isinstance(metric, MetricWrapperBase)}
    # (Home directory panels need prometheus-dirsize-exporter, and stay empty: README, "Usage at a glance".)
    served = "\n".join(q for d in shipped().values() for q in queries(d) if "dirsize_" not in q)
    selected = re.findall(r"\b(jupyterhub_[a-z_]+?)(?:_bucket|_count|_sum)?\{([^}]*)\}", served)
    assert {name for name, _ in selected} == {"jupyterhub_active_users", "jupyterhub_running_servers",
                                              "jupyterhub_server_spawn_duration_seconds",
                                              "jupyterhub_request_duration_seconds"}
    added = {"namespace", *monitoring.HUB_METRICS_LABELS}
    for name, selector in selected:
        labels = set(re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)", selector))
        assert labels <= hub_metrics[name] | added, name
    assert "jupyterhub_user_group_info" not in served  # 2i2c-org/jupyterhub-groups-exporter is not deployed


# --- tools/dashboards.py --------------------------------------------------------------------------------------------


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A repository laid out like jupyterhub/grafana-dashboards: dashboards importing a vendored library."""
    repo = tmp_path / "grafana-dashboards"
    (repo / "vendor").mkdir(parents=True)
    (repo / "dashboards").mkdir()
    (repo / "vendor" / "lib.libsonnet").write_text("{ dashboard(title):: { title: title, uid: 'random', panels: [] } }\n")
    for name in monitoring.DASHBOARDS:
        (repo / "dashboards" / f"{name}.jsonnet").write_text(f"local lib = import 'lib.libsonnet';\nlib.dashboard('{name}')\n")
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "dashboards", cwd=repo)
    return repo


def test_the_tool_renders_each_dashboard_with_deploy_pys_uid(checkout, tmp_path, monkeypatch):
    monkeypatch.setattr(dashboards_tool, "DASHBOARDS_COMMIT", git("rev-parse", "HEAD", cwd=checkout))
    out = tmp_path / "out"
    written = dashboards_tool.write(checkout, out)
    assert sorted(p.name for p in written) == sorted(f"{name}.json" for name in monitoring.DASHBOARDS)
    rendered = json.loads((out / "user.json").read_text())
    assert rendered == {"title": "user", "uid": dashboards_tool.dashboard_uid("dashboards/user.jsonnet"), "panels": []}
    # deploy.py's formula: sha256 of the path and the folder's uid, 16 hex digits.
    assert dashboards_tool.dashboard_uid("dashboards/user.jsonnet") == hashlib.sha256(
        b"dashboards/user.jsonnet70E5EE84-1217-4021-A89E-1E3DE0566D93").hexdigest()[:16]


def test_the_tool_refuses_another_commit_and_a_broken_dashboard(checkout, tmp_path, monkeypatch):
    head = git("rev-parse", "HEAD", cwd=checkout)
    with pytest.raises(dashboards_tool.DashboardError, match=f"is at {head}, not at the pinned "):
        dashboards_tool.write(checkout, tmp_path / "out")
    monkeypatch.setattr(dashboards_tool, "DASHBOARDS_COMMIT", head)
    (checkout / "dashboards" / "cluster.jsonnet").write_text("local lib = import 'missing.libsonnet';\nlib\n")
    with pytest.raises(dashboards_tool.DashboardError, match="^dashboards/cluster.jsonnet does not render: "):
        dashboards_tool.write(checkout, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # all or nothing
    (checkout / "dashboards" / "cluster.jsonnet").write_text("{}\n")
    with pytest.raises(dashboards_tool.DashboardError, match="^dashboards/cluster.jsonnet renders to an empty object$"):
        dashboards_tool.write(checkout, tmp_path / "out")


def test_the_tool_names_a_folder_that_is_no_checkout(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tools.dashboards", str(tmp_path)], cwd=reference.ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == f"error: {tmp_path} is not a git checkout of jupyterhub/grafana-dashboards\n"


# --- settings ---------------------------------------------------------------------------------------------------

M = "Invalid configuration mltraining:services.monitoring"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"services.monitoring.enabled": "yes"}, f'{M}.enabled = "yes": expected true or false'),
    ({"services.monitoring.retentionDays": 0}, f"{M}.retentionDays = 0: expected a whole number between 1 and 3650"),
    ({"services.monitoring.retentionDays": "30d"}, f'{M}.retentionDays = "30d": expected a whole number'),
    ({"services.monitoring.storageSize": "20GB"}, f'{M}.storageSize = "20GB": expected a Kubernetes quantity such as 100Gi'),
    ({"services.monitoring.storageSize": "512Mi"}, f'{M}.storageSize = "512Mi": expected at least 1Gi'),
    ({"services.monitoring.nodeExporter": "off"}, f'{M}.nodeExporter = "off": expected true or false'),
    ({"services.monitoring.grafanaPassword": "x"},
     "Invalid configuration mltraining:services.monitoring.grafanaPassword: expected one of the keys declared in "
     "Pulumi.yaml; did you mean mltraining:services.monitoring.enabled?"),
], ids=["enabled", "retention-zero", "retention-unit", "size-unit", "size-small", "node-exporter", "unknown"])
def test_settings_errors_are_one_line(overrides, message):
    assert config_error("baremetal", {**ON, **overrides}) == message


# --- the real hub ---------------------------------------------------------------------------------------------------


@pytest.mark.engines
def test_the_real_hub_serves_its_metrics_to_the_prometheus_token_only(tmp_path):
    """JupyterHub 5.5.4 with the dev stack's release values (monitoring on), loaded as the chart loads them: the token
    the chart generates for the service prometheus reads /hub/metrics as Prometheus's job sends it (a Bearer
    header); no token, or the smoke test's, is refused."""
    missing = missing_engines()
    if missing:
        require_engine(missing)
    preview = run_preview("dev", ON)
    program = hub_values(preview)
    release = release_values(chart_file("values.yaml"),
                             {**program, "hub": {**program["hub"], "config": with_secrets(program["hub"]["config"])}},
                             preview.outputs["namespace"])
    hub = start_hub(release, tmp_path)
    try:
        secret = tmp_path / "z2jh" / "secret"
        [job] = yaml.safe_load(values(preview, "prometheus")["extraScrapeConfigs"])
        url = f"{hub.hub_url}{job['metrics_path']}"

        def scrape(token=None):
            headers = {"Authorization": f"{job['authorization']['type']} {token}"} if token else {}
            return local_session().get(url, headers=headers, timeout=30)

        answer = scrape((secret / api_token_key(monitoring.METRICS_READER)).read_text())
        assert answer.status_code == 200, hub.logs()
        assert re.search(r"^jupyterhub_running_servers ", answer.text, re.MULTILINE)
        assert "jupyterhub_server_spawn_duration_seconds_bucket" in answer.text
        assert scrape().status_code == 403
        assert scrape((secret / SMOKE_TOKEN_KEY).read_text()).status_code == 403
    finally:
        hub.stop()
