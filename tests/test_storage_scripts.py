"""The shell scripts of the storage Jobs, run for real against a temporary export (downloads faked)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parent.parent / "components" / "files"


def run_script(name: str, env: dict[str, str], path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], **env}
    if path_prefix:
        environment["PATH"] = f"{path_prefix}:{environment['PATH']}"
    return subprocess.run(["sh", str(FILES / name)], env=environment, capture_output=True, text=True)


# --- prepare-folders.sh ----------------------------------------------------------------------------


@pytest.fixture
def folders_env(tmp_path) -> dict[str, str]:
    # The current user stands in for uid 1000 / gid 100, so that the test runs without root.
    return {"EXPORT_DIR": str(tmp_path / "export"), "PUBLIC_FOLDER": "public", "SHARED_FOLDER": "shared",
            "HOME_FOLDER": "home", "USER_UID": str(os.getuid()), "USER_GID": str(os.getgid())}


def mode_and_owner(path: Path) -> tuple[str, int, int]:
    info = path.stat()
    return oct(stat.S_IMODE(info.st_mode)), info.st_uid, info.st_gid


def test_prepare_folders_creates_the_three_folders_with_their_modes(folders_env, tmp_path):
    (tmp_path / "export").mkdir()
    done = run_script("prepare-folders.sh", folders_env)
    assert done.returncode == 0, done.stderr
    export = tmp_path / "export"
    me = (os.getuid(), os.getgid())
    assert mode_and_owner(export / "public") == ("0o755", *me)
    assert mode_and_owner(export / "shared") == ("0o2775", *me)
    assert mode_and_owner(export / "home") == ("0o755", *me)


def test_prepare_folders_is_idempotent_and_keeps_content(folders_env, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    assert run_script("prepare-folders.sh", folders_env).returncode == 0
    (export / "home" / "claim-alice").mkdir()
    (export / "home" / "claim-alice" / "notebook.ipynb").write_text("{}")
    (export / "shared" / "results.csv").write_text("a,b\n")
    before = {p: p.stat() for p in export.rglob("*")}

    done = run_script("prepare-folders.sh", folders_env)
    assert done.returncode == 0, done.stderr
    after = {p: p.stat() for p in export.rglob("*")}
    assert after.keys() == before.keys()
    # Nothing changed, not even the inode change time: no chown or chmod ran again.
    for path in before:
        assert (after[path].st_mode, after[path].st_uid, after[path].st_ctime_ns) == \
               (before[path].st_mode, before[path].st_uid, before[path].st_ctime_ns), path


def test_prepare_folders_repairs_a_wrong_mode(folders_env, tmp_path):
    export = tmp_path / "export"
    (export / "shared").mkdir(parents=True)
    (export / "shared").chmod(0o700)
    assert run_script("prepare-folders.sh", folders_env).returncode == 0
    assert mode_and_owner(export / "shared")[0] == "0o2775"


def test_prepare_folders_uses_the_configured_names(folders_env, tmp_path):
    (tmp_path / "export").mkdir()
    env = {**folders_env, "PUBLIC_FOLDER": "course", "SHARED_FOLDER": "team", "HOME_FOLDER": "users"}
    assert run_script("prepare-folders.sh", env).returncode == 0
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["course", "team", "users"]


def test_prepare_folders_needs_its_settings(folders_env):
    done = run_script("prepare-folders.sh", {k: v for k, v in folders_env.items() if k != "HOME_FOLDER"})
    assert done.returncode != 0
    assert "HOME_FOLDER" in done.stderr


# --- seed-datasets.sh ------------------------------------------------------------------------------


@pytest.fixture
def downloads(tmp_path) -> dict:
    """Fake curl and gcloud that serve files from a local folder (no network in tests), logging each call."""
    served = tmp_path / "served"
    served.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    (bin_dir / "curl").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        # curl ... --output FILE URL: copy served/<last path segment of URL> to FILE, or fail like curl -f.
        while [ $# -gt 1 ]; do
            [ "$1" = "--output" ] && out="$2"
            shift
        done
        echo "curl $1" >> {log}
        cp "{served}/${{1##*/}}" "$out" 2>/dev/null || {{ echo "curl: (22) 404" >&2; exit 22; }}
        """))
    (bin_dir / "gcloud").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        # gcloud storage cp gs://BUCKET/OBJECT FILE
        echo "gcloud $3 auth-disabled=${{CLOUDSDK_AUTH_DISABLE_CREDENTIALS:-false}}" >> {log}
        cp "{served}/${{3##*/}}" "$4" 2>/dev/null || {{ echo "ERROR: 404" >&2; exit 1; }}
        """))
    for tool in ("curl", "gcloud"):
        (bin_dir / tool).chmod(0o755)
    return {"served": served, "bin": bin_dir, "log": log, "public": tmp_path / "export" / "public"}


def serve(downloads: dict, name: str, content: bytes) -> str:
    (downloads["served"] / name).write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def seed(downloads: dict, lines: list[str], **env: str) -> subprocess.CompletedProcess:
    downloads["public"].mkdir(parents=True, exist_ok=True)
    return run_script("seed-datasets.sh", {"DATASETS": "\n".join(lines), "PUBLIC_DIR": str(downloads["public"]), **env},
                      path_prefix=downloads["bin"])


def calls(downloads: dict) -> list[str]:
    log = downloads["log"]
    return log.read_text().splitlines() if log.exists() else []


def test_seed_copies_https_and_gs_files_into_their_subfolders(downloads):
    iris = serve(downloads, "iris.data", b"5.1,3.5,1.4,0.2,Iris-setosa\n")
    serve(downloads, "reviews.csv", b"id,text\n")
    done = seed(downloads, [
        f"https://example.org/iris/iris.data {iris} datasets/iris/iris.data",
        "gs://training-data/reviews.csv - reviews.csv",
    ])
    assert done.returncode == 0, done.stderr
    public = downloads["public"]
    assert (public / "datasets" / "iris" / "iris.data").read_bytes() == b"5.1,3.5,1.4,0.2,Iris-setosa\n"
    assert (public / "reviews.csv").read_bytes() == b"id,text\n"
    assert oct(stat.S_IMODE((public / "reviews.csv").stat().st_mode)) == "0o644"
    assert calls(downloads) == ["curl https://example.org/iris/iris.data",
                                "gcloud gs://training-data/reviews.csv auth-disabled=false"]
    assert not list(public.rglob("*.partial"))


def test_seed_skips_files_already_present(downloads):
    digest = serve(downloads, "iris.data", b"data\n")
    lines = [f"https://example.org/iris.data {digest} iris.data", "https://example.org/notes.txt - notes.txt"]
    serve(downloads, "notes.txt", b"notes\n")
    assert seed(downloads, lines).returncode == 0
    downloads["log"].unlink()

    done = seed(downloads, lines)
    assert done.returncode == 0, done.stderr
    assert calls(downloads) == []
    assert "present: iris.data" in done.stdout and "present: notes.txt" in done.stdout


def test_seed_downloads_again_when_the_checksum_changes(downloads):
    (downloads["public"]).mkdir(parents=True)
    (downloads["public"] / "iris.data").write_bytes(b"old version\n")
    digest = serve(downloads, "iris.data", b"new version\n")
    done = seed(downloads, [f"https://example.org/iris.data {digest} iris.data"])
    assert done.returncode == 0, done.stderr
    assert (downloads["public"] / "iris.data").read_bytes() == b"new version\n"


def test_seed_fails_loudly_on_a_wrong_checksum_and_leaves_nothing(downloads):
    actual = serve(downloads, "iris.data", b"tampered\n")
    expected = "0" * 64
    done = seed(downloads, [f"https://example.org/iris.data {expected} iris.data"])
    assert done.returncode != 0
    assert f"error: https://example.org/iris.data has sha256 {actual}, expected {expected}" in done.stderr
    assert list(downloads["public"].iterdir()) == []


def test_seed_fails_loudly_on_a_failed_download_and_stops(downloads):
    serve(downloads, "later.csv", b"x\n")
    done = seed(downloads, ["https://example.org/missing.csv - missing.csv", "https://example.org/later.csv - later.csv"])
    assert done.returncode != 0
    assert "error: could not download https://example.org/missing.csv" in done.stderr
    assert calls(downloads) == ["curl https://example.org/missing.csv"]
    assert list(downloads["public"].iterdir()) == []


def test_seed_reads_gs_anonymously_when_told(downloads):
    serve(downloads, "open.csv", b"x\n")
    done = seed(downloads, ["gs://public-bucket/open.csv - open.csv"], CLOUDSDK_AUTH_DISABLE_CREDENTIALS="true")
    assert done.returncode == 0, done.stderr
    assert calls(downloads) == ["gcloud gs://public-bucket/open.csv auth-disabled=true"]
