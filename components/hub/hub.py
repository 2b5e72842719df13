"""The training hub: Zero to JupyterHub with the three folders, login, server profiles and user network policy.

Every trainee's server finds (see README, "What a trainee finds"):

    /home/jovyan          personal folder: a volume of its own from the provisioner's StorageClass
    /home/jovyan/public   public folder: training material and datasets, read-only
    /home/jovyan/shared   shared folder: read and written by every trainee

and, by configuration, some servers more: admins' the trainers' view, members' their team's folder
(components/hub/hub_folders.py).

SQLite does not survive NFS locking, so the two SQLite files a server keeps (IPython's history and the
notebook signature database) live on the pod's local disk instead of the NFS home, set by config files
that IPython and Jupyter Server read from their system-wide config directories.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.hub.hub_folders import extra_hub_values
from components.settings import (HUB_IMAGE_REPOSITORY, IMAGE_TAGS, PYSPARK_IMAGE, SCALA_SPARK_REPOSITORY, AuthSettings,
                                 HubSettings, Profile, image_repository, quantity_bytes)
from components.storage.storage import StorageResult
from components.services.user_access import UserAccess

CHART_REPOSITORY = "https://hub.jupyter.org/helm-chart/"
CHART = "jupyterhub"
CHART_VERSION = "4.4.0"
RELEASE_NAME = "jupyterhub"
# The chart names its Services without a release prefix; proxy-public is the hub's front door.
PROXY_SERVICE = "proxy-public"

# The notebook images' home: 'ENV ... HOME="/home/${NB_USER}"' with 'ARG NB_USER="jovyan"' (jupyter/docker-stacks,
# images/docker-stacks-foundation/Dockerfile at 92e38afb8743c95e67b098695cc332e7d05a0568, which built the 2026-08-07
# images, and 8209386950497966c8a9aa446b9a84a5dd78eab5, the 2026-08-08 ones).
HOME = "/home/jovyan"
PUBLIC_MOUNT = f"{HOME}/public"
SHARED_MOUNT = f"{HOME}/shared"

# Local (node) disk of the user pod, gone with the server: fine for history and signatures, safe for SQLite.
# jovyan writes there: the foundation Dockerfile above runs its Python install as "USER ${NB_UID}" in "WORKDIR /tmp".
LOCAL_STATE_DIR = "/tmp"
IPYTHON_HISTORY = f"{LOCAL_STATE_DIR}/ipython_history.sqlite"
NOTEBOOK_SIGNATURES = f"{LOCAL_STATE_DIR}/nbsignatures.db"
# System-wide config directories that IPython (kernels too) and Jupyter Server search, which the Jupyter
# Docker Stacks images leave empty (they configure /etc/ipython and /etc/jupyter).
# - IPython: SYSTEM_CONFIG_DIRS = ["/usr/local/etc/ipython", "/etc/ipython"] on Linux, searched by every
#   BaseIPythonApplication, which loads 'ipython_config' first (ipython/ipython 9.16.1, IPython/core/application.py;
#   the kernel is one: ipython/ipykernel v7.3.0, ipykernel/kernelapp.py, IPKernelApp). traitlets loads both the .py
#   and the .json of a config name (ipython/traitlets v5.16.1, traitlets/config/application.py, _load_config_files).
#   HistoryManager takes hist_file from HistoryAccessor (IPython/core/history.py).
# - Jupyter: SYSTEM_CONFIG_PATH = ["/usr/local/etc/jupyter", "/etc/jupyter"] unless JUPYTER_PLATFORM_DIRS is set,
#   which the images do not set (jupyter/jupyter_core v5.9.1, jupyter_core/paths.py); ServerApp's name
#   "jupyter-server" makes the file jupyter_server_config (jupyter_core/application.py; jupyter-server/jupyter_server
#   v2.20.0, jupyter_server/serverapp.py). Its contents manager's NotebookNotary has db_file (jupyter/nbformat
#   v5.11.0, nbformat/sign.py). These are the newest releases before the images were built; docker-stacks pins none
#   of these packages.
# - The images: no /usr/local/etc in jupyter/docker-stacks images/ at the commits above; base-notebook copies
#   jupyter_server_config.py to /etc/jupyter/, pyspark-notebook ipython_kernel_config.py to /etc/ipython/.
# - The chart writes extraFiles data as JSON for a .json mountPath (jupyterhub/zero-to-jupyterhub-k8s 4.4.0,
#   jupyterhub/templates/_helpers.tpl).
IPYTHON_CONFIG = "/usr/local/etc/ipython/ipython_config.json"
JUPYTER_SERVER_CONFIG = "/usr/local/etc/jupyter/jupyter_server_config.json"

# auth.type -> (the chart's name for the authenticator class, the class's config section in hub.config).
AUTHENTICATORS = {
    "github": ("github", "GitHubOAuthenticator"),
    "generic-oauth": ("generic-oauth", "GenericOAuthenticator"),
    "dummy": ("dummy", "DummyAuthenticator"),
}
# auth.type dummy with auth.dummyPassword.
SHARED_PASSWORD = ("shared-password", "SharedPasswordAuthenticator")
# Where OAuthenticator keeps the provider's userinfo in auth_state (OAuthenticator.user_auth_state_key).
OAUTH_USER_KEY = "oauth_user"
# Marks a deliberate dummy login on a public hub (auth.allowInsecureDummy) on the hub pod, where the
# policy pack (policy/) and anyone with kubectl can see it.
INSECURE_DUMMY_ANNOTATION = "ml-training/allow-insecure-dummy-auth"

# The Secret that holds the Ingress's certificate (issued by cert-manager with hub.clusterIssuer).
INGRESS_TLS_SECRET = "jupyterhub-tls"
# Port-forward address for a hub without a public host name.
LOCAL_URL = "http://localhost:8080"
# The API identity of ./tools/smoke (tools/smoke.py): a JupyterHub service without a URL, whose token the chart
# generates and keeps across upgrades in the hub Secret under hub.services.<key>.apiToken (z2jh 4.4.0,
# jupyterhub/templates/hub/secret.yaml and _helpers-passwords.tpl, jupyterhub.hub.services.get_api_token). That Secret
# is named "hub": jupyterhub.hub.fullname is "<fullname>-hub", and fullnameOverride "" (values.yaml) leaves no prefix
# (templates/_helpers-names.tpl). The token never leaves the cluster but for the tool, which reads it with kubectl.
SMOKE_SERVICE = "smoke-test"
HUB_SECRET = "hub"
SMOKE_TOKEN_KEY = f"hub.services.{SMOKE_SERVICE}.apiToken"
# What the smoke test does, and no more: create and delete its test users (admin:users), start and stop their
# servers (admin:servers) and use those servers' API (access:servers). JupyterHub 5.5.4, jupyterhub/scopes.py.
SMOKE_SCOPES = ("admin:users", "admin:servers", "access:servers")
# Pod priority, without which the placeholders (hub.placeholders, hub.schedule) never make room: a trainee's server
# evicts a placeholder only from a higher priority (z2jh 4.4.0, templates/NOTES.txt warns of "placeholders that
# refuse to make room for a real user"), and the evicted placeholder, Pending, makes the autoscaler add a node only if
# its priority is not below the autoscaler's cutoff, -10 by default (kubernetes/autoscaler cluster-autoscaler-1.34.5,
# cluster-autoscaler/config/flags/flags.go, expendable-pods-priority-cutoff: "Pods with priority below cutoff ...
# don't cause scale up"). The chart's own scheduling.podPriority cannot give it: it also puts its hook-image-puller
# DaemonSet, a pre-install and pre-upgrade hook, in the chart's image-puller PriorityClass
# (jupyterhub/templates/image-puller/_helpers-daemonset.tpl, priorityclass.yaml), which Helm creates only after the
# hooks have run (helm/helm v3.20.2, pkg/action/install.go and upgrade.go: execHook of the pre hooks, then
# KubeClient.Create or Update), and the Priority admission plugin refuses a pod whose class does not exist
# (kubernetes/kubernetes 07ef5fd, plugin/pkg/admission/priority/admission.go: "no PriorityClass with name %v was
# found"): the hook would wait for pods never created until the release timed out, on the first install and on the
# upgrade that turned it on. So the placeholders alone get a class of the program's own, through
# scheduling.userPlaceholder.extraPodSpec (templates/scheduling/user-placeholder/statefulset.yaml), and every other
# pod keeps the cluster's default priority, 0 where no class is the global default. It never preempts a pod itself.
# The chart's notes, which do not see this class, still warn of placeholders without pod priority.
PLACEHOLDER_PRIORITY = -10
# The pre-puller hook holds the release until every user node has pulled the profile images (GBs each).
RELEASE_TIMEOUT_SECONDS = 1800
# A first spawn on a node without the pre-pulled image pulls it first.
SPAWN_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class JupyterHubArgs:
    hub: HubSettings
    auth: AuthSettings
    namespace: pulumi.Input[str]
    cluster: ClusterResult
    storage: StorageResult
    user_access: tuple[UserAccess, ...] = ()
    metrics_reader: str = ""  # the JupyterHub service that scrapes the hub's metrics (services.monitoring), "" for none


def hub_url(hub: HubSettings, auth: AuthSettings) -> str:
    """Where trainees open the hub: its host, else the OAuth callback's site, else a port-forward."""
    if hub.host:
        return f"https://{hub.host}"
    if auth.type != "dummy" and auth.callback_url:
        callback = urllib.parse.urlparse(auth.callback_url)
        return f"{callback.scheme}://{callback.netloc}"
    return LOCAL_URL


def authenticator_config(auth: AuthSettings) -> dict[str, dict]:
    """hub.config for the login: the authenticator class and its traits (secrets stay secret Outputs)."""
    entry_point, section = AUTHENTICATORS[auth.type]
    config: dict[str, Any] = {"admin_users": list(auth.admin_users), "allowed_users": list(auth.allowed_users)}
    if auth.type == "dummy":
        # Development only (settings refuse it on a public hub without the opt-in): without a user list,
        # any name logs in.
        config["allow_all"] = not auth.allowed_users
        if auth.dummy_password is not None:
            # JupyterHub 5.3 and later check one password with the shared-password login (DummyAuthenticator's
            # password is deprecated); admins log in with their own.
            entry_point, section = SHARED_PASSWORD
            config["user_password"] = auth.dummy_password
            if auth.dummy_admin_password is not None:
                config["admin_password"] = auth.dummy_admin_password
    else:
        config.update(
            client_id=auth.client_id,
            client_secret=auth.client_secret,
            oauth_callback_url=auth.callback_url,
            # JupyterHub 5: only the allow rules below let anyone in.
            allow_all=False,
        )
    if auth.type == "github":
        config["allowed_organizations"] = list(auth.allowed_organizations)
        if auth.allowed_organizations or auth.groups_from_login:
            # Membership of private organizations and of teams is only visible with read:org.
            config["scope"] = ["read:org"]
        if auth.groups_from_login:
            # The user's teams become their hub groups at each login, named by components/hub/files/github_teams.py.
            config.update(populate_teams_in_auth_state=True, manage_groups=True)
    if auth.type == "generic-oauth":
        config.update(
            authorize_url=auth.authorize_url,
            token_url=auth.token_url,
            userdata_url=auth.userdata_url,
            username_claim=auth.username_claim,
            scope=list(auth.scopes),
        )
        if auth.login_groups:
            config.update(manage_groups=True, auth_state_groups_key=f"{OAUTH_USER_KEY}.{auth.groups_claim}")
        if auth.allowed_groups:
            config["allowed_groups"] = list(auth.allowed_groups)
    return {"JupyterHub": {"authenticator_class": entry_point}, section: config}


def trainee_environment(hub: HubSettings, datasets: tuple[str, ...], services: tuple[str, ...]) -> dict:
    """What every trainee gets, as ./tools/smoke checks it: the profiles (and whether their image carries the Spark
    cluster's Spark), the seeded files under the public folder, and the data services in every server."""
    return {
        "profiles": [{"name": p.name, "image": p.image,
                      "spark": p.image == PYSPARK_IMAGE or image_repository(p.image).rsplit("/", 1)[-1] == SCALA_SPARK_REPOSITORY}
                     for p in hub.profiles],
        "datasets": list(datasets),
        "services": list(services),
    }


def _cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def profile_list(profiles: tuple[Profile, ...]) -> list[dict]:
    """KubeSpawner profiles; its memory traits take bytes (its "G" means GiB, unlike Kubernetes)."""
    listed = []
    for profile in profiles:
        item = {
            "display_name": profile.display_name,
            "slug": profile.name,
            "description": profile.description,
            "kubespawner_override": {
                "image": profile.image,
                "cpu_guarantee": _cpu_cores(profile.cpu_guarantee),
                "cpu_limit": _cpu_cores(profile.cpu_limit),
                "mem_guarantee": quantity_bytes(profile.memory_guarantee),
                "mem_limit": quantity_bytes(profile.memory_limit),
            },
        }
        if profile.default:
            item["default"] = True
        listed.append(item)
    return listed


def user_environment(user_access: tuple[UserAccess, ...]) -> dict[str, Any]:
    environment: dict[str, Any] = {}
    for access in user_access:
        for variable, value in access.environment.items():
            if variable in environment:
                raise ValueError(f"two data services set the notebook environment variable {variable}")
            environment[variable] = value
    return environment


def user_storage(storage: StorageResult) -> dict:
    """The personal folder as home, the public folder read-only, the shared folder read/write."""
    return {
        "type": "dynamic",
        "dynamic": {"storageClass": storage.storage_class},
        "homeMountPath": HOME,
        "extraVolumes": [
            {"name": "public", "persistentVolumeClaim": {"claimName": storage.public_claim, "readOnly": True}},
            {"name": "shared", "persistentVolumeClaim": {"claimName": storage.shared_claim}},
        ],
        "extraVolumeMounts": [
            {"name": "public", "mountPath": PUBLIC_MOUNT, "readOnly": True},
            {"name": "shared", "mountPath": SHARED_MOUNT},
        ],
    }


def user_network_policy(hub: HubSettings, user_access: tuple[UserAccess, ...]) -> dict:
    """DNS, the internet as configured, and exactly the data services; never the cloud metadata server."""
    return {
        "enabled": True,
        "egressAllowRules": {
            "cloudMetadataServer": False,
            "dnsPortsCloudMetadataServer": True,
            "dnsPortsKubeSystemNamespace": True,
            "dnsPortsPrivateIPs": True,
            "nonPrivateIPs": hub.allow_internet,
            "privateIPs": False,
        },
        "egress": [rule for access in user_access for rule in access.egress],
        "ingress": [rule for access in user_access for rule in access.ingress],
    }


def _hub_image(hub: HubSettings) -> Optional[dict]:
    """The project's hub image (images/hub: the chart's, with JupyterHub's security release) where the project's
    images are; else the chart's own, whose JupyterHub 5.5.0 lacks those fixes (README, "Security")."""
    if not hub.image_registry:
        pulumi.log.warn("hub.imageRegistry is empty: the hub runs the chart's image with JupyterHub 5.5.0, without "
                        "the security fixes of 5.5.4 (README, \"Security\")")
        return None
    return {"name": f"{hub.image_registry}/{HUB_IMAGE_REPOSITORY}", "tag": IMAGE_TAGS[HUB_IMAGE_REPOSITORY]}


def api_token_key(service: str) -> str:
    """Where the hub Secret (HUB_SECRET) keeps the chart-generated token of a JupyterHub service (see SMOKE_SERVICE)."""
    return f"hub.services.{service}.apiToken"


def _metrics_reader(pod: dict, service: str) -> None:
    """A JupyterHub service that may read the hub's metrics and nothing else (JupyterHub 5.5.4, jupyterhub/scopes.py:
    read:metrics, which /hub/metrics requires while JupyterHub.authenticate_prometheus is True, its default)."""
    pod["services"][service] = {}
    pod["loadRoles"][service] = {"description": "Prometheus (services.monitoring): the hub's metrics",
                                 "scopes": ["read:metrics"], "services": [service]}
    # The chart annotates the hub's Service for Prometheus's annotation-based jobs (z2jh 4.4.0,
    # jupyterhub/templates/hub/service.yaml, unless hub.service.annotations sets them), which scrape without a token
    # and would only be refused: that service's job scrapes it instead (components/services/monitoring.py).
    pod["service"] = {"annotations": {"prometheus.io/scrape": "false"}}


def _hub_pod(hub: HubSettings, auth: AuthSettings, cluster: ClusterResult) -> dict:
    pod: dict[str, Any] = {
        "config": authenticator_config(auth),
        "services": {SMOKE_SERVICE: {}},
        "loadRoles": {SMOKE_SERVICE: {"description": "./tools/smoke: its test users and their servers",
                                      "scopes": list(SMOKE_SCOPES), "services": [SMOKE_SERVICE]}},
        # The hub's database (users, tokens, servers) on the cluster's Retain class: it outlives the namespace.
        "db": {"pvc": {"storageClassName": cluster.data_storage_class}},
    }
    image = _hub_image(hub)
    if image:
        pod["image"] = image
    if hub.expected_users:
        # The whole class may log in at 9:00: JupyterHub refuses spawns beyond this limit (the chart's: 64).
        pod["concurrentSpawnLimit"] = hub.expected_users
    if auth.type == "dummy" and hub.public:  # settings allow this only with auth.allowInsecureDummy
        pod["annotations"] = {INSECURE_DUMMY_ANNOTATION: "true"}
    return pod


def _exposure(hub: HubSettings) -> dict:
    """proxy and ingress values: a LoadBalancer with Let's Encrypt, an Ingress, or a plain Service."""
    proxy: dict[str, Any] = {"service": {"type": hub.service_type}}
    ingress: dict[str, Any] = {"enabled": hub.ingress}
    if hub.ingress:
        # HTTPS with the certificate in INGRESS_TLS_SECRET, which cert-manager issues when an issuer is set.
        ingress.update(hosts=[hub.host], ingressClassName=hub.ingress_class,
                       tls=[{"hosts": [hub.host], "secretName": INGRESS_TLS_SECRET}])
        if hub.cluster_issuer:
            ingress["annotations"] = {"cert-manager.io/cluster-issuer": hub.cluster_issuer}
    elif hub.host:
        proxy["https"] = {
            "enabled": True,
            "type": "letsencrypt",
            "hosts": [hub.host],
            "letsencrypt": {"contactEmail": hub.letsencrypt_email},
        }
    return {"proxy": proxy, "ingress": ingress}


def hub_values(args: JupyterHubArgs, placeholder_priority_class: pulumi.Input[str]) -> dict:
    """The release values, as typed data (Outputs inside are resolved by Pulumi)."""
    hub, cluster = args.hub, args.cluster
    values = {
        "hub": _hub_pod(hub, args.auth, cluster),
        **_exposure(hub),
        "singleuser": {
            "storage": user_storage(args.storage),
            "extraFiles": {
                "ipython-config": {"mountPath": IPYTHON_CONFIG, "data": {"HistoryManager": {"hist_file": IPYTHON_HISTORY}}},
                "jupyter-server-config": {"mountPath": JUPYTER_SERVER_CONFIG,
                                          "data": {"NotebookNotary": {"db_file": NOTEBOOK_SIGNATURES}}},
            },
            "extraEnv": user_environment(args.user_access),
            "profileList": profile_list(hub.profiles),
            "nodeSelector": dict(cluster.user_node_selector),
            "extraTolerations": [dict(t) for t in cluster.user_tolerations],
            "networkPolicy": user_network_policy(hub, args.user_access),
            # The NetworkPolicy above never allows the metadata server; the privileged iptables init container
            # only where no enforcer may honour it (settings: hub.metadataBlock).
            "cloudMetadata": {"blockWithIptables": hub.metadata_block == "iptables"},
            "startTimeout": SPAWN_TIMEOUT_SECONDS,
        },
        "scheduling": {
            # Each placeholder holds the room of one server of the default profile (unset, the chart requests
            # singleuser.cpu/memory: 1G and no CPU, less than a server), at the priority servers evict.
            "userPlaceholder": {"enabled": True, "replicas": hub.placeholders, "resources": {"requests": {
                "cpu": hub.default_profile.cpu_guarantee, "memory": hub.default_profile.memory_guarantee}},
                "extraPodSpec": {"priorityClassName": placeholder_priority_class}},
            # The hub, proxy and user scheduler stay on the core pool where the cluster has one.
            "corePods": {"nodeAffinity": {"matchNodePurpose": "require" if cluster.core_node_selector else "prefer"}},
        },
        "prePuller": {"hook": {"enabled": hub.pre_puller}, "continuous": {"enabled": hub.pre_puller}},
        "cull": {"enabled": True, "timeout": hub.cull_timeout},
    }
    # The trainers' view and the teams' folders (components/hub/hub_folders.py).
    extra_config, custom = extra_hub_values(hub, args.auth, args.storage, HOME)
    if extra_config:
        values["hub"]["extraConfig"] = extra_config
    if custom:
        values["custom"] = custom
    if args.metrics_reader:
        _metrics_reader(values["hub"], args.metrics_reader)
    return values


class JupyterHub(pulumi.ComponentResource):
    """The Zero to JupyterHub release in the environment's namespace."""

    release: k8s.helm.v3.Release
    url: pulumi.Output[str]
    port_forward: Optional[pulumi.Output[str]]  # the command that makes url work, for a hub without a public address

    def __init__(self, name: str, args: JupyterHubArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:hub:JupyterHub", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)
        # Cluster-wide: named after the namespace, so that environments side by side keep their own.
        placeholder_priority = k8s.scheduling.v1.PriorityClass(
            f"{name}-placeholder-priority",
            metadata={"name": pulumi.Output.concat(args.namespace, "-user-placeholder")},
            value=PLACEHOLDER_PRIORITY,
            global_default=False,
            preemption_policy="Never",
            description="Placeholders that hold room for trainees' servers: any server evicts them.",
            opts=child,
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-jupyterhub",
            name=RELEASE_NAME,
            chart=CHART,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=args.namespace,
            values=hub_values(args, placeholder_priority.metadata.name),
            timeout=RELEASE_TIMEOUT_SECONDS,
            opts=child,
        )
        # Known once the release is in, so that the URL is not handed out before the hub exists.
        self.url = self.release.status.apply(lambda _: hub_url(args.hub, args.auth))
        self.port_forward = None
        if hub_url(args.hub, args.auth) == LOCAL_URL:
            self.port_forward = pulumi.Output.concat(
                "kubectl --namespace ", args.namespace, f" port-forward service/{PROXY_SERVICE} 8080:http")
        self.register_outputs({"url": self.url})
