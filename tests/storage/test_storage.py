"""Storage in every mode under the mock runtime: the NFS export, its data safety, and how the endpoint flows
(by value and by dependency) into the volumes release, the provisioner and the Jobs."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from components.storage.datasets import CLOUD_CLI_IMAGE
from components.storage.folders import BUSYBOX_IMAGE, NOTEBOOK_GID, NOTEBOOK_UID
from components.storage.materials import CLONE_MATERIALS_SCRIPT
from components.storage.nfs_server import GANESHA_IMAGE, NFS_SERVER_CAPABILITIES
from components.storage.provisioner import CSI_DRIVER_NFS_REPOSITORY
from tests.conftest import config_error, run_preview
from tests.kubernetes_objects import manifest as secret_manifest
from tests.storage.test_nfs_volumes_chart import render
from tools import helm as helm_tool
from tools.preview import Preview, Registration, mock_cluster_ip

KUBERNETES_VERSIONS = ("1.31.0", "1.33.0", "1.35.0")
NFS_CLUSTER_IP = mock_cluster_ip("nfs-server")  # what the mocks give the Service named nfs-server
IRIS_SHA256 = "6f608b71a7317216319b4d27b4d9bc84e6abd734eda7872b71a458569e2656c0"
EXTERNAL = {"storage.mode": "external", "storage.server": "192.168.10.20", "storage.path": "/srv/nfs/ml-training"}
FILESTORE = {"storage.mode": "filestore", "storage.size": "1Ti"}
STORAGE_CLASS_ON_EXISTING = {"storage.mode": "in-cluster", "storage.server": None, "storage.path": None}
HOST_PATH_ON_EXISTING = {**STORAGE_CLASS_ON_EXISTING, "storage.hostPath": "/data/nfs", "storage.node": "worker-1"}

# Every stack and mode: (stack, overrides).
MODES = {
    "gke in-cluster": ("gke", {}),
    "gke filestore": ("gke", FILESTORE),
    "existing external": ("baremetal", {}),
    "existing in-cluster on a StorageClass": ("baremetal", STORAGE_CLASS_ON_EXISTING),
    "existing in-cluster on a node's directory": ("baremetal", HOST_PATH_ON_EXISTING),
}


@pytest.fixture(scope="module")
def previews(gke, baremetal) -> dict[str, Preview]:
    cached = {"gke in-cluster": gke, "existing external": baremetal}
    return {mode: cached.get(mode) or run_preview(stack, overrides) for mode, (stack, overrides) in MODES.items()}


# --- helpers -------------------------------------------------------------------------------------------


def storage_resources(preview: Preview) -> list[Registration]:
    """Everything under the NfsStorage component, at any depth."""
    [root] = preview.of_type("mltraining:storage:NfsStorage")
    parents = {r.urn: r.parent for r in preview.resources}

    def under_root(urn: str) -> bool:
        while urn in parents:
            urn = parents[urn]
            if urn == root.urn:
                return True
        return False

    return [r for r in preview.resources if under_root(r.urn)]


def kubernetes_objects(preview: Preview) -> list[Registration]:
    return [r for r in storage_resources(preview)
            if r.type.startswith("kubernetes:") and r.type != "kubernetes:helm.sh/v3:Release"]


def manifest(resource: Registration) -> dict:
    _, group_version, kind = resource.type.split(":")
    return {**resource.inputs, "apiVersion": group_version.removeprefix("core/"), "kind": kind}


def only(preview: Preview, type_: str) -> Registration:
    [found] = [r for r in storage_resources(preview) if r.type == type_]
    return found


def none_of(preview: Preview, type_: str) -> bool:
    return not [r for r in storage_resources(preview) if r.type == type_]


def pod(workload: Registration) -> dict:
    return workload.inputs["spec"]["template"]["spec"]


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def storage_class(preview: Preview) -> Registration:
    return only(preview, "kubernetes:storage.k8s.io/v1:StorageClass")


def volumes_release(preview: Preview) -> Registration:
    return preview.releases()["nfs-volumes"]


def provisioner_release(preview: Preview) -> Registration:
    return preview.releases()["csi-driver-nfs"]


def folders_job(preview: Preview) -> Registration:
    [job] = [r for r in storage_resources(preview) if r.name == "storage-folders-job"]
    return job


def datasets_job(preview: Preview) -> Registration:
    [job] = [r for r in storage_resources(preview) if r.name == "storage-datasets-job"]
    return job


# --- gke: the in-cluster server on a protected, snapshotted disk ------------------------------------------


def test_gke_data_disk_is_protected_retained_and_sized_from_config(gke):
    disk = only(gke, "gcp:compute/disk:Disk")
    assert disk.protect and disk.retainOnDelete
    assert disk.inputs["type"] == "pd-balanced"
    assert disk.inputs["size"] == 100
    assert disk.inputs["zone"] == "europe-west3-a"
    assert disk.inputs["name"] == "ml-training-nfs-data"
    bigger = run_preview("gke", {"storage.size": "1.5Ti", "storage.diskType": "pd-ssd"})
    disk = only(bigger, "gcp:compute/disk:Disk")
    assert (disk.inputs["size"], disk.inputs["type"]) == (1536, "pd-ssd")


def test_gke_daily_snapshot_schedule_is_attached_to_the_disk(gke):
    disk = only(gke, "gcp:compute/disk:Disk")
    policy = only(gke, "gcp:compute/resourcePolicy:ResourcePolicy")
    attachment = only(gke, "gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment")
    schedule = policy.inputs["snapshotSchedulePolicy"]
    assert schedule["schedule"] == {"dailySchedule": {"daysInCycle": 1, "startTime": "03:00"}}
    assert schedule["retentionPolicy"] == {"maxRetentionDays": 14, "onSourceDiskDelete": "KEEP_AUTO_SNAPSHOTS"}
    assert policy.inputs["region"] == "europe-west3"
    assert attachment.inputs["disk"] == disk.inputs["name"]
    assert attachment.inputs["name"] == policy.inputs["name"]
    assert attachment.inputs["zone"] == disk.inputs["zone"]
    assert gke.depends_on(attachment, disk) and gke.depends_on(attachment, policy)


def test_snapshot_retention_from_config():
    preview = run_preview("gke", {"storage.snapshotRetentionDays": 30})
    policy = only(preview, "gcp:compute/resourcePolicy:ResourcePolicy")
    assert policy.inputs["snapshotSchedulePolicy"]["retentionPolicy"]["maxRetentionDays"] == 30


def test_gke_disk_reaches_the_server_through_a_retained_volume_bound_to_its_claim(gke):
    disk = only(gke, "gcp:compute/disk:Disk")
    volume = only(gke, "kubernetes:core/v1:PersistentVolume")
    claim = only(gke, "kubernetes:core/v1:PersistentVolumeClaim")
    server = only(gke, "kubernetes:apps/v1:Deployment")
    spec = volume.inputs["spec"]
    assert spec["csi"] == {"driver": "pd.csi.storage.gke.io", "fsType": "ext4",
                           "volumeHandle": "projects/ml-training-demo/zones/europe-west3-a/disks/ml-training-nfs-data"}
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["claimRef"] == {"namespace": "jupyterhub", "name": "nfs-data"}
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "topology.gke.io/zone", "operator": "In", "values": ["europe-west3-a"]}]
    assert claim.inputs["spec"]["volumeName"] == volume.inputs["metadata"]["name"] == "jupyterhub-nfs-data"
    # Both of the data class, which allows expansion, so that the claim can grow (below).
    assert claim.inputs["spec"]["storageClassName"] == spec["storageClassName"] == "jupyterhub-data"
    assert {"name": "export", "persistentVolumeClaim": {"claimName": "nfs-data"}} in pod(server)["volumes"]
    assert gke.depends_on(volume, disk) and gke.depends_on(claim, volume) and gke.depends_on(server, claim)


def test_a_larger_storage_size_grows_the_disk_and_its_filesystem_through_the_claim(gke):
    """The claim's request is the one size Pulumi changes: Kubernetes' resizer then grows the disk (PD CSI's
    ControllerExpandVolume) and the filesystem on the node; Pulumi leaves the disk's size and the volume's
    capacity to it, and the public and shared claims never change (tests/storage/test_nfs_volumes_chart.py)."""
    grown = run_preview("gke", {"storage.size": "200Gi"})
    claim = only(grown, "kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.inputs["spec"]["resources"]["requests"] == {"storage": "200Gi"}
    assert only(grown, "gcp:compute/disk:Disk").ignoreChanges == ["size"]
    assert only(grown, "kubernetes:core/v1:PersistentVolume").ignoreChanges == ["spec.capacity"]
    [data_class] = [c for c in grown.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
                    if c.inputs["metadata"]["name"] == claim.inputs["spec"]["storageClassName"]]
    assert data_class.inputs["allowVolumeExpansion"] is True
    before, after = volumes_release(gke).inputs["values"], volumes_release(grown).inputs["values"]
    assert {k: v for k, v in after.items() if k not in ("public", "shared")} == \
        {k: v for k, v in before.items() if k not in ("public", "shared")}


def test_regional_cluster_puts_the_disk_in_the_configured_zone():
    preview = run_preview("gke", {"cluster.location": "europe-west3", "storage.zone": "europe-west3-b"})
    disk = only(preview, "gcp:compute/disk:Disk")
    assert disk.inputs["zone"] == "europe-west3-b"
    volume = only(preview, "kubernetes:core/v1:PersistentVolume")
    assert volume.inputs["spec"]["csi"]["volumeHandle"].startswith("projects/ml-training-demo/zones/europe-west3-b/")


# --- the NFS server ---------------------------------------------------------------------------------------


def test_nfs_server_is_one_ganesha_replica_on_the_core_pool_with_probes(gke):
    server = only(gke, "kubernetes:apps/v1:Deployment")
    spec = server.inputs["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert pod(server)["nodeSelector"] == {"hub.jupyter.org/node-purpose": "core"}
    [container] = pod(server)["containers"]
    assert container["image"] == GANESHA_IMAGE == "registry.k8s.io/sig-storage/nfs-provisioner:v4.0.8"
    assert "exec ganesha.nfsd " in container["command"][-1]  # the whole start sequence: tests/storage/test_nfs_server.py
    # User space: root with the capabilities Ganesha uses (tests/test_security.py proves each), not a privileged pod.
    assert container["securityContext"] == {"runAsUser": 0, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"], "add": list(NFS_SERVER_CAPABILITIES)}}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": 2049}
    assert {"name": "export", "mountPath": "/export"} in container["volumeMounts"]


def test_ganesha_exports_the_data_volume_without_root_squash(gke):
    config = only(gke, "kubernetes:core/v1:ConfigMap")
    text = config.inputs["data"]["ganesha.conf"]
    for line in ("Path = /export;", "Pseudo = /export;", "Squash = No_Root_Squash;", "Protocols = 4;", "Name = VFS;"):
        assert line in text
    server = only(gke, "kubernetes:apps/v1:Deployment")
    assert {"name": "config", "configMap": {"name": "nfs-server"}} in pod(server)["volumes"]


def test_nfs_server_prepares_the_folders_before_it_starts(gke):
    server = only(gke, "kubernetes:apps/v1:Deployment")
    [init] = pod(server)["initContainers"]
    assert init["image"] == BUSYBOX_IMAGE
    assert env(init) == {"EXPORT_DIR": "/export", "PUBLIC_FOLDER": "public", "SHARED_FOLDER": "shared",
                         "HOME_FOLDER": "home", "USER_UID": "1000", "USER_GID": "100"}
    assert init["volumeMounts"] == [{"name": "export", "mountPath": "/export"}]


def test_folder_names_from_config():
    preview = run_preview("gke", {"storage.publicFolder": "course", "storage.sharedFolder": "team",
                                  "storage.homeFolder": "users"})
    [init] = pod(only(preview, "kubernetes:apps/v1:Deployment"))["initContainers"]
    assert (env(init)["PUBLIC_FOLDER"], env(init)["SHARED_FOLDER"], env(init)["HOME_FOLDER"]) == ("course", "team", "users")
    values = volumes_release(preview).inputs["values"]
    assert (values["public"]["folder"], values["shared"]["folder"]) == ("course", "team")
    assert storage_class(preview).inputs["parameters"]["share"] == "/export/users"


def test_nfs_service_is_cluster_ip_on_the_nfs_port(gke):
    service = only(gke, "kubernetes:core/v1:Service")
    server = only(gke, "kubernetes:apps/v1:Deployment")
    spec = service.inputs["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "nfs", "port": 2049, "targetPort": 2049, "protocol": "TCP"}]
    assert spec["selector"] == server.inputs["spec"]["template"]["metadata"]["labels"]


def test_endpoint_is_the_services_cluster_ip(gke):
    # The kubelet mounts from the node, where cluster DNS names do not resolve: an IP, from the Service.
    assert gke.outputs["nfsServer"] == NFS_CLUSTER_IP
    assert gke.outputs["nfsPath"] == "/export"


def test_existing_cluster_server_on_a_claim_of_the_configured_class(previews):
    preview = previews["existing in-cluster on a StorageClass"]
    assert none_of(preview, "gcp:compute/disk:Disk")
    claim = only(preview, "kubernetes:core/v1:PersistentVolumeClaim")
    # The claim itself is never deleted by Pulumi; deleting the namespace deletes it, so its class is the Retain
    # class of the data volumes.
    assert claim.protect and claim.retainOnDelete
    assert claim.inputs["spec"]["storageClassName"] == "jupyterhub-data"
    assert claim.inputs["spec"]["resources"]["requests"] == {"storage": "500Gi"}
    server = only(preview, "kubernetes:apps/v1:Deployment")
    assert {"name": "export", "persistentVolumeClaim": {"claimName": "nfs-data"}} in pod(server)["volumes"]
    assert pod(server)["nodeSelector"] == {}
    assert preview.outputs["nfsServer"] == NFS_CLUSTER_IP

    named = run_preview("baremetal", {**STORAGE_CLASS_ON_EXISTING, "storage.storageClass": "longhorn"})
    assert only(named, "kubernetes:core/v1:PersistentVolumeClaim").inputs["spec"]["storageClassName"] == "longhorn"


def test_existing_cluster_server_on_a_nodes_directory(previews):
    preview = previews["existing in-cluster on a node's directory"]
    assert none_of(preview, "kubernetes:core/v1:PersistentVolumeClaim")
    server = only(preview, "kubernetes:apps/v1:Deployment")
    assert {"name": "export", "hostPath": {"path": "/data/nfs", "type": "DirectoryOrCreate"}} in pod(server)["volumes"]
    assert pod(server)["nodeSelector"] == {"kubernetes.io/hostname": "worker-1"}


# --- external and Filestore ---------------------------------------------------------------------------------


def test_external_mode_deploys_no_server_and_prepares_the_folders_with_a_job(previews):
    preview = previews["existing external"]
    assert none_of(preview, "kubernetes:apps/v1:Deployment") and none_of(preview, "kubernetes:core/v1:Service")
    assert preview.outputs["nfsServer"] == "192.168.10.20"
    assert preview.outputs["nfsPath"] == "/srv/nfs/ml-training"
    job = folders_job(preview)
    spec = pod(job)
    assert spec["restartPolicy"] == "Never"
    assert spec["volumes"] == [{"name": "export", "nfs": {"server": "192.168.10.20", "path": "/srv/nfs/ml-training"}}]
    [container] = spec["containers"]
    assert container["image"] == BUSYBOX_IMAGE
    assert env(container)["EXPORT_DIR"] == "/export"


def test_folder_job_is_a_new_job_when_the_folders_change(previews):
    renamed = run_preview("baremetal", {"storage.sharedFolder": "team"})
    assert folders_job(renamed).inputs["metadata"]["name"] != folders_job(previews["existing external"]).inputs["metadata"]["name"]
    again = run_preview("baremetal")
    assert folders_job(again).inputs["metadata"]["name"] == folders_job(previews["existing external"]).inputs["metadata"]["name"]


def test_filestore_instance_is_protected_on_the_clusters_network(previews):
    preview = previews["gke filestore"]
    instance = only(preview, "gcp:filestore/instance:Instance")
    assert instance.protect and instance.retainOnDelete
    assert instance.inputs["deletionProtectionEnabled"] is True
    assert instance.inputs["tier"] == "BASIC_HDD"
    assert instance.inputs["location"] == "europe-west3-a"
    assert instance.inputs["fileShares"] == {"name": "training", "capacityGb": 1024}
    assert instance.inputs["networks"] == [{"network": "default", "modes": ["MODE_IPV4"]}]
    assert none_of(preview, "gcp:compute/disk:Disk") and none_of(preview, "kubernetes:apps/v1:Deployment")
    # The endpoint is the instance's address and file share (the mocks give the instance 10.0.0.2).
    assert preview.outputs["nfsServer"] == "10.0.0.2"
    assert preview.outputs["nfsPath"] == "/training"
    job = folders_job(preview)
    assert pod(job)["volumes"] == [{"name": "export", "nfs": {"server": "10.0.0.2", "path": "/training"}}]
    assert preview.depends_on(job, instance)


def test_regional_filestore_tier_lives_in_the_region():
    preview = run_preview("gke", {**FILESTORE, "storage.filestoreTier": "REGIONAL"})
    assert only(preview, "gcp:filestore/instance:Instance").inputs["location"] == "europe-west3"


def test_filestore_network_from_config():
    preview = run_preview("gke", {**FILESTORE, "cluster.network": "training-vpc"})
    assert only(preview, "gcp:filestore/instance:Instance").inputs["networks"][0]["network"] == "training-vpc"


# --- the endpoint flows into the volumes, the provisioner and the Jobs ----------------------------------------

# What each mode's endpoint waits for: the server's Service (and Deployment), or the folder Job.
SERVER = ("storage-server-service", "storage-server-deployment")
ENDPOINT_SOURCES = {
    "gke in-cluster": SERVER,
    "gke filestore": ("storage-filestore-instance", "storage-folders-job"),
    "existing external": ("storage-folders-job",),
    "existing in-cluster on a StorageClass": SERVER,
    "existing in-cluster on a node's directory": SERVER,
}
MOUNT_OPTIONS = {"gke in-cluster": ["nfsvers=4.1"], "gke filestore": ["nfsvers=3", "nolock"], "existing external": [],
                 "existing in-cluster on a StorageClass": ["nfsvers=4.1"],
                 "existing in-cluster on a node's directory": ["nfsvers=4.1"]}


@pytest.mark.parametrize("mode", MODES)
def test_endpoint_flows_into_the_volumes_release_by_value_and_dependency(previews, mode):
    preview = previews[mode]
    release = volumes_release(preview)
    values = release.inputs["values"]
    assert (values["server"], values["path"]) == (preview.outputs["nfsServer"], preview.outputs["nfsPath"])
    assert values["mountOptions"] == MOUNT_OPTIONS[mode]
    assert values["public"] == {"folder": "public", "claimName": "nfs-public", "size": values["public"]["size"]}
    assert values["shared"]["claimName"] == "nfs-shared"
    assert release.inputs["chart"] == "./charts/nfs-volumes"
    assert release.inputs["namespace"] == "jupyterhub"
    for source in ENDPOINT_SOURCES[mode]:
        assert preview.depends_on(release, preview.named(source)), source


@pytest.mark.parametrize("mode", MODES)
def test_endpoint_flows_into_the_provisioners_storage_class(previews, mode):
    preview = previews[mode]
    cls = storage_class(preview)
    parameters = cls.inputs["parameters"]
    assert parameters["server"] == preview.outputs["nfsServer"]
    assert parameters["share"] == preview.outputs["nfsPath"].rstrip("/") + "/home"
    assert cls.inputs["mountOptions"] == MOUNT_OPTIONS[mode]
    for source in ENDPOINT_SOURCES[mode]:
        assert preview.depends_on(cls, preview.named(source)), source
    # The class is usable once the driver is installed.
    assert preview.depends_on(cls, provisioner_release(preview))


def test_gke_volumes_release_and_provisioner_wait_for_the_nfs_service(gke):
    service = only(gke, "kubernetes:core/v1:Service")
    assert service.urn in volumes_release(gke).dependsOn
    assert service.urn in storage_class(gke).dependsOn
    release = provisioner_release(gke)
    assert service.urn in release.dependsOn
    assert release.inputs["description"] == f"NFS CSI driver for the personal folders on {gke.outputs['nfsServer']}:/export"


def test_exported_storage_class_is_the_declared_class(gke):
    assert gke.outputs["personalStorageClass"] == storage_class(gke).inputs["metadata"]["name"] == "jupyterhub-personal"


# --- personal folders: the provisioner ----------------------------------------------------------------------


def test_provisioner_is_csi_driver_nfs_pinned_in_kube_system(gke):
    release = provisioner_release(gke)
    assert release.inputs["chart"] == "csi-driver-nfs"
    assert release.inputs["version"] == "4.13.4"
    assert release.inputs["repositoryOpts"] == {"repo": CSI_DRIVER_NFS_REPOSITORY}
    assert CSI_DRIVER_NFS_REPOSITORY == "https://kubernetes-csi.github.io/csi-driver-nfs"
    assert release.inputs["namespace"] == "kube-system"
    values = release.inputs["values"]
    assert values["controller"]["nodeSelector"] == {"hub.jupyter.org/node-purpose": "core"}
    assert values["controller"]["defaultOnDeletePolicy"] == "retain"
    assert values["storageClass"] == {"create": False}


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_a_trainees_server_starts_without_re_owning_its_folders(previews, stack, tmp_path):
    """The user pod runs with fsGroup 100 (z2jh 4.4.0 values.yaml, singleuser.fsGid), and the kubelet re-owns a
    volume to the fsGroup only where the volume's plugin manages ownership. None of the three folders does:
    - personal: a CSI volume of nfs.csi.k8s.io, whose CSIDriver the chart registers with fsGroupPolicy File
      only when feature.enableFSGroupPolicy is true (templates/csi-nfs-driverinfo.yaml of 4.13.4); unset,
      Kubernetes' default ReadWriteOnceWithFSType applies only to volumes with an fsType, which these lack;
    - public and shared: in-tree nfs volumes, whose ownership the kubelet never manages."""
    preview = previews["gke in-cluster" if stack == "gke" else "existing external"]
    hub = preview.releases()["jupyterhub"].inputs["values"]
    assert "fsGid" not in hub["singleuser"]  # the chart's default, 100, stays
    assert provisioner_release(preview).inputs["values"]["feature"]["enableFSGroupPolicy"] is False
    personal = storage_class(preview).inputs
    assert personal["provisioner"] == "nfs.csi.k8s.io" and "fsType" not in personal.get("parameters", {})
    assert personal["parameters"]["mountPermissions"] == "0777"  # uid 1000 writes, whoever owns the folder
    # The chart as the program installs it, rendered by Helm: public and shared are in-tree nfs volumes.
    rendered = render(helm_tool.ensure(), volumes_release(preview).inputs["values"], tmp_path)
    persistent = [o["spec"] for o in rendered if o["kind"] == "PersistentVolume"]
    assert len(persistent) == 2 and all("nfs" in spec and "csi" not in spec for spec in persistent)


def test_personal_folders_are_retained_under_home_and_writable(gke):
    cls = storage_class(gke)
    assert cls.inputs["provisioner"] == "nfs.csi.k8s.io"
    assert cls.inputs["reclaimPolicy"] == "Retain"
    parameters = cls.inputs["parameters"]
    assert parameters["share"] == "/export/home"
    assert parameters["subDir"] == "${pvc.metadata.name}"
    assert parameters["onDelete"] == "retain"
    assert parameters["mountPermissions"] == "0777"


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_on_delete_archive_or_retain_from_config(stack):
    archive = run_preview(stack, {"storage.onDelete": "archive"})
    assert storage_class(archive).inputs["parameters"]["onDelete"] == "archive"
    retain = run_preview(stack, {"storage.onDelete": "retain"})
    assert storage_class(retain).inputs["parameters"]["onDelete"] == "retain"


def test_baremetal_stack_archives_personal_folders(baremetal):
    assert storage_class(baremetal).inputs["parameters"]["onDelete"] == "archive"


def test_on_a_cluster_that_runs_the_nfs_driver_only_the_storage_class_is_declared(baremetal):
    """An existing cluster may run csi-driver-nfs already, installed as upstream's README does: the release
    csi-driver-nfs in kube-system. Installing it again would fail the first pulumi up (the release name is taken,
    and the CSIDriver nfs.csi.k8s.io belongs to the other release)."""
    existing = run_preview("baremetal", {"storage.nfsCsiDriver": "existing"})
    assert "csi-driver-nfs" not in existing.releases()
    assert "csi-driver-nfs" in baremetal.releases()
    cls = storage_class(existing)
    assert cls.inputs == storage_class(baremetal).inputs
    installed = storage_class(baremetal).dependsOn
    assert provisioner_release(baremetal).urn in installed
    assert cls.dependsOn == [urn for urn in installed if urn != provisioner_release(baremetal).urn]
    assert existing.outputs["personalStorageClass"] == baremetal.outputs["personalStorageClass"]


def test_the_cluster_the_program_creates_gets_the_nfs_driver():
    assert config_error("gke", {"storage.nfsCsiDriver": "existing"}) == (
        'Invalid configuration mltraining:storage.nfsCsiDriver = "existing": expected install on gke: the cluster the '
        "program creates has no NFS CSI driver")
    assert config_error("baremetal", {"storage.nfsCsiDriver": "yes"}) == (
        'Invalid configuration mltraining:storage.nfsCsiDriver = "yes": expected one of install, existing')


# --- datasets -----------------------------------------------------------------------------------------------


def test_gke_stack_seeds_the_iris_dataset_with_its_checksum(gke):
    job = datasets_job(gke)
    [container] = pod(job)["containers"]
    assert container["image"] == CLOUD_CLI_IMAGE
    assert env(container)["DATASETS"] == (
        f"https://archive.ics.uci.edu/ml/machine-learning-databases/iris/iris.data {IRIS_SHA256} datasets/iris/iris.data")
    assert env(container)["PUBLIC_DIR"] == "/export/public"
    assert "CLOUDSDK_AUTH_DISABLE_CREDENTIALS" not in env(container)  # Workload Identity on gke
    assert pod(job)["volumes"] == [{"name": "export", "nfs": {"server": NFS_CLUSTER_IP, "path": "/export"}}]
    assert pod(job)["serviceAccountName"] == "dataset-seeder"
    # Mounting before the server (and its folders) is ready would fail: the Job waits for it.
    assert gke.depends_on(job, only(gke, "kubernetes:apps/v1:Deployment"))


DATASETS = [
    {"url": "gs://training-data/reviews/reviews.csv"},
    {"url": "https://example.org/data/flights-2024.parquet", "sha256": "a" * 64, "path": "flights"},
]


def test_dataset_list_with_gs_and_https_sources_on_an_external_export(previews):
    preview = run_preview("baremetal", {"storage.datasets": DATASETS})
    job = datasets_job(preview)
    [container] = pod(job)["containers"]
    assert env(container)["DATASETS"].splitlines() == [
        "gs://training-data/reviews/reviews.csv - reviews.csv",
        f"https://example.org/data/flights-2024.parquet {'a' * 64} flights/flights-2024.parquet",
    ]
    # Outside GKE there are no Google credentials: public gs:// objects are read anonymously.
    assert env(container)["CLOUDSDK_AUTH_DISABLE_CREDENTIALS"] == "true"
    assert preview.depends_on(job, folders_job(preview))


def test_no_dataset_job_without_datasets(previews):
    assert not [r for r in storage_resources(previews["existing external"]) if r.name == "storage-datasets-job"]


def test_a_changed_dataset_list_is_a_new_job(gke):
    same = run_preview("gke")
    changed = run_preview("gke", {"storage.datasets": [{"url": "https://example.org/other.csv"}]})
    name = datasets_job(gke).inputs["metadata"]["name"]
    assert name.startswith("seed-datasets-")
    assert datasets_job(same).inputs["metadata"]["name"] == name
    assert datasets_job(changed).inputs["metadata"]["name"] != name


# --- course material from git --------------------------------------------------------------------------------

GITHUB_HOST_KEY = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
EXERCISES_COMMIT = "3f2c9a1e" * 5
MATERIALS = [
    {"url": "https://github.com/example/ml-course.git", "ref": "v2026.1", "folder": "course"},
    {"url": "git@github.com:example/exercises.git", "ref": EXERCISES_COMMIT, "folder": "exercises",
     "deployKey": {"secure": "v1:encrypted-deploy-key"}, "knownHosts": GITHUB_HOST_KEY},
    {"url": "ssh://git@git.example.org:2222/training/solutions.git", "ref": "week-3", "folder": "solutions",
     "deployKey": {"secure": "v1:encrypted-deploy-key-2"}},
]


@pytest.fixture(scope="module")
def with_materials() -> Preview:
    return run_preview("baremetal", {"storage.materials": MATERIALS})


def materials_job(preview: Preview) -> Registration:
    [job] = [r for r in storage_resources(preview) if r.name == "storage-materials-job"]
    return job


def materials_keys(preview: Preview) -> list[Registration]:
    return [r for r in storage_resources(preview) if r.name == "storage-materials-keys"]


def test_materials_job_checks_out_each_repository_into_the_public_folder(with_materials):
    job = materials_job(with_materials)
    assert job.inputs["metadata"]["name"].startswith("clone-materials-")
    [container] = pod(job)["containers"]
    assert container["image"] == CLOUD_CLI_IMAGE
    assert container["command"] == ["sh", "-c", CLONE_MATERIALS_SCRIPT]
    assert env(container)["MATERIALS"].splitlines() == [
        "https://github.com/example/ml-course.git v2026.1 course - -",
        f"git@github.com:example/exercises.git {EXERCISES_COMMIT} exercises /etc/material-keys/exercises.key "
        "/etc/material-keys/exercises.known_hosts",
        "ssh://git@git.example.org:2222/training/solutions.git week-3 solutions /etc/material-keys/solutions.key -",
    ]
    assert env(container)["PUBLIC_DIR"] == "/export/public"
    # The whole export, read-write, as the dataset Job mounts it; the script touches only its own folders.
    assert pod(job)["volumes"][0] == {"name": "export", "nfs": {"server": "192.168.10.20", "path": "/srv/nfs/ml-training"}}
    assert container["volumeMounts"] == [{"name": "export", "mountPath": "/export"},
                                         {"name": "keys", "mountPath": "/etc/material-keys", "readOnly": True}]
    # As the notebook user, who owns public/ (prepare-folders.sh), with nothing more.
    assert pod(job)["securityContext"] == {"runAsUser": NOTEBOOK_UID, "runAsGroup": NOTEBOOK_GID, "runAsNonRoot": True,
                                           "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert pod(job)["automountServiceAccountToken"] is False
    assert with_materials.depends_on(job, folders_job(with_materials))


def test_deploy_keys_are_a_secret_mounted_only_into_the_job(with_materials):
    [secret] = materials_keys(with_materials)
    job = materials_job(with_materials)
    assert secret.inputs["metadata"]["name"] == "material-deploy-keys"
    assert secret.inputs["stringData"] == "[secret]"  # the keys' files, and the known hosts with them
    assert pod(job)["volumes"][1] == {"name": "keys", "secret": {"secretName": "material-deploy-keys",
                                                                 "defaultMode": 0o444}}
    assert with_materials.depends_on(job, secret)
    assert "[secret]" not in json.dumps(job.inputs)  # nothing secret in the Job's spec itself
    # The value the program read for each key (the preview's stand-in for the decrypted text) is nowhere in clear.
    declared = json.dumps([r.inputs for r in with_materials.resources])
    assert "secure-value-of" not in declared and "encrypted-deploy-key" not in declared
    # Only the Job mounts it.
    mounting = [r.name for r in with_materials.resources if "material-deploy-keys" in json.dumps(r.inputs)
                and r.type != "kubernetes:core/v1:Secret"]
    assert mounting == ["storage-materials-job"]


def test_public_repositories_need_no_secret():
    preview = run_preview("baremetal", {"storage.materials": MATERIALS[:1]})
    assert materials_keys(preview) == []
    assert [v["name"] for v in pod(materials_job(preview))["volumes"]] == ["export"]


def test_on_gke_the_job_waits_for_the_nfs_server(gke):
    preview = run_preview("gke", {"storage.materials": MATERIALS[:1]})
    job = materials_job(preview)
    assert pod(job)["volumes"] == [{"name": "export", "nfs": {"server": NFS_CLUSTER_IP, "path": "/export"}}]
    assert preview.depends_on(job, only(preview, "kubernetes:apps/v1:Deployment"))
    assert pod(job)["nodeSelector"] == pod(datasets_job(gke))["nodeSelector"]


def test_the_offline_preview_shows_the_job(with_materials):
    from tools.preview import tree

    job = materials_job(with_materials).inputs["metadata"]["name"]
    lines = [line.strip() for line in tree(with_materials).splitlines()]
    assert "mltraining:storage:CourseMaterials  storage-materials" in lines
    assert f"kubernetes:batch/v1:Job  storage-materials-job  (name={job})" in lines
    assert "kubernetes:core/v1:Secret  storage-materials-keys  (name=material-deploy-keys)" in lines


def test_no_materials_job_without_materials(gke, baremetal):
    for preview in (gke, baremetal):
        assert not [r for r in storage_resources(preview) if "materials" in r.name]


def test_a_changed_material_list_is_a_new_job(with_materials):
    name = materials_job(with_materials).inputs["metadata"]["name"]
    same = run_preview("baremetal", {"storage.materials": MATERIALS})
    assert materials_job(same).inputs["metadata"]["name"] == name
    for changed in ({**MATERIALS[0], "ref": "v2026.2"}, {**MATERIALS[0], "folder": "course-2026"},
                    {**MATERIALS[1], "knownHosts": GITHUB_HOST_KEY.replace("github.com", "github.com,140.82.121.3")}):
        materials = [changed if m["folder"] == changed["folder"] or m["url"] == changed["url"] else m for m in MATERIALS]
        preview = run_preview("baremetal", {"storage.materials": materials})
        assert materials_job(preview).inputs["metadata"]["name"] != name, changed


COURSE = MATERIALS[0]
EXERCISES = {key: value for key, value in MATERIALS[1].items() if key != "knownHosts"}
NO_KEY = {key: value for key, value in EXERCISES.items() if key != "deployKey"}


@pytest.mark.parametrize(("materials", "message"), [
    ({"course": COURSE},
     'Invalid configuration mltraining:storage.materials = {"course": {"url": "https://github.com/example/ml-course.git", '
     '"ref": "v2026.1", "folder": "course"}}: expected a list of git repositories, each {url, ref, folder, deployKey, '
     "knownHosts}"),
    ([{**COURSE, "url": "ftp://example.org/course.git"}],
     'Invalid configuration mltraining:storage.materials[0].url = "ftp://example.org/course.git": expected an https:// '
     "URL, or an ssh URL (git@host:path or ssh://host/path), of a git repository"),
    ([{**COURSE, "url": "ssh://git@github.com"}],
     'Invalid configuration mltraining:storage.materials[0].url = "ssh://git@github.com": expected an https:// URL, or '
     "an ssh URL (git@host:path or ssh://host/path), of a git repository"),
    ([{**COURSE, "url": "https://trainer:ghp_token@github.com/example/ml-course.git"}],
     "Invalid configuration mltraining:storage.materials[0].url = [credentials, not shown]: expected an https:// URL "
     "without credentials (a private repository: its ssh URL and a deployKey)"),
    ([{**COURSE, "ref": "refs/heads/main"}],
     'Invalid configuration mltraining:storage.materials[0].ref = "refs/heads/main": expected a tag name or a full '
     "commit id (40 hexadecimal digits): pinned, never a branch"),
    ([{**COURSE, "ref": "HEAD"}],
     'Invalid configuration mltraining:storage.materials[0].ref = "HEAD": expected a tag name or a full commit id (40 '
     "hexadecimal digits): pinned, never a branch"),
    ([{**COURSE, "ref": "v1..2"}],
     'Invalid configuration mltraining:storage.materials[0].ref = "v1..2": expected a tag name or a full commit id (40 '
     "hexadecimal digits): pinned, never a branch"),
    ([{**COURSE, "ref": "3f2c9a1"}],
     'Invalid configuration mltraining:storage.materials[0].ref = "3f2c9a1": expected a full commit id of 40 lowercase '
     "hexadecimal digits, or a tag"),
    ([{**COURSE, "ref": EXERCISES_COMMIT.upper()}],
     f'Invalid configuration mltraining:storage.materials[0].ref = "{EXERCISES_COMMIT.upper()}": expected a full '
     "commit id of 40 lowercase hexadecimal digits, or a tag"),
    ([{key: value for key, value in COURSE.items() if key != "ref"}],
     "Invalid configuration mltraining:storage.materials[0].ref = (unset): expected a value: this field is required"),
    ([{**COURSE, "folder": "../course"}],
     'Invalid configuration mltraining:storage.materials[0].folder = "../course": expected a folder name of letters, '
     "digits, '.', '_' or '-'"),
    ([COURSE, {**COURSE, "url": "https://github.com/example/other.git"}],
     'Invalid configuration mltraining:storage.materials[1].folder = "course": expected a folder no other material uses'),
    # The gke stack copies the iris dataset into public/datasets/iris.
    ([{**COURSE, "folder": "datasets"}],
     'Invalid configuration mltraining:storage.materials[0].folder = "datasets": expected a folder that '
     "storage.datasets does not use (datasets/iris/iris.data is there)"),
    ([{**COURSE, "knownHosts": GITHUB_HOST_KEY}],
     f'Invalid configuration mltraining:storage.materials[0].knownHosts = "{GITHUB_HOST_KEY}": expected no knownHosts '
     "for an https:// URL (it is for ssh URLs)"),
    ([{**EXERCISES, "knownHosts": "github.com"}],
     'Invalid configuration mltraining:storage.materials[0].knownHosts = "github.com": expected known_hosts lines of '
     "the host, HOST KEY-TYPE KEY, such as ssh-keyscan prints"),
    ([NO_KEY],
     "Invalid configuration mltraining:storage.materials[0].deployKey = (unset): expected the repository's deploy key "
     "for the ssh URL: pulumi config set --stack gke --path --secret 'storage.materials[0].deployKey' < KEY_FILE"),
])
def test_bad_material_is_rejected_with_one_line(materials, message):
    assert config_error("gke", {"storage.materials": materials}) == message


PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"


@pytest.mark.parametrize(("materials", "message"), [
    ([{**EXERCISES, "deployKey": PRIVATE_KEY}],
     "Invalid configuration mltraining:storage.materials[0].deployKey = [plaintext, not shown]: expected a secret: "
     "pulumi config set --stack gke --path --secret storage.materials[0].deployKey"),
    ([{**COURSE, "deployKey": {"secure": PRIVATE_KEY}}],
     "Invalid configuration mltraining:storage.materials[0].deployKey = [secret]: expected no deployKey for an https:// "
     "URL (it is for ssh URLs)"),
    ([{**NO_KEY, "deployKye": {"secure": PRIVATE_KEY}}],
     "Invalid configuration mltraining:storage.materials[0].deployKye = [secret]: expected a known field: url, ref, "
     "folder, deployKey, knownHosts (did you mean deployKey?)"),
    # Not text: hidden because the setting is a secret, whatever the stack file marks secure inside it.
    ([{**EXERCISES, "deployKey": {"file": {"secure": PRIVATE_KEY}}}],
     "Invalid configuration mltraining:storage.materials[0].deployKey = [secret]: expected a str"),
], ids=["plaintext", "https", "misspelt", "not-text"])
def test_a_deploy_key_is_never_printed(materials, message):
    assert config_error("gke", {"storage.materials": materials}) == message


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_material_objects_are_valid(with_materials, version):
    objects = [r for r in kubernetes_objects(with_materials) if "materials" in r.name]
    assert len(objects) == 2
    for resource in objects:
        kubernetes_validate.validate(secret_manifest(resource), version, strict=True)


# --- every object valid, every image pinned ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_declared_kubernetes_objects_are_valid(previews, mode, version):
    objects = kubernetes_objects(previews[mode])
    assert objects
    for resource in objects:
        kubernetes_validate.validate(manifest(resource), version, strict=True)


@pytest.mark.parametrize("mode", MODES)
def test_every_kubernetes_object_goes_through_the_clusters_provider(previews, mode):
    preview = previews[mode]
    [provider] = preview.of_type("pulumi:providers:kubernetes")
    for resource in storage_resources(preview):
        if resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn + "::"), resource.name


def test_images_are_pinned_by_exact_tag():
    for image in (GANESHA_IMAGE, BUSYBOX_IMAGE, CLOUD_CLI_IMAGE):
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, image


# --- bad configuration ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, overrides, message", [
    ("gke", {"storage.mode": "filestore", "storage.size": "500Gi"},
     'Invalid configuration mltraining:storage.size = "500Gi": expected at least 1Ti for Filestore tier BASIC_HDD'),
    ("gke", {"storage.mode": "filestore", "storage.filestoreTier": "BASIC_SSD", "storage.size": "2Ti"},
     'Invalid configuration mltraining:storage.size = "2Ti": expected at least 2560Gi for Filestore tier BASIC_SSD'),
    ("baremetal", {"storage.server": None},
     "Invalid configuration mltraining:storage.server = (unset): expected the address of the NFS server when "
     "storage.mode is external"),
    ("baremetal", {"storage.path": None},
     "Invalid configuration mltraining:storage.path = (unset): expected the exported path when storage.mode is external"),
    ("gke", {"storage.size": "-5Gi"},
     'Invalid configuration mltraining:storage.size = "-5Gi": expected a Kubernetes quantity such as 100Gi'),
    ("gke", {"storage.mode": "nfs"},
     'Invalid configuration mltraining:storage.mode = "nfs": expected one of in-cluster, external, filestore'),
    ("baremetal", {"storage.mode": "filestore"},
     'Invalid configuration mltraining:storage.mode = "filestore": expected in-cluster or external: Filestore needs '
     'cluster.type gke'),
    ("gke", {"storage.onDelete": "delete"},
     'Invalid configuration mltraining:storage.onDelete = "delete": expected retain or archive (personal folders are '
     'never deleted)'),
    ("gke", {"cluster.location": "europe-west1", "gcp:zone": None},
     "Invalid configuration mltraining:storage.zone = (unset): expected a zone of the region europe-west1 for the "
     "data of the regional cluster"),
    ("gke", {"cluster.location": "europe-west3", "storage.zone": "europe-west1-b"},
     'Invalid configuration mltraining:storage.zone = "europe-west1-b": expected a zone of the cluster\'s region '
     'europe-west3'),
    ("gke", {"storage.zone": "europe-west3-b"},
     'Invalid configuration mltraining:storage.zone = "europe-west3-b": expected the zonal cluster\'s zone '
     'europe-west3-a (or unset)'),
    ("baremetal", {**STORAGE_CLASS_ON_EXISTING, "storage.hostPath": "/data/nfs"},
     "Invalid configuration mltraining:storage.node = (unset): expected the node whose directory storage.hostPath names"),
    ("gke", {"storage.datasets": [{"url": "https://example.org/data/"}]},
     'Invalid configuration mltraining:storage.datasets[0].url = "https://example.org/data/": expected a URL that '
     "ends in a file name of letters, digits, '.', '_' or '-'"),
    ("gke", {"storage.datasets": [{"url": "https://example.org/a/iris.data"}, {"url": "gs://bucket/b/iris.data"}]},
     'Invalid configuration mltraining:storage.datasets[1].url = "gs://bucket/b/iris.data": expected a file name not '
     'already used in the public folder'),
    ("gke", {"storage.datasets": [{"url": "https://example.org/iris.data", "sha256": "ABC"}]},
     'Invalid configuration mltraining:storage.datasets[0].sha256 = "ABC": expected 64 lowercase hexadecimal digits'),
])
def test_bad_storage_configuration_is_rejected_with_one_line(stack, overrides, message):
    assert config_error(stack, overrides) == message


@pytest.mark.parametrize(("tier", "protocol", "options"), [
    ("BASIC_HDD", "NFS_V3", ["nfsvers=3", "nolock"]),  # no rpc.statd needed on the nodes
    ("BASIC_SSD", "NFS_V3", ["nfsvers=3", "nolock"]),
    ("ZONAL", "NFS_V4_1", ["nfsvers=4.1"]),
    ("REGIONAL", "NFS_V4_1", ["nfsvers=4.1"]),
    ("ENTERPRISE", "NFS_V4_1", ["nfsvers=4.1"]),
])
def test_filestore_serves_and_is_mounted_with_the_protocol_of_its_tier(tier, protocol, options):
    size = {"BASIC_SSD": "2560Gi"}.get(tier, "1Ti")
    preview = run_preview("gke", {**FILESTORE, "storage.filestoreTier": tier, "storage.size": size})
    assert only(preview, "gcp:filestore/instance:Instance").inputs["protocol"] == protocol
    assert volumes_release(preview).inputs["values"]["mountOptions"] == options
    assert storage_class(preview).inputs["mountOptions"] == options
