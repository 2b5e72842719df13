"""Every plain Kubernetes object the program declares, in every storage mode and with every service, is
valid for Kubernetes 1.31, 1.33 and 1.35 (strict: unknown fields are errors)."""

import kubernetes_validate
import pytest

from tests.conftest import run_preview
from tests.kubernetes_objects import KUBERNETES_VERSIONS, manifest

VORA = {"services.vora.enabled": True, "services.vora.chart": "vora", "services.vora.version": "2.3.41",
        "services.vora.repository": "https://charts.example.com/sap", "services.vora.registry": "registry.example.com",
        "services.vora.registryUsername": "pull", "services.vora.registryPassword": {"secure": "x"}}
VARIANTS = {
    "gke": ("gke", {}),
    "gke-filestore-vora": ("gke", {"storage.mode": "filestore", "storage.size": "1Ti", **VORA}),
    "baremetal": ("baremetal", {}),
    "baremetal-in-cluster": ("baremetal", {"storage.mode": "in-cluster", "storage.storageClass": "local-path"}),
    "baremetal-host-path": ("baremetal", {"storage.mode": "in-cluster", "storage.hostPath": "/srv/nfs",
                                          "storage.node": "node-1", "cluster.dedicatedUserNodes": True}),
}
# Built-in API groups; custom resources (Strimzi) are checked against their CRDs in test_kafka.py.
BUILT_IN = ("core/", "apps/", "batch/", "networking.k8s.io/", "storage.k8s.io/", "rbac.authorization.k8s.io/",
            "policy/")


@pytest.fixture(scope="module")
def objects() -> dict[str, list]:
    declared = {}
    for variant, (stack, overrides) in VARIANTS.items():
        preview = run_preview(stack, overrides)
        declared[variant] = [r for r in preview.resources
                             if r.type.startswith("kubernetes:") and r.type.split(":")[1].startswith(BUILT_IN)]
    return declared


def test_every_variant_declares_plain_objects(objects):
    for variant, declared in objects.items():
        kinds = {r.type.split(":")[2] for r in declared}
        assert {"Namespace", "StorageClass"} <= kinds, variant


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_declared_objects_are_valid_kubernetes(objects, variant, version):
    for resource in objects[variant]:
        kubernetes_validate.validate(manifest(resource), version, strict=True)
