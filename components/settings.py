"""The stack configuration, read once into frozen, typed settings and validated before any resource exists.

Settings are declared (default, description) in Pulumi.yaml under their paths, such as
cluster.userPool.maxNodes in the map mltraining:cluster; this module reads those declarations too, so a
default lives in one place and an undeclared setting is reported as a typo. Lists of objects (profiles,
datasets) are parsed field by field, rejecting unknown fields.

Every mistake raises ConfigError: one line naming the key, the value given and what is expected.
ConfigError is a pulumi.RunError, so `pulumi up` prints that line without a traceback.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
import urllib.parse
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
import yaml

from components.cluster import capacity
from components import stack_file

PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

# Settings that are not scalars, so Pulumi.yaml cannot declare them; documented there.
OBJECT_KEYS = ("hub.profiles", "hub.groups", "hub.schedule", "storage.datasets", "storage.materials",
               "services.vora.values", "cluster.dataStorageParameters", "cluster.maintenanceExclusions")
# Secrets cannot be declared with a default in Pulumi.yaml; documented there. "[]" stands for any list index.
SECRET_KEYS = ("auth.clientSecret", "auth.dummyPassword", "auth.dummyAdminPassword", "services.vora.registryPassword",
               "storage.materials[].deployKey")

SECRET_SHOWN_AS = "[secret]"
# Namespaces of the providers' own settings, beside the project's: gcp:project, kubernetes:..., pulumi:tags.
PROVIDER_NAMESPACES = ("gcp", "kubernetes", "pulumi")


class Hidden(str):
    """Stands for a value that must not be printed, such as a secret."""


# The value of a key that is not one of the program's: it may be a secret, or a whole map; only the key is shown.
KEY_ONLY = Hidden("")


class ConfigError(pulumi.RunError):
    """A setting that is wrong: the message names the key, the value given and what is expected."""

    def __init__(self, key: str, value: Any, expected: str):
        shown = "(unset)" if value is None else value if isinstance(value, Hidden) else json.dumps(value)
        super().__init__(f"Invalid configuration {key}{f' = {shown}' if shown else ''}: expected {expected}")


class MissingSecret(ConfigError):
    """A secret that the stack's modes need is not set; the message gives the command that sets it."""

    def __init__(self, key: str, project: str, stack: str, what: str):
        self.key = key
        super().__init__(f"{project}:{key}", None, f"{what}: {set_secret_command(stack, key)}")


def set_secret_command(stack: str, key: str) -> str:
    """The command that asks for a secret setting (without echo) and stores it encrypted in the stack file."""
    return f"pulumi config set --stack {stack} --path --secret {key}"


# --- validation primitives -------------------------------------------------------------------------

_RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")
_UNITS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_GKE_VERSION = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+(-gke\.[0-9]+)?)?$")
# An image reference pinned by an exact tag or a digest: registry/name:tag or name@sha256:...
_PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})$")


def quantity_bytes(text: str) -> int:
    """The number of bytes of a Kubernetes quantity such as 100Gi (already validated)."""
    number, unit = _QUANTITY.match(text).groups()
    return int(float(number) * _UNITS[unit])


def _cpu_millis(text: str) -> int:
    number, milli = _CPU.match(text).groups()
    return int(float(number) * (1 if milli else 1000))


def _is_https_url(text: str) -> bool:
    url = urllib.parse.urlparse(text)
    return url.scheme == "https" and bool(url.hostname) and " " not in text


# --- reading the raw configuration -----------------------------------------------------------------


def _raw_configuration() -> dict[str, str]:
    """Every configuration value the engine passed to the program, by full key (project:key)."""
    # The SDK exposes single lookups only; listing the keys (to catch typos) needs the same two
    # sources that pulumi.runtime.get_config reads: the process environment and values set in-process.
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


class _Reader:
    """Typed access to one stack's configuration, failing with ConfigError on a bad value.

    Settings are paths such as cluster.userPool.maxNodes into maps under the project's keys (set with
    `pulumi config set --path`); the engine passes each map as JSON, with the defaults of Pulumi.yaml
    filled in. A setting still absent falls back to its declared default here as well.
    """

    def __init__(self, project: str, stack: str, raw: dict[str, str], secret_keys: set[str], written: Optional[dict]):
        self.project = project
        self.stack = stack
        self.raw = raw
        self.secret_keys = secret_keys
        # The stack file's config as written (None without one): it tells `secure:` values from plaintext.
        self.written = written
        self.secure = stack_file.secure_paths(written) if written is not None else set()
        self.declared: dict[str, dict] = yaml.safe_load(PROJECT_FILE.read_text())["config"]
        self.known = set(self.declared) | set(OBJECT_KEYS) | set(SECRET_KEYS)
        self.maps = {key.split(".")[0] for key in self.known if "." in key}

    def full(self, key: str) -> str:
        return key if ":" in key else f"{self.project}:{key}"

    def may_be_secret(self, full: str) -> bool:
        """Whether a setting's value may be secret: a secret setting, `secure:` in the stack file, or (with no
        stack file to tell) anything in a map the engine marks secret."""
        top = full.split(".")[0].split("[")[0]
        if re.sub(r"\[[0-9]+\]", "[]", full.partition(":")[2]) in SECRET_KEYS or full in self.secure:
            return True
        return self.written is None and top in self.secret_keys

    def fail(self, key: str, value: Any, expected: str) -> ConfigError:
        full = self.full(key)
        hidden = value is not None and self.may_be_secret(full)
        return ConfigError(full, Hidden(SECRET_SHOWN_AS) if hidden else value, expected)

    def missing_secret(self, key: str, what: str) -> MissingSecret:
        return MissingSecret(key, self.project, self.stack, what)

    def _map(self, name: str) -> dict:
        """The settings under one of the project's map keys (cluster, storage, ...), {} when unset."""
        text = self.raw.get(self.full(name))
        if text is None:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if not isinstance(value, dict):
            raise self.fail(name, value, f"a map of settings such as {self._example(name)}")
        return value

    def _example(self, name: str) -> str:
        return next(key for key in self.declared if key.startswith(name + "."))

    def check_keys(self) -> None:
        """Every key is the project's or a provider's, and every setting of the project, inside its maps
        too, is one Pulumi.yaml documents."""
        written = set(self.written or ())
        for full_key in sorted(set(self.raw) | written):
            namespace, colon, key = str(full_key).partition(":")
            if not colon:
                raise ConfigError(str(full_key), KEY_ONLY, f"a key with its namespace, such as {self.project}:{full_key}")
            if namespace not in (self.project, *PROVIDER_NAMESPACES):
                near = difflib.get_close_matches(namespace, [self.project, *PROVIDER_NAMESPACES], n=1)
                hint = f"; did you mean {near[0]}:{key}?" if near else ""
                raise ConfigError(full_key, KEY_ONLY, f"a key of {self.project} or of a provider "
                                  f"({', '.join(PROVIDER_NAMESPACES)}){hint}")
            if namespace != self.project or full_key not in self.raw:
                continue
            if "." in key:
                raise self.fail(full_key, self.raw[full_key],
                                f"a nested setting: pulumi config set --path {key} VALUE (in the stack file, "
                                f"{key.split('.', 1)[1]} under {self.project}:{key.split('.')[0]})")
            if key in self.maps:
                self._check_map(key, self._map(key))
            elif key not in self.known:
                self._unknown(key)

    def _check_map(self, path: str, value: dict) -> None:
        for name, item in value.items():
            key = f"{path}.{name}"
            if key in self.known:
                continue
            if isinstance(item, dict) and any(known.startswith(key + ".") for known in self.known):
                self._check_map(key, item)
            else:
                self._unknown(key)

    def _unknown(self, key: str) -> None:
        top_level = self.maps | {known for known in self.known if "." not in known}
        near = difflib.get_close_matches(key, sorted(self.known if "." in key else top_level), n=1)
        hint = f"; did you mean {self.project}:{near[0]}?" if near else ""
        # Only the key: its value may be a secret (a misspelt secret setting) or a whole map.
        raise ConfigError(self.full(key), KEY_ONLY, f"one of the keys declared in Pulumi.yaml{hint}")

    def _setting(self, key: str) -> Any:
        """A setting's value as configured (a JSON value), or None when it is not set."""
        if ":" in key or "." not in key:
            return self.raw.get(self.full(key))
        name, *path = key.split(".")
        value: Any = self._map(name)
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def _value(self, key: str) -> Optional[str]:
        """A setting as text, as the engine passes a scalar (its declared default when unset)."""
        value = self._setting(key)
        if value is None and ":" not in key:
            value = self.declared.get(key, {}).get("default")
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    def string(self, key: str, *, choices: tuple[str, ...] = (), check: Optional[Callable[[str], bool]] = None,
               expected: str = "a string", required: bool = False) -> str:
        value = self._value(key) or ""
        if required and not value:
            raise self.fail(key, value, expected)
        if choices and value not in choices:
            raise self.fail(key, value, "one of " + ", ".join(choices))
        if value and check and not check(value):
            raise self.fail(key, value, expected)
        return value

    def integer(self, key: str, *, minimum: int = 0, maximum: Optional[int] = None) -> int:
        text = self._value(key)
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise self.fail(key, text, "a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise self.fail(key, value, f"a whole number {bound}")
        return value

    def boolean(self, key: str) -> bool:
        text = self._value(key)
        if text not in ("true", "false"):
            raise self.fail(key, text, "true or false")
        return text == "true"

    def quantity(self, key: str, *, minimum: str = "1Mi") -> str:
        value = self._value(key) or ""
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
            raise self.fail(key, value, f"a Kubernetes quantity with a unit, such as {value}Gi ({value} alone means {value} bytes)")
        if not _QUANTITY.match(value):
            raise self.fail(key, value, "a Kubernetes quantity such as 100Gi")
        if quantity_bytes(value) < quantity_bytes(minimum):
            raise self.fail(key, value, f"at least {minimum}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.json(key, expected="a list of non-empty strings")
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise self.fail(key, value, "a list of non-empty strings")
        return tuple(value)

    def json(self, key: str, expected: str = "a YAML list or map in the stack file") -> Any:
        text = self._value(key)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise self.fail(key, text, expected) from None

    def secret(self, key: str) -> Optional[pulumi.Output[str]]:
        """A secret setting as a secret Output, or None when unset; a plaintext value is refused.

        The engine marks a whole map secret when a value in it is secret (`--path --secret`)."""
        return self.secret_value(key, self._value(key))

    def secret_value(self, key: str, text: Optional[str]) -> Optional[pulumi.Output[str]]:
        """A secret field of an object setting (key with its list index, such as storage.materials[0].deployKey),
        already read as text: as in secret()."""
        if not text:
            return None
        # The stack file tells a plaintext value beside a secure one; without it, the engine's mark on the map.
        secure = self.full(key) in self.secure if self.written is not None else self.full(key.split(".")[0]) in self.secret_keys
        if not secure:
            raise ConfigError(self.full(key), Hidden("[plaintext, not shown]"),
                              f"a secret: {set_secret_command(self.stack, key)}")
        return pulumi.Output.secret(text)

    def items(self, key: str, value: Any, fields: dict[str, Any], required: tuple[str, ...]) -> dict:
        """Check one object of an object setting: a map with known fields of the right types."""
        if not isinstance(value, dict):
            raise self.fail(key, value, "a map with the fields " + ", ".join(fields))
        for name, field_value in value.items():
            if name not in fields:
                near = difflib.get_close_matches(name, list(fields), n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                raise self.fail(f"{key}.{name}", field_value, "a known field: " + ", ".join(fields) + hint)
            wanted = fields[name]
            if not isinstance(field_value, wanted) or (bool not in (wanted if isinstance(wanted, tuple) else (wanted,))
                                                       and isinstance(field_value, bool)):
                raise self.fail(f"{key}.{name}", field_value, _TYPE_NAMES[wanted])
        for name in required:
            if value.get(name) in (None, ""):
                raise self.fail(f"{key}.{name}", None, "a value: this field is required")
        return value


# --- the settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodePoolSettings:
    machine_type: str
    min_nodes: int
    max_nodes: int
    disk_size_gb: int
    spot: bool = False


@dataclass(frozen=True)
class MaintenanceWindow:
    start: str  # RFC 3339: the first window's start and end; recurrence repeats it
    end: str
    recurrence: str  # an RFC 5545 RRULE such as FREQ=DAILY


@dataclass(frozen=True)
class MaintenanceExclusion:
    name: str
    start: str  # RFC 3339
    end: str
    scope: str  # NO_UPGRADES, NO_MINOR_UPGRADES or NO_MINOR_OR_NODE_UPGRADES


@dataclass(frozen=True)
class GkeSettings:
    project: str
    location: str  # a zone (zonal cluster) or a region (regional cluster)
    release_channel: str
    version: str  # "" follows the release channel
    network: str
    subnetwork: str
    deletion_protection: bool
    core_pool: NodePoolSettings
    user_pool: NodePoolSettings
    maintenance_window: Optional[MaintenanceWindow]  # None: GKE upgrades at any time
    maintenance_exclusions: tuple[MaintenanceExclusion, ...]

    @property
    def regional(self) -> bool:
        return bool(_GCP_REGION.match(self.location))


@dataclass(frozen=True)
class ClusterSettings:
    type: str  # "gke" or "existing"
    name: str
    gke: Optional[GkeSettings]
    kubeconfig: str  # existing: path, "" for $KUBECONFIG or ~/.kube/config
    context: str  # existing: "" for the current context
    dedicated_user_nodes: bool
    # The Retain class of every volume that holds data: existing, a class of the cluster ("" when the program
    # declares one for data_provisioner); gke, always declared by the program.
    data_storage_class: str
    data_provisioner: str
    data_storage_parameters: dict[str, str]


@dataclass(frozen=True)
class Dataset:
    url: str
    sha256: str  # "" when not given
    path: str  # subfolder of the public folder, "" for its top

    @property
    def file_name(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlparse(self.url).path.rsplit("/", 1)[-1])

    @property
    def target(self) -> str:
        """Where the file lands, relative to the public folder."""
        return f"{self.path}/{self.file_name}" if self.path else self.file_name


@dataclass(frozen=True)
class Material:
    """A git repository checked out into a folder of the public folder."""

    url: str  # https:// or ssh (git@host:path, ssh://host/path)
    ref: str  # a tag, or a full commit id (40 hexadecimal digits): pinned, never a branch
    folder: str  # its folder in the public folder
    deploy_key: Optional[pulumi.Output[str]]  # ssh: the repository's private deploy key, a secret
    known_hosts: str  # ssh: known_hosts lines of the host; "" trusts the host's key at first use in each run


@dataclass(frozen=True)
class StorageSettings:
    mode: str  # in-cluster, external or filestore
    size: str
    disk_type: str
    snapshot_retention_days: int
    zone: str  # gke in-cluster and zonal Filestore: where the disk or instance is; "" otherwise
    storage_class: str
    host_path: str
    node: str
    server: str
    path: str
    filestore_tier: str
    public_folder: str
    shared_folder: str
    home_folder: str
    on_delete: str  # retain or archive
    archive_bucket: str  # gke with storage.archives: the bucket of ./tools/archive, "" for none
    archive_retention_days: int  # how long the bucket keeps an archive
    datasets: tuple[Dataset, ...]
    materials: tuple[Material, ...]
    groups_folder: str  # holds one folder per team of hub.groups
    group_folders: tuple[str, ...]  # the teams' folders in groups_folder (hub.groups)
    trainer_view: bool  # hub.trainerView: the personal and team folders as claims for the admins' servers


@dataclass(frozen=True)
class SparkSettings:
    enabled: bool
    workers: int
    worker_cores: int
    worker_memory: str
    concurrent_users: int  # trainees expected to run Spark jobs at the same time
    max_executors_per_session: int  # as configured, else spark_session_cap(...)
    sessions_per_server: int  # SparkSessions one trainee's server runs at once
    idle_timeout_seconds: int  # after which a session's idle executors go back to the class

    @property
    def cores(self) -> int:
        return self.workers * self.worker_cores


@dataclass(frozen=True)
class KafkaSettings:
    enabled: bool
    replicas: int
    storage_size: str
    version: str
    paused: bool  # Strimzi leaves the cluster alone (README, "Tearing down": taking over retained volumes)


@dataclass(frozen=True)
class HdfsSettings:
    enabled: bool
    datanodes: int
    datanode_storage: str
    namenode_storage: str


@dataclass(frozen=True)
class VoraSettings:
    enabled: bool
    chart: str
    repository: str
    version: str
    namespace: str
    registry: str
    registry_username: str
    registry_password: Optional[pulumi.Output[str]]
    values: dict


@dataclass(frozen=True)
class MonitoringSettings:
    """services.monitoring: Prometheus and Grafana with the JupyterHub dashboards (components/services/monitoring.py)."""

    enabled: bool
    retention_days: int  # how long Prometheus keeps samples
    storage_size: str  # Prometheus's volume on the data class


@dataclass(frozen=True)
class ServicesSettings:
    spark: SparkSettings
    kafka: KafkaSettings
    hdfs: HdfsSettings
    vora: VoraSettings
    monitoring: MonitoringSettings


@dataclass(frozen=True)
class Profile:
    name: str  # slug, an RFC 1123 label
    display_name: str
    description: str
    image: str
    cpu_guarantee: str
    cpu_limit: str
    memory_guarantee: str
    memory_limit: str
    default: bool = False


@dataclass(frozen=True)
class TeamGroup:
    """A team of hub.groups: its members' servers mount its folder (README, "Trainers and teams")."""

    name: str  # the hub group's name, as the login names it with auth.groupsFromLogin (a GitHub team: org:team)
    users: tuple[str, ...]  # members by configuration, besides the hub group's members

    @property
    def folder(self) -> str:
        """Its folder in storage.groupsFolder: the name, a GitHub team's ':' as '-'."""
        return self.name.replace(":", "-")


# Weekdays as hub.schedule names them, in the week's order.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ClassSession:
    """A class session of hub.schedule: the placeholders hold room for its trainees' servers (components/hub/schedule.py)."""

    days: tuple[str, ...]  # of WEEKDAYS, in the week's order
    start: str  # HH:MM, in time_zone
    end: str  # HH:MM, later the same day
    time_zone: str  # an IANA time zone such as Europe/Berlin
    trainees: int

    @property
    def start_minute(self) -> int:
        return _minute_of_day(self.start)

    @property
    def end_minute(self) -> int:
        return _minute_of_day(self.end)


def _minute_of_day(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class HubSettings:
    host: str
    letsencrypt_email: str
    service_type: str
    ingress: bool
    ingress_class: str
    cluster_issuer: str  # cert-manager ClusterIssuer of the Ingress's certificate, "" for none
    cull_timeout: int
    pre_puller: bool
    placeholders: int
    allow_internet: bool
    profiles: tuple[Profile, ...]
    expected_users: int  # the class size the hub and the user pool are sized for; 0 when not given
    metadata_block: str  # iptables (z2jh's privileged init container) or network-policy
    image_registry: str  # where the project's images are (hub.imageRegistry), "" for none
    trainer_view: bool = False  # admins' servers mount every personal and team folder (hub.trainerView)
    groups: tuple[TeamGroup, ...] = ()  # teams with a folder of their own (hub.groups)
    schedule: tuple[ClassSession, ...] = ()  # class sessions the placeholders warm the user pool for
    schedule_lead_minutes: int = 30  # how long before a session they grow (hub.scheduleLeadMinutes)

    @property
    def default_profile(self) -> Profile:
        """The profile a trainee gets without choosing: the one marked default, else the first (KubeSpawner)."""
        return next((p for p in self.profiles if p.default), self.profiles[0])

    @property
    def public(self) -> bool:
        """Reachable from outside the cluster without kubectl port-forward."""
        return self.ingress or self.service_type in ("LoadBalancer", "NodePort")


@dataclass(frozen=True)
class AuthSettings:
    type: str  # github, generic-oauth or dummy
    client_id: str
    client_secret: Optional[pulumi.Output[str]]
    callback_url: str
    authorize_url: str
    token_url: str
    userdata_url: str
    username_claim: str
    groups_claim: str
    scopes: tuple[str, ...]
    allowed_users: tuple[str, ...]
    allowed_organizations: tuple[str, ...]
    allowed_groups: tuple[str, ...]
    admin_users: tuple[str, ...]
    dummy_password: Optional[pulumi.Output[str]]  # dummy: one shared password (unset: any password)
    dummy_admin_password: Optional[pulumi.Output[str]]  # dummy with a shared password: the admins' password
    allow_insecure_dummy: bool
    groups_from_login: bool = False  # auth.groupsFromLogin: GitHub teams or the groups claim become hub groups

    @property
    def login_groups(self) -> bool:
        """Whether the login sets each user's hub groups at every login (OAuthenticator's manage_groups)."""
        return self.groups_from_login or (self.type == "generic-oauth" and bool(self.allowed_groups))


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    namespace: str
    cluster: ClusterSettings
    storage: StorageSettings
    services: ServicesSettings
    hub: HubSettings
    auth: AuthSettings


# --- sections ----------------------------------------------------------------------------------------

GKE_RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED", "UNSPECIFIED")


def _cluster(r: _Reader) -> ClusterSettings:
    kind = r.string("cluster.type", choices=("gke", "existing"))
    name = r.string("cluster.name", check=_RFC1123_LABEL.match, expected="a lowercase RFC 1123 name such as ml-training", required=True)
    # The GKE settings are checked on every cluster type, so that a mistake does not wait for a move to gke.
    gke = _gke(r, kind == "gke")
    return ClusterSettings(
        type=kind,
        name=name,
        gke=gke,
        kubeconfig=r.string("cluster.kubeconfig"),
        context=r.string("cluster.context"),
        dedicated_user_nodes=kind == "gke" or r.boolean("cluster.dedicatedUserNodes"),
        **_data_storage(r, kind),
    )


def _data_storage(r: _Reader, kind: str) -> dict:
    """Where the volumes that hold data live: always on a StorageClass whose reclaim policy is Retain, so that
    deleting their claims (`pulumi destroy` deletes the namespace) keeps the volumes."""
    storage_class = r.string("cluster.dataStorageClass", check=_DNS_NAME.match, expected="a StorageClass name")
    provisioner = r.string("cluster.dataProvisioner", check=_PROVISIONER.match,
                           expected="a provisioner name such as rancher.io/local-path or ebs.csi.aws.com")
    parameters = r.json("cluster.dataStorageParameters", expected="a map of strings") or {}
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise r.fail("cluster.dataStorageParameters", parameters, "a map of strings (StorageClass parameters)")
    if parameters and not provisioner:
        raise r.fail("cluster.dataStorageParameters", parameters, "no value without cluster.dataProvisioner")
    if kind == "gke":
        for key, value in (("cluster.dataStorageClass", storage_class), ("cluster.dataProvisioner", provisioner)):
            if value:
                raise r.fail(key, value, "no value on gke, where the program declares a Retain class of pd-balanced disks")
    elif storage_class and provisioner:
        raise r.fail("cluster.dataProvisioner", provisioner, "no value with cluster.dataStorageClass: set one of the two")
    elif not (storage_class or provisioner):
        raise r.fail("cluster.dataStorageClass", None,
                     "an existing StorageClass with reclaimPolicy Retain, or set cluster.dataProvisioner for the "
                     "program to declare one: the volumes that hold data must outlive their claims")
    return {"data_storage_class": storage_class, "data_provisioner": provisioner, "data_storage_parameters": parameters}


# A provisioner name: a DNS subdomain, as CSI driver names are (rancher.io/local-path has one path segment).
_PROVISIONER = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$")


def _gke(r: _Reader, creates_cluster: bool) -> Optional[GkeSettings]:
    """The GKE cluster's settings, checked in any case; None when the stack does not create a GKE cluster."""
    project = r.raw.get("gcp:project", "")
    if creates_cluster and not project:
        raise ConfigError("gcp:project", None, "the GCP project of the cluster: pulumi config set gcp:project ID")
    location = r.string("cluster.location") or r.raw.get("gcp:zone", "") or r.raw.get("gcp:region", "")
    if (creates_cluster or location) and not (_GCP_ZONE.match(location) or _GCP_REGION.match(location)):
        raise r.fail("cluster.location", location or None,
                     "a GCP zone such as europe-west3-a or a region such as europe-west3 (or set gcp:zone)")
    channel = r.string("cluster.releaseChannel", choices=GKE_RELEASE_CHANNELS)
    version = r.string("cluster.version", check=_GKE_VERSION.match, expected="a GKE version such as 1.33 or 1.33.5-gke.1308000")
    if channel == "UNSPECIFIED" and not version:
        raise r.fail("cluster.version", version, "a version to pin when cluster.releaseChannel is UNSPECIFIED")
    user_min = r.integer("cluster.userPool.minNodes", maximum=1000)
    user_max = r.integer("cluster.userPool.maxNodes", minimum=max(1, user_min), maximum=1000)
    settings = GkeSettings(
        project=project,
        location=location,
        release_channel=channel,
        version=version,
        network=r.string("cluster.network", check=_RFC1123_LABEL.match, expected="a VPC network name"),
        subnetwork=r.string("cluster.subnetwork", check=_RFC1123_LABEL.match, expected="a subnetwork name"),
        deletion_protection=r.boolean("cluster.deletionProtection"),
        maintenance_window=_maintenance_window(r),
        maintenance_exclusions=_maintenance_exclusions(r),
        core_pool=NodePoolSettings(
            machine_type=r.string("cluster.corePool.machineType", check=_RFC1123_LABEL.match, expected="a machine type such as e2-standard-4"),
            min_nodes=r.integer("cluster.corePool.nodes", minimum=1, maximum=100),
            max_nodes=r.integer("cluster.corePool.nodes", minimum=1, maximum=100),
            disk_size_gb=r.integer("cluster.corePool.diskSizeGb", minimum=10, maximum=65536),
        ),
        user_pool=NodePoolSettings(
            machine_type=r.string("cluster.userPool.machineType", check=_RFC1123_LABEL.match, expected="a machine type such as e2-highmem-4"),
            min_nodes=user_min,
            max_nodes=user_max,
            disk_size_gb=r.integer("cluster.userPool.diskSizeGb", minimum=10, maximum=65536),
            spot=r.boolean("cluster.userPool.spot"),
        ),
    )
    return settings if creates_cluster else None


# GKE's rules for maintenance (cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-
# exclusions): a window allows at least 48 hours of maintenance in any 32 days, in runs of at least 4 hours;
# an exclusion of scope NO_UPGRADES lasts at most 30 days.
MAINTENANCE_MINIMUM_HOURS, MAINTENANCE_HOURS_PER_32_DAYS, NO_UPGRADES_MAXIMUM_DAYS = 4, 48, 30
EXCLUSION_SCOPES = ("NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES")
_RECURRENCE = re.compile(r"^FREQ=(DAILY|WEEKLY)(;BYDAY=((MO|TU|WE|TH|FR|SA|SU)(,(MO|TU|WE|TH|FR|SA|SU))*))?$")


def _time(r: _Reader, key: str, text: Any) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise r.fail(key, text, "an RFC 3339 time with its zone, such as 2026-01-05T22:00:00Z")
    return moment


def _maintenance_window(r: _Reader) -> Optional[MaintenanceWindow]:
    start, end = r.string("cluster.maintenance.start"), r.string("cluster.maintenance.end")
    recurrence = r.string("cluster.maintenance.recurrence", check=_RECURRENCE.match,
                          expected="FREQ=DAILY, or FREQ=WEEKLY with BYDAY such as FREQ=WEEKLY;BYDAY=SA,SU")
    if not (start or end):
        return None
    if not (start and end):
        missing = "cluster.maintenance.end" if start else "cluster.maintenance.start"
        raise r.fail(missing, None, "a time, as cluster.maintenance.start and .end go together")
    hours = (_time(r, "cluster.maintenance.end", end) - _time(r, "cluster.maintenance.start", start)).total_seconds() / 3600
    days = len(recurrence.split("BYDAY=")[1].split(",")) if "BYDAY=" in recurrence else 7 if "DAILY" in recurrence else 1
    if hours < MAINTENANCE_MINIMUM_HOURS or hours > 24:
        raise r.fail("cluster.maintenance.end", end, f"{MAINTENANCE_MINIMUM_HOURS} to 24 hours after cluster.maintenance.start")
    if hours * days * 32 / 7 < MAINTENANCE_HOURS_PER_32_DAYS:
        raise r.fail("cluster.maintenance.recurrence", recurrence, f"windows that add up to {MAINTENANCE_HOURS_PER_32_DAYS} "
                     f"hours in 32 days, as GKE requires (these add up to {hours * days * 32 / 7:.0f})")
    return MaintenanceWindow(start=start, end=end, recurrence=recurrence)


def _maintenance_exclusions(r: _Reader) -> tuple[MaintenanceExclusion, ...]:
    key = "cluster.maintenanceExclusions"
    listed = r.json(key) or []
    if not isinstance(listed, list):
        raise r.fail(key, listed, "a list of exclusions, each {name, start, end, scope}")
    exclusions = []
    for index, item in enumerate(listed):
        at = f"{key}[{index}]"
        r.items(at, item, {"name": str, "start": str, "end": str, "scope": str}, required=("name", "start", "end"))
        if not _RFC1123_LABEL.match(item["name"]):
            raise r.fail(f"{at}.name", item["name"], "a lowercase name such as exam-week")
        scope = item.get("scope", "NO_UPGRADES")
        if scope not in EXCLUSION_SCOPES:
            raise r.fail(f"{at}.scope", scope, "one of " + ", ".join(EXCLUSION_SCOPES))
        days = (_time(r, f"{at}.end", item["end"]) - _time(r, f"{at}.start", item["start"])).total_seconds() / 86400
        if days <= 0 or (scope == "NO_UPGRADES" and days > NO_UPGRADES_MAXIMUM_DAYS):
            limit = f"at most {NO_UPGRADES_MAXIMUM_DAYS} days " if scope == "NO_UPGRADES" else ""
            raise r.fail(f"{at}.end", item["end"], f"a time {limit}after {at}.start")
        exclusions.append(MaintenanceExclusion(name=item["name"], start=item["start"], end=item["end"], scope=scope))
    return tuple(exclusions)


# Smallest capacity of each Filestore tier.
FILESTORE_MINIMUM = {"BASIC_HDD": "1Ti", "BASIC_SSD": "2560Gi", "ZONAL": "1Ti", "REGIONAL": "1Ti", "ENTERPRISE": "1Ti"}
# Tiers whose instance lives in one zone; the others span a region.
FILESTORE_ZONAL_TIERS = ("BASIC_HDD", "BASIC_SSD", "ZONAL")


def _storage(r: _Reader, cluster: ClusterSettings, hub: HubSettings) -> StorageSettings:
    mode = r.string("storage.mode", choices=("in-cluster", "external", "filestore"))
    if mode == "filestore" and cluster.type != "gke":
        raise r.fail("storage.mode", mode, "in-cluster or external: Filestore needs cluster.type gke")
    size = r.quantity("storage.size", minimum="1Gi")
    tier = r.string("storage.filestoreTier", choices=tuple(FILESTORE_MINIMUM))
    if mode == "filestore" and quantity_bytes(size) < quantity_bytes(FILESTORE_MINIMUM[tier]):
        raise r.fail("storage.size", size, f"at least {FILESTORE_MINIMUM[tier]} for Filestore tier {tier}")
    zone = _storage_zone(r, cluster, zonal=mode == "in-cluster" or (mode == "filestore" and tier in FILESTORE_ZONAL_TIERS))
    host_path = r.string("storage.hostPath", check=lambda p: p.startswith("/"), expected="an absolute path on the node")
    node = r.string("storage.node", check=_DNS_NAME.match, expected="a node name")
    if host_path and not node:
        raise r.fail("storage.node", None, "the node whose directory storage.hostPath names")
    server = r.string("storage.server", check=_DNS_NAME.match, expected="an IP address or host name of the NFS server")
    path = r.string("storage.path", check=lambda p: p.startswith("/"), expected="an absolute export path such as /exports/training")
    if mode == "external" and not server:
        raise r.fail("storage.server", None, "the address of the NFS server when storage.mode is external")
    if mode == "external" and not path:
        raise r.fail("storage.path", None, "the exported path when storage.mode is external")
    folders = {}
    for key in ("storage.publicFolder", "storage.sharedFolder", "storage.homeFolder", "storage.groupsFolder"):
        folder = r.string(key, check=_FOLDER.match, expected="a folder name of letters, digits, '.', '_' or '-'")
        if not folder or folder in folders.values():
            raise r.fail(key, folder, "a folder name, different from the other folders")
        folders[key] = folder
    on_delete = r.string("storage.onDelete")
    if on_delete not in ("retain", "archive"):
        raise r.fail("storage.onDelete", on_delete, "retain or archive (personal folders are never deleted)")
    datasets = _datasets(r)
    return StorageSettings(
        mode=mode,
        size=size,
        disk_type=r.string("storage.diskType", choices=("pd-standard", "pd-balanced", "pd-ssd")),
        snapshot_retention_days=r.integer("storage.snapshotRetentionDays", minimum=1, maximum=3650),
        zone=zone,
        storage_class=r.string("storage.storageClass", check=_DNS_NAME.match, expected="a StorageClass name"),
        host_path=host_path,
        node=node,
        server=server,
        path=path,
        filestore_tier=tier,
        public_folder=folders["storage.publicFolder"],
        shared_folder=folders["storage.sharedFolder"],
        home_folder=folders["storage.homeFolder"],
        on_delete=on_delete,
        **_archive_bucket(r, cluster),
        datasets=datasets,
        materials=_materials(r, datasets),
        groups_folder=folders["storage.groupsFolder"],
        group_folders=tuple(group.folder for group in hub.groups),
        trainer_view=hub.trainer_view,
    )


# Cloud Storage's longest bucket name.
BUCKET_NAME_MAXIMUM = 63


def _archive_bucket(r: _Reader, cluster: ClusterSettings) -> dict:
    """The bucket ./tools/archive uploads to on gke (components/storage/archives.py); existing clusters keep archives on the
    NFS export."""
    archives = r.boolean("storage.archives")
    days = r.integer("storage.archiveRetentionDays", minimum=1, maximum=3650)
    if archives and cluster.gke is None:
        raise r.fail("storage.archives", archives, "false on an existing cluster, where ./tools/archive keeps the "
                     "archives in archives/ on the NFS export")
    bucket = f"{cluster.gke.project}-{cluster.name}-archives" if archives else ""
    if len(bucket) > BUCKET_NAME_MAXIMUM:
        raise r.fail("cluster.name", cluster.name, f"a shorter name with storage.archives: the bucket {bucket} has more "
                     f"than {BUCKET_NAME_MAXIMUM} characters")
    return {"archive_bucket": bucket, "archive_retention_days": days}


def _storage_zone(r: _Reader, cluster: ClusterSettings, zonal: bool) -> str:
    """The zone of the data disk or zonal Filestore instance: the zonal cluster's zone, or for a regional
    cluster storage.zone (else gcp:zone) within its region."""
    zone = r.string("storage.zone", check=_GCP_ZONE.match, expected="a GCP zone such as europe-west3-a")
    gke = cluster.gke
    if gke is None or not zonal:
        return ""
    if not gke.regional:
        if zone and zone != gke.location:
            raise r.fail("storage.zone", zone, f"the zonal cluster's zone {gke.location} (or unset)")
        return gke.location
    default_zone = r.raw.get("gcp:zone", "")
    zone = zone or (default_zone if default_zone.startswith(gke.location + "-") else "")
    if not zone:
        raise r.fail("storage.zone", None, f"a zone of the region {gke.location} for the data of the regional cluster")
    if not zone.startswith(gke.location + "-"):
        raise r.fail("storage.zone", zone, f"a zone of the cluster's region {gke.location}")
    return zone


def _datasets(r: _Reader) -> tuple[Dataset, ...]:
    key = "storage.datasets"
    listed = r.json(key) or []
    if not isinstance(listed, list):
        raise r.fail(key, listed, "a list of datasets, each {url, sha256, path}")
    datasets = []
    for index, item in enumerate(listed):
        at = f"{key}[{index}]"
        r.items(at, item, {"url": str, "sha256": str, "path": str}, required=("url",))
        url = item["url"]
        if not (_is_https_url(url) or re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,220}/.+[^/]$", url)):
            raise r.fail(f"{at}.url", url, "an https:// URL or a gs://bucket/object URI of a file")
        sha256 = item.get("sha256", "")
        if sha256 and not _SHA256.match(sha256):
            raise r.fail(f"{at}.sha256", sha256, "64 lowercase hexadecimal digits")
        path = item.get("path", "").strip("/")
        if path and not all(_FOLDER.match(part) for part in path.split("/")):
            raise r.fail(f"{at}.path", item["path"], "a relative subfolder of the public folder, without '..'")
        dataset = Dataset(url=url, sha256=sha256, path=path)
        if not _FOLDER.match(dataset.file_name):
            raise r.fail(f"{at}.url", url, "a URL that ends in a file name of letters, digits, '.', '_' or '-'")
        if any(other.target == dataset.target for other in datasets):
            raise r.fail(f"{at}.url", url, f"a file name not already used in {path or 'the public folder'}")
        datasets.append(dataset)
    return tuple(datasets)


# git's own rules for a ref name (git check-ref-format): no control character, space, ~ ^ : ? * [ \\, "..", "@{" or
# "//", no part that starts with "." or ends with ".lock", not "@", not ending in "/" or ".".
_GIT_REF_NAME = re.compile(r"^(?!.*(\.\.|@\{|//|/\.|\.lock/|\.lock$|[/.]$))(?!@$)(?![./-])[^\x00-\x20\x7f~^:?*\[\\]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SCP_LIKE_URL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[^\s-][^\s]*$")
# A known_hosts line (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT): [@marker] hosts key-type base64-key [comment].
_KNOWN_HOST = re.compile(r"^(@\S+\s+)?\S+\s+(ssh-|ecdsa-|sk-)\S+\s+[A-Za-z0-9+/]+=*(\s.*)?$")


def _ssh_url(url: str) -> bool:
    """git@host:path, or ssh://[user@]host[:port]/path."""
    if _SCP_LIKE_URL.match(url):
        return True
    parsed = urllib.parse.urlparse(url)
    return (parsed.scheme == "ssh" and bool(parsed.hostname) and not parsed.hostname.startswith("-")
            and len(parsed.path) > 1 and not re.search(r"\s", url))


def _materials(r: _Reader, datasets: tuple[Dataset, ...]) -> tuple[Material, ...]:
    key = "storage.materials"
    listed = r.json(key) or []
    if not isinstance(listed, list):
        raise r.fail(key, listed, "a list of git repositories, each {url, ref, folder, deployKey, knownHosts}")
    materials: list[Material] = []
    for index, item in enumerate(listed):
        at = f"{key}[{index}]"
        r.items(at, item, {"url": str, "ref": str, "folder": str, "deployKey": str, "knownHosts": str},
                required=("url", "ref", "folder"))
        url, ref, folder = item["url"], item["ref"], item["folder"]
        ssh = _ssh_url(url)
        if not (ssh or _is_https_url(url)):
            raise r.fail(f"{at}.url", url, "an https:// URL, or an ssh URL (git@host:path or ssh://host/path), of a "
                         "git repository")
        if not ssh and (urllib.parse.urlparse(url).username or urllib.parse.urlparse(url).password):
            raise r.fail(f"{at}.url", Hidden("[credentials, not shown]"), "an https:// URL without credentials (a "
                         "private repository: its ssh URL and a deployKey)")
        if re.fullmatch(r"[0-9a-fA-F]{7,40}", ref) and re.search(r"[a-fA-F]", ref) and not _COMMIT.match(ref):
            raise r.fail(f"{at}.ref", ref, "a full commit id of 40 lowercase hexadecimal digits, or a tag")
        if ref == "HEAD" or ref.startswith("refs/") or not _GIT_REF_NAME.match(ref):
            raise r.fail(f"{at}.ref", ref, "a tag name or a full commit id (40 hexadecimal digits): pinned, never a "
                         "branch")
        if not _FOLDER.match(folder):
            raise r.fail(f"{at}.folder", folder, "a folder name of letters, digits, '.', '_' or '-'")
        if any(other.folder == folder for other in materials):
            raise r.fail(f"{at}.folder", folder, "a folder no other material uses")
        clash = next((d.target for d in datasets if d.target.split("/")[0] == folder), None)
        if clash:
            raise r.fail(f"{at}.folder", folder, f"a folder that storage.datasets does not use ({clash} is there)")
        deploy_key = r.secret_value(f"{at}.deployKey", item.get("deployKey"))
        known_hosts = item.get("knownHosts", "").strip()
        if not ssh:
            for name in ("deployKey", "knownHosts"):
                if item.get(name):
                    raise r.fail(f"{at}.{name}", item[name], f"no {name} for an https:// URL (it is for ssh URLs)")
        elif deploy_key is None:
            raise r.fail(f"{at}.deployKey", None, "the repository's deploy key for the ssh URL: pulumi config set "
                         f"--stack {r.stack} --path --secret '{at}.deployKey' < KEY_FILE")
        if known_hosts and not all(_KNOWN_HOST.match(line.strip()) for line in known_hosts.splitlines() if line.strip()):
            raise r.fail(f"{at}.knownHosts", item["knownHosts"], "known_hosts lines of the host, HOST KEY-TYPE KEY, "
                         "such as ssh-keyscan prints")
        materials.append(Material(url=url, ref=ref, folder=folder, deploy_key=deploy_key, known_hosts=known_hosts))
    return tuple(materials)


# Kafka versions the Strimzi 1.2.0 operator runs (the Kafka images of its release; 4.1.x was dropped).
STRIMZI_KAFKA_VERSIONS = ("4.2.0", "4.2.1", "4.3.0", "4.3.1")


# A Spark worker's memory holds the worker daemon and, for each core, one executor with its JVM and Python
# overhead; components/services/spark.py divides it the same way.
SPARK_DAEMON_MEMORY = "512Mi"
SPARK_MEMORY_PER_CORE = "1Gi"
# Executors of one worker, and the sessions of one server, take consecutive ports; components/services/spark.py opens
# each of them by number, so these bound its network policies' lists.
SPARK_MAX_WORKER_CORES = 32
SPARK_MAX_SESSIONS_PER_SERVER = 16


def spark_session_cap(workers: int, worker_cores: int, concurrent_users: int) -> int:
    """Executors (of one core) a session may hold when services.spark.maxExecutorsPerSession is 0: the cluster's
    cores shared equally by the trainees expected to run jobs at once, rounded down, at least one."""
    return max(1, workers * worker_cores // concurrent_users)


def _spark(r: _Reader) -> SparkSettings:
    cores = r.integer("services.spark.workerCores", minimum=1, maximum=SPARK_MAX_WORKER_CORES)
    memory = r.quantity("services.spark.workerMemory", minimum="1Gi")
    needed = quantity_bytes(SPARK_DAEMON_MEMORY) + cores * quantity_bytes(SPARK_MEMORY_PER_CORE)
    if quantity_bytes(memory) < needed:
        raise r.fail("services.spark.workerMemory", memory, f"at least {needed // 2**20}Mi for {cores} core{'s' if cores > 1 else ''} "
                     f"({SPARK_DAEMON_MEMORY} for the worker and {SPARK_MEMORY_PER_CORE} per core)")
    workers = r.integer("services.spark.workers", minimum=1, maximum=100)
    users = r.integer("services.spark.concurrentUsers", minimum=1, maximum=1000)
    # More than the cluster's cores would never be granted: 0 (the default) derives the cap.
    cap = r.integer("services.spark.maxExecutorsPerSession", maximum=workers * cores)
    return SparkSettings(
        enabled=r.boolean("services.spark.enabled"),
        workers=workers,
        worker_cores=cores,
        worker_memory=memory,
        concurrent_users=users,
        max_executors_per_session=cap or spark_session_cap(workers, cores, users),
        sessions_per_server=r.integer("services.spark.sessionsPerServer", minimum=1, maximum=SPARK_MAX_SESSIONS_PER_SERVER),
        idle_timeout_seconds=r.integer("services.spark.idleTimeoutSeconds", minimum=1, maximum=24 * 3600),
    )


def _services(r: _Reader) -> ServicesSettings:
    return ServicesSettings(
        spark=_spark(r),
        kafka=KafkaSettings(
            enabled=r.boolean("services.kafka.enabled"),
            replicas=r.integer("services.kafka.replicas", minimum=1, maximum=9),
            storage_size=r.quantity("services.kafka.storageSize", minimum="1Gi"),
            version=r.string("services.kafka.version", choices=STRIMZI_KAFKA_VERSIONS),
            paused=r.boolean("services.kafka.paused"),
        ),
        hdfs=HdfsSettings(
            enabled=r.boolean("services.hdfs.enabled"),
            datanodes=r.integer("services.hdfs.datanodes", minimum=1, maximum=100),
            datanode_storage=r.quantity("services.hdfs.datanodeStorage", minimum="1Gi"),
            namenode_storage=r.quantity("services.hdfs.namenodeStorage", minimum="1Gi"),
        ),
        vora=_vora(r),
        monitoring=MonitoringSettings(
            enabled=r.boolean("services.monitoring.enabled"),
            retention_days=r.integer("services.monitoring.retentionDays", minimum=1, maximum=3650),
            storage_size=r.quantity("services.monitoring.storageSize", minimum="1Gi"),
        ),
    )


_REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$")
_EXACT_VERSION = re.compile(r"^v?[0-9]+(\.[0-9]+)*([-+][0-9A-Za-z.-]+)?$")


def _vora(r: _Reader) -> VoraSettings:
    enabled = r.boolean("services.vora.enabled")
    chart = r.string("services.vora.chart")
    repository = r.string("services.vora.repository", check=_is_https_url, expected="an https:// Helm repository URL")
    version = r.string("services.vora.version", check=_EXACT_VERSION.match, expected="an exact chart version such as 2.3.41, not a range")
    registry = r.string("services.vora.registry", check=_REGISTRY.match, expected="a registry host (and port) such as registry.example.com:5000")
    username = r.string("services.vora.registryUsername")
    password = r.secret("services.vora.registryPassword")
    namespace = r.string("services.vora.namespace", check=_RFC1123_LABEL.match, expected="a namespace name (RFC 1123 label)", required=True)
    values = r.json("services.vora.values", expected="a map of Helm values") or {}
    if not isinstance(values, dict):
        raise r.fail("services.vora.values", values, "a map of Helm values")
    if enabled:
        remote = bool(repository) or chart.startswith("oci://")
        required = {
            "services.vora.chart": (chart, "the customer's Vora chart: a local path, an oci:// reference or a chart name in services.vora.repository"),
            "services.vora.version": (version or not remote, "the exact version of the Vora chart to pull"),
            "services.vora.registry": (registry, "the customer's private registry that holds the Vora images"),
            "services.vora.registryUsername": (username, "the user name for the Vora image registry"),
        }
        for key, (given, expected) in required.items():
            if not given:
                raise r.fail(key, None, expected)
        if password is None:
            raise r.missing_secret("services.vora.registryPassword", "the password of the Vora image registry")
        if not remote and not Path(chart).exists():
            raise r.fail("services.vora.chart", chart, "a chart directory or .tgz that exists, or a chart name with services.vora.repository")
        if namespace == r.string("namespace"):
            raise r.fail("services.vora.namespace", namespace, "a namespace of its own, not the environment's namespace")
    return VoraSettings(
        enabled=enabled,
        chart=chart,
        repository=repository,
        version=version,
        namespace=namespace,
        registry=registry,
        registry_username=username,
        registry_password=password,
        values=values,
    )


# The image of the python-spark profile. The Spark cluster runs it too, so that the driver in the notebook and
# the executors have the same Spark and Python versions (components/services/spark.py lists what each tag ships).
PYSPARK_IMAGE = "quay.io/jupyter/pyspark-notebook:2026-08-08"
# Spark 4 is built for Scala 2.13 only, so the Scala profile runs an almond kernel for Scala 2.13.
SPARK_SCALA_VERSION = "2.13"
# The Scala profile's image is the project's own (images/scala-spark/Dockerfile): almond's Scala 2.13 kernel,
# installed outside the home folder on PYSPARK_IMAGE, so that a notebook's Spark driver has the cluster's Spark and
# Java. .github/workflows/images.yml builds it and pushes it as <registry>/scala-spark:SCALA_SPARK_TAG to the
# registry in its repository variable IMAGE_REGISTRY, which hub.imageRegistry names here.
SCALA_SPARK_CONTEXT = Path(__file__).resolve().parent.parent / "images" / "scala-spark"
SCALA_SPARK_REPOSITORY = "scala-spark"


# The project's images (folders under images/) and what their tags say before the hash: the versions their
# Dockerfiles install (ARG lines).
IMAGE_TAG_VERSIONS = {"scala-spark": "{ALMOND_VERSION}-scala-{SCALA_VERSION}", "k8s-hub": "jupyterhub-{JUPYTERHUB_VERSION}"}


def image_tag(context: Path) -> str:
    """The tag of the image built from a folder, derived from the folder alone (the program and the workflow that
    pushes the image both take it from here): the versions its Dockerfile installs (IMAGE_TAG_VERSIONS), and 12
    hex digits of the sha256 of the Dockerfile and the files it copies. A changed image gets a new tag, so a tag
    never names two images."""
    import hashlib

    dockerfile = (context / "Dockerfile").read_text()
    versions = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.M))
    copied = sorted({source for line in re.findall(r"^COPY (?!--from=)(.+)$", dockerfile, re.M)
                     for source in [word for word in line.split() if not word.startswith("--")][:-1]})
    digest = hashlib.sha256()
    for name in ["Dockerfile", *copied]:
        digest.update(name.encode() + b"\0" + (context / name).read_bytes() + b"\0")
    return f"{IMAGE_TAG_VERSIONS[context.name].format(**versions)}-{digest.hexdigest()[:12]}"


IMAGES = SCALA_SPARK_CONTEXT.parent
IMAGE_TAGS = {name: image_tag(IMAGES / name) for name in IMAGE_TAG_VERSIONS}
SCALA_SPARK_TAG = IMAGE_TAGS["scala-spark"]
# The hub's image (images/k8s-hub): the chart's hub image with JupyterHub's security release, in hub.imageRegistry.
HUB_IMAGE_REPOSITORY = "k8s-hub"
# Relative to hub.imageRegistry, which _default_profiles puts in front.
SCALA_SPARK_IMAGE = f"{SCALA_SPARK_REPOSITORY}:{SCALA_SPARK_TAG}"

# The default server profiles: one image each, pinned by exact tag (README, "What a trainee finds"). Jupyter Docker
# Stacks date tags never move (tagging/taggers/date.py: the UTC build date; the 2026-08-07 images are built from
# jupyter/docker-stacks 92e38afb8743c95e67b098695cc332e7d05a0568, 2026-08-08 from 8209386950497966c8a9aa446b9a84a5dd78eab5).
# All run as jovyan (uid 1000, gid 100) with HOME /home/jovyan and Python 3.13 in /opt/conda
# (images/docker-stacks-foundation/Dockerfile); r-notebook adds R and the IRkernel, tensorflow-notebook TensorFlow
# (images/r-notebook/Dockerfile, images/tensorflow-notebook/Dockerfile). The Scala image's tag changes with its
# build folder.
DEFAULT_PROFILES: tuple[dict, ...] = (
    {
        "name": "python-spark",
        "displayName": "Python: Spark ML and scikit-learn",
        "description": "PySpark on the shared Spark cluster, scikit-learn, pandas.",
        "image": PYSPARK_IMAGE,
        "cpuGuarantee": "0.5", "cpuLimit": "2", "memoryGuarantee": "2Gi", "memoryLimit": "4Gi",
        "default": True,
    },
    {
        "name": "tensorflow",
        "displayName": "TensorFlow",
        "description": "TensorFlow and Keras on CPU.",
        "image": "quay.io/jupyter/tensorflow-notebook:2026-08-07",
        "cpuGuarantee": "1", "cpuLimit": "4", "memoryGuarantee": "4Gi", "memoryLimit": "8Gi",
    },
    {
        "name": "r",
        "displayName": "R",
        "description": "R with the tidyverse.",
        "image": "quay.io/jupyter/r-notebook:2026-08-07",
        "cpuGuarantee": "0.5", "cpuLimit": "2", "memoryGuarantee": "2Gi", "memoryLimit": "4Gi",
    },
    {
        "name": "scala",
        "displayName": "Scala",
        "description": "Scala 2.13 kernel (almond) with Spark: SparkSession on the shared cluster.",
        "image": SCALA_SPARK_IMAGE,
        "cpuGuarantee": "0.5", "cpuLimit": "2", "memoryGuarantee": "2Gi", "memoryLimit": "4Gi",
    },
)


def image_repository(image: str) -> str:
    return image.split("@")[0].rsplit(":", 1)[0]


# hub.imageRegistry: a registry host (with a dot or a port, or localhost) and an optional path, as in image names.
_IMAGE_REGISTRY = re.compile(r"^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9.-]+:[0-9]+)(:[0-9]+)?"
                             r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")


def _default_profiles(registry: str) -> list[dict]:
    """DEFAULT_PROFILES, the Scala image in hub.imageRegistry. Without a registry the Scala profile is left out: its
    image is the project's own, which nobody has pushed anywhere."""
    if not registry:
        pulumi.log.info("hub.imageRegistry is empty, so the default profiles leave Scala out (README, \"What a trainee finds\")")
        return [p for p in DEFAULT_PROFILES if p["image"] != SCALA_SPARK_IMAGE]
    return [{**p, "image": f"{registry}/{SCALA_SPARK_IMAGE}"} if p["image"] == SCALA_SPARK_IMAGE else p
            for p in DEFAULT_PROFILES]


# A YAML number is a quantity too (cpuLimit: 2); a number for memory is refused below for its missing unit.
_QUANTITY_FIELD = (str, int, float)
_PROFILE_FIELDS = {
    "name": str, "displayName": str, "description": str, "image": str, "cpuGuarantee": _QUANTITY_FIELD,
    "cpuLimit": _QUANTITY_FIELD, "memoryGuarantee": _QUANTITY_FIELD, "memoryLimit": _QUANTITY_FIELD, "default": bool,
}
# A time of day of hub.schedule (_schedule tells a number, a time without quotes, apart).
_TIME_FIELD = (str, int)
_TYPE_NAMES = {str: "a str", bool: "a bool", int: "an int", list: "a list",
               _QUANTITY_FIELD: "a quantity (a string or a number)", _TIME_FIELD: 'a time of day such as "09:30"'}


def _quantity_text(value: Any) -> str:
    """A quantity as Kubernetes writes it: 2 and 0.5 as "2" and "0.5"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _image_registry(r: _Reader) -> str:
    return r.string("hub.imageRegistry", check=_IMAGE_REGISTRY.match,
                    expected="a registry host and path such as ghcr.io/my-org, without an image name or tag")


def _profiles(r: _Reader) -> tuple[Profile, ...]:
    key = "hub.profiles"
    registry = _image_registry(r)
    listed = r.json(key)
    listed = _default_profiles(registry) if listed is None else listed
    if not isinstance(listed, list) or not listed:
        raise r.fail(key, listed, "a non-empty list of profiles")
    profiles = []
    for index, item in enumerate(listed):
        at = f"{key}[{index}]"
        r.items(at, item, _PROFILE_FIELDS, required=tuple(f for f in _PROFILE_FIELDS if f not in ("description", "default")))
        item = {**item, **{field: _quantity_text(item[field]) for field in _PROFILE_FIELDS if _PROFILE_FIELDS[field] is _QUANTITY_FIELD}}
        if not _RFC1123_LABEL.match(item["name"]):
            raise r.fail(f"{at}.name", item["name"], "a lowercase RFC 1123 name such as python-spark")
        if not _PINNED_IMAGE.match(item["image"]) or item["image"].endswith(":latest"):
            raise r.fail(f"{at}.image", item["image"], "an image pinned by an exact tag or digest, not latest")
        if image_repository(item["image"]) == image_repository(PYSPARK_IMAGE) and item["image"] != PYSPARK_IMAGE:
            raise r.fail(f"{at}.image", item["image"], f"{PYSPARK_IMAGE}, the image the Spark cluster runs "
                         "(PySpark needs the same Spark and Python in the notebook)")
        repository = image_repository(item["image"])
        if repository.rsplit("/", 1)[-1] == SCALA_SPARK_REPOSITORY and not (
                "/" in repository and item["image"] == f"{repository}:{SCALA_SPARK_TAG}"):
            registry_part = repository if "/" in repository else f"REGISTRY/{repository}"
            raise r.fail(f"{at}.image", item["image"], f"{registry_part}:{SCALA_SPARK_TAG}, the tag under which "
                         ".github/workflows/images.yml pushes images/scala-spark (built on the Spark cluster's image)")
        for low, high, pattern, parse in (("cpuGuarantee", "cpuLimit", _CPU, _cpu_millis),
                                          ("memoryGuarantee", "memoryLimit", _QUANTITY, quantity_bytes)):
            for field in (low, high):
                if parse is quantity_bytes and re.fullmatch(r"[0-9]+(\.[0-9]+)?", item[field]):
                    raise r.fail(f"{at}.{field}", item[field], f"a memory quantity with a unit, such as {item[field]}Gi")
                if not pattern.match(item[field]):
                    kind = "a CPU quantity such as 0.5 or 500m" if parse is _cpu_millis else "a memory quantity such as 2Gi"
                    raise r.fail(f"{at}.{field}", item[field], kind)
            if parse(item[low]) > parse(item[high]):
                raise r.fail(f"{at}.{low}", item[low], f"at most {high} ({item[high]})")
        profiles.append(Profile(
            name=item["name"], display_name=item["displayName"], description=item.get("description", ""),
            image=item["image"], cpu_guarantee=item["cpuGuarantee"], cpu_limit=item["cpuLimit"],
            memory_guarantee=item["memoryGuarantee"], memory_limit=item["memoryLimit"],
            default=item.get("default", False),
        ))
    names = [p.name for p in profiles]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise r.fail(key, duplicate, "profile names that are unique")
    if sum(p.default for p in profiles) > 1:
        raise r.fail(key, [p.name for p in profiles if p.default], "at most one profile with default: true")
    return tuple(profiles)


# How trainees' servers are kept from the cloud metadata server (README, "Security"): z2jh's privileged init
# container with iptables, or the user NetworkPolicy alone where an enforcer honours it.
METADATA_BLOCKS = ("auto", "iptables", "network-policy")


def _metadata_block(r: _Reader, cluster: ClusterSettings) -> str:
    """auto: the NetworkPolicy on gke, whose Dataplane V2 enforces it and whose metadata server (Workload Identity)
    shows pods no node credentials; iptables elsewhere, where nothing may enforce NetworkPolicies."""
    block = r.string("hub.metadataBlock", choices=METADATA_BLOCKS)
    if block == "auto":
        return "network-policy" if cluster.type == "gke" else "iptables"
    return block


# A hub group with a team folder: a folder-like name, or a GitHub team as org:team-slug (auth.groupsFromLogin).
_GROUP_NAME = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9][A-Za-z0-9._-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _groups(r: _Reader) -> tuple[TeamGroup, ...]:
    key = "hub.groups"
    listed = r.json(key) or {}
    if not isinstance(listed, dict):
        raise r.fail(key, listed, "a map of team names to lists of user names, such as {team-a: [alice, bob]}")
    groups: list[TeamGroup] = []
    for name, users in listed.items():
        at = f"{key}.{name}"
        if not _GROUP_NAME.match(name):
            raise r.fail(key, name, "team names of at most 63 letters, digits, '.', '_' or '-' (a GitHub team: "
                         "org:team-slug)")
        if ":" in name and name != name.lower():
            # components/hub/files/github_teams.py names the hub groups of GitHub teams in lowercase.
            raise r.fail(key, name, f"a GitHub team in lowercase, {name.lower()}")
        if users is None:
            users = []
        if not isinstance(users, list) or not all(isinstance(u, str) and u and not re.search(r"\s", u) for u in users):
            raise r.fail(at, users, "a list of user names (empty: only the members of the hub group of that name)")
        if len({u.lower() for u in users}) != len(users):
            raise r.fail(at, users, "a list of user names, each once")
        group = TeamGroup(name=name, users=tuple(users))
        clash = next((other.name for other in groups if other.folder == group.folder), None)
        if clash:
            raise r.fail(key, name, f"team names with different folders ({clash} also has the folder {group.folder})")
        groups.append(group)
    return tuple(groups)


def _check_group_members(r: _Reader, hub: HubSettings, auth: AuthSettings) -> None:
    """Where the login lets in only users it names, every member of a team is one of them: another name could
    never log in, so it is a typo."""
    rules_by_group = {"github": auth.allowed_organizations, "generic-oauth": auth.allowed_groups}.get(auth.type, ())
    names_only = not rules_by_group and (auth.type != "dummy" or bool(auth.allowed_users))
    if not names_only:
        return
    admitted = {name.lower() for name in (*auth.allowed_users, *auth.admin_users)}
    for group in hub.groups:
        for user in group.users:
            if user.lower() not in admitted:
                raise r.fail(f"hub.groups.{group.name}", user, "a user who can log in: one of auth.allowedUsers or "
                             "auth.adminUsers")


# hub.schedule: a time of day, HH:MM from 00:00 to 23:59. A number is a time written without quotes, which YAML 1.1
# (PyYAML, the offline preview's reader) reads in base 60: 10:30 is 630.
_TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_SESSION_FIELDS = {"days": list, "start": _TIME_FIELD, "end": _TIME_FIELD, "timeZone": str, "trainees": int}


def _schedule(r: _Reader) -> tuple[ClassSession, ...]:
    """hub.schedule: weekly class sessions, in one time zone (so that their times compare) and apart from each other."""
    key = "hub.schedule"
    listed = r.json(key) or []
    if not isinstance(listed, list):
        raise r.fail(key, listed, "a list of class sessions, each {days, start, end, timeZone, trainees}")
    zones = zoneinfo.available_timezones() if listed else set()
    sessions: list[ClassSession] = []
    for index, item in enumerate(listed):
        at = f"{key}[{index}]"
        r.items(at, item, _SESSION_FIELDS, required=tuple(_SESSION_FIELDS))
        days = item["days"]
        if not days:
            raise r.fail(f"{at}.days", days, "a list of weekdays such as [mon, wed]")
        for day in days:
            if day not in WEEKDAYS:
                raise r.fail(f"{at}.days", day, "a weekday: " + ", ".join(WEEKDAYS[:-1]) + f" or {WEEKDAYS[-1]}")
        if len(set(days)) != len(days):
            raise r.fail(f"{at}.days", days, "each weekday once")
        for field in ("start", "end"):
            if not isinstance(item[field], str) or not _TIME_OF_DAY.match(item[field]):
                raise r.fail(f"{at}.{field}", item[field], 'a time of day HH:MM from 00:00 to 23:59, such as "09:30" '
                             "(in quotes: YAML reads 09:30 without them as a number)")
        if _minute_of_day(item["end"]) <= _minute_of_day(item["start"]):
            raise r.fail(f"{at}.end", item["end"], f"a time after start {item['start']}: a session ends on the day it "
                         "starts")
        if item["timeZone"] not in zones:
            raise r.fail(f"{at}.timeZone", item["timeZone"], "an IANA time zone such as Europe/Berlin or UTC")
        if sessions and item["timeZone"] != sessions[0].time_zone:
            raise r.fail(f"{at}.timeZone", item["timeZone"], f"{sessions[0].time_zone}, the time zone of {key}[0]: "
                         "the sessions share one, so that their times compare")
        if not 1 <= item["trainees"] <= 5000:
            raise r.fail(f"{at}.trainees", item["trainees"], "a whole number between 1 and 5000")
        session = ClassSession(days=tuple(day for day in WEEKDAYS if day in days), start=item["start"], end=item["end"],
                               time_zone=item["timeZone"], trainees=item["trainees"])
        for other_index, other in enumerate(sessions):
            shared = [day for day in session.days if day in other.days]
            if shared and session.start_minute < other.end_minute and other.start_minute < session.end_minute:
                raise r.fail(f"{at}.start", session.start, f"a session apart from {key}[{other_index}] ({other.start} to "
                             f"{other.end} on {', '.join(shared)}): sessions may not overlap")
        sessions.append(session)
    return tuple(sessions)


def _hub(r: _Reader, cluster: ClusterSettings) -> HubSettings:
    host = r.string("hub.host", check=_DNS_NAME.match, expected="a DNS host name such as training.example.com")
    ingress = r.boolean("hub.ingress")
    if ingress and not host:
        raise r.fail("hub.host", None, "the host name the Ingress serves when hub.ingress is true")
    email = r.string("hub.letsencryptEmail", check=_EMAIL.match, expected="an e-mail address")
    if host and not ingress and not email:
        raise r.fail("hub.letsencryptEmail", None, "a contact e-mail for the Let's Encrypt certificate of hub.host")
    service_type = r.string("hub.serviceType", choices=("LoadBalancer", "NodePort", "ClusterIP"))
    if host and not ingress and service_type != "LoadBalancer":
        # Let's Encrypt checks the host on port 80 of the proxy's public address.
        raise r.fail("hub.serviceType", service_type, "LoadBalancer to serve hub.host with Let's Encrypt (or set hub.ingress true)")
    issuer = r.string("hub.clusterIssuer", check=_DNS_NAME.match, expected="a cert-manager ClusterIssuer name")
    return HubSettings(
        host=host,
        letsencrypt_email=email,
        service_type=service_type,
        ingress=ingress,
        ingress_class=r.string("hub.ingressClass", check=_DNS_NAME.match, expected="an IngressClass name"),
        cluster_issuer=issuer,
        cull_timeout=r.integer("hub.cullTimeout", minimum=300, maximum=7 * 24 * 3600),
        pre_puller=r.boolean("hub.prePuller"),
        placeholders=r.integer("hub.placeholders", maximum=500),
        expected_users=r.integer("hub.expectedUsers", maximum=5000),
        allow_internet=r.boolean("hub.allowInternet"),
        metadata_block=_metadata_block(r, cluster),
        profiles=_profiles(r),
        image_registry=_image_registry(r),
        trainer_view=r.boolean("hub.trainerView"),
        groups=_groups(r),
        schedule=_schedule(r),
        schedule_lead_minutes=r.integer("hub.scheduleLeadMinutes", maximum=12 * 60),
    )


def _auth(r: _Reader, hub: HubSettings) -> AuthSettings:
    kind = r.string("auth.type", choices=("github", "generic-oauth", "dummy"))
    url = dict(check=_is_https_url, expected="an https:// URL")
    settings = AuthSettings(
        type=kind,
        client_id=r.string("auth.clientId"),
        client_secret=r.secret("auth.clientSecret"),
        callback_url=r.string("auth.callbackUrl", **url) or (f"https://{hub.host}/hub/oauth_callback" if hub.host else ""),
        authorize_url=r.string("auth.authorizeUrl", **url),
        token_url=r.string("auth.tokenUrl", **url),
        userdata_url=r.string("auth.userdataUrl", **url),
        username_claim=r.string("auth.usernameClaim"),
        groups_claim=r.string("auth.groupsClaim"),
        scopes=r.strings("auth.scopes"),
        allowed_users=r.strings("auth.allowedUsers"),
        allowed_organizations=r.strings("auth.allowedOrganizations"),
        allowed_groups=r.strings("auth.allowedGroups"),
        admin_users=r.strings("auth.adminUsers"),
        dummy_password=r.secret("auth.dummyPassword"),
        dummy_admin_password=r.secret("auth.dummyAdminPassword"),
        allow_insecure_dummy=r.boolean("auth.allowInsecureDummy"),
        groups_from_login=r.boolean("auth.groupsFromLogin"),
    )
    _check_allow_rules(r, kind)
    if kind == "dummy":
        if settings.groups_from_login:
            raise r.fail("auth.groupsFromLogin", True, "false with auth.type dummy, whose login has no groups "
                         "(list the members in hub.groups)")
        if hub.public and not settings.allow_insecure_dummy:
            exposure = "an Ingress" if hub.ingress else f"a {hub.service_type} Service"
            raise r.fail("auth.type", kind, f"github or generic-oauth: the hub is public through {exposure} "
                         "(set auth.allowInsecureDummy true only for a throwaway demo)")
        if hub.public:
            pulumi.log.warn("auth.type dummy on a public hub: anyone who reaches it can log in (auth.allowInsecureDummy is true)")
        _check_shared_passwords(r, settings)
        return settings
    if not settings.client_id:
        raise r.fail("auth.clientId", None, f"the OAuth client id for auth.type {kind}")
    if settings.client_secret is None:
        raise r.missing_secret("auth.clientSecret", f"the OAuth client secret of the {kind} login")
    if not settings.callback_url:
        raise r.fail("auth.callbackUrl", None, "an https:// callback URL, or set hub.host to derive it")
    if kind == "generic-oauth":
        for key, value in (("auth.authorizeUrl", settings.authorize_url), ("auth.tokenUrl", settings.token_url),
                           ("auth.userdataUrl", settings.userdata_url)):
            if not value:
                raise r.fail(key, None, "the provider's https:// endpoint for auth.type generic-oauth")
        if not settings.username_claim:
            raise r.fail("auth.usernameClaim", "", "the claim that holds the user name, such as preferred_username")
    rules = _ALLOW_RULES[kind]
    if not any(r.strings(rule) for rule in rules):
        raise r.fail(rules[1], [], f"at least one allow rule ({' or '.join(rules)}): JupyterHub 5 lets nobody in without one")
    return settings


# JupyterHub's shared-password login (the dummy login with a password) refuses shorter passwords.
SHARED_PASSWORD_MINIMUM, ADMIN_PASSWORD_MINIMUM = 8, 32


def _check_shared_passwords(r: _Reader, auth: AuthSettings) -> None:
    """A dummy login with passwords: long enough for JupyterHub, and one for the admins, who may not use the
    trainees' password."""
    password, admin_password = r._value("auth.dummyPassword") or "", r._value("auth.dummyAdminPassword") or ""
    if password and len(password) < SHARED_PASSWORD_MINIMUM:
        raise r.fail("auth.dummyPassword", password, f"at least {SHARED_PASSWORD_MINIMUM} characters")
    if password and auth.admin_users and not admin_password:
        raise r.missing_secret("auth.dummyAdminPassword", "the admins' password, as the trainees' password does not make an admin")
    if admin_password and len(admin_password) < ADMIN_PASSWORD_MINIMUM:
        raise r.fail("auth.dummyAdminPassword", admin_password, f"at least {ADMIN_PASSWORD_MINIMUM} characters")
    if admin_password and admin_password == password:
        raise r.fail("auth.dummyAdminPassword", admin_password, "a password other than auth.dummyPassword")


# The allow rules each login type understands; a rule of another type would silently restrict nobody.
_ALLOW_RULES = {
    "github": ("auth.allowedUsers", "auth.allowedOrganizations"),
    "generic-oauth": ("auth.allowedUsers", "auth.allowedGroups"),
    "dummy": ("auth.allowedUsers",),
}
# A GitHub organization, or a team as org:team-slug.
_GITHUB_ORGANIZATION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?::[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def _check_allow_rules(r: _Reader, kind: str) -> None:
    for key in ("auth.allowedOrganizations", "auth.allowedGroups"):
        if r.strings(key) and key not in _ALLOW_RULES[kind]:
            raise r.fail(key, list(r.strings(key)), f"no value with auth.type {kind}, which does not use it "
                         f"(its allow rules: {', '.join(_ALLOW_RULES[kind])})")
    organizations = r.strings("auth.allowedOrganizations")
    for organization in organizations:
        if not _GITHUB_ORGANIZATION.match(organization):
            raise r.fail("auth.allowedOrganizations", organization, "a GitHub organization (org) or team (org:team-slug)")
        org, _, team = organization.partition(":")
        # Any one entry lets a user in (OAuthenticator 17.4.0, oauthenticator/github.py, check_allowed).
        if team and org in organizations:
            raise r.fail("auth.allowedOrganizations", list(organizations), f"either {org} or its team {organization}: "
                         f"every member of {org} gets in, so the team restricts nobody")


def servers_per_user_node(cluster: ClusterSettings, hub: HubSettings) -> Optional[int]:
    """Servers of the default profile one gke user node holds (components/cluster/capacity.py); None off gke, or for a
    machine type that is not sized there."""
    node = capacity.gke_node(cluster.gke.user_pool.machine_type) if cluster.gke else None
    if node is None:
        return None
    profile = hub.default_profile
    return capacity.servers_per_node(node, _cpu_millis(profile.cpu_guarantee), quantity_bytes(profile.memory_guarantee))


def _check_class_fits(r: _Reader, cluster: ClusterSettings, hub: HubSettings) -> None:
    """On gke, the user pool reaches enough nodes for hub.expectedUsers servers of the default profile, and for the
    trainees of every session of hub.schedule."""
    if cluster.gke is None or not (hub.expected_users or hub.schedule):
        return
    pool = cluster.gke.user_pool
    per_node = servers_per_user_node(cluster, hub)
    if per_node is None:
        wanted = (f"hub.expectedUsers {hub.expected_users} servers" if hub.expected_users else
                  f"the servers of {max(s.trainees for s in hub.schedule)} trainees, hub.schedule's largest session")
        pulumi.log.warn(f"cluster.userPool.machineType {pool.machine_type} is not sized by components/cluster/capacity.py: "
                        f"check yourself that {pool.max_nodes} nodes hold {wanted}")
        return
    profile = hub.default_profile
    if per_node < 1:
        raise r.fail("cluster.userPool.machineType", pool.machine_type, f"a machine type that holds a server of the "
                     f"default profile {profile.name} ({profile.cpu_guarantee} CPU, {profile.memory_guarantee})")
    servers = f"servers of the default profile {profile.name} ({profile.cpu_guarantee} CPU, {profile.memory_guarantee})"
    needed = capacity.nodes_for(hub.expected_users, per_node)
    if pool.max_nodes < needed:
        raise r.fail("cluster.userPool.maxNodes", pool.max_nodes, f"at least {needed} for hub.expectedUsers "
                     f"{hub.expected_users}: each {pool.machine_type} node holds {per_node} {servers}")
    for index, session in enumerate(hub.schedule):
        if capacity.nodes_for(session.trainees, per_node) > pool.max_nodes:
            raise r.fail(f"hub.schedule[{index}].trainees", session.trainees, f"at most {per_node * pool.max_nodes}, "
                         f"what cluster.userPool.maxNodes {pool.max_nodes} {pool.machine_type} nodes hold: {per_node} "
                         f"{servers} each")


def load() -> Settings:
    """Read and validate the whole stack configuration; raise ConfigError at the first mistake."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    raw = _raw_configuration()
    secret_keys = {key for key in raw if pulumi.runtime.is_config_secret(key)}
    r = _Reader(project, stack, raw, secret_keys, stack_file.config(stack))
    r.check_keys()
    cluster = _cluster(r)
    hub = _hub(r, cluster)
    _check_class_fits(r, cluster, hub)
    settings = Settings(
        project=project,
        stack=stack,
        namespace=r.string("namespace", check=_RFC1123_LABEL.match, expected="a namespace name (RFC 1123 label)", required=True),
        cluster=cluster,
        storage=_storage(r, cluster, hub),
        services=_services(r),
        hub=hub,
        auth=_auth(r, hub),
    )
    _check_group_members(r, hub, settings.auth)
    return settings

