"""charts/nfs-volumes with a real helm: strict lint, and rendered objects valid for Kubernetes 1.31-1.35."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from components.storage.volumes import CHART
from tools import helm as helm_tool

KUBERNETES_VERSIONS = ("1.31.0", "1.33.0", "1.35.0")

# Representative values: the in-cluster server, an external server with a deeper path, and Filestore.
VALUES = {
    "in-cluster": {"server": "10.96.155.215", "path": "/export", "mountOptions": ["nfsvers=4.1"],
                   "labels": {"app.kubernetes.io/part-of": "ml-training"}},
    "external": {"server": "nfs.example.internal", "path": "/srv/nfs/ml-training/", "mountOptions": [],
                 "public": {"folder": "course", "claimName": "course-material", "size": "2Ti"},
                 "shared": {"folder": "team_space", "claimName": "team-space", "size": "2Ti"}},
    "filestore": {"server": "10.0.0.2", "path": "/training", "mountOptions": ["nfsvers=3"]},
}


@pytest.fixture(scope="module")
def helm() -> str:
    return str(helm_tool.ensure())


def run_helm(helm: str, *args: str, values: dict | None = None, tmp_path: Path | None = None) -> subprocess.CompletedProcess:
    command = [helm, *args]
    if values is not None:
        values_file = tmp_path / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        command += ["--values", str(values_file)]
    return subprocess.run(command, capture_output=True, text=True)


def render(helm: str, values: dict, tmp_path: Path) -> list[dict]:
    done = run_helm(helm, "template", "volumes", str(CHART), "--namespace", "class-1", values=values, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_lint_strict_with_the_chart_defaults(helm):
    done = run_helm(helm, "lint", "--strict", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("case", sorted(VALUES))
def test_lint_strict_with_representative_values(helm, case, tmp_path):
    done = run_helm(helm, "lint", "--strict", str(CHART), values=VALUES[case], tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("case", sorted(VALUES))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_objects_are_valid_kubernetes(helm, case, version, tmp_path):
    objects = render(helm, VALUES[case], tmp_path)
    assert sorted(o["kind"] for o in objects) == ["PersistentVolume", "PersistentVolume",
                                                   "PersistentVolumeClaim", "PersistentVolumeClaim"]
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_public_is_read_only_and_shared_read_write_both_retained_and_bound(helm, tmp_path):
    objects = by_kind(render(helm, VALUES["in-cluster"], tmp_path))
    public_volume = objects[("PersistentVolume", "class-1-nfs-public")]["spec"]
    shared_volume = objects[("PersistentVolume", "class-1-nfs-shared")]["spec"]
    public_claim = objects[("PersistentVolumeClaim", "nfs-public")]
    shared_claim = objects[("PersistentVolumeClaim", "nfs-shared")]

    assert public_volume["accessModes"] == ["ReadOnlyMany"]
    assert public_volume["nfs"] == {"server": "10.96.155.215", "path": "/export/public", "readOnly": True}
    assert shared_volume["accessModes"] == ["ReadWriteMany"]
    assert shared_volume["nfs"] == {"server": "10.96.155.215", "path": "/export/shared", "readOnly": False}
    for volume in (public_volume, shared_volume):
        assert volume["persistentVolumeReclaimPolicy"] == "Retain"
        assert volume["storageClassName"] == ""
        assert volume["mountOptions"] == ["nfsvers=4.1"]
    # Each volume is reserved for its claim, and each claim names its volume: no other claim can take them.
    assert public_volume["claimRef"] == {"namespace": "class-1", "name": "nfs-public"}
    assert shared_volume["claimRef"] == {"namespace": "class-1", "name": "nfs-shared"}
    assert public_claim["spec"]["volumeName"] == "class-1-nfs-public"
    assert shared_claim["spec"]["volumeName"] == "class-1-nfs-shared"
    assert public_claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert shared_claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert public_claim["metadata"]["namespace"] == shared_claim["metadata"]["namespace"] == "class-1"
    assert public_claim["spec"]["storageClassName"] == ""
    for obj in objects.values():
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ml-training"


def test_folder_names_claim_names_sizes_and_path_from_values(helm, tmp_path):
    objects = by_kind(render(helm, VALUES["external"], tmp_path))
    public_volume = objects[("PersistentVolume", "class-1-course-material")]["spec"]
    shared_volume = objects[("PersistentVolume", "class-1-team-space")]["spec"]
    # A trailing slash of the export path does not double.
    assert public_volume["nfs"]["path"] == "/srv/nfs/ml-training/course"
    assert shared_volume["nfs"]["path"] == "/srv/nfs/ml-training/team_space"
    assert public_volume["capacity"] == {"storage": "2Ti"}
    # The claim asks for a nominal minimum: its size never changes (below).
    assert objects[("PersistentVolumeClaim", "team-space")]["spec"]["resources"]["requests"] == {"storage": "1Mi"}
    # No mount options: the client and the server negotiate.
    assert "mountOptions" not in public_volume


def test_a_larger_export_changes_the_volumes_capacity_and_never_a_claim(helm, tmp_path):
    """Kubernetes refuses to resize a claim without an expandable StorageClass, as these static claims are:
    growing storage.size must leave them as they are."""
    def objects(size: str) -> dict:
        values = {**VALUES["external"], "public": {**VALUES["external"]["public"], "size": size},
                  "shared": {**VALUES["external"]["shared"], "size": size}}
        (tmp_path / size).mkdir()
        return by_kind(render(helm, values, tmp_path / size))

    before, after = objects("500Gi"), objects("2Ti")
    for claim in ("course-material", "team-space"):
        assert before[("PersistentVolumeClaim", claim)] == after[("PersistentVolumeClaim", claim)]
        assert after[("PersistentVolume", f"class-1-{claim}")]["spec"]["capacity"] == {"storage": "2Ti"}


def test_missing_server_is_refused(helm, tmp_path):
    done = run_helm(helm, "template", "volumes", str(CHART), values={"path": "/export"}, tmp_path=tmp_path)
    assert done.returncode != 0
    assert "server: the NFS server's address is required" in done.stderr


@pytest.mark.parametrize("values, field", [
    ({"server": "10.0.0.2", "path": "export"}, "path"),
    ({"server": "10.0.0.2", "path": "/export", "public": {"folder": "../etc", "claimName": "p", "size": "1Gi"}}, "folder"),
    ({"server": "10.0.0.2", "path": "/export", "shared": {"folder": "shared", "claimName": "Shared", "size": "1Gi"}}, "claimName"),
    ({"server": "10.0.0.2", "path": "/export", "shared": {"folder": "shared", "claimName": "s", "size": "-1Gi"}}, "size"),
    ({"server": "10.0.0.2", "path": "/export", "sever": "typo"}, "sever"),
])
def test_schema_rejects_bad_values(helm, values, field, tmp_path):
    done = run_helm(helm, "template", "volumes", str(CHART), values=values, tmp_path=tmp_path)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr
    assert field in done.stderr
