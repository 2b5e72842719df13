"""The teams' folders on the export: prepare-group-folders.sh run for real on a temporary export (as this user, and as
root with exactly its capabilities), and the claims charts/nfs-volumes renders for them and for the trainers' view."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest

from components.storage.folders import (GROUPS_OWNER, NOTEBOOK_GID, NOTEBOOK_UID, PREPARE_GROUP_FOLDERS_CAPABILITIES,
                                PREPARE_GROUP_FOLDERS_SCRIPT)
from components.storage.volumes import CHART
from tests.storage.test_nfs_volumes_chart import KUBERNETES_VERSIONS, VALUES, by_kind, helm, render, run_helm  # noqa: F401
from tests.storage.test_storage_scripts import mode_and_owner, run_script

SCRIPT = "prepare-group-folders.sh"


@pytest.fixture
def groups_env(tmp_path) -> dict[str, str]:
    # The current user stands in for root (the groups folder) and for uid 1000 / gid 100 (the teams' folders).
    me = f"{os.getuid()}:{os.getgid()}"
    (tmp_path / "export").mkdir()
    return {"EXPORT_DIR": str(tmp_path / "export"), "GROUPS_FOLDER": "groups", "GROUPS_OWNER": me,
            "TEAM_FOLDERS": "team-a ml-org-team-b", "USER_UID": str(os.getuid()), "USER_GID": str(os.getgid())}


def test_creates_the_groups_folder_and_one_folder_per_team(groups_env, tmp_path):
    done = run_script(SCRIPT, groups_env)
    assert done.returncode == 0, done.stderr
    groups = tmp_path / "export" / "groups"
    me = (os.getuid(), os.getgid())
    assert mode_and_owner(groups) == ("0o755", *me)
    assert sorted(p.name for p in groups.iterdir()) == ["ml-org-team-b", "team-a"]
    for team in groups.iterdir():
        assert mode_and_owner(team) == ("0o2775", *me)
    assert done.stdout.endswith(f"Prepared 2 team folders in {groups}\n")


def test_again_keeps_content_and_folders_of_teams_no_longer_listed(groups_env, tmp_path):
    assert run_script(SCRIPT, groups_env).returncode == 0
    groups = tmp_path / "export" / "groups"
    (groups / "team-a" / "model.pkl").write_bytes(b"weights")
    before = {p: p.stat() for p in groups.rglob("*")}
    done = run_script(SCRIPT, {**groups_env, "TEAM_FOLDERS": "team-a"})
    assert done.returncode == 0, done.stderr
    after = {p: p.stat() for p in groups.rglob("*")}
    assert after.keys() == before.keys()  # ml-org-team-b stays, with nothing changed
    for path in before:
        assert (after[path].st_mode, after[path].st_ctime_ns) == (before[path].st_mode, before[path].st_ctime_ns), path
    assert (groups / "team-a" / "model.pkl").read_bytes() == b"weights"


def test_repairs_a_wrong_mode(groups_env, tmp_path):
    team = tmp_path / "export" / "groups" / "team-a"
    team.mkdir(parents=True)
    team.chmod(0o700)
    assert run_script(SCRIPT, groups_env).returncode == 0
    assert mode_and_owner(team)[0] == "0o2775"


@pytest.mark.parametrize("missing", ["TEAM_FOLDERS", "GROUPS_FOLDER", "GROUPS_OWNER"])
def test_needs_its_settings(groups_env, missing):
    done = run_script(SCRIPT, {k: v for k, v in groups_env.items() if k != missing})
    assert done.returncode != 0 and missing in done.stderr


# --- as root, with exactly its capabilities (as the Job runs it) -------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="runs the script as root under setpriv (util-linux)")


def prepare(export: Path, caps: tuple[str, ...]) -> subprocess.CompletedProcess:
    """The Job's command (components/storage/folders.py) as root with exactly caps, on this machine's sh and coreutils (the
    image's are BusyBox's, whose mkdir, chown and chmod make the same system calls)."""
    environment = {"PATH": os.environ["PATH"], "EXPORT_DIR": str(export), "GROUPS_FOLDER": "groups",
                   "GROUPS_OWNER": GROUPS_OWNER, "TEAM_FOLDERS": "team-a team-b", "USER_UID": str(NOTEBOOK_UID),
                   "USER_GID": str(NOTEBOOK_GID)}
    return subprocess.run(["setpriv", "--bounding-set", "-all," + ",".join(f"+{c.lower()}" for c in caps),
                           "--inh-caps", "-all", "--", "sh", "-c", PREPARE_GROUP_FOLDERS_SCRIPT],
                          env=environment, capture_output=True, text=True)


def prepared(export: Path) -> dict[str, tuple[int, int, int]]:
    return {name: (s.st_mode & 0o7777, s.st_uid, s.st_gid)
            for name in ("groups", "groups/team-a", "groups/team-b") for s in [os.stat(export / name)]}


PREPARED = {"groups": (0o755, 0, 0), "groups/team-a": (0o2775, NOTEBOOK_UID, NOTEBOOK_GID),
            "groups/team-b": (0o2775, NOTEBOOK_UID, NOTEBOOK_GID)}


def as_notebook_user(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid", str(NOTEBOOK_UID), "--regid", str(NOTEBOOK_GID), "--clear-groups",
                           "--", *command], capture_output=True, text=True)


@pytest.fixture
def reachable():
    """A folder the notebook user may enter (pytest's own is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="group-folders-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder)


@needs_root
def test_root_with_exactly_its_capabilities(reachable):
    export = reachable / "export"
    export.mkdir()
    done = prepare(export, PREPARE_GROUP_FOLDERS_CAPABILITIES)
    assert done.returncode == 0 and prepared(export) == PREPARED, done.stderr
    # A member writes in the team's folder; a trainer's view (uid 1000 too) cannot rename or remove the folder itself.
    groups = export / "groups"
    assert as_notebook_user("touch", str(groups / "team-a" / "notes.txt")).returncode == 0
    assert os.stat(groups / "team-a" / "notes.txt").st_gid == NOTEBOOK_GID
    for command in (("mv", str(groups / "team-a"), str(groups / "renamed")), ("rm", "-r", str(groups / "team-b"))):
        refused = as_notebook_user(*command)
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, command
    # Again on folders that someone changed: it sets owner and mode back.
    os.chown(groups / "team-a", 0, 0)
    os.chmod(groups / "team-b", 0o700)
    done = prepare(export, PREPARE_GROUP_FOLDERS_CAPABILITIES)
    assert done.returncode == 0 and prepared(export) == PREPARED, done.stderr


@needs_root
@pytest.mark.parametrize("capability", PREPARE_GROUP_FOLDERS_CAPABILITIES)
def test_root_needs_each_of_its_capabilities(tmp_path, capability):
    export = tmp_path / "export"
    export.mkdir()
    done = prepare(export, tuple(c for c in PREPARE_GROUP_FOLDERS_CAPABILITIES if c != capability))
    assert done.returncode != 0 or prepared(export) != PREPARED


# --- the chart's claims -------------------------------------------------------------------------------------------

WITH_BOTH = {**VALUES["in-cluster"], "trainees": {"folder": "home", "claimName": "nfs-trainees", "size": "100Gi"},
             "groups": {"folder": "groups", "claimName": "nfs-groups", "size": "100Gi"}}


def test_lint_strict_with_both(helm, tmp_path):  # noqa: F811
    done = run_helm(helm, "lint", "--strict", str(CHART), values=WITH_BOTH,
                    tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_both_render_valid_kubernetes(helm, version, tmp_path):  # noqa: F811
    objects = render(helm, WITH_BOTH, tmp_path)
    assert len(objects) == 8
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_read_write_retained_and_reserved_for_their_claims(helm, tmp_path):  # noqa: F811
    objects = by_kind(render(helm, WITH_BOTH, tmp_path))
    for claim, folder in (("nfs-trainees", "home"), ("nfs-groups", "groups")):
        volume = objects[("PersistentVolume", f"class-1-{claim}")]["spec"]
        assert volume["nfs"] == {"server": "10.96.155.215", "path": f"/export/{folder}", "readOnly": False}
        assert volume["accessModes"] == ["ReadWriteMany"] and volume["persistentVolumeReclaimPolicy"] == "Retain"
        assert volume["claimRef"] == {"namespace": "class-1", "name": claim}
        assert volume["mountOptions"] == ["nfsvers=4.1"]
        assert objects[("PersistentVolumeClaim", claim)]["spec"]["volumeName"] == f"class-1-{claim}"


def test_neither_without_their_values(helm, tmp_path):  # noqa: F811
    names = {name for _, name in by_kind(render(helm, VALUES["in-cluster"], tmp_path))}
    assert names == {"class-1-nfs-public", "class-1-nfs-shared", "nfs-public", "nfs-shared"}


def test_schema_rejects_a_bad_folder(helm, tmp_path):  # noqa: F811
    bad = {**WITH_BOTH, "groups": {"folder": "../home", "claimName": "nfs-groups", "size": "1Gi"}}
    done = run_helm(helm, "template", "volumes", str(CHART), values=bad, tmp_path=tmp_path)
    assert done.returncode != 0 and "values don't meet the specifications of the schema" in done.stderr
