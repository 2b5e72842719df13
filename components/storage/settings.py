"""The NFS storage of the folders (an NFS server pod, an existing server, or Filestore), its datasets and materials."""

import re
import urllib.parse
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from components.settings.types import (DNS_NAME, FOLDER, GCP_ZONE, Boolean, Check, Hidden, Invalid, Item, Matching,
                                       Model, OneOf, Quantity, RequiredStr, Secret, Str, WholeNumber, is_https_url,
                                       listed, modes, quantity_bytes, setting)

# Smallest capacity of each Filestore tier.
FILESTORE_MINIMUM = {"BASIC_HDD": "1Ti", "BASIC_SSD": "2560Gi", "ZONAL": "1Ti", "REGIONAL": "1Ti", "ENTERPRISE": "1Ti"}
# Tiers whose instance lives in one zone; the others span a region.
FILESTORE_ZONAL_TIERS = ("BASIC_HDD", "BASIC_SSD", "ZONAL")
BUCKET_NAME_MAXIMUM = 63  # Cloud Storage's longest bucket name
_FOLDER_NAME = "a folder name of letters, digits, '.', '_' or '-'"
_FOLDERS = ("public_folder", "shared_folder", "home_folder", "groups_folder")
# git's own rules for a ref name (git check-ref-format): no control character, space, ~ ^ : ? * [ \\, "..", "@{" or
# "//", no part that starts with "." or ends with ".lock", not "@", not ending in "/" or ".".
_GIT_REF_NAME = re.compile(r"^(?!.*(\.\.|@\{|//|/\.|\.lock/|\.lock$|[/.]$))(?!@$)(?![./-])[^\x00-\x20\x7f~^:?*\[\\]+$")
_SCP_LIKE_URL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[^\s-][^\s]*$")
# A known_hosts line (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT): [@marker] hosts key-type base64-key [comment].
_KNOWN_HOST = re.compile(r"^(@\S+\s+)?\S+\s+(ssh-|ecdsa-|sk-)\S+\s+[A-Za-z0-9+/]+=*(\s.*)?$")


def _file_name(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlparse(url).path.rsplit("/", 1)[-1])


def _abbreviated_commit(ref: str) -> bool:
    """A commit id given in part, or in capitals, which git would take for a tag name."""
    return bool(re.fullmatch(r"[0-9a-fA-F]{7,40}", ref) and re.search(r"[a-fA-F]", ref)
                and not re.match(r"^[0-9a-f]{40}$", ref))


class Dataset(Item):
    url: Annotated[RequiredStr,
                   Check(lambda url: is_https_url(url) or re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,220}/.+[^/]$", url),
                         "an https:// URL or a gs://bucket/object URI of a file"),
                   Check(lambda url: FOLDER.match(_file_name(url)),
                         "a URL that ends in a file name of letters, digits, '.', '_' or '-'")]
    sha256: Annotated[Str, Check(re.compile(r"^([0-9a-f]{64})?$"), "64 lowercase hexadecimal digits")] = ""
    path: Annotated[Str, Check(lambda path: not path.strip("/") or all(FOLDER.match(part) for part in
                                                                      path.strip("/").split("/")),
                               "a relative subfolder of the public folder, without '..'"),
                    AfterValidator(lambda path: path.strip("/"))] = ""  # "" for the public folder's top

    file_name = property(lambda self: _file_name(self.url))

    @property
    def target(self) -> str:
        """Where the file lands, relative to the public folder."""
        return f"{self.path}/{self.file_name}" if self.path else self.file_name


def _a_str(value: Any) -> Any:
    if not isinstance(value, str):
        raise Invalid(value, "a str")
    return value


def _ssh_url(url: str) -> bool:
    """git@host:path, or ssh://[user@]host[:port]/path."""
    parsed = urllib.parse.urlparse(url)
    return bool(_SCP_LIKE_URL.match(url)) or (parsed.scheme == "ssh" and bool(parsed.hostname) and not
                                              parsed.hostname.startswith("-") and len(parsed.path) > 1
                                              and not re.search(r"\s", url))


def _without_credentials(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if not _ssh_url(url) and (parsed.username or parsed.password):
        raise Invalid(Hidden("[credentials, not shown]"), "an https:// URL without credentials (a private "
                      "repository: its ssh URL and a deployKey)")
    return url


class Material(Item):
    """A git repository checked out into a folder of the public folder."""

    url: Annotated[RequiredStr, Check(lambda url: _ssh_url(url) or is_https_url(url), "an https:// URL, or an ssh URL "
                                      "(git@host:path or ssh://host/path), of a git repository"),
                   AfterValidator(_without_credentials)]
    ref: Annotated[RequiredStr,
                   Check(lambda ref: not _abbreviated_commit(ref),
                         "a full commit id of 40 lowercase hexadecimal digits, or a tag"),
                   Check(lambda ref: ref != "HEAD" and not ref.startswith("refs/") and _GIT_REF_NAME.match(ref),
                         "a tag name or a full commit id (40 hexadecimal digits): pinned, never a branch")]
    folder: Annotated[RequiredStr, Check(FOLDER, _FOLDER_NAME)]  # its folder in the public folder
    deploy_key: Annotated[Secret, BeforeValidator(_a_str)] = None  # ssh: the repository's private deploy key
    known_hosts: Str = ""  # ssh: known_hosts lines of the host; "" trusts the host's key at first use in each run

    ssh = property(lambda self: _ssh_url(self.url))


class StorageSettings(Model):
    mode: OneOf("in-cluster", "external", "filestore") = setting(
        "in-cluster", "in-cluster: an NFS server pod; external: an existing NFS server; filestore: Google Filestore (gke).")
    size: Quantity("1Gi") = setting(
        "100Gi", "Capacity of the NFS storage (data disk, PVC or Filestore instance), a Kubernetes quantity.")
    disk_type: OneOf("pd-standard", "pd-balanced", "pd-ssd") = setting(
        "pd-balanced", "gke in-cluster: type of the data disk: pd-standard, pd-balanced, pd-ssd.")
    snapshot_retention_days: WholeNumber(1, 3650) = setting(14, "gke in-cluster: days a daily snapshot of the data disk is kept.")
    # gke in-cluster and zonal Filestore: where the disk or instance is; "" otherwise
    zone: Matching(GCP_ZONE, "a GCP zone such as europe-west3-a") = setting(
        "", "gke: zone of the data disk (in-cluster) or of a zonal Filestore instance. Empty: the cluster's zone, or "
        "gcp:zone for a regional cluster.")
    storage_class: Matching(DNS_NAME, "a StorageClass name") = setting(
        "", "existing in-cluster: StorageClass of the NFS server's data volume, which must have reclaimPolicy Retain. "
        "Empty: the data class (cluster.dataStorageClass or the class declared for cluster.dataProvisioner).")
    host_path: Matching(lambda path: path.startswith("/"), "an absolute path on the node") = setting(
        "", "existing in-cluster: serve a directory of one node instead of a PVC (needs storage.node).")
    node: Matching(DNS_NAME, "a node name") = setting(
        "", "existing in-cluster with storage.hostPath: the node whose directory holds the data.")
    server: Matching(DNS_NAME, "an IP address or host name of the NFS server") = setting(
        "", "external: address (IP or host name) of the NFS server.")
    path: Matching(lambda path: path.startswith("/"), "an absolute export path such as /exports/training") = setting(
        "", "external: exported path on the NFS server, e.g. /exports/training.")
    filestore_tier: OneOf(*FILESTORE_MINIMUM) = setting(
        "BASIC_HDD", "filestore: tier: BASIC_HDD (min 1Ti), BASIC_SSD (min 2.5Ti), ZONAL, REGIONAL or ENTERPRISE (min 1Ti).")
    public_folder: Matching(FOLDER, _FOLDER_NAME) = setting(
        "public", "Folder on the NFS export for read-only training content and datasets.")
    shared_folder: Matching(FOLDER, _FOLDER_NAME) = setting("shared", "Folder on the NFS export that every trainee reads and writes.")
    home_folder: Matching(FOLDER, _FOLDER_NAME) = setting(
        "home", "Folder on the NFS export that holds one personal folder per trainee.")
    groups_folder: Matching(FOLDER, _FOLDER_NAME) = setting(
        "groups", "Folder on the NFS export that holds one folder per team of hub.groups.")
    on_delete: OneOf("retain", "archive", expected="retain or archive (personal folders are never deleted)") = setting(
        "retain", "What happens to a personal folder when its volume is deleted: retain or archive. Never delete.")
    nfs_csi_driver: OneOf("install", "existing") = setting(
        "install", "install: the program installs the NFS CSI driver nfs.csi.k8s.io of the personal folders (chart "
        "csi-driver-nfs, release csi-driver-nfs in kube-system). existing: the cluster runs that driver already, "
        "version 4.5.0 or later (README, \"Storage\"), and the program declares only its StorageClass. gke: install.")
    archives: Boolean = setting(False, "gke: a Cloud Storage bucket, <gcp:project>-<cluster.name>-archives, for "
                                "./tools/archive, which packs every personal folder at the end of a course (README, "
                                "\"Course end\"). Existing clusters need none: their archives go to archives/ on the NFS export.")
    archive_retention_days: WholeNumber(1, 3650) = setting(90, "gke with storage.archives: days an archive stays in the "
                                                           "bucket; none can be deleted or replaced before (the bucket's "
                                                           "retention policy), and Cloud Storage deletes it the day after.")
    datasets: tuple[Dataset, ...] = ()
    materials: tuple[Material, ...] = ()
    # Derived from other settings: ./tools/archive's bucket, the teams' folders (hub.groups), hub.trainerView.
    archive_bucket: str = Field("", exclude=True)
    group_folders: tuple[str, ...] = Field((), exclude=True)
    trainer_view: bool = Field(False, exclude=True)
    zonal: ClassVar[bool] = False  # whether the mode's data lives in one zone: a disk, or a zonal Filestore instance

    @field_validator(*_FOLDERS)
    @classmethod
    def _distinct(cls, folder: str, info) -> str:
        if not folder or folder in [info.data.get(name) for name in _FOLDERS if name != info.field_name]:
            raise Invalid(folder, "a folder name, different from the other folders")
        return folder

    @field_validator("datasets", mode="before")
    @classmethod
    def _datasets(cls, value: Any) -> Any:
        return listed(value, "a list of datasets, each {url, sha256, path}")

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
        items, secret = listed(value, "a list of git repositories, each {url, ref, folder, deployKey, knownHosts}"), \
            info.context and info.context["secret"]
        return [{**item, "deployKey": secret(f"storage.materials[{index}].deployKey", item["deployKey"])}
                if secret and isinstance(item, dict) and isinstance(item.get("deployKey"), str) else item
                for index, item in enumerate(items)]

    @field_validator("materials")
    @classmethod
    def _checked_out(cls, materials: tuple[Material, ...], info) -> tuple[Material, ...]:
        for index, material in enumerate(materials):
            at = f"storage.materials[{index}]"
            if any(other.folder == material.folder for other in materials[:index]):
                raise Invalid(material.folder, "a folder no other material uses", key=f"{at}.folder")
            clash = next((d.target for d in info.data.get("datasets", ()) if d.target.split("/")[0] == material.folder), None)
            if clash:
                raise Invalid(material.folder, f"a folder that storage.datasets does not use ({clash} is there)",
                              key=f"{at}.folder")
            for name, value in (("deployKey", material.deploy_key), ("knownHosts", material.known_hosts)):
                if value and not material.ssh:
                    raise Invalid(value, f"no {name} for an https:// URL (it is for ssh URLs)", key=f"{at}.{name}")
            if material.ssh and material.deploy_key is None:
                raise Invalid(None, "the repository's deploy key for the ssh URL: pulumi config set --stack "
                              f"{info.context['stack']} --path --secret '{at}.deployKey' < KEY_FILE", key=f"{at}.deployKey")
            if not all(_KNOWN_HOST.match(line.strip()) for line in material.known_hosts.splitlines() if line.strip()):
                raise Invalid(material.known_hosts, "known_hosts lines of the host, HOST KEY-TYPE KEY, such as ssh-keyscan "
                              "prints", key=f"{at}.knownHosts")
        return tuple(material.model_copy(update={"known_hosts": material.known_hosts.strip()}) for material in materials)

    @model_validator(mode="after")
    def _placed(self, info) -> "StorageSettings":
        """The mode's rules, and what storage derives from the cluster and the hub."""
        if info.context is None:
            return self
        cluster, hub = info.context["cluster"], info.context["hub"]
        self._mode_rules(cluster)
        if self.nfs_csi_driver == "existing" and cluster.type == "gke":
            raise Invalid(self.nfs_csi_driver, "install on gke: the cluster the program creates has no NFS CSI driver",
                          field="nfsCsiDriver")
        if self.host_path and not self.node:
            raise Invalid(None, "the node whose directory storage.hostPath names", field="node")
        if self.archives and cluster.gke is None:
            raise Invalid(True, "false on an existing cluster, where ./tools/archive keeps the archives in archives/ on "
                          "the NFS export", field="archives")
        bucket = f"{cluster.gke.project}-{cluster.name}-archives" if self.archives else ""
        if len(bucket) > BUCKET_NAME_MAXIMUM:
            raise Invalid(cluster.name, f"a shorter name with storage.archives: the bucket {bucket} has more than "
                          f"{BUCKET_NAME_MAXIMUM} characters", key="cluster.name")
        return self.model_copy(update={"zone": self._data_zone(cluster.gke, info.context["gcp"]), "archive_bucket": bucket,
                                       "group_folders": tuple(g.folder for g in hub.groups), "trainer_view": hub.trainer_view})

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
        zone = self.zone or (gcp["zone"] if gcp.get("zone", "").startswith(gke.location + "-") else "")
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
    zonal = property(lambda self: self.filestore_tier in FILESTORE_ZONAL_TIERS)

    def _mode_rules(self, cluster: Any) -> None:
        if cluster.type != "gke":
            raise Invalid(self.mode, "in-cluster or external: Filestore needs cluster.type gke", field="mode")
        minimum = FILESTORE_MINIMUM[self.filestore_tier]
        if quantity_bytes(self.size) < quantity_bytes(minimum):
            raise Invalid(self.size, f"at least {minimum} for Filestore tier {self.filestore_tier}", field="size")


Storage = modes("mode", "in-cluster", InClusterStorage, ExternalStorage, FilestoreStorage)
