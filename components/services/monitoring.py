"""Usage at a glance (services.monitoring): Prometheus scraping the hub and the cluster, Grafana with JupyterHub's
dashboards, for the trainers (README, "Usage at a glance").

- Prometheus: the prometheus-community chart with its kube-state-metrics and node exporter, the setup the dashboards
  are written for (jupyterhub/grafana-dashboards at DASHBOARDS_COMMIT, docs/tutorials/deploy.md: that chart with
  kube-state-metrics, node-exporter and cadvisor, kube-state-metrics labelling pods with app, component and
  hub.jupyter.org/username, and the hub scraped too). It scrapes the hub's /hub/metrics as the JupyterHub service
  METRICS_READER, with the token the chart keeps for it in the hub Secret, and keeps its samples on the cluster's
  Retain data class, so that a teardown never loses them.
- Grafana: the grafana-community chart with the dashboards (components/services/files/grafana-dashboards, rendered by
  tools/dashboards.py) in a ConfigMap, and Prometheus as its data source. No Service leaves the cluster: a trainer
  reaches it with kubectl port-forward and logs in as admin with the password the chart generated and keeps in its
  Secret (never in Pulumi's state). Grafana keeps nothing of its own: dashboards and data source are provisioned
  at every start, as jupyterhub/grafana-dashboards overwrites changes made in its UI anyway.
- NetworkPolicies: only Grafana reaches Prometheus, only Prometheus reaches kube-state-metrics, and Grafana reaches
  nothing but Prometheus and DNS. Prometheus carries the hub's access label, which the hub's own policy admits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.cluster.cluster import ClusterResult
from components.hub.hub import HUB_SECRET, api_token_key
from components.settings import MonitoringSettings, quantity_bytes

# prometheus-community/helm-charts, tag prometheus-29.27.0 (ca06aaef8a20ca639f06523f467cb0ef8a114feb, 2026-08-18),
# charts/prometheus: Prometheus v3.14.0 (Chart.yaml appVersion). The packaged chart carries its dependencies at the
# versions of its Chart.lock: kube-state-metrics 8.4.0 (kube-state-metrics v2.20.0) and prometheus-node-exporter
# 4.56.1; alertmanager 1.42.0 and prometheus-pushgateway 3.8.0, which are turned off below.
PROMETHEUS_CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
PROMETHEUS_CHART = "prometheus"
PROMETHEUS_CHART_VERSION = "29.27.0"
PROMETHEUS_RELEASE = "prometheus"
# grafana/helm-charts deprecated its chart (10.5.15, the last, "deprecated: true") and moved it to
# grafana-community/helm-charts (its README, "Chart Migration"), tag grafana-12.11.1
# (864f7794683680e5100a38670e103c4fa6e37e29, 2026-08-19), charts/grafana: Grafana 13.2.0 (appVersion, the default
# image tag of docker.io/grafana/grafana), newer than the v11.1.0 the dashboards need (docs/tutorials/deploy.md).
GRAFANA_CHART_REPOSITORY = "https://grafana-community.github.io/helm-charts"
GRAFANA_CHART = "grafana"
GRAFANA_CHART_VERSION = "12.11.1"
GRAFANA_RELEASE = "grafana"

# jupyterhub/grafana-dashboards has no release since 1.0 (for charts before prometheus 14); this is main on
# 2026-03-03, whose dashboards last changed in b35e99a (2025-12-09).
DASHBOARDS_REPOSITORY = "https://github.com/jupyterhub/grafana-dashboards"
DASHBOARDS_COMMIT = "ef44b4ed0b439734f2acd5dbd81c4f7d3b513f76"
DASHBOARDS_DIR = Path(__file__).resolve().parent / "files" / "grafana-dashboards"
# Every dashboard of dashboards/ but two whose every panel needs an exporter that is not deployed: homedirs
# (prometheus-dirsize-exporter, docs/tutorials/deploy.md, "Per-user home directory metrics") and group
# (2i2c-org/jupyterhub-groups-exporter's jupyterhub_user_group_info, named in each panel's description).
DASHBOARDS = ("activity", "cluster", "jupyterhub", "support", "usage-report", "user")
# deploy.py's folder, whose name and uid it gives the dashboards' folder (DEFAULT_FOLDER_UID, --folder-name).
DASHBOARDS_FOLDER = "JupyterHub Default Dashboards"
DASHBOARDS_FOLDER_UID = "70E5EE84-1217-4021-A89E-1E3DE0566D93"
DASHBOARDS_CONFIGMAP = "grafana-dashboards-jupyterhub"
DASHBOARDS_PROVIDER = "jupyterhub"

# The JupyterHub service Prometheus scrapes the hub as: JupyterHub 5 serves /hub/metrics only to a token with the
# scope read:metrics while authenticate_prometheus is True, its default (jupyterhub 5.5.4, jupyterhub/app.py and
# jupyterhub/scopes.py). The hub chart generates its token (components/hub/hub.py).
METRICS_READER = "prometheus"
# The hub's Service "hub" serves /hub/metrics on port 8081 (z2jh 4.4.0, jupyterhub/templates/hub/service.yaml, with
# hub.baseUrl "/"); its NetworkPolicy admits pods of the namespace labelled HUB_ACCESS_LABEL to the hub's port
# (jupyterhub/templates/hub/netpol.yaml).
HUB_METRICS_TARGET = "hub:8081"
HUB_METRICS_PATH = "/hub/metrics"
HUB_ACCESS_LABEL = {"hub.jupyter.org/network-access-hub": "true"}
# The jupyterhub dashboard's queries select the hub's metrics by namespace and app="jupyterhub", the labels the
# chart's own annotation-based job would add from the Service (dashboards/jupyterhub.jsonnet).
HUB_METRICS_LABELS = {"app": "jupyterhub", "component": "hub"}
TOKEN_DIR = "/etc/hub-metrics"

# The chart's names with release PROMETHEUS_RELEASE, which contains the chart's name: the server is
# "<release>-server", its Service port 80 forwards to Prometheus's 9090 (templates/_helpers.tpl, prometheus.fullname,
# prometheus.server.fullname and prometheus.port; values.yaml server.service.servicePort); the server's pods carry
# prometheus.server.matchLabels, kube-state-metrics' pods its selectorLabels, port http 8080 (kube-state-metrics
# 8.4.0, templates/_helpers.tpl and deployment.yaml).
PROMETHEUS_SERVICE = "prometheus-server"
PROMETHEUS_PORT = 9090
PROMETHEUS_URL = f"http://{PROMETHEUS_SERVICE}"  # port 80, in the namespace of Grafana
PROMETHEUS_SERVER_LABELS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": PROMETHEUS_RELEASE,
                            "app.kubernetes.io/component": "server"}
KUBE_STATE_METRICS_LABELS = {"app.kubernetes.io/name": "kube-state-metrics",
                             "app.kubernetes.io/instance": PROMETHEUS_RELEASE}
KUBE_STATE_METRICS_PORT = 8080
# Grafana's Service "grafana" (fullname: the release's name contains the chart's) port 80 forwards to the server's
# 3000; its pods carry grafana.selectorLabels (grafana 12.11.1, templates/_helpers.tpl; values.yaml service).
GRAFANA_SERVICE = "grafana"
GRAFANA_PORT = 3000
GRAFANA_LABELS = {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": GRAFANA_RELEASE}
# The chart generates the admin password once into this Secret and keeps it (templates/secret.yaml, _helpers.tpl
# grafana.password: lookup of the existing Secret, else randAlphaNum 40).
GRAFANA_ADMIN_SECRET = "grafana"
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"
LOCAL_PORT = 3000

# What the dashboards read from kube-state-metrics (every query of DASHBOARDS): kube_node_*, kube_pod_* and
# kube_service_labels, with the pods' labels app, component and hub.jupyter.org/username (docs/tutorials/deploy.md)
# and the annotation hub.jupyter.org/username (annotation_hub_jupyter_org_username in user.jsonnet), which
# KubeSpawner puts on every server's pod (jupyterhub-kubespawner 7.0.0, kubespawner/spawner.py,
# _build_common_annotations). Only those collectors run, so kube-state-metrics may list and watch nodes, pods and
# services and nothing else: the chart grants each collector's resources alone (templates/role.yaml), and the
# default list would let it read every Secret of the cluster.
KUBE_STATE_METRICS_COLLECTORS = ("nodes", "pods", "services")
KUBE_STATE_METRICS_POD_LABELS = ("pods=[app,component,hub.jupyter.org/username]", "nodes=[*]")
KUBE_STATE_METRICS_POD_ANNOTATIONS = ("pods=[hub.jupyter.org/username]",)
# Prometheus counts its write-ahead log towards storage.tsdb.retention.size and deletes only whole blocks, so the
# blocks may take this share of the volume (prometheus/prometheus, docs/storage.md, "WAL and m-mapped chunks are
# counted in the total size", and docs/command-line/prometheus.md: sizes "based on powers-of-2, so 1KB is 1024B").
RETENTION_SHARE = 0.8

# Helm deletes the claims a release created when the release goes (services.monitoring.enabled false, or a teardown);
# with this annotation it leaves the claim, whose volume is of the Retain class anyway (helm/helm v3, "keep").
KEEP = {"helm.sh/resource-policy": "keep"}
HARDENED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
SECCOMP = {"seccompProfile": {"type": "RuntimeDefault"}}
RELEASE_TIMEOUT_SECONDS = 600
LABELS = {"app.kubernetes.io/part-of": "ml-training", "app.kubernetes.io/component": "monitoring"}


def dashboards() -> dict[str, str]:
    """The rendered dashboards by file name, as tools/dashboards.py wrote them."""
    return {f"{name}.json": (DASHBOARDS_DIR / f"{name}.json").read_text() for name in DASHBOARDS}


def retention_size(settings: MonitoringSettings) -> str:
    """storage.tsdb.retention.size: RETENTION_SHARE of the volume, in Prometheus's MB (MiB)."""
    return f"{int(quantity_bytes(settings.storage_size) * RETENTION_SHARE) // 2**20}MB"


def hub_scrape_config(namespace: str) -> dict:
    """The job that scrapes the hub as METRICS_READER, its token read from the file the Secret volume holds."""
    return {
        "job_name": "jupyterhub",
        "metrics_path": HUB_METRICS_PATH,
        "authorization": {"type": "Bearer", "credentials_file": f"{TOKEN_DIR}/token"},
        "static_configs": [{"targets": [HUB_METRICS_TARGET], "labels": {**HUB_METRICS_LABELS, "namespace": namespace}}],
    }


def prometheus_values(settings: MonitoringSettings, cluster: ClusterResult) -> dict:
    core = dict(cluster.core_node_selector)
    return {
        "server": {
            "podLabels": dict(HUB_ACCESS_LABEL),
            "persistentVolume": {"enabled": True, "size": settings.storage_size,
                                 "storageClass": cluster.data_storage_class, "annotations": dict(KEEP)},
            "retention": f"{settings.retention_days}d",
            "retentionSize": retention_size(settings),
            # Only the hub's token (one key of the hub Secret), read-only.
            "extraVolumes": [{"name": "hub-metrics-token", "secret": {
                "secretName": HUB_SECRET, "items": [{"key": api_token_key(METRICS_READER), "path": "token"}]}}],
            "extraVolumeMounts": [{"name": "hub-metrics-token", "mountPath": TOKEN_DIR, "readOnly": True}],
            # The chart runs it as nobody (65534) and non-root already (values.yaml server.securityContext).
            "securityContext": dict(SECCOMP),
            "containerSecurityContext": dict(HARDENED),
            "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
            "nodeSelector": core,
        },
        "configmapReload": {"prometheus": {
            "containerSecurityContext": dict(HARDENED),
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        }},
        "extraScrapeConfigs": cluster.namespace.apply(lambda namespace: yaml.safe_dump([hub_scrape_config(namespace)])),
        "alertmanager": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "kube-state-metrics": {
            "collectors": list(KUBE_STATE_METRICS_COLLECTORS),
            "metricLabelsAllowlist": list(KUBE_STATE_METRICS_POD_LABELS),
            "metricAnnotationsAllowList": list(KUBE_STATE_METRICS_POD_ANNOTATIONS),
            "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "nodeSelector": core,
        },
        # On every node, user nodes too (the chart tolerates every NoSchedule taint). It keeps the chart's host
        # network and process namespace: node_cpu_seconds_total, node_memory_*, node_vmstat_oom_kill and the NFS
        # client's node_nfs_requests_total (dashboards/cluster.jsonnet, support.jsonnet) are the node's only there.
        # So it listens on each node's port 9100 (prometheus-node-exporter-4.56.1, values.yaml service.port, with
        # hostNetwork: true), which another node exporter may hold already: settings.node_exporter.
        "prometheus-node-exporter": {
            "enabled": settings.node_exporter,
            "containerSecurityContext": dict(HARDENED),
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        },
    }


def grafana_values(cluster: ClusterResult) -> dict:
    return {
        # No sidecar reads the API: no role, no token in the pod.
        "rbac": {"create": False},
        "serviceAccount": {"automountServiceAccountToken": False},
        "automountServiceAccountToken": False,
        "testFramework": {"enabled": False},
        "persistence": {"enabled": False},
        "service": {"type": "ClusterIP"},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "nodeSelector": dict(cluster.core_node_selector),
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": [{
            # The dashboards pick a data source of type prometheus (their variable PROMETHEUS_DS).
            "name": "Prometheus", "type": "prometheus", "uid": "prometheus", "url": PROMETHEUS_URL,
            "access": "proxy", "isDefault": True, "editable": False}]}},
        "dashboardProviders": {"dashboardproviders.yaml": {"apiVersion": 1, "providers": [{
            "name": DASHBOARDS_PROVIDER, "orgId": 1, "folder": DASHBOARDS_FOLDER, "folderUid": DASHBOARDS_FOLDER_UID,
            "type": "file", "disableDeletion": True, "allowUiUpdates": False,
            # Where the chart mounts the ConfigMap of dashboardsConfigMaps.<provider> (templates/_pod.tpl).
            "options": {"path": f"/var/lib/grafana/dashboards/{DASHBOARDS_PROVIDER}"}}]}},
        "dashboardsConfigMaps": {DASHBOARDS_PROVIDER: DASHBOARDS_CONFIGMAP},
        # Nothing leaves the cluster: no update checks or usage reports, and none of the plugin downloads from
        # grafana.com that Grafana starts with, its default preinstall list, which preinstall_disabled skips
        # (grafana/grafana 0a8a924, pkg/setting/setting_plugins.go, readPluginSettings). Its NetworkPolicy would drop
        # them anyway, with an error in the log for each.
        "grafana.ini": {"analytics": {"check_for_updates": False, "check_for_plugin_updates": False,
                                      "reporting_enabled": False},
                        "plugins": {"preinstall_disabled": True}},
    }


def _policy(resource_name: str, name: str, namespace: pulumi.Input[str], spec: dict, opts: pulumi.ResourceOptions
            ) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        resource_name, metadata={"name": name, "namespace": namespace, "labels": LABELS}, spec=spec, opts=opts)


@dataclass(frozen=True)
class MonitoringArgs:
    settings: MonitoringSettings
    cluster: ClusterResult
    hub_release: k8s.helm.v3.Release  # its Secret holds the token Prometheus mounts


class Monitoring(pulumi.ComponentResource):
    """Prometheus and Grafana with the JupyterHub dashboards, in the environment's namespace."""

    prometheus: k8s.helm.v3.Release
    grafana: k8s.helm.v3.Release
    port_forward: pulumi.Output[str]  # the command that serves Grafana on localhost
    admin_password_command: pulumi.Output[str]  # the command that prints Grafana's admin password

    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:services:Monitoring", name, None, opts)
        cluster = args.cluster
        namespace = cluster.namespace
        child = pulumi.ResourceOptions(parent=self, provider=cluster.provider)

        self.prometheus = k8s.helm.v3.Release(
            f"{name}-prometheus",
            name=PROMETHEUS_RELEASE,
            chart=PROMETHEUS_CHART,
            version=PROMETHEUS_CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_CHART_REPOSITORY),
            namespace=namespace,
            values=prometheus_values(args.settings, cluster),
            timeout=RELEASE_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[args.hub_release])),
        )
        dashboards_map = k8s.core.v1.ConfigMap(
            f"{name}-dashboards",
            metadata={"name": DASHBOARDS_CONFIGMAP, "namespace": namespace, "labels": LABELS,
                      "annotations": {"ml-training/grafana-dashboards": f"{DASHBOARDS_REPOSITORY}@{DASHBOARDS_COMMIT}"}},
            data=dashboards(),
            opts=child,
        )
        self.grafana = k8s.helm.v3.Release(
            f"{name}-grafana",
            name=GRAFANA_RELEASE,
            chart=GRAFANA_CHART,
            version=GRAFANA_CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=GRAFANA_CHART_REPOSITORY),
            namespace=namespace,
            values=grafana_values(cluster),
            timeout=RELEASE_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[dashboards_map])),
        )

        dns = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
        # Prometheus answers every query without a login: only Grafana may ask.
        _policy(f"{name}-prometheus-policy", "prometheus", namespace, {
            "podSelector": {"matchLabels": dict(PROMETHEUS_SERVER_LABELS)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": dict(GRAFANA_LABELS)}}],
                         "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}]}],
        }, child)
        # kube-state-metrics tells every pod's user: only Prometheus reads it.
        _policy(f"{name}-kube-state-metrics-policy", "kube-state-metrics", namespace, {
            "podSelector": {"matchLabels": dict(KUBE_STATE_METRICS_LABELS)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": dict(PROMETHEUS_SERVER_LABELS)}}],
                         "ports": [{"protocol": "TCP", "port": KUBE_STATE_METRICS_PORT}]}],
        }, child)
        # Grafana's login page (kubectl port-forward's path depends on the cluster's network plugin); it reaches
        # only Prometheus. Trainees' servers reach neither: their own policy lets them out to the data services only.
        _policy(f"{name}-grafana-policy", "grafana", namespace, {
            "podSelector": {"matchLabels": dict(GRAFANA_LABELS)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": GRAFANA_PORT}]}],
            "egress": [{"to": [{"podSelector": {"matchLabels": dict(PROMETHEUS_SERVER_LABELS)}}],
                        "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}]}, dns],
        }, child)

        # Known once Grafana is in.
        self.port_forward = pulumi.Output.all(namespace, self.grafana.status).apply(
            lambda a: f"kubectl --namespace {a[0]} port-forward service/{GRAFANA_SERVICE} {LOCAL_PORT}:80")
        self.admin_password_command = pulumi.Output.from_input(namespace).apply(
            lambda ns: f"kubectl --namespace {ns} get secret {GRAFANA_ADMIN_SECRET} "
                       f"--output jsonpath='{{.data.{GRAFANA_ADMIN_PASSWORD_KEY}}}' | base64 --decode")
        self.register_outputs({"portForward": self.port_forward, "adminPasswordCommand": self.admin_password_command})
