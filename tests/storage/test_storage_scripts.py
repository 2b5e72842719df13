"""The shell scripts of the storage Jobs, run for real against a temporary export (downloads faked; git for real
against local repositories, over a stand-in for ssh)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[2] / "components" / "storage" / "files"


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


# --- clone-materials.sh ----------------------------------------------------------------------------

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Trainer", "GIT_AUTHOR_EMAIL": "trainer@example.org",
                "GIT_COMMITTER_NAME": "Trainer", "GIT_COMMITTER_EMAIL": "trainer@example.org"}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={"PATH": os.environ["PATH"], "HOME": str(repo), **GIT_IDENTITY, **(env or {})})
    return done.stdout.strip()


@pytest.fixture
def origin(tmp_path) -> dict:
    """A course repository: v1 (lightweight tag), a fix, v2 (annotated tag) on main, a branch wip, and a commit
    that no ref reaches (draft)."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")

    def commit(files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text)
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "--message", message)
        return git(repo, "rev-parse", "HEAD")

    v1 = commit({"README.md": "# Week 1\n", "notebooks/intro.ipynb": "{}\n"}, "week 1")
    git(repo, "tag", "v1")
    fix = commit({"notebooks/intro.ipynb": "{\"cells\": []}\n"}, "week 1, fixed")
    v2 = commit({"README.md": "# Week 2\n", "notebooks/spark.ipynb": "{}\n"}, "week 2")
    git(repo, "tag", "--annotate", "--message", "Week 2", "v2")
    git(repo, "switch", "--quiet", "--create", "draft")
    draft = commit({"README.md": "# Draft\n"}, "draft")
    git(repo, "switch", "--quiet", "main")
    git(repo, "branch", "--quiet", "--delete", "--force", "draft")  # draft: a commit that no ref names
    git(repo, "branch", "--quiet", "wip")
    return {"url": f"file://{repo}", "repo": repo, "v1": v1, "fix": fix, "v2": v2, "draft": draft,
            "public": tmp_path / "export" / "public"}


def clone(origin: dict, lines: list[str], path_prefix: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    origin["public"].mkdir(parents=True, exist_ok=True)
    return run_script("clone-materials.sh", {"MATERIALS": "\n".join(lines), "PUBLIC_DIR": str(origin["public"]),
                                             "HOME": str(origin["repo"].parent), **env}, path_prefix=path_prefix)


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_clone_checks_out_a_tag_into_a_hidden_folder_behind_a_link(origin):
    done = clone(origin, [f"{origin['url']} v2 course - -"])
    assert done.returncode == 0, done.stderr
    public = origin["public"]
    # v2 is an annotated tag: the folder holds the commit it names.
    assert sorted(p.name for p in public.iterdir()) == [f".course.{origin['v2']}", "course"]
    assert os.readlink(public / "course") == f".course.{origin['v2']}"
    assert tree(public / "course") == {"README.md": "# Week 2\n", "notebooks/intro.ipynb": '{"cells": []}\n',
                                       "notebooks/spark.ipynb": "{}\n"}
    assert not (public / "course" / ".git").exists()
    assert oct(stat.S_IMODE((public / "course" / "README.md").stat().st_mode)) == "0o644"
    assert oct(stat.S_IMODE((public / "course" / "notebooks").stat().st_mode)) == "0o755"
    assert done.stdout == f"checked out: {origin['url']} at v2 ({origin['v2']}) -> course\n"


def test_clone_checks_out_a_lightweight_tag_and_a_commit(origin):
    done = clone(origin, [f"{origin['url']} v1 week1 - -", f"{origin['url']} {origin['draft']} draft - -"])
    assert done.returncode == 0, done.stderr
    public = origin["public"]
    assert os.readlink(public / "week1") == f".week1.{origin['v1']}"
    assert tree(public / "week1") == {"README.md": "# Week 1\n", "notebooks/intro.ipynb": "{}\n"}
    # A commit that no branch or tag names.
    assert tree(public / "draft")["README.md"] == "# Draft\n"


def test_clone_fetches_a_commit_from_a_server_that_gives_only_what_its_refs_name(origin):
    """Protocol v0 without uploadpack.allowReachableSHA1InWant refuses a commit by id: then every ref is fetched."""
    v0 = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.version", "GIT_CONFIG_VALUE_0": "0"}
    probe = origin["repo"].parent / "probe"
    git(origin["repo"].parent, "init", "--quiet", str(probe))
    refused = subprocess.run(["git", "-C", str(probe), "fetch", "--depth", "1", origin["url"], origin["fix"]],
                             capture_output=True, text=True, env={**os.environ, **v0})
    assert refused.returncode != 0 and "does not allow request for unadvertised object" in refused.stderr
    done = clone(origin, [f"{origin['url']} {origin['fix']} course - -"], **v0)
    assert done.returncode == 0, done.stderr
    assert tree(origin["public"] / "course") == {"README.md": "# Week 1\n", "notebooks/intro.ipynb": '{"cells": []}\n'}


@pytest.mark.parametrize(("ref", "message"), [
    ("v9", "error: {url} has no tag v9"),
    ("0123456789abcdef0123456789abcdef01234567", "error: {url} has no commit 0123456789abcdef0123456789abcdef01234567"),
    ("wip", "error: {url}: wip is a branch, not a tag or a commit: pin a tag or a full commit id"),
    ("main", "error: {url}: main is a branch, not a tag or a commit: pin a tag or a full commit id"),
])
def test_clone_fails_loudly_on_a_ref_that_is_no_tag_or_commit_and_changes_nothing(origin, ref, message):
    assert clone(origin, [f"{origin['url']} v1 course - -"]).returncode == 0
    before = sorted(p.name for p in origin["public"].iterdir())
    done = clone(origin, [f"{origin['url']} {ref} course - -"])
    assert done.returncode != 0
    assert message.format(url=origin["url"]) in done.stderr.splitlines()
    # Trainees keep what they had; nothing half-done is left.
    assert sorted(p.name for p in origin["public"].iterdir()) == before
    assert tree(origin["public"] / "course")["README.md"] == "# Week 1\n"


def test_clone_fails_loudly_on_a_repository_it_cannot_reach(origin, tmp_path):
    missing = f"file://{tmp_path}/no-such-repository"
    done = clone(origin, [f"{missing} v1 course - -"])
    assert done.returncode != 0
    assert f"error: could not list the refs of {missing} (for v1)" in done.stderr
    assert list(origin["public"].iterdir()) == []


@pytest.fixture
def switch_log(tmp_path) -> dict:
    """A mv that records, when it renames the link into place, what trainees saw just before and what comes next."""
    bin_dir = tmp_path / "mv-bin"
    bin_dir.mkdir()
    log = tmp_path / "switch.log"
    real_mv = shutil.which("mv")
    (bin_dir / "mv").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        if [ "$1" = "-T" ]; then
            {{
                echo "before: $(readlink "$3") $(cat "$3/README.md" 2>/dev/null)"
                echo "next: $(readlink "$2") $(cat "$(dirname "$2")/$(readlink "$2")/README.md")"
            }} >> {log}
        fi
        exec {real_mv} "$@"
        """))
    (bin_dir / "mv").chmod(0o755)
    return {"bin": bin_dir, "log": log}


def test_a_new_ref_is_switched_to_in_one_rename_and_the_old_checkout_removed(origin, switch_log):
    public = origin["public"]
    assert clone(origin, [f"{origin['url']} v1 course - -"]).returncode == 0
    # What a failed run may leave behind: a partial checkout and an older commit's.
    (public / ".course.partial").mkdir()
    (public / ".course.partial" / "half.ipynb").write_text("{")
    (public / f".course.{'0' * 40}").mkdir()

    done = clone(origin, [f"{origin['url']} v2 course - -"], path_prefix=switch_log["bin"])
    assert done.returncode == 0, done.stderr
    # Up to the one rename of the link, trainees saw all of v1; the complete v2 was ready beside it.
    assert switch_log["log"].read_text().splitlines() == [f"before: .course.{origin['v1']} # Week 1",
                                                          f"next: .course.{origin['v2']} # Week 2"]
    assert sorted(p.name for p in public.iterdir()) == [f".course.{origin['v2']}", "course"]
    assert tree(public / "course")["README.md"] == "# Week 2\n"


def test_other_folders_of_the_public_folder_are_left_alone(origin):
    public = origin["public"]
    (public / "datasets" / "iris").mkdir(parents=True)
    (public / "datasets" / "iris" / "iris.data").write_text("5.1,3.5\n")
    (public / "slides.pdf").write_text("%PDF")
    (public / ".course-notes").mkdir()  # hidden, but not a checkout of course
    (public / ".course.v2.partial").mkdir()  # the partial checkout of another folder, course.v2
    assert clone(origin, [f"{origin['url']} v1 exercises - -"]).returncode == 0
    others = {p: p.stat().st_mtime_ns for p in public.rglob("*") if "exercises" not in p.relative_to(public).parts[0]}

    done = clone(origin, [f"{origin['url']} v2 course - -", f"{origin['url']} v2 exercises - -"])
    assert done.returncode == 0, done.stderr
    assert {p: p.stat().st_mtime_ns for p in others if p.exists()} == others
    assert sorted(p.name for p in public.iterdir()) == sorted(
        [".course-notes", ".course.v2.partial", f".course.{origin['v2']}", f".exercises.{origin['v2']}", "course",
         "datasets", "exercises", "slides.pdf"])


def test_a_rerun_with_the_same_list_changes_nothing(origin):
    lines = [f"{origin['url']} v2 course - -", f"{origin['url']} {origin['v1']} week1 - -"]
    assert clone(origin, lines).returncode == 0
    public = origin["public"]
    before = {p: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in public.rglob("*")}

    done = clone(origin, lines)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"present: course at v2 ({origin['v2']})", f"present: week1 at {origin['v1']}"]
    assert {p: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in public.rglob("*")} == before


def test_a_folder_that_is_not_a_checkout_is_never_replaced(origin):
    (origin["public"] / "course").mkdir(parents=True)
    (origin["public"] / "course" / "mine.ipynb").write_text("{}")
    done = clone(origin, [f"{origin['url']} v1 course - -"])
    assert done.returncode != 0
    assert (f"error: {origin['public']}/course is not material from git: move it away, or give {origin['url']} "
            "another folder") in done.stderr
    assert sorted(p.name for p in origin["public"].iterdir()) == ["course"]
    assert (origin["public"] / "course" / "mine.ipynb").read_text() == "{}"


@pytest.fixture
def fake_ssh(tmp_path) -> dict:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs OpenSSH's ssh-keygen (Debian: openssh-client)")
    """An ssh that logs its options, the key's mode and whether OpenSSH reads it (ssh-keygen -y: the real parser and
    permission check), and the known hosts it was given, then runs the remote command (git-upload-pack PATH) here:
    git over ssh without an ssh server. The deploy key is a real one, without its final newline."""
    bin_dir = tmp_path / "ssh-bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh.log"
    (bin_dir / "ssh").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        while [ $# -gt 2 ]; do
            case "$1" in
                -i) echo "key $2 $(stat -c %a "$2") $(ssh-keygen -y -f "$2" > /dev/null && echo reads)" >> {log}; shift ;;
                -o) echo "option $2" >> {log}
                    case "$2" in UserKnownHostsFile=*) echo "known hosts: $(cat "${{2#*=}}")" >> {log} ;; esac
                    shift ;;
                *) echo "argument $1" >> {log} ;;
            esac
            shift
        done
        echo "host $1" >> {log}
        exec sh -c "$2"
        """))
    (bin_dir / "ssh").chmod(0o755)
    key = tmp_path / "keys" / "course.key"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy key", "-f", str(key)], check=True)
    key.write_text(key.read_text().rstrip("\n"))  # as `pulumi config set` may store a key piped into it
    key.chmod(0o444)  # as the Secret volume mounts it
    hosts = tmp_path / "keys" / "course.known_hosts"
    hosts.write_text("git.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    return {"bin": bin_dir, "log": log, "key": key, "hosts": hosts}


def ssh_log(fake_ssh: dict) -> list[str]:
    return fake_ssh["log"].read_text().splitlines()


def test_an_ssh_repository_is_read_with_its_deploy_key_trusting_the_host_on_first_use(origin, fake_ssh):
    url = f"git@git.example.org:{origin['repo']}"
    done = clone(origin, [f"{url} v1 course {fake_ssh['key']} -"], path_prefix=fake_ssh["bin"])
    assert done.returncode == 0, done.stderr
    assert tree(origin["public"] / "course")["README.md"] == "# Week 1\n"
    log = ssh_log(fake_ssh)
    [key_line] = {line for line in log if line.startswith("key ")}
    key_copy = key_line.split()[1]
    # A copy of the key that only the Job's user reads and OpenSSH can read, gone with the run.
    assert key_line == f"key {key_copy} 600 reads"
    assert not Path(key_copy).exists()
    assert {"option IdentitiesOnly=yes", "option BatchMode=yes", "option StrictHostKeyChecking=accept-new",
            "known hosts: ", "host git@git.example.org"} <= set(log)


def test_an_ssh_repository_with_known_hosts_accepts_only_that_host_key(origin, fake_ssh):
    url = f"ssh://git@git.example.org{origin['repo']}"
    done = clone(origin, [f"{url} v2 course {fake_ssh['key']} {fake_ssh['hosts']}"], path_prefix=fake_ssh["bin"])
    assert done.returncode == 0, done.stderr
    log = ssh_log(fake_ssh)
    assert "option StrictHostKeyChecking=yes" in log and "option StrictHostKeyChecking=accept-new" not in log
    assert f"known hosts: {fake_ssh['hosts'].read_text().strip()}" in log


def test_an_https_repository_after_an_ssh_one_uses_no_key(origin, fake_ssh):
    lines = [f"git@git.example.org:{origin['repo']} v1 course {fake_ssh['key']} -", f"{origin['url']} v2 week2 - -"]
    done = clone(origin, lines, path_prefix=fake_ssh["bin"])
    assert done.returncode == 0, done.stderr
    # Two calls for the ssh repository (ls-remote, fetch), none for the other.
    assert [line for line in ssh_log(fake_ssh) if line.startswith("host ")] == ["host git@git.example.org"] * 2
    assert tree(origin["public"] / "week2")["README.md"] == "# Week 2\n"


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="runs the script as uid 1000 under setpriv (util-linux)")


@needs_root
def test_the_notebook_user_checks_out_into_the_public_folder_it_owns(origin):
    """As the Job runs it: uid 1000, group 100, no capabilities, into the public folder prepare-folders.sh made."""
    from components.storage.folders import NOTEBOOK_GID, NOTEBOOK_UID

    reachable = Path(tempfile.mkdtemp(prefix="clone-materials-"))  # not below pytest's folder, which is root's alone
    try:
        os.chmod(reachable, 0o755)
        shutil.copytree(origin["repo"], reachable / "origin")
        public = reachable / "public"
        public.mkdir()
        for path in (reachable / "origin", public, *(reachable / "origin").rglob("*")):
            os.lchown(path, NOTEBOOK_UID, NOTEBOOK_GID)
        environment = {"PATH": os.environ["PATH"], "HOME": str(public), "PUBLIC_DIR": str(public),
                       "MATERIALS": f"file://{reachable}/origin v2 course - -"}
        done = subprocess.run(["setpriv", "--reuid", str(NOTEBOOK_UID), "--regid", str(NOTEBOOK_GID), "--clear-groups",
                               "--bounding-set", "-all", "--inh-caps", "-all", "--no-new-privs", "--",
                               "sh", str(FILES / "clone-materials.sh")], env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        readme = os.stat(public / "course" / "README.md")
        assert (readme.st_uid, readme.st_gid, readme.st_mode & 0o777) == (NOTEBOOK_UID, NOTEBOOK_GID, 0o644)
    finally:
        shutil.rmtree(reachable)
