"""The guardrails of the training environment, as plain functions over what a resource declares.

Every check takes a resource's type and its properties (camelCase, as Pulumi passes them) and returns
the violations it finds, one line each. Secret values appear as "[secret]" and values not known during a
preview as "[unknown]", both in the offline preview (tools/preview.py) and in the policy pack
(guardrails_pack.py translates the engine's markers), so the same functions serve both. A value that is
"[unknown]" cannot be judged and passes; `pulumi up` checks it again once known.

No Pulumi import here: the unit tests call these functions directly.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Optional, Sequence

SECRET = "[secret]"
UNKNOWN = "[unknown]"

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART = "kubernetes:helm.sh/v4:Chart"
PERSISTENT_VOLUME = "kubernetes:core/v1:PersistentVolume"
PERSISTENT_VOLUME_CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
# Cloud resources that hold the NFS export, the trainees' data: the disk of the in-cluster server and a
# Filestore instance.
USER_DATA_CLOUD_TYPES = ("gcp:compute/disk:Disk", "gcp:filestore/instance:Instance")

NFS_CSI_PROVISIONER = "nfs.csi.k8s.io"
# How the hub's release marks a deliberate dummy login on a public hub (auth.allowInsecureDummy): an
# annotation on the hub pod, so that the opt-in is also visible in the cluster.
INSECURE_DUMMY_ANNOTATION = "ml-training/allow-insecure-dummy-auth"
# JupyterHub's logins that check no identity: any name, with any password or one shared by all.
DUMMY_LOGINS = ("dummy", "shared-password", "jupyterhub.auth.DummyAuthenticator",
                "jupyterhub.authenticators.shared.SharedPasswordAuthenticator")

_EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


# --- reading properties ------------------------------------------------------------------------------


def dig(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None where a step is missing or not a map."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, key, value) of nested maps and lists; path names where the value sits."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, key, item
            yield from walk(item, here)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            here = f"{path}[{index}]"
            yield here, index, item
            yield from walk(item, here)


def _judgeable(value: Any) -> bool:
    return value not in (UNKNOWN, SECRET)


def chart_name(props: Mapping[str, Any]) -> str:
    """The chart of a Helm release without repository or path: 'jupyterhub', 'csi-driver-nfs'."""
    chart = props.get("chart")
    return chart.rstrip("/").rsplit("/", 1)[-1] if isinstance(chart, str) else ""


def _is_release(type_: str) -> bool:
    return type_ in (HELM_RELEASE, HELM_CHART)


def _values(props: Mapping[str, Any]) -> Mapping[str, Any]:
    values = props.get("values")
    return values if isinstance(values, Mapping) else {}


def _jupyterhub_values(type_: str, props: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    return _values(props) if _is_release(type_) and chart_name(props) == "jupyterhub" else None


def _describe(type_: str, props: Mapping[str, Any]) -> str:
    if _is_release(type_):
        return f"Helm release {props.get('name') or chart_name(props)!s} (chart {chart_name(props)})"
    name = dig(props, "metadata", "name") or props.get("name")
    kind = type_.rsplit(":", 1)[-1]
    return f"{kind} {name}" if name else kind


# --- the NFS data is protected ------------------------------------------------------------------------


def data_disk_protected(type_: str, protect: bool) -> list[str]:
    """The disk (or Filestore instance) that holds the NFS export is protected from deletion."""
    if type_ in USER_DATA_CLOUD_TYPES and not protect:
        return [f"{type_.rsplit(':', 1)[-1]} holds the trainees' folders and must be declared with protect=True"]
    return []


# --- user volumes are retained --------------------------------------------------------------------------


def chart_storage_classes(type_: str, props: Mapping[str, Any]) -> list[dict]:
    """The StorageClasses a provisioner's Helm release creates from its values, as StorageClass objects
    (with the chart's defaults filled in), so the storage rules apply to them as to declared ones."""
    if not _is_release(type_):
        return []
    values, chart = _values(props), chart_name(props)
    if chart == "csi-driver-nfs":
        provisioner = dig(values, "driver", "name") or NFS_CSI_PROVISIONER
        default_on_delete = dig(values, "controller", "defaultOnDeletePolicy") or "delete"
        listed = [values["storageClass"]] if dig(values, "storageClass", "create") is True else []
        listed += [c for c in values.get("storageClasses") or [] if isinstance(c, Mapping)]
        classes = []
        for item in listed:
            parameters = dict(item.get("parameters") or {})
            parameters.setdefault("onDelete", default_on_delete)  # the driver's default when a class says nothing
            classes.append({"metadata": {"name": item.get("name")}, "provisioner": provisioner,
                            "reclaimPolicy": item.get("reclaimPolicy") or "Delete", "parameters": parameters})
        return classes
    if chart == "nfs-subdir-external-provisioner":
        item = values.get("storageClass") or {}
        if item.get("create") is False:
            return []
        parameters = {"archiveOnDelete": str(item.get("archiveOnDelete", True)).lower()}
        if item.get("onDelete"):
            parameters["onDelete"] = item["onDelete"]
        return [{"metadata": {"name": item.get("name") or "nfs-client"}, "provisioner": "nfs-subdir-external-provisioner",
                 "reclaimPolicy": item.get("reclaimPolicy") or "Delete", "parameters": parameters}]
    return []


def _storage_classes(type_: str, props: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    if type_ == STORAGE_CLASS:
        return [(f"StorageClass {dig(props, 'metadata', 'name') or ''}".strip(), props)]
    where = _describe(type_, props)
    return [(f"StorageClass {dig(c, 'metadata', 'name')} of {where}", c) for c in chart_storage_classes(type_, props)]


def reclaim_policy_retain(type_: str, props: Mapping[str, Any]) -> list[str]:
    """No PersistentVolume or StorageClass (declared, or created by a provisioner's chart) deletes data."""
    problems = []
    if type_ == PERSISTENT_VOLUME:
        policy = dig(props, "spec", "persistentVolumeReclaimPolicy")
        if policy in ("Delete", "Recycle"):  # unset is Retain for a PersistentVolume declared by hand
            problems.append(f"{_describe(type_, props)} has reclaim policy {policy}; expected Retain")
    for where, storage_class in _storage_classes(type_, props):
        policy = storage_class.get("reclaimPolicy")
        if _judgeable(policy) and policy != "Retain":  # unset is Delete for a StorageClass
            problems.append(f"{where} has reclaim policy {policy or 'Delete (unset)'}; expected Retain")
    return problems


def provisioner_keeps_folders(type_: str, props: Mapping[str, Any]) -> list[str]:
    """The NFS provisioner retains or archives a personal folder when its volume is deleted."""
    problems = []
    for where, storage_class in _storage_classes(type_, props):
        provisioner = storage_class.get("provisioner") or ""
        parameters = storage_class.get("parameters") or {}
        if provisioner == NFS_CSI_PROVISIONER:
            on_delete = parameters.get("onDelete")
            if _judgeable(on_delete) and on_delete not in ("retain", "archive"):
                problems.append(f"{where} (provisioner {provisioner}) has onDelete {on_delete or '(unset, the driver deletes)'}; "
                                "expected retain or archive")
        elif "nfs-subdir-external-provisioner" in provisioner:
            on_delete, archive = parameters.get("onDelete"), str(parameters.get("archiveOnDelete", "true")).lower()
            if on_delete == "delete" or (not on_delete and archive == "false"):
                problems.append(f"{where} (provisioner {provisioner}) deletes folders; expected onDelete retain "
                                "or archiveOnDelete true")
    return problems


# --- the public folder is read-only ---------------------------------------------------------------------


def public_claims(resources: Sequence[tuple[str, Mapping[str, Any]]]) -> set[str]:
    """Names of the claims of the public folder: the PersistentVolumeClaims that are ReadOnlyMany only,
    and the public claim of this project's chart charts/nfs-volumes (values public.claimName)."""
    claims = set()
    for type_, props in resources:
        if type_ == PERSISTENT_VOLUME_CLAIM and dig(props, "spec", "accessModes") == ["ReadOnlyMany"]:
            claims.add(dig(props, "metadata", "name"))
        elif _is_release(type_) and chart_name(props) == "nfs-volumes":
            claims.add(dig(_values(props), "public", "claimName"))
    return {claim for claim in claims if isinstance(claim, str) and claim and _judgeable(claim)}


def volumes(value: Any) -> Iterator[tuple[str, Any]]:
    """(path, volume) of every volume in Kubernetes syntax: in pod specs, and in Helm values such as
    singleuser.storage.extraVolumes (a list, or a map by name in z2jh 4)."""
    for path, key, item in walk(value):
        if isinstance(key, str) and key.lower().endswith("volumes"):
            entries = item.items() if isinstance(item, Mapping) else enumerate(item) if isinstance(item, list) else ()
            for index, volume in entries:
                if isinstance(volume, Mapping):
                    yield f"{path}[{index}]", volume


def _mounts(value: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, mount) of every volume mount: a map with a name and a mountPath."""
    for path, _key, item in walk(value):
        if isinstance(item, Mapping) and "mountPath" in item and "name" in item:
            yield path, item


def public_folder_read_only(type_: str, props: Mapping[str, Any], claims: set[str]) -> list[str]:
    """Wherever a claim of the public folder is mounted, its volume and every mount of it are read-only."""
    if not claims:
        return []
    where = _describe(type_, props)
    problems, names = [], set()
    for path, volume in volumes(props):
        claim = dig(volume, "persistentVolumeClaim", "claimName")
        if claim in claims:
            names.add(volume.get("name"))
            if dig(volume, "persistentVolumeClaim", "readOnly") is not True:
                problems.append(f"{where}: volume {volume.get('name')} of the public claim {claim} at {path} "
                                "needs persistentVolumeClaim.readOnly: true")
    for path, mount in _mounts(props):
        if mount.get("name") in names and mount.get("readOnly") is not True:
            problems.append(f"{where}: mount of the public folder at {mount.get('mountPath')} ({path}) needs readOnly: true")
    return problems


# --- OAuth client secrets are secret -----------------------------------------------------------------------


def oauth_client_secret_secret(type_: str, props: Mapping[str, Any]) -> list[str]:
    """An OAuth client secret anywhere in a resource (hub.config.*.client_secret) is a secret value."""
    problems = []
    for path, key, value in walk(props):
        normalized = str(key).lower().replace("_", "").replace("-", "")
        if normalized.endswith("clientsecret") and isinstance(value, str) and value and _judgeable(value):
            problems.append(f"{_describe(type_, props)}: {path} is in plain text; pass it from secret config "
                            "(pulumi config set --secret auth.clientSecret)")
    return problems


# --- the hub ---------------------------------------------------------------------------------------------


def user_network_policy_enabled(type_: str, props: Mapping[str, Any]) -> list[str]:
    """The jupyterhub release keeps the NetworkPolicy of the trainees' servers."""
    values = _jupyterhub_values(type_, props)
    if values is None:
        return []
    enabled = dig(values, "singleuser", "networkPolicy", "enabled")
    if enabled is not True and _judgeable(enabled):
        return [f"{_describe(type_, props)}: singleuser.networkPolicy.enabled is {enabled}; expected true"]
    return []


def _hub_is_public(values: Mapping[str, Any]) -> bool:
    return dig(values, "ingress", "enabled") is True or dig(values, "proxy", "service", "type") in ("LoadBalancer", "NodePort")


def dummy_auth_opted_in(type_: str, props: Mapping[str, Any]) -> list[str]:
    """Dummy login on a hub reachable from outside only with the explicit opt-in (auth.allowInsecureDummy),
    which the hub component records as an annotation of the hub pod."""
    values = _jupyterhub_values(type_, props)
    if values is None:
        return []
    authenticator = dig(values, "hub", "config", "JupyterHub", "authenticator_class")
    if authenticator not in DUMMY_LOGINS or not _hub_is_public(values):
        return []
    if dig(values, "hub", "annotations", INSECURE_DUMMY_ANNOTATION) == "true":
        return []
    return [f"{_describe(type_, props)}: dummy login on a public hub without the opt-in "
            f"(auth.allowInsecureDummy, annotation {INSECURE_DUMMY_ANNOTATION}: \"true\")"]


# --- pinned versions -------------------------------------------------------------------------------------


def _local_chart(props: Mapping[str, Any]) -> bool:
    """A chart from a path in this repository: its version is the reviewed Chart.yaml beside it."""
    chart = props.get("chart")
    return isinstance(chart, str) and not dig(props, "repositoryOpts", "repo") and chart.startswith(("./", "../", "/"))


def chart_version_pinned(type_: str, props: Mapping[str, Any]) -> list[str]:
    """Every Helm release names an exact chart version (not empty, not a range)."""
    if not _is_release(type_) or _local_chart(props):
        return []
    version = props.get("version")
    if not _judgeable(version):
        return []
    if not isinstance(version, str) or not _EXACT_VERSION.match(version):
        return [f"{_describe(type_, props)}: chart version {version!r} is not an exact version such as 4.4.0"]
    return []


def image_pinned(reference: str) -> bool:
    """Whether an image reference names an exact tag (not latest) or a digest."""
    if _DIGEST.search(reference):
        return True
    last = reference.rsplit("/", 1)[-1]  # a registry host may carry a port: host:5000/name
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return bool(_TAG.match(tag)) and tag != "latest"


def images_pinned(type_: str, props: Mapping[str, Any]) -> list[str]:
    """Every image a resource names (containers of workloads, images in Helm values and custom
    resources) has an exact tag or digest: no latest, no untagged image."""
    problems = []
    for path, key, value in walk(props):
        if not (key == "image" or (isinstance(key, str) and key.endswith("Image"))):
            continue
        if isinstance(value, str) and _judgeable(value) and not image_pinned(value):
            problems.append(f"{_describe(type_, props)}: {path} = {value!r} is not pinned to an exact tag")
        elif isinstance(value, Mapping) and (value.get("name") or value.get("repository")):
            # Helm chart style: {name|repository, tag}; without a tag the chart's default is replaced.
            reference = f"{value.get('repository') or value.get('name')}:{value.get('tag') or ''}"
            if value.get("digest") or not _judgeable(value.get("tag")):
                continue
            if not image_pinned(reference):
                problems.append(f"{_describe(type_, props)}: {path} = {reference!r} is not pinned to an exact tag")
    for path, container in _containers(type_, props):
        if "image" not in container:
            problems.append(f"{_describe(type_, props)}: container {container.get('name')} at {path} names no image")
    return problems


_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def _containers(type_: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not type_.startswith("kubernetes:") or type_.rsplit(":", 1)[-1] not in _WORKLOAD_KINDS:
        return
    for path, key, value in walk(props):
        if key in ("containers", "initContainers") and isinstance(value, list):
            for index, container in enumerate(value):
                if isinstance(container, Mapping):
                    yield f"{path}[{index}]", container


# --- the pack --------------------------------------------------------------------------------------------

# name -> (description, check over (type, props)); the disk and public-folder checks need more and are
# wired separately (data_disk_protected: the protect option; public_folder_read_only: the whole stack).
RESOURCE_RULES = {
    "user-volumes-retained": ("No PersistentVolume or StorageClass of user data has reclaim policy Delete.",
                              reclaim_policy_retain),
    "provisioner-retains-folders": ("The NFS provisioner retains or archives a deleted personal folder (onDelete).",
                                    provisioner_keeps_folders),
    "oauth-client-secret-is-secret": ("OAuth client secrets are secret values, never plain text.",
                                      oauth_client_secret_secret),
    "user-network-policy-enabled": ("The NetworkPolicy of trainees' servers is enabled (singleuser.networkPolicy).",
                                    user_network_policy_enabled),
    "chart-version-pinned": ("Every Helm release pins an exact chart version.", chart_version_pinned),
    "images-pinned": ("Every image is pinned to an exact tag or digest (no latest, no untagged).", images_pinned),
    "dummy-auth-opt-in": ("Dummy login on a public hub only with the explicit opt-in (auth.allowInsecureDummy).",
                          dummy_auth_opted_in),
}
DATA_DISK_RULE = ("nfs-data-protected", "The disk or Filestore instance holding the NFS export is protected.")
PUBLIC_FOLDER_RULE = ("public-folder-read-only", "The public folder is mounted read-only wherever it is mounted.")


def check_stack(resources: Sequence[tuple[str, Mapping[str, Any], bool]]) -> list[tuple[str, str]]:
    """Every violation in a stack given as (type, props, protect) triples: (rule name, message)."""
    claims = public_claims([(type_, props) for type_, props, _ in resources])
    found = []
    for type_, props, protect in resources:
        found += [(DATA_DISK_RULE[0], message) for message in data_disk_protected(type_, protect)]
        for name, (_description, check) in RESOURCE_RULES.items():
            found += [(name, message) for message in check(type_, props)]
        found += [(PUBLIC_FOLDER_RULE[0], message) for message in public_folder_read_only(type_, props, claims)]
    return found
