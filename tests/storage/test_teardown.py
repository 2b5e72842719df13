"""`pulumi destroy` keeps every byte of data: every volume that holds data, in both stacks and every storage
mode, is on a StorageClass with reclaimPolicy Retain, or on a protected cloud resource behind a Retain volume.

`pulumi destroy` deletes the namespace, and Kubernetes deletes every claim in it, protected or not; a volume
survives its claim only when its reclaim policy is Retain."""

from __future__ import annotations

import pytest

from tests.conftest import config_error, run_preview
from tools.preview import HELM_RELEASE, Preview

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
VOLUME = "kubernetes:core/v1:PersistentVolume"

# Every stack and storage mode, and a baremetal stack on a Retain class the cluster already has.
CASES = {
    "gke in-cluster": ("gke", {}),
    "gke filestore": ("gke", {"storage.mode": "filestore", "storage.size": "1Ti"}),
    "baremetal external": ("baremetal", {}),
    "baremetal in-cluster": ("baremetal", {"storage.mode": "in-cluster", "storage.server": None, "storage.path": None}),
    "baremetal existing class": ("baremetal", {"cluster.dataProvisioner": None, "cluster.dataStorageParameters": None,
                                               "cluster.dataStorageClass": "retained-ssd"}),
}
CONFIGURED_CLASSES = {"retained-ssd"}  # classes the README requires to be Retain (cluster.dataStorageClass)


def data_volumes(preview: Preview) -> dict[str, str]:
    """Every volume that holds data, by where it is declared, and the StorageClass or volume it lives on."""
    found = {}
    for claim in preview.of_type(CLAIM):
        spec = claim.inputs["spec"]
        found[f"claim {claim.inputs['metadata']['name']}"] = spec.get("volumeName") or spec.get("storageClassName")
    for workload in preview.of_type("kubernetes:apps/v1:StatefulSet"):
        for template in workload.inputs["spec"].get("volumeClaimTemplates", []):
            name = f"{template['metadata']['name']} of {workload.inputs['metadata']['name']}"
            found[name] = template["spec"].get("storageClassName")
    for pool in preview.of_type("kubernetes:kafka.strimzi.io/v1:KafkaNodePool"):
        storage = pool.inputs["spec"]["storage"]
        assert storage["type"] == "persistent-claim"  # not ephemeral
        found[f"Kafka node pool {pool.inputs['metadata']['name']}"] = storage.get("class")
    hub = preview.releases()["jupyterhub"].inputs["values"]
    found["hub database"] = hub["hub"]["db"]["pvc"].get("storageClassName")
    assert hub["hub"]["db"].get("type", "sqlite-pvc") == "sqlite-pvc"
    found["personal folders"] = hub["singleuser"]["storage"]["dynamic"]["storageClass"]
    return found


def keeper(preview: Preview, storage: str) -> str:
    """What keeps a volume of this StorageClass or PersistentVolume through `pulumi destroy`."""
    classes = {c.inputs["metadata"]["name"]: c for c in preview.of_type(STORAGE_CLASS)}
    volumes = {v.inputs["metadata"]["name"]: v for v in preview.of_type(VOLUME)}
    if storage in classes:
        assert classes[storage].inputs["reclaimPolicy"] == "Retain", storage
        return f"Retain class {storage}"
    if storage in volumes:
        assert volumes[storage].inputs["spec"]["persistentVolumeReclaimPolicy"] == "Retain", storage
        [disk] = preview.of_type("gcp:compute/disk:Disk")
        assert disk.protect and disk.retainOnDelete
        return "Retain volume on a protected disk"
    assert storage in CONFIGURED_CLASSES, f"{storage!r} is neither declared Retain nor a configured Retain class"
    return f"configured class {storage}"


@pytest.mark.parametrize("case", CASES)
def test_every_data_volume_outlives_its_claim(case):
    preview = run_preview(*CASES[case])
    kept = {volume: keeper(preview, storage) for volume, storage in data_volumes(preview).items()}
    assert {"hub database", "personal folders", "data of hdfs-namenode", "data of hdfs-datanode",
            "Kafka node pool nodes"} <= set(kept)
    assert "personal folders" in kept and kept["personal folders"].startswith("Retain class")
    # The export itself: a protected disk or Filestore instance, or a claim of a Retain class, or outside.
    for cloud in preview.of_type("gcp:compute/disk:Disk") + preview.of_type("gcp:filestore/instance:Instance"):
        assert cloud.protect and cloud.retainOnDelete, cloud.name


def test_what_keeps_each_volume_of_the_two_stacks(gke, baremetal):
    """The list the README's teardown section gives."""
    assert {volume: keeper(gke, storage) for volume, storage in data_volumes(gke).items()} == {
        "claim nfs-data": "Retain volume on a protected disk",
        "data of hdfs-namenode": "Retain class jupyterhub-data",
        "data of hdfs-datanode": "Retain class jupyterhub-data",
        "Kafka node pool nodes": "Retain class jupyterhub-data",
        "hub database": "Retain class jupyterhub-data",
        "personal folders": "Retain class jupyterhub-personal",
    }
    assert {volume: keeper(baremetal, storage) for volume, storage in data_volumes(baremetal).items()} == {
        "data of hdfs-namenode": "Retain class jupyterhub-data",
        "data of hdfs-datanode": "Retain class jupyterhub-data",
        "Kafka node pool nodes": "Retain class jupyterhub-data",
        "hub database": "Retain class jupyterhub-data",
        "personal folders": "Retain class jupyterhub-personal",
    }


def test_the_data_class_of_each_stack(gke, baremetal):
    [gke_class] = [c for c in gke.of_type(STORAGE_CLASS) if c.inputs["metadata"]["name"] == "jupyterhub-data"]
    assert gke_class.inputs["provisioner"] == "pd.csi.storage.gke.io"
    assert gke_class.inputs["parameters"] == {"type": "pd-balanced"}
    assert gke_class.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert gke_class.inputs["allowVolumeExpansion"] is True
    [own] = [c for c in baremetal.of_type(STORAGE_CLASS) if c.inputs["metadata"]["name"] == "jupyterhub-data"]
    assert own.inputs["provisioner"] == "driver.longhorn.io"
    assert own.inputs["parameters"] == {"numberOfReplicas": "2"}
    assert own.inputs["reclaimPolicy"] == "Retain"


def test_a_configured_class_is_used_as_it_is():
    preview = run_preview(*CASES["baremetal existing class"])
    assert [c.inputs["metadata"]["name"] for c in preview.of_type(STORAGE_CLASS)] == ["jupyterhub-personal"]
    assert set(data_volumes(preview).values()) == {"retained-ssd", "jupyterhub-personal"}


def test_the_hub_database_and_service_volumes_wait_for_nothing_but_their_class(gke):
    """The data class belongs to the cluster layer, declared before anything that claims a volume from it."""
    [data_class] = [c for c in gke.of_type(STORAGE_CLASS) if c.inputs["metadata"]["name"] == "jupyterhub-data"]
    assert gke.by_urn(data_class.parent).type == "mltraining:cluster:GkeCluster"
    for release in gke.of_type(HELM_RELEASE):
        if release.inputs.get("name") == "jupyterhub":
            assert gke.depends_on(release, data_class)


P = "Invalid configuration mltraining:cluster"


@pytest.mark.parametrize(("stack", "overrides", "message"), [
    ("baremetal", {"cluster.dataProvisioner": None, "cluster.dataStorageParameters": None},
     f"{P}.dataStorageClass = (unset): expected an existing StorageClass with reclaimPolicy Retain, or set "
     "cluster.dataProvisioner for the program to declare one: the volumes that hold data must outlive their claims"),
    ("baremetal", {"cluster.dataStorageClass": "standard"},
     f'{P}.dataProvisioner = "driver.longhorn.io": expected no value with cluster.dataStorageClass: set one of the two'),
    ("baremetal", {"cluster.dataProvisioner": None},
     f'{P}.dataStorageParameters = {{"numberOfReplicas": "2"}}: expected no value without cluster.dataProvisioner'),
    ("baremetal", {"cluster.dataStorageParameters": {"numberOfReplicas": 2}},
     f'{P}.dataStorageParameters = {{"numberOfReplicas": 2}}: expected a map of strings (StorageClass parameters)'),
    ("baremetal", {"cluster.dataProvisioner": "Longhorn Driver"},
     f'{P}.dataProvisioner = "Longhorn Driver": expected a provisioner name such as rancher.io/local-path or '
     "ebs.csi.aws.com"),
    ("gke", {"cluster.dataStorageClass": "standard-rwo"},
     f'{P}.dataStorageClass = "standard-rwo": expected no value on gke, where the program declares a Retain class '
     "of pd-balanced disks"),
], ids=["neither", "both", "parameters-alone", "parameter-not-a-string", "bad-provisioner", "gke"])
def test_the_data_class_settings_are_checked(stack, overrides, message):
    assert config_error(stack, overrides) == message
