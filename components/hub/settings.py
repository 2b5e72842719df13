"""The hub: how trainees reach it, the server profiles they choose from, teams, and the class sessions it warms up for."""

import functools
import re
import zoneinfo
from typing import Annotated, Any, Optional

import pulumi
from pydantic import AfterValidator, BeforeValidator, Strict, StrictBool, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.cluster import capacity
from components.images import PYSPARK_IMAGE, SCALA_SPARK_IMAGE, SCALA_SPARK_REPOSITORY, SCALA_SPARK_TAG, image_repository
from components.settings.types import (CPU, DNS_NAME, LABEL, QUANTITY, Boolean, Check, Given, Invalid, Item, Matching,
                                       Model, OneOf, RequiredStr, Str, WholeNumber, cpu_millis, json_value, listed,
                                       of_json, quantity_bytes, setting, whole_number)

# The default server profiles: one image each, pinned by exact tag (README, "What a trainee finds"). Jupyter Docker
# Stacks date tags never move (tagging/taggers/date.py: the UTC build date; the 2026-08-07 images are built from
# jupyter/docker-stacks 92e38afb8743c95e67b098695cc332e7d05a0568, 2026-08-08 from 8209386950497966c8a9aa446b9a84a5dd78eab5).
# All run as jovyan (uid 1000, gid 100) with HOME /home/jovyan and Python 3.13 in /opt/conda
# (images/docker-stacks-foundation/Dockerfile); r-notebook adds R and the IRkernel, tensorflow-notebook TensorFlow
# (images/r-notebook/Dockerfile, images/tensorflow-notebook/Dockerfile). The Scala image's tag changes with its
# build folder.
DEFAULT_PROFILES: tuple[dict, ...] = (
    {"name": "python-spark", "displayName": "Python: Spark ML and scikit-learn",
     "description": "PySpark on the shared Spark cluster, scikit-learn, pandas.", "image": PYSPARK_IMAGE,
     "cpuGuarantee": "0.5", "cpuLimit": "2", "memoryGuarantee": "2Gi", "memoryLimit": "4Gi", "default": True},
    {"name": "tensorflow", "displayName": "TensorFlow", "description": "TensorFlow and Keras on CPU.",
     "image": "quay.io/jupyter/tensorflow-notebook:2026-08-07",
     "cpuGuarantee": "1", "cpuLimit": "4", "memoryGuarantee": "4Gi", "memoryLimit": "8Gi"},
    {"name": "r", "displayName": "R", "description": "R with the tidyverse.", "image": "quay.io/jupyter/r-notebook:2026-08-07",
     "cpuGuarantee": "0.5", "cpuLimit": "2", "memoryGuarantee": "2Gi", "memoryLimit": "4Gi"},
    {"name": "scala", "displayName": "Scala",
     "description": "Scala 2.13 kernel (almond) with Spark: SparkSession on the shared cluster.", "image": SCALA_SPARK_IMAGE,
     "cpuGuarantee": "0.5", "cpuLimit": "2", "memoryGuarantee": "2Gi", "memoryLimit": "4Gi"},
)
# An image reference pinned by an exact tag or a digest: registry/name:tag or name@sha256:...
_PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})$")
# hub.imageRegistry: a registry host (with a dot or a port, or localhost) and an optional path, as in image names.
_IMAGE_REGISTRY = re.compile(r"^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9.-]+:[0-9]+)(:[0-9]+)?"
                             r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
# A hub group with a team folder: a folder-like name, or a GitHub team as org:team-slug (auth.groupsFromLogin).
_GROUP_NAME = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9][A-Za-z0-9._-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)?$")
# hub.schedule: a time of day, HH:MM from 00:00 to 23:59. A number is a time written without quotes, which YAML 1.1
# (PyYAML, the offline preview's reader) reads in base 60: 10:30 is 630.
_TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# How trainees' servers are kept from the cloud metadata server (README, "Security"): z2jh's privileged init
# container with iptables, or the user NetworkPolicy alone where an enforcer honours it.
METADATA_BLOCKS = ("auto", "iptables", "network-policy")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as hub.schedule names them, in the week's order

# A YAML number is a quantity too (cpuLimit: 2, as "2"); a number for memory is refused for its missing unit.
ProfileQuantity = Annotated[str, Given, BeforeValidator(lambda v: str(int(v) if isinstance(v, float) and v.is_integer() else v)),
                            of_json((str, int, float), "a quantity (a string or a number)")]


def _with_unit(memory: str) -> str:
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", memory):
        raise Invalid(memory, f"a memory quantity with a unit, such as {memory}Gi")
    return memory


CpuQuantity = Annotated[ProfileQuantity, Check(CPU, "a CPU quantity such as 0.5 or 500m")]
MemoryQuantity = Annotated[ProfileQuantity, AfterValidator(_with_unit), Check(QUANTITY, "a memory quantity such as 2Gi")]


def _spark_image(image: str) -> str:
    """The Spark cluster's own image, and the project's Scala image (built on it) only at the tag of its folder."""
    repository = image_repository(image)
    if repository == image_repository(PYSPARK_IMAGE) and image != PYSPARK_IMAGE:
        raise Invalid(image, f"{PYSPARK_IMAGE}, the image the Spark cluster runs (PySpark needs the same Spark and "
                      "Python in the notebook)")
    if repository.rsplit("/", 1)[-1] == SCALA_SPARK_REPOSITORY and not (
            "/" in repository and image == f"{repository}:{SCALA_SPARK_TAG}"):
        raise Invalid(image, f"{repository if '/' in repository else f'REGISTRY/{repository}'}:{SCALA_SPARK_TAG}, "
                      "the tag under which .github/workflows/images.yml pushes images/scala-spark (built on the "
                      "Spark cluster's image)")
    return image


class Profile(Item):
    name: Annotated[RequiredStr, Check(LABEL, "a lowercase RFC 1123 name such as python-spark")]  # the slug
    display_name: RequiredStr
    description: Str = ""
    image: Annotated[RequiredStr, Check(lambda image: _PINNED_IMAGE.match(image) and not image.endswith(":latest"),
                                        "an image pinned by an exact tag or digest, not latest"),
                     AfterValidator(_spark_image)]
    cpu_guarantee: CpuQuantity
    cpu_limit: CpuQuantity
    memory_guarantee: MemoryQuantity
    memory_limit: MemoryQuantity
    default: StrictBool = False

    def __init__(self, *args: Any, **fields: Any):  # also positionally, in field order, as the dataclass it was
        super().__init__(**dict(zip(type(self).model_fields, args)), **fields)

    @model_validator(mode="after")
    def _guaranteed_within_limits(self) -> "Profile":
        for low, high, parse in (("cpu_guarantee", "cpu_limit", cpu_millis),
                                 ("memory_guarantee", "memory_limit", quantity_bytes)):
            if parse(getattr(self, low)) > parse(getattr(self, high)):
                raise Invalid(getattr(self, low), f"at most {to_camel(high)} ({getattr(self, high)})", field=to_camel(low))
        return self


class TeamGroup(Model):
    """A team of hub.groups: its members' servers mount its folder (README, "Trainers and teams")."""

    name: str  # the hub group's name, as the login names it with auth.groupsFromLogin (a GitHub team: org:team)
    users: tuple[str, ...]  # members by configuration, besides the hub group's members

    @property
    def folder(self) -> str:
        """Its folder in storage.groupsFolder: the name, a GitHub team's ':' as '-'."""
        return self.name.replace(":", "-")


def _time_of_day(value: Any) -> str:
    if not isinstance(value, str) or not _TIME_OF_DAY.match(value):
        raise Invalid(value, 'a time of day HH:MM from 00:00 to 23:59, such as "09:30" (in quotes: YAML reads 09:30 '
                      "without them as a number)")
    return value


def _weekdays(days: Any) -> tuple[str, ...]:
    if not isinstance(days, (list, tuple)):
        raise Invalid(days, "a list")
    if not days:
        raise Invalid(days, "a list of weekdays such as [mon, wed]")
    for day in days:
        if day not in WEEKDAYS:
            raise Invalid(day, "a weekday: " + ", ".join(WEEKDAYS[:-1]) + f" or {WEEKDAYS[-1]}")
    if len(set(days)) != len(days):
        raise Invalid(days, "each weekday once")
    return tuple(day for day in WEEKDAYS if day in days)


_time_zones = functools.cache(zoneinfo.available_timezones)


def _time_zone(zone: str) -> str:
    if zone not in _time_zones():
        raise Invalid(zone, "an IANA time zone such as Europe/Berlin or UTC")
    return zone


TimeOfDay = Annotated[str, BeforeValidator(_time_of_day), Given, of_json((str, int), 'a time of day such as "09:30"')]


class ClassSession(Item):
    """A class session of hub.schedule: the placeholders hold room for its trainees' servers (components/hub/schedule.py)."""

    days: Annotated[tuple[str, ...], BeforeValidator(_weekdays)]  # of WEEKDAYS, in the week's order
    start: TimeOfDay  # HH:MM, in time_zone
    end: TimeOfDay  # HH:MM, later the same day
    time_zone: Annotated[RequiredStr, AfterValidator(_time_zone)]  # an IANA time zone such as Europe/Berlin
    trainees: Annotated[int, Strict(), AfterValidator(lambda trainees: whole_number(trainees, 1, 5000))]

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: str, info) -> str:
        if "start" in info.data and _minute_of_day(end) <= _minute_of_day(info.data["start"]):
            raise Invalid(end, f"a time after start {info.data['start']}: a session ends on the day it starts")
        return end

    start_minute = property(lambda self: _minute_of_day(self.start))
    end_minute = property(lambda self: _minute_of_day(self.end))


def _minute_of_day(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class HubSettings(Model):
    host: Matching(DNS_NAME, "a DNS host name such as training.example.com") = setting(
        "", "Public host name of the hub, e.g. training.example.com: HTTPS with Let's Encrypt on a LoadBalancer, or "
        "through the Ingress (hub.ingress). Empty: no HTTPS; use kubectl port-forward (output hubPortForward).")
    letsencrypt_email: Matching(re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), "an e-mail address") = setting(
        "", "Contact e-mail for Let's Encrypt (required with hub.host unless hub.ingress is true).")
    service_type: OneOf("LoadBalancer", "NodePort", "ClusterIP") = setting(
        "ClusterIP", "How the hub's proxy is exposed: LoadBalancer (public address), NodePort, or ClusterIP (reached "
        "through hub.ingress, or kubectl port-forward for development).")
    ingress: Boolean = setting(
        False, "Expose the hub through an Ingress for hub.host instead (TLS from cert-manager or the ingress).")
    ingress_class: Matching(DNS_NAME, "an IngressClass name") = setting("nginx", "IngressClass of the hub's Ingress.")
    # cert-manager ClusterIssuer of the Ingress's certificate, "" for none
    cluster_issuer: Matching(DNS_NAME, "a cert-manager ClusterIssuer name") = setting(
        "", "With hub.ingress: the cert-manager ClusterIssuer (e.g. a Let's Encrypt issuer) that issues the Ingress's "
        "certificate into the Secret jupyterhub-tls. Empty: provide that Secret yourself, or the ingress controller "
        "serves its default certificate.")
    cull_timeout: WholeNumber(300, 7 * 24 * 3600) = setting(
        3600, "Seconds of inactivity after which a trainee's server is stopped (its folders stay).")
    pre_puller: Boolean = setting(True, "Pull the profile images onto every user node ahead of time, for fast spawns.")
    # where the project's images are, "" for none
    image_registry: Matching(_IMAGE_REGISTRY, "a registry host and path such as ghcr.io/my-org, without an image name "
                                              "or tag") = setting(
        "", "Registry and path that .github/workflows/images.yml pushes the project's images to, its repository "
        "variable IMAGE_REGISTRY (e.g. ghcr.io/my-org); the user nodes must be able to pull from it. The default Scala "
        "profile runs <imageRegistry>/scala-spark at the tag the program derives from images/scala-spark. Empty: the "
        "default profiles leave Scala out.")
    placeholders: WholeNumber(0, 500) = setting(0, "Number of placeholder pods that keep user nodes warm before a class "
                                                "starts, each the size of a server of the default profile.")
    schedule_lead_minutes: WholeNumber(0, 12 * 60) = setting(
        30, "Minutes before each session of hub.schedule that the placeholders grow (at most 720), so that the user "
        "pool has added its nodes and pulled the images when the trainees arrive.")
    schedule_arrival_minutes: WholeNumber(0, 12 * 60) = setting(
        15, "Minutes after each session of hub.schedule starts that the placeholders keep their room for trainees still "
        "arriving (at most 720); then they shrink to hub.placeholders, as the placeholders that trainees' servers "
        "displaced would otherwise ask for as many nodes again until the session ends.")
    # the class size the hub and the user pool are sized for; 0 when not given
    expected_users: WholeNumber(0, 5000) = setting(
        0, "Trainees expected at once. The hub lets that many servers start at the same time (JupyterHub's concurrent "
        "spawn limit; 0 keeps the chart's 64), and on gke cluster.userPool.maxNodes must reach the nodes they need "
        "(components/cluster/capacity.py; README, \"Class size\").")
    metadata_block: OneOf(*METADATA_BLOCKS) = setting(  # read as iptables or network-policy
        "auto", "How trainees' servers are kept from the cloud metadata server. iptables: a privileged init container "
        "in every server (works without a NetworkPolicy enforcer; Pod Security baseline rejects it); network-policy: "
        "only the user NetworkPolicy, for clusters whose CNI enforces it (Calico, Cilium, Dataplane V2); auto: "
        "network-policy on gke, iptables elsewhere.")
    allow_internet: Boolean = setting(
        True, "Let trainees' servers reach the internet (pip install, datasets). Cloud metadata stays blocked.")
    trainer_view: Boolean = setting(False, "Admins' servers also mount every trainee's personal folder at "
                                    "/home/jovyan/trainees and every team folder at /home/jovyan/trainee-groups, "
                                    "read/write, to help and to grade. Trainees' servers never do.")
    profiles: tuple[Profile, ...] = None  # unset: DEFAULT_PROFILES
    groups: tuple[TeamGroup, ...] = ()  # teams with a folder of their own
    schedule: tuple[ClassSession, ...] = ()  # class sessions the placeholders warm the user pool for

    @field_validator("metadata_block")
    @classmethod
    def _metadata_block(cls, block: str, info) -> str:
        """auto: the NetworkPolicy on gke, whose Dataplane V2 enforces it and whose metadata server (Workload Identity)
        shows pods no node credentials; iptables elsewhere, where nothing may enforce NetworkPolicies."""
        if block != "auto" or info.context is None:
            return block
        return "network-policy" if info.context["cluster"].type == "gke" else "iptables"

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles(cls, value: Any, info) -> Any:
        """Unset: DEFAULT_PROFILES, the Scala image in hub.imageRegistry. Without a registry the Scala profile is left
        out: its image is the project's own, which nobody has pushed anywhere."""
        profiles, registry = json_value(value), info.data.get("image_registry", "")
        if profiles is None and not registry:
            if info.context is not None:
                info.context["scala_left_out"] = True  # said once the hub's settings are read
            profiles = [p for p in DEFAULT_PROFILES if p["image"] != SCALA_SPARK_IMAGE]
        elif profiles is None:
            profiles = [{**p, "image": f"{registry}/{p['image']}"} if p["image"] == SCALA_SPARK_IMAGE else p
                        for p in DEFAULT_PROFILES]
        if not isinstance(profiles, (list, tuple)) or not profiles:
            raise Invalid(profiles, "a non-empty list of profiles")
        return profiles

    @field_validator("profiles")
    @classmethod
    def _one_default(cls, profiles: tuple[Profile, ...]) -> tuple[Profile, ...]:
        names = [p.name for p in profiles]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise Invalid(duplicate, "profile names that are unique")
        if sum(p.default for p in profiles) > 1:
            raise Invalid([p.name for p in profiles if p.default], "at most one profile with default: true")
        return profiles

    @field_validator("groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        teams, groups = json_value(value) or {}, []
        if isinstance(teams, tuple) and all(isinstance(team, TeamGroup) for team in teams):
            return teams
        if not isinstance(teams, dict):
            raise Invalid(teams, "a map of team names to lists of user names, such as {team-a: [alice, bob]}")
        for name, users in teams.items():
            if not _GROUP_NAME.match(name):
                raise Invalid(name, "team names of at most 63 letters, digits, '.', '_' or '-' (a GitHub team: "
                              "org:team-slug)")
            if ":" in name and name != name.lower():
                # components/hub/files/github_teams.py names the hub groups of GitHub teams in lowercase.
                raise Invalid(name, f"a GitHub team in lowercase, {name.lower()}")
            users = [] if users is None else users
            if not isinstance(users, list) or not all(isinstance(u, str) and u and not re.search(r"\s", u) for u in users):
                raise Invalid(users, "a list of user names (empty: only the members of the hub group of that name)",
                              key=f"hub.groups.{name}")
            if len({u.lower() for u in users}) != len(users):
                raise Invalid(users, "a list of user names, each once", key=f"hub.groups.{name}")
            group = TeamGroup(name=name, users=tuple(users))
            clash = next((other.name for other in groups if other.folder == group.folder), None)
            if clash:
                raise Invalid(name, f"team names with different folders ({clash} also has the folder {group.folder})")
            groups.append(group)
        return groups

    @field_validator("schedule", mode="before")
    @classmethod
    def _sessions(cls, value: Any) -> Any:
        return listed(value, "a list of class sessions, each {days, start, end, timeZone, trainees}")

    @field_validator("schedule")
    @classmethod
    def _apart(cls, sessions: tuple[ClassSession, ...]) -> tuple[ClassSession, ...]:
        """In one time zone (so that their times compare) and apart from each other."""
        for index, session in enumerate(sessions):
            at = f"hub.schedule[{index}]"
            if session.time_zone != sessions[0].time_zone:
                raise Invalid(session.time_zone, f"{sessions[0].time_zone}, the time zone of hub.schedule[0]: the "
                              "sessions share one, so that their times compare", key=f"{at}.timeZone")
            for other_index, other in enumerate(sessions[:index]):
                shared = [day for day in session.days if day in other.days]
                if shared and session.start_minute < other.end_minute and other.start_minute < session.end_minute:
                    raise Invalid(session.start, f"a session apart from hub.schedule[{other_index}] ({other.start} to "
                                  f"{other.end} on {', '.join(shared)}): sessions may not overlap", key=f"{at}.start")
        return sessions

    @model_validator(mode="after")
    def _reachable(self, info) -> "HubSettings":
        if self.ingress and not self.host:
            raise Invalid(None, "the host name the Ingress serves when hub.ingress is true", field="host")
        if self.host and not self.ingress and not self.letsencrypt_email:
            raise Invalid(None, "a contact e-mail for the Let's Encrypt certificate of hub.host", field="letsencryptEmail")
        if self.host and not self.ingress and self.service_type != "LoadBalancer":
            # Let's Encrypt checks the host on port 80 of the proxy's public address.
            raise Invalid(self.service_type, "LoadBalancer to serve hub.host with Let's Encrypt (or set hub.ingress "
                          "true)", field="serviceType")
        if info.context is not None:
            if info.context.get("scala_left_out"):
                pulumi.log.info("hub.imageRegistry is empty, so the default profiles leave Scala out (README, \"What a "
                                "trainee finds\")")
            _check_class_fits(info.context["cluster"], self)
        return self

    @property
    def default_profile(self) -> Profile:
        """The profile a trainee gets without choosing: the one marked default, else the first (KubeSpawner)."""
        return next((p for p in self.profiles if p.default), self.profiles[0])

    @property
    def public(self) -> bool:
        """Reachable from outside the cluster without kubectl port-forward."""
        return self.ingress or self.service_type in ("LoadBalancer", "NodePort")


def servers_per_user_node(cluster: Any, hub: HubSettings) -> Optional[int]:
    """Servers of the default profile one gke user node holds (components/cluster/capacity.py); None off gke, or for a
    machine type that is not sized there."""
    node = capacity.gke_node(cluster.gke.user_pool.machine_type) if cluster.gke else None
    if node is None:
        return None
    profile = hub.default_profile
    return capacity.servers_per_node(node, cpu_millis(profile.cpu_guarantee), quantity_bytes(profile.memory_guarantee))


def _check_class_fits(cluster: Any, hub: HubSettings) -> None:
    """On gke, the user pool reaches enough nodes for hub.expectedUsers servers of the default profile, and for the
    trainees of every session of hub.schedule."""
    if cluster.gke is None or not (hub.expected_users or hub.schedule):
        return
    pool, per_node, profile = cluster.gke.user_pool, servers_per_user_node(cluster, hub), hub.default_profile
    if per_node is None:
        wanted = (f"hub.expectedUsers {hub.expected_users} servers" if hub.expected_users else
                  f"the servers of {max(s.trainees for s in hub.schedule)} trainees, hub.schedule's largest session")
        pulumi.log.warn(f"cluster.userPool.machineType {pool.machine_type} is not sized by components/cluster/capacity.py: "
                        f"check yourself that {pool.max_nodes} nodes hold {wanted}")
        return
    sized = f"the default profile {profile.name} ({profile.cpu_guarantee} CPU, {profile.memory_guarantee})"
    if per_node < 1:
        raise Invalid(pool.machine_type, f"a machine type that holds a server of {sized}", key="cluster.userPool.machineType")
    needed = capacity.nodes_for(hub.expected_users, per_node)
    if pool.max_nodes < needed:
        raise Invalid(pool.max_nodes, f"at least {needed} for hub.expectedUsers {hub.expected_users}: each "
                      f"{pool.machine_type} node holds {per_node} servers of {sized}", key="cluster.userPool.maxNodes")
    for index, session in enumerate(hub.schedule):
        if capacity.nodes_for(session.trainees, per_node) > pool.max_nodes:
            raise Invalid(session.trainees, f"at most {per_node * pool.max_nodes}, what cluster.userPool.maxNodes "
                          f"{pool.max_nodes} {pool.machine_type} nodes hold: {per_node} servers of {sized} each",
                          key=f"hub.schedule[{index}].trainees")
