"""The cluster: a GKE cluster the program creates (cluster.type gke), or an existing one; where data volumes live."""

import datetime
import re
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import BeforeValidator, Field, field_validator, model_validator

from components.settings.types import (DNS_NAME, GCP_REGION, GCP_ZONE, LABEL, Boolean, Check, Invalid, Item,
                                       Matching, Model, OneOf, RequiredStr, Str, Text, WholeNumber, json_value, listed,
                                       modes, setting, text, whole_number)

# A provisioner name: a DNS subdomain, as CSI driver names are (rancher.io/local-path has one path segment).
_PROVISIONER = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$")
# GKE's rules for maintenance (cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-
# exclusions): a window allows at least 48 hours of maintenance in any 32 days, in runs of at least 4 hours;
# an exclusion of scope NO_UPGRADES lasts at most 30 days.
MAINTENANCE_MINIMUM_HOURS, MAINTENANCE_HOURS_PER_32_DAYS, NO_UPGRADES_MAXIMUM_DAYS = 4, 48, 30
EXCLUSION_SCOPES = ("NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES")
_RECURRENCE = re.compile(r"^FREQ=(DAILY|WEEKLY)(;BYDAY=((MO|TU|WE|TH|FR|SA|SU)(,(MO|TU|WE|TH|FR|SA|SU))*))?$")
_LOCATION = "a GCP zone such as europe-west3-a or a region such as europe-west3 (or set gcp:zone)"


_TIME = "an RFC 3339 time with its zone, such as 2026-01-05T22:00:00Z"


def _zoned(value: str) -> Optional[datetime.datetime]:
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def moment(value: str, field: str = "") -> datetime.datetime:
    parsed = _zoned(value)
    if parsed is None:
        raise Invalid(value, _TIME, field=field)
    return parsed


class CorePool(Model):
    machine_type: Matching(LABEL, "a machine type such as e2-standard-4") = setting(
        "e2-standard-4", "Machine type of the core pool (hub, proxy, NFS server, operators, data services).")
    nodes: WholeNumber(1, 100) = setting(2, "Number of nodes of the core pool per zone.")
    disk_size_gb: WholeNumber(10, 65536) = setting(100, "Boot disk size of core nodes, in GB.")
    spot: ClassVar[bool] = False
    min_nodes = max_nodes = property(lambda self: self.nodes)


class UserPool(Model):
    machine_type: Matching(LABEL, "a machine type such as e2-highmem-4") = setting(
        "e2-highmem-4", "Machine type of the user pool, where trainees' servers run.")
    min_nodes: WholeNumber(0, 1000) = setting(0, "Minimum nodes of the autoscaling user pool per zone.")
    max_nodes: int = setting(10, "Maximum nodes of the autoscaling user pool per zone.")
    disk_size_gb: WholeNumber(10, 65536) = setting(100, "Boot disk size of user nodes, in GB (holds the notebook images).")
    spot: Boolean = setting(False, "Run user nodes as Spot VMs (cheaper; a preempted node restarts its trainees' servers).")

    @field_validator("max_nodes", mode="before")
    @classmethod
    def _at_least_min_nodes(cls, value: Any, info) -> int:
        return whole_number(value, max(1, info.data.get("min_nodes", 0)), 1000)


NodePoolSettings = Union[CorePool, UserPool]


class MaintenanceWindow(Model):
    start: Text = setting("", "gke: start of the first maintenance window, RFC 3339 (such as 2026-01-05T22:00:00Z); GKE "
                          "upgrades the cluster and drains nodes only in these windows, so not during class hours. Empty: "
                          "at any time.")
    end: Text = setting("", "gke, with cluster.maintenance.start; the window's end, 4 to 24 hours after its start.")
    recurrence: Matching(_RECURRENCE, "FREQ=DAILY, or FREQ=WEEKLY with BYDAY such as FREQ=WEEKLY;BYDAY=SA,SU") = setting(
        "FREQ=DAILY", "gke: how the window repeats, FREQ=DAILY or FREQ=WEEKLY;BYDAY=SA,SU; GKE needs 48 hours of windows "
        "in any 32 days.")

    @model_validator(mode="after")
    def _long_enough(self) -> "MaintenanceWindow":
        if not (self.start or self.end):
            return self
        if not (self.start and self.end):
            raise Invalid(None, "a time, as cluster.maintenance.start and .end go together",
                          field="end" if self.start else "start")
        hours = (moment(self.end, "end") - moment(self.start, "start")).total_seconds() / 3600
        days = len(self.recurrence.split("BYDAY=")[1].split(",")) if "BYDAY=" in self.recurrence else \
            7 if "DAILY" in self.recurrence else 1
        if hours < MAINTENANCE_MINIMUM_HOURS or hours > 24:
            raise Invalid(self.end, f"{MAINTENANCE_MINIMUM_HOURS} to 24 hours after cluster.maintenance.start", field="end")
        if hours * days * 32 / 7 < MAINTENANCE_HOURS_PER_32_DAYS:
            raise Invalid(self.recurrence, f"windows that add up to {MAINTENANCE_HOURS_PER_32_DAYS} hours in 32 days, as "
                          f"GKE requires (these add up to {hours * days * 32 / 7:.0f})", field="recurrence")
        return self


class MaintenanceExclusion(Item):
    name: Annotated[RequiredStr, Check(LABEL, "a lowercase name such as exam-week")]
    start: Annotated[RequiredStr, Check(_zoned, _TIME)]
    end: Annotated[RequiredStr, Check(_zoned, _TIME)]
    scope: Annotated[Str, Check(lambda scope: scope in EXCLUSION_SCOPES, "one of " + ", ".join(EXCLUSION_SCOPES))] = \
        "NO_UPGRADES"


class GkeSettings(Model):
    """The GKE cluster's settings, in the cluster map beside the others; checked on every cluster type, so that a
    mistake does not wait for a move to gke."""

    project: str = Field("", exclude=True)  # gcp:project, not a setting of the map
    location: Matching(lambda v: GCP_ZONE.match(v) or GCP_REGION.match(v), _LOCATION) = setting(
        "", "GKE zone (zonal cluster) or region (regional cluster). Empty means gcp:zone, else gcp:region.")
    release_channel: OneOf("RAPID", "REGULAR", "STABLE", "EXTENDED", "UNSPECIFIED") = setting(
        "REGULAR", "GKE release channel: RAPID, REGULAR, STABLE, EXTENDED, or UNSPECIFIED to pin cluster.version.")
    version: Matching(re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+(-gke\.[0-9]+)?)?$"), "a GKE version such as 1.33 or "
                      "1.33.5-gke.1308000") = setting(
        "", "Minimum GKE control plane version to pin, e.g. 1.33.5-gke.1308000. Empty follows the channel.")
    network: Matching(LABEL, "a VPC network name") = setting(
        "default", "VPC network of the GKE cluster (and of a Filestore instance).")
    subnetwork: Matching(LABEL, "a subnetwork name") = setting(
        "", "Subnetwork of the GKE cluster. Empty lets GKE choose the network's subnetwork in the region.")
    # None: GKE upgrades at any time
    maintenance_window: Optional[MaintenanceWindow] = Field(default_factory=MaintenanceWindow, alias="maintenance")
    deletion_protection: Boolean = setting(True, "gke: refuse to delete the cluster (GKE's deletion protection, and "
                                           "Pulumi's protect): pulumi destroy --exclude-protected keeps it and the volumes "
                                           "of its Retain classes. Set it to false and run pulumi up before pulumi destroy "
                                           "deletes the cluster.")
    core_pool: CorePool = Field(default_factory=CorePool)
    user_pool: UserPool = Field(default_factory=UserPool)
    maintenance_exclusions: tuple[MaintenanceExclusion, ...] = ()

    @field_validator("version")
    @classmethod
    def _pinned(cls, version: str, info) -> str:
        if info.data.get("release_channel") == "UNSPECIFIED" and not version:
            raise Invalid(version, "a version to pin when cluster.releaseChannel is UNSPECIFIED")
        return version

    @field_validator("maintenance_window")
    @classmethod
    def _window(cls, window: MaintenanceWindow) -> Optional[MaintenanceWindow]:
        return window if window.start or window.end else None

    @field_validator("maintenance_exclusions", mode="before")
    @classmethod
    def _exclusions(cls, value: Any) -> Any:
        return listed(value, "a list of exclusions, each {name, start, end, scope}")

    @field_validator("maintenance_exclusions")
    @classmethod
    def _not_too_long(cls, exclusions: tuple[MaintenanceExclusion, ...]) -> tuple[MaintenanceExclusion, ...]:
        for index, exclusion in enumerate(exclusions):
            days = (moment(exclusion.end) - moment(exclusion.start)).total_seconds() / 86400
            if days <= 0 or (exclusion.scope == "NO_UPGRADES" and days > NO_UPGRADES_MAXIMUM_DAYS):
                at = f"cluster.maintenanceExclusions[{index}]"
                limit = f"at most {NO_UPGRADES_MAXIMUM_DAYS} days " if exclusion.scope == "NO_UPGRADES" else ""
                raise Invalid(exclusion.end, f"a time {limit}after {at}.start", key=f"{at}.end")
        return exclusions

    @property
    def regional(self) -> bool:
        return bool(GCP_REGION.match(self.location))


class ClusterSettings(Model):
    type: OneOf("gke", "existing") = setting(
        "existing", "gke: create a GKE cluster; existing: deploy onto the cluster a kubeconfig names.")
    name: Matching(LABEL, "a lowercase RFC 1123 name such as ml-training", required=True) = setting(
        "ml-training", "Name of the GKE cluster (gke), or a label for the existing cluster in outputs.")
    gke: Optional[GkeSettings] = Field(None, json_schema_extra={"flat": True})  # None on an existing cluster
    kubeconfig: Text = setting("", "existing: path of the kubeconfig file. Empty uses $KUBECONFIG or ~/.kube/config.")
    context: Text = setting("", "existing: kubeconfig context to deploy to. Empty uses the current context.")
    # The Retain class of every volume that holds data: existing, a class of the cluster ("" when the program
    # declares one for data_provisioner); gke, always declared by the program.
    data_storage_class: Matching(DNS_NAME, "a StorageClass name") = setting(
        "", "existing: a StorageClass with reclaimPolicy Retain that already exists, for the volumes that hold data "
        "(HDFS, Kafka, the hub's database, an in-cluster NFS server without storage.storageClass). Set this or "
        "cluster.dataProvisioner. gke: leave empty, the program declares a Retain class on pd-balanced disks.")
    data_provisioner: Matching(_PROVISIONER, "a provisioner name such as rancher.io/local-path or ebs.csi.aws.com") = \
        setting("", "existing: the provisioner (CSI driver) of a Retain StorageClass that the program declares for the "
                "volumes that hold data, such as rancher.io/local-path, driver.longhorn.io or ebs.csi.aws.com, with "
                "cluster.dataStorageParameters. Set this or cluster.dataStorageClass.")
    dedicated_user_nodes: Boolean = setting(False, "existing: trainees' servers run only on nodes labelled "
                                            "hub.jupyter.org/node-purpose=user (and tolerate the taint "
                                            "hub.jupyter.org_dedicated=user:NoSchedule). Always on for gke.")
    data_storage_parameters: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _gke_settings(cls, data: Any, info) -> Any:
        """The GKE settings sit in the cluster map beside the others; the location defaults to the provider's."""
        if not isinstance(data, dict) or info.context is None:
            return data
        keys, gcp = {field.alias for field in GkeSettings.model_fields.values()}, info.context["gcp"]
        gke = {key: value for key, value in data.items() if key in keys}
        location = text(gke.get("location")) or gcp.get("zone", "") or gcp.get("region", "")
        return {**{key: value for key, value in data.items() if key not in keys},
                "gke": {**gke, "location": location, "project": gcp.get("project", "")}}

    @field_validator("data_storage_parameters", mode="before")
    @classmethod
    def _parameters(cls, value: Any, info) -> Any:
        parameters = json_value(value, "a map of strings") or {}
        if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
            raise Invalid(parameters, "a map of strings (StorageClass parameters)")
        if parameters and not info.data.get("data_provisioner"):
            raise Invalid(parameters, "no value without cluster.dataProvisioner")
        return parameters


class GkeCluster(ClusterSettings):
    """The program creates a GKE cluster; its user nodes are always dedicated, its data class always declared."""

    type: Literal["gke"]
    dedicated_user_nodes: Annotated[bool, BeforeValidator(lambda value: True)] = True  # not read: always on

    @model_validator(mode="after")
    def _placed(self) -> "GkeCluster":
        if not self.gke.project:
            raise Invalid(None, "the GCP project of the cluster: pulumi config set gcp:project ID", key="gcp:project")
        if not self.gke.location:
            raise Invalid(None, _LOCATION, key="cluster.location")
        for field, value in (("dataStorageClass", self.data_storage_class), ("dataProvisioner", self.data_provisioner)):
            if value:
                raise Invalid(value, "no value on gke, where the program declares a Retain class of pd-balanced disks",
                              field=field)
        return self


class ExistingCluster(ClusterSettings):
    """The program deploys onto an existing cluster, whose data volumes need a Retain class."""

    type: Literal["existing"] = "existing"

    @field_validator("gke")
    @classmethod
    def _checked_only(cls, gke: Optional[GkeSettings]) -> None:
        return None

    @model_validator(mode="after")
    def _retained(self) -> "ExistingCluster":
        if self.data_storage_class and self.data_provisioner:
            raise Invalid(self.data_provisioner, "no value with cluster.dataStorageClass: set one of the two",
                          field="dataProvisioner")
        if not (self.data_storage_class or self.data_provisioner):
            raise Invalid(None, "an existing StorageClass with reclaimPolicy Retain, or set cluster.dataProvisioner for "
                          "the program to declare one: the volumes that hold data must outlive their claims",
                          field="dataStorageClass")
        return self


Cluster = modes("type", "existing", GkeCluster, ExistingCluster)
