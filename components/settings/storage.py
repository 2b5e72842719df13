"""The NFS storage of the folders (an NFS server pod, an existing server, or Filestore), its datasets and materials."""

import re
import urllib.parse
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BeforeValidator, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from components.settings.types import (DNS_NAME, FOLDER, GCP_ZONE, Boolean, Hidden, Invalid, Item, Matching, Model,
                                       OneOf, Quantity, RequiredStr, Secret, Str, WholeNumber, is_https_url, json_value,
                                       quantity_bytes, text)

# Smallest capacity of each Filestore tier.
FILESTORE_MINIMUM = {"BASIC_HDD": "1Ti", "BASIC_SSD": "2560Gi", "ZONAL": "1Ti", "REGIONAL": "1Ti", "ENTERPRISE": "1Ti"}
# Tiers whose instance lives in one zone; the others span a region.
FILESTORE_ZONAL_TIERS = ("BASIC_HDD", "BASIC_SSD", "ZONAL")
# Cloud Storage's longest bucket name.
BUCKET_NAME_MAXIMUM = 63
_FOLDER_NAME = "a folder name of letters, digits, '.', '_' or '-'"
_FOLDERS = ("public_folder", "shared_folder", "home_folder", "groups_folder")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# git's own rules for a ref name (git check-ref-format): no control character, space, ~ ^ : ? * [ \\, "..", "@{" or
# "//", no part that starts with "." or ends with ".lock", not "@", not ending in "/" or ".".
_GIT_REF_NAME = re.compile(r"^(?!.*(\.\.|@\{|//|/\.|\.lock/|\.lock$|[/.]$))(?!@$)(?![./-])[^\x00-\x20\x7f~^:?*\[\\]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SCP_LIKE_URL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[^\s-][^\s]*$")
# A known_hosts line (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT): [@marker] hosts key-type base64-key [comment].
_KNOWN_HOST = re.compile(r"^(@\S+\s+)?\S+\s+(ssh-|ecdsa-|sk-)\S+\s+[A-Za-z0-9+/]+=*(\s.*)?$")


class Dataset(Item):
    url: RequiredStr
    sha256: Str = ""  # "" when not given
    path: Str = ""  # subfolder of the public folder, "" for its top

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not (is_https_url(url) or re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,220}/.+[^/]$", url)):
            raise Invalid(url, "an https:// URL or a gs://bucket/object URI of a file")
        return url

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, sha256: str) -> str:
        if sha256 and not _SHA256.match(sha256):
            raise Invalid(sha256, "64 lowercase hexadecimal digits")
        return sha256

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if path.strip("/") and not all(FOLDER.match(part) for part in path.strip("/").split("/")):
            raise Invalid(path, "a relative subfolder of the public folder, without '..'")
        return path.strip("/")

    @model_validator(mode="after")
    def _file_name(self) -> "Dataset":
        if not FOLDER.match(self.file_name):
            raise Invalid(self.url, "a URL that ends in a file name of letters, digits, '.', '_' or '-'", field="url")
        return self

    @property
    def file_name(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlparse(self.url).path.rsplit("/", 1)[-1])

    @property
    def target(self) -> str:
        """Where the file lands, relative to the public folder."""
        return f"{self.path}/{self.file_name}" if self.path else self.file_name


def _ssh_url(url: str) -> bool:
    """git@host:path, or ssh://[user@]host[:port]/path."""
    if _SCP_LIKE_URL.match(url):
        return True
    parsed = urllib.parse.urlparse(url)
    return (parsed.scheme == "ssh" and bool(parsed.hostname) and not parsed.hostname.startswith("-")
            and len(parsed.path) > 1 and not re.search(r"\s", url))


def _string(value: Any) -> Any:
    if not isinstance(value, str):
        raise Invalid(value, "a str")
    return value


class Material(Item):
    """A git repository checked out into a folder of the public folder."""

    model_config = ConfigDict(validate_default=False)

    url: RequiredStr  # https:// or ssh (git@host:path, ssh://host/path)
    ref: RequiredStr  # a tag, or a full commit id (40 hexadecimal digits): pinned, never a branch
    folder: RequiredStr  # its folder in the public folder
    deploy_key: Annotated[Secret, BeforeValidator(_string)] = None  # ssh: the repository's private deploy key
    known_hosts: Str = ""  # ssh: known_hosts lines of the host; "" trusts the host's key at first use in each run

    @model_validator(mode="after")
    def _pinned(self) -> "Material":
        if not (self.ssh or is_https_url(self.url)):
            raise Invalid(self.url, "an https:// URL, or an ssh URL (git@host:path or ssh://host/path), of a git "
                          "repository", field="url")
        if not self.ssh and (urllib.parse.urlparse(self.url).username or urllib.parse.urlparse(self.url).password):
            raise Invalid(Hidden("[credentials, not shown]"), "an https:// URL without credentials (a private "
                          "repository: its ssh URL and a deployKey)", field="url")
        ref = self.ref
        if re.fullmatch(r"[0-9a-fA-F]{7,40}", ref) and re.search(r"[a-fA-F]", ref) and not _COMMIT.match(ref):
            raise Invalid(ref, "a full commit id of 40 lowercase hexadecimal digits, or a tag", field="ref")
        if ref == "HEAD" or ref.startswith("refs/") or not _GIT_REF_NAME.match(ref):
            raise Invalid(ref, "a tag name or a full commit id (40 hexadecimal digits): pinned, never a branch",
                          field="ref")
        if not FOLDER.match(self.folder):
            raise Invalid(self.folder, _FOLDER_NAME, field="folder")
        return self

    @property
    def ssh(self) -> bool:
        return _ssh_url(self.url)


class StorageSettings(Model):
    mode: OneOf("in-cluster", "external", "filestore") = Field("in-cluster", description=(
        "in-cluster: an NFS server pod; external: an existing NFS server; filestore: Google Filestore (gke)."))
    size: Quantity("1Gi") = Field("100Gi", description=(
        "Capacity of the NFS storage (data disk, PVC or Filestore instance), a Kubernetes quantity."))
    disk_type: OneOf("pd-standard", "pd-balanced", "pd-ssd") = Field(
        "pd-balanced", description="gke in-cluster: type of the data disk: pd-standard, pd-balanced, pd-ssd.")
    snapshot_retention_days: WholeNumber(1, 3650) = Field(
        14, description="gke in-cluster: days a daily snapshot of the data disk is kept.")
    # gke in-cluster and zonal Filestore: where the disk or instance is; "" otherwise
    zone: Matching(GCP_ZONE, "a GCP zone such as europe-west3-a") = Field("", description=(
        "gke: zone of the data disk (in-cluster) or of a zonal Filestore instance. Empty: the cluster's zone, or "
        "gcp:zone for a regional cluster."))
    storage_class: Matching(DNS_NAME, "a StorageClass name") = Field("", description=(
        "existing in-cluster: StorageClass of the NFS server's data volume, which must have reclaimPolicy Retain. "
        "Empty: the data class (cluster.dataStorageClass or the class declared for cluster.dataProvisioner)."))
    host_path: Matching(lambda path: path.startswith("/"), "an absolute path on the node") = Field(
        "", description="existing in-cluster: serve a directory of one node instead of a PVC (needs storage.node).")
    node: Matching(DNS_NAME, "a node name") = Field(
        "", description="existing in-cluster with storage.hostPath: the node whose directory holds the data.")
    server: Matching(DNS_NAME, "an IP address or host name of the NFS server") = Field(
        "", description="external: address (IP or host name) of the NFS server.")
    path: Matching(lambda path: path.startswith("/"), "an absolute export path such as /exports/training") = Field(
        "", description="external: exported path on the NFS server, e.g. /exports/training.")
    filestore_tier: OneOf(*FILESTORE_MINIMUM) = Field("BASIC_HDD", description=(
        "filestore: tier: BASIC_HDD (min 1Ti), BASIC_SSD (min 2.5Ti), ZONAL, REGIONAL or ENTERPRISE (min 1Ti)."))
    public_folder: Matching(FOLDER, _FOLDER_NAME) = Field(
        "public", description="Folder on the NFS export for read-only training content and datasets.")
    shared_folder: Matching(FOLDER, _FOLDER_NAME) = Field(
        "shared", description="Folder on the NFS export that every trainee reads and writes.")
    home_folder: Matching(FOLDER, _FOLDER_NAME) = Field(
        "home", description="Folder on the NFS export that holds one personal folder per trainee.")
    groups_folder: Matching(FOLDER, _FOLDER_NAME) = Field(  # holds one folder per team of hub.groups
        "groups", description="Folder on the NFS export that holds one folder per team of hub.groups.")
    on_delete: OneOf("retain", "archive", expected="retain or archive (personal folders are never deleted)") = Field(
        "retain", description="What happens to a personal folder when its volume is deleted: retain or archive. Never "
                              "delete.")
    archives: Boolean = Field(False, description=(
        "gke: a Cloud Storage bucket, <gcp:project>-<cluster.name>-archives, for ./tools/archive, which packs every "
        "personal folder at the end of a course (README, \"Course end\"). Existing clusters need none: their archives "
        "go to archives/ on the NFS export."))
    archive_retention_days: WholeNumber(1, 3650) = Field(90, description=(  # how long the bucket keeps an archive
        "gke with storage.archives: days an archive stays in the bucket; none can be deleted or replaced before (the "
        "bucket's retention policy), and Cloud Storage deletes it the day after."))
    datasets: tuple[Dataset, ...] = ()
    materials: tuple[Material, ...] = ()
    # Derived from the other settings, not set.
    archive_bucket: str = Field("", exclude=True)  # gke with storage.archives: the bucket of ./tools/archive
    group_folders: tuple[str, ...] = Field((), exclude=True)  # the teams' folders in groups_folder (hub.groups)
    trainer_view: bool = Field(False, exclude=True)  # hub.trainerView: the personal and team folders for admins

    @field_validator(*_FOLDERS)
    @classmethod
    def _distinct(cls, folder: str, info) -> str:
        if not folder or folder in [info.data.get(name) for name in _FOLDERS if name != info.field_name]:
            raise Invalid(folder, "a folder name, different from the other folders")
        return folder

    @field_validator("datasets", mode="before")
    @classmethod
    def _datasets(cls, value: Any) -> Any:
        listed = json_value(value) or []
        if not isinstance(listed, (list, tuple)):
            raise Invalid(listed, "a list of datasets, each {url, sha256, path}")
        return listed

    @field_validator("datasets")
    @classmethod
    def _distinct_targets(cls, datasets: tuple[Dataset, ...]) -> tuple[Dataset, ...]:
        for index, dataset in enumerate(datasets):
            if any(other.target == dataset.target for other in datasets[:index]):
                raise Invalid(dataset.url, f"a file name not already used in {dataset.path or 'the public folder'}",
                              key=f"storage.datasets[{index}].url")
        return datasets

    @field_validator("materials", mode="before")
    @classmethod
    def _materials(cls, value: Any, info) -> Any:
        listed = json_value(value) or []
        if not isinstance(listed, (list, tuple)):
            raise Invalid(listed, "a list of git repositories, each {url, ref, folder, deployKey, knownHosts}")
        secret = info.context["secret"] if info.context else None
        return [{**item, "deployKey": secret(f"storage.materials[{index}].deployKey", item["deployKey"])}
                if secret and isinstance(item, dict) and isinstance(item.get("deployKey"), str) else item
                for index, item in enumerate(listed)]

    @field_validator("materials")
    @classmethod
    def _checked_out(cls, materials: tuple[Material, ...], info) -> tuple[Material, ...]:
        datasets = info.data.get("datasets", ())
        for index, material in enumerate(materials):
            at = f"storage.materials[{index}]"
            if any(other.folder == material.folder for other in materials[:index]):
                raise Invalid(material.folder, "a folder no other material uses", key=f"{at}.folder")
            clash = next((d.target for d in datasets if d.target.split("/")[0] == material.folder), None)
            if clash:
                raise Invalid(material.folder, f"a folder that storage.datasets does not use ({clash} is there)",
                              key=f"{at}.folder")
            for name, value in (("deployKey", material.deploy_key), ("knownHosts", material.known_hosts)):
                if value and not material.ssh:
                    raise Invalid(value, f"no {name} for an https:// URL (it is for ssh URLs)", key=f"{at}.{name}")
            if material.ssh and material.deploy_key is None:
                raise Invalid(None, "the repository's deploy key for the ssh URL: pulumi config set --stack "
                              f"{info.context['stack']} --path --secret '{at}.deployKey' < KEY_FILE", key=f"{at}.deployKey")
            lines = [line.strip() for line in material.known_hosts.splitlines() if line.strip()]
            if not all(_KNOWN_HOST.match(line) for line in lines):
                raise Invalid(material.known_hosts, "known_hosts lines of the host, HOST KEY-TYPE KEY, such as ssh-keyscan "
                              "prints", key=f"{at}.knownHosts")
        return tuple(material.model_copy(update={"known_hosts": material.known_hosts.strip()}) for material in materials)

    zonal: ClassVar[bool] = False  # whether the mode's data lives in one zone: a disk, or a zonal Filestore instance

    @model_validator(mode="after")
    def _placed(self, info) -> "StorageSettings":
        if info.context is None:
            return self
        cluster, hub = info.context["cluster"], info.context["hub"]
        self._mode_rules(cluster)
        if self.host_path and not self.node:
            raise Invalid(None, "the node whose directory storage.hostPath names", field="node")
        if self.archives and cluster.gke is None:
            raise Invalid(True, "false on an existing cluster, where ./tools/archive keeps the archives in archives/ on "
                          "the NFS export", field="archives")
        bucket = f"{cluster.gke.project}-{cluster.name}-archives" if self.archives else ""
        if len(bucket) > BUCKET_NAME_MAXIMUM:
            raise Invalid(cluster.name, f"a shorter name with storage.archives: the bucket {bucket} has more than "
                          f"{BUCKET_NAME_MAXIMUM} characters", key="cluster.name")
        return self.model_copy(update={
            "zone": self._data_zone(cluster.gke, info.context["gcp"]), "archive_bucket": bucket,
            "group_folders": tuple(group.folder for group in hub.groups), "trainer_view": hub.trainer_view})

    def _mode_rules(self, cluster: Any) -> None:
        pass

    def _data_zone(self, gke: Any, gcp: dict) -> str:
        """The zone of the data disk or zonal Filestore instance: the zonal cluster's zone, or for a regional
        cluster storage.zone (else gcp:zone) within its region."""
        if gke is None or not self.zonal:
            return ""
        if not gke.regional:
            if self.zone and self.zone != gke.location:
                raise Invalid(self.zone, f"the zonal cluster's zone {gke.location} (or unset)", field="zone")
            return gke.location
        default_zone = gcp.get("zone", "")
        zone = self.zone or (default_zone if default_zone.startswith(gke.location + "-") else "")
        if not zone:
            raise Invalid(None, f"a zone of the region {gke.location} for the data of the regional cluster", field="zone")
        if not zone.startswith(gke.location + "-"):
            raise Invalid(zone, f"a zone of the cluster's region {gke.location}", field="zone")
        return zone


class InClusterStorage(StorageSettings):
    mode: Literal["in-cluster"] = "in-cluster"
    zonal: ClassVar[bool] = True


class ExternalStorage(StorageSettings):
    mode: Literal["external"]

    def _mode_rules(self, cluster: Any) -> None:
        if not self.server:
            raise Invalid(None, "the address of the NFS server when storage.mode is external", field="server")
        if not self.path:
            raise Invalid(None, "the exported path when storage.mode is external", field="path")


class FilestoreStorage(StorageSettings):
    mode: Literal["filestore"]

    @property
    def zonal(self) -> bool:
        return self.filestore_tier in FILESTORE_ZONAL_TIERS

    def _mode_rules(self, cluster: Any) -> None:
        if cluster.type != "gke":
            raise Invalid(self.mode, "in-cluster or external: Filestore needs cluster.type gke", field="mode")
        if quantity_bytes(self.size) < quantity_bytes(FILESTORE_MINIMUM[self.filestore_tier]):
            raise Invalid(self.size, f"at least {FILESTORE_MINIMUM[self.filestore_tier]} for Filestore tier "
                          f"{self.filestore_tier}", field="size")


def _mode(data: Any) -> str:
    return (text(data.get("mode")) if "mode" in data else "in-cluster") if isinstance(data, dict) else data.mode


Storage = Annotated[Union[Annotated[InClusterStorage, Tag("in-cluster")], Annotated[ExternalStorage, Tag("external")],
                          Annotated[FilestoreStorage, Tag("filestore")]], Discriminator(_mode)]
