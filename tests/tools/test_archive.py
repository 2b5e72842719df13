"""Course end: archive-homes.sh run for real on local trees of personal folders named as the real KubeSpawner names
their claims; ./tools/archive run for real with stand-ins for pulumi and kubectl; the archive bucket of the gke stack
in the offline preview."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import kubernetes_validate
import pytest

from components.storage.archives import ARCHIVER
from components.storage.datasets import CLOUD_CLI_IMAGE
from tests.conftest import config_error, run_preview
from tools import archive as tool
from tools.preview import MOCK_PROJECT_NUMBER

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "components" / "storage" / "files" / "archive-homes.sh"
PERSONAL_CLASS = "jupyterhub-personal"


# --- the personal folders, named as KubeSpawner 7.0.0 names the claims and csi-driver-nfs the folders ------------------


def claim(username: str, scheme: str = "safe") -> dict:
    """The claim the real KubeSpawner (as in the hub image) makes for a user's default server, as kubectl shows it:
    scheme "safe" is KubeSpawner 7's, "escape" that of a claim made before KubeSpawner 7."""
    import kubespawner.spawner
    from kubespawner import KubeSpawner

    class User:
        name, id, url = username, 1, "/user/"

    # No cluster here: a claim's manifest needs no Kubernetes client.
    originals = kubespawner.spawner.load_config, kubespawner.spawner.shared_client
    kubespawner.spawner.load_config, kubespawner.spawner.shared_client = (lambda **_: None), (lambda *_: None)
    try:
        spawner = KubeSpawner(_mock=True, user=User(), storage_class=PERSONAL_CLASS, slug_scheme=scheme)
    finally:
        kubespawner.spawner.load_config, kubespawner.spawner.shared_client = originals
    manifest = spawner.get_pvc_manifest()
    return {"metadata": {"name": manifest.metadata.name, "annotations": manifest.metadata.annotations},
            "spec": {"storageClassName": manifest.spec.storage_class_name}}


CLAIMS = {"items": [claim("alice"), claim("bob@example.com", "escape"), claim("o'neil & co"), claim("eve"),
                    {"metadata": {"name": "data-hdfs-namenode-0"}, "spec": {"storageClassName": "jupyterhub-data"}}]}


def test_the_folder_names_are_kubespawners_claim_names():
    names = [item["metadata"]["name"] for item in CLAIMS["items"]]
    # A valid name as it is; a legacy claim escaped (reversibly, but only if one knows it is legacy); another name
    # as a lossy slug with a hash: so the tool takes each trainee's name from the claim's annotation.
    assert names[:4] == ["claim-alice", "claim-bob-40example-2ecom", "claim-o-neil-co---96565e1a", "claim-eve"]


def test_the_trainees_are_read_from_the_claims_of_the_personal_class():
    assert tool.trainees(CLAIMS, PERSONAL_CLASS).split("\n") == [
        "claim-alice\talice", "claim-bob-40example-2ecom\tbob@example.com", "claim-eve\teve",
        "claim-o-neil-co---96565e1a\to'neil & co"]
    broken = {"items": [{"metadata": {"name": "claim-x", "annotations": {"hub.jupyter.org/username": "x\ty"}},
                         "spec": {"storageClassName": PERSONAL_CLASS}}]}
    assert tool.trainees(broken, PERSONAL_CLASS) == ""


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """An export with the personal folders of four trainees (one empty) and one whose claim is gone."""
    home = tmp_path / "export" / "home"
    alice = home / "claim-alice"
    (alice / "data").mkdir(parents=True)
    (alice / "notebook.ipynb").write_text('{"cells": []}\n')
    (alice / ".bashrc").write_text("export EDITOR=vi\n")
    (alice / "data" / "iris.csv").write_text("5.1,3.5,1.4,0.2,setosa\n")
    (alice / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (alice / "run.sh").chmod(0o755)
    (alice / "private.txt").write_text("mine\n")
    (alice / "private.txt").chmod(0o600)
    (alice / "latest").symlink_to("data/iris.csv")
    (alice / "here").symlink_to("./data")  # a target that starts like the names tar renames
    (home / "claim-bob-40example-2ecom").mkdir()
    (home / "claim-bob-40example-2ecom" / "notes.md").write_text("# week 1\n")
    (home / "claim-o-neil-co---96565e1a").mkdir()
    (home / "claim-o-neil-co---96565e1a" / "a & b|c.txt").write_text("odd names\n")
    (home / "claim-eve").mkdir()
    (home / "claim-frank").mkdir()
    (home / "claim-frank" / "model.pkl").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "export" / "archives").mkdir()
    return tmp_path / "export"


def pack(export: Path, run_id: str = "20270305-170000", **environment: str) -> subprocess.CompletedProcess:
    """archive-homes.sh as the Job runs it: as root (in CI) with no capability at all, so that file modes bind it
    as they bind root in the container (over NFS the server decides, and lets root read everything)."""
    command = ["sh", str(SCRIPT)]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-all", *command]
    env = {"PATH": os.environ["PATH"], "HOMES_DIR": str(export / "home"),
           "ARCHIVE_DIR": str(export / "archives" / run_id), "ARCHIVE_LOCATION": f"archives/{run_id}",
           "TRAINEES": tool.trainees(CLAIMS, PERSONAL_CLASS), **environment}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def tree(folder: Path) -> dict[str, tuple]:
    """Every path below folder with its type, mode, owner, times and content."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        try:
            content = (os.readlink(path) if path.is_symlink() else
                       hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "")
        except PermissionError:  # a file made unreadable, when the tests do not run as root
            content = "unreadable"
        found[str(path.relative_to(folder))] = (stat.filemode(info.st_mode), info.st_uid, info.st_gid,
                                                info.st_mtime_ns, info.st_ctime_ns, content)
    return found


def members(archive: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(archive) as packed:
        return {member.name: member for member in packed.getmembers()}


def in_name_order(archive: Path) -> bool:
    """Whether the entries of every folder follow one another in byte order of their names, as tar --sort=name puts
    them, whatever order the filesystem lists them in."""
    with tarfile.open(archive) as packed:
        names = [member.name for member in packed.getmembers()]
    folders = {name.rpartition("/")[0] for name in names}
    return all([n for n in names if n.rpartition("/")[0] == f] == sorted((n for n in names if n.rpartition("/")[0] == f),
                                                                        key=str.encode) for f in folders)


ONEIL = "o'neil & co"
EXPECTED = {"claim-alice": "alice", "claim-bob-40example-2ecom": "bob@example.com", "claim-frank": "frank",
            "claim-o-neil-co---96565e1a": ONEIL}


def test_each_personal_folder_becomes_one_archive_named_after_its_trainee(export):
    result = pack(export)
    assert result.returncode == 0, result.stderr
    run = export / "archives" / "20270305-170000"
    size = {name: (run / f"{name}.tar.gz").stat().st_size for name in EXPECTED.values()}
    assert result.stdout.splitlines() == [
        f"claim-alice: archives/20270305-170000/alice.tar.gz ({size['alice']} bytes)",
        f"claim-bob-40example-2ecom: archives/20270305-170000/bob@example.com.tar.gz ({size['bob@example.com']} bytes)",
        "claim-eve: empty, no archive",
        f"claim-frank: archives/20270305-170000/frank.tar.gz ({size['frank']} bytes)",
        f"claim-o-neil-co---96565e1a: archives/20270305-170000/{ONEIL}.tar.gz ({size[ONEIL]} bytes)",
        "4 archived, 1 empty, 0 failed",
    ]
    assert sorted(p.name for p in run.iterdir()) == sorted(f"{name}.tar.gz" for name in EXPECTED.values())


def test_an_archive_holds_everything_the_trainee_wrote_under_their_name(export):
    assert pack(export).returncode == 0
    run = export / "archives" / "20270305-170000"
    for directory, name in EXPECTED.items():
        home = export / "home" / directory
        packed = members(run / f"{name}.tar.gz")
        assert in_name_order(run / f"{name}.tar.gz")
        assert set(packed) == {name} | {f"{name}/{path.relative_to(home)}" for path in home.rglob("*")}
        with tarfile.open(run / f"{name}.tar.gz") as archive:
            for path in [home, *home.rglob("*")]:
                relative = path.relative_to(home)
                member = packed[name if relative == Path(".") else f"{name}/{relative}"]
                info = path.lstat()
                assert (member.mode, member.uid, member.gid, member.mtime) == (
                    stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, int(info.st_mtime))
                if path.is_symlink():  # a link's target stays as the trainee wrote it
                    assert member.issym() and member.linkname == os.readlink(path)
                elif path.is_file():
                    assert archive.extractfile(member).read() == path.read_bytes()
                else:
                    assert member.isdir()


def test_archives_are_the_same_bytes_for_the_same_folders(export):
    assert pack(export, "first").returncode == 0
    for path in (export / "home").rglob("*"):  # reading changes access times; the archive must not care
        if path.is_file() and not path.is_symlink():
            path.read_bytes()
    assert pack(export, "second").returncode == 0
    for name in EXPECTED.values():
        first = (export / "archives" / "first" / f"{name}.tar.gz").read_bytes()
        assert first == (export / "archives" / "second" / f"{name}.tar.gz").read_bytes()
        assert first[4:8] == b"\0\0\0\0"  # gzip -n: no time stamp in the header


def test_no_personal_folder_is_written_or_changed(export):
    before = tree(export / "home")
    assert pack(export).returncode == 0
    assert tree(export / "home") == before


def test_a_folder_that_cannot_be_read_fails_by_name_and_the_others_are_archived(export):
    locked = export / "home" / "claim-bob-40example-2ecom" / "notes.md"
    locked.chmod(0)
    before = tree(export / "home")
    result = pack(export)
    assert result.returncode == 1
    assert "claim-bob-40example-2ecom: archives" not in result.stdout
    assert result.stdout.splitlines()[-1] == "3 archived, 1 empty, 1 failed"
    errors = result.stderr.splitlines()
    assert "tar: ./notes.md: Cannot open: Permission denied" in errors
    assert "error: claim-bob-40example-2ecom: could not be packed (tar says why above)" in errors
    assert errors[-1] == "error: could not archive: claim-bob-40example-2ecom"
    run = export / "archives" / "20270305-170000"
    assert sorted(p.name for p in run.iterdir()) == ["alice.tar.gz", "frank.tar.gz", "o'neil & co.tar.gz"]
    assert tree(export / "home") == before


def test_the_archives_never_go_inside_the_personal_folders(export):
    result = pack(export, ARCHIVE_DIR=str(export / "home" / "claim-alice" / "run"))
    assert result.returncode == 2
    assert "is inside HOMES_DIR" in result.stderr
    assert not (export / "home" / "claim-alice" / "run").exists()


def test_an_earlier_run_is_never_overwritten(export):
    earlier = export / "archives" / "20270305-170000"
    earlier.mkdir()
    (earlier / "alice.tar.gz").write_bytes(b"earlier")
    result = pack(export)
    assert result.returncode != 0
    assert (earlier / "alice.tar.gz").read_bytes() == b"earlier"
    assert [p.name for p in earlier.iterdir()] == ["alice.tar.gz"]


def test_without_trainees_a_folder_is_named_after_its_directory(export):
    result = pack(export, TRAINEES="")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (export / "archives" / "20270305-170000").iterdir())
    assert names == ["alice.tar.gz", "bob-40example-2ecom.tar.gz", "frank.tar.gz", "o-neil-co---96565e1a.tar.gz"]


FAKE_GCLOUD = f"""#!{sys.executable}
# gcloud storage cp --quiet FILE gs://BUCKET/OBJECT: a copy into $BUCKET_DIR/BUCKET/OBJECT.
import os, shutil, sys
with open(os.environ["GCLOUD_CALLS"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
source, target = sys.argv[4], sys.argv[5].removeprefix("gs://")
if os.environ.get("FAIL_UPLOAD") and os.environ["FAIL_UPLOAD"] in target:
    sys.exit(1)
os.makedirs(os.path.dirname(os.path.join(os.environ["BUCKET_DIR"], target)), exist_ok=True)
shutil.copyfile(source, os.path.join(os.environ["BUCKET_DIR"], target))
"""


@pytest.fixture
def gcloud(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcloud").write_text(FAKE_GCLOUD)
    (bin_dir / "gcloud").chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GCLOUD_CALLS": str(tmp_path / "gcloud-calls"),
            "BUCKET_DIR": str(tmp_path / "bucket"), "UPLOAD_TO": "gs://archive-bucket/20270305-170000",
            "ARCHIVE_DIR": str(tmp_path / "scratch" / "20270305-170000")}


def test_uploads_go_to_the_bucket_one_at_a_time(export, gcloud, tmp_path):
    (tmp_path / "scratch").mkdir()
    result = pack(export, **gcloud)
    assert result.returncode == 0, result.stderr
    bucket = tmp_path / "bucket" / "archive-bucket" / "20270305-170000"
    assert result.stdout.splitlines()[0] == (f"claim-alice: gs://archive-bucket/20270305-170000/alice.tar.gz "
                                             f"({(bucket / 'alice.tar.gz').stat().st_size} bytes)")
    assert sorted(p.name for p in bucket.iterdir()) == sorted(f"{name}.tar.gz" for name in EXPECTED.values())
    assert list((tmp_path / "scratch" / "20270305-170000").iterdir()) == []  # each local copy removed
    calls = Path(gcloud["GCLOUD_CALLS"]).read_text().splitlines()
    assert calls[0] == (f"storage cp --quiet {gcloud['ARCHIVE_DIR']}/.alice.tar.gz.partial "
                        "gs://archive-bucket/20270305-170000/alice.tar.gz")
    # The same bytes as on the export.
    assert pack(export).returncode == 0
    assert (bucket / "frank.tar.gz").read_bytes() == (export / "archives" / "20270305-170000" / "frank.tar.gz").read_bytes()


def test_a_failed_upload_fails_that_folder_by_name(export, gcloud, tmp_path):
    (tmp_path / "scratch").mkdir()
    result = pack(export, **gcloud, FAIL_UPLOAD="frank")
    assert result.returncode == 1
    assert ("error: claim-frank: could not upload gs://archive-bucket/20270305-170000/frank.tar.gz"
            in result.stderr.splitlines())
    assert result.stdout.splitlines()[-1] == "3 archived, 1 empty, 1 failed"
    assert list((tmp_path / "scratch" / "20270305-170000").iterdir()) == []


# --- ./tools/archive, with stand-ins for pulumi and kubectl -----------------------------------------------------------

FAKE_PULUMI = f"""#!{sys.executable}
import os, sys
args = sys.argv[1:]
with open(os.environ["PULUMI_CALLS"], "a") as log:
    log.write(" ".join(args) + "\\n")
if "--show-secrets" in args:
    print(os.environ["KUBECONFIG_TEXT"])
elif os.environ.get("OUTPUTS") is None:
    print("error: no stack named '" + args[3] + "' found", file=sys.stderr)
    sys.exit(255)
else:
    print(os.environ["OUTPUTS"])
"""

FAKE_KUBECTL = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["KUBECTL_CALLS"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if "--kubeconfig" in args:
    with open(args[args.index("--kubeconfig") + 1]) as given, open(os.environ["KUBECONFIG_SEEN"], "w") as seen:
        seen.write(given.read())
if "apply" in args:
    with open(os.environ["APPLIED"], "w") as applied:
        applied.write(sys.stdin.read())
elif "logs" in args:
    print(os.environ["JOB_LOG"])
    sys.exit(int(os.environ.get("LOGS_STATUS", "0")))
elif "storageclass" in args:
    print("/srv/nfs/ml-training/home")
elif "persistentvolumeclaims" in args:
    print(os.environ["CLAIMS"])
elif "component=singleuser-server" in args:
    print(os.environ.get("PODS", ""))
elif "pods" in args:
    print("archive-homes-run-x7k2p " + os.environ.get("PHASE", "Running"))
elif "job" in args:
    print(os.environ["JOB_STATUS"])
"""

BAREMETAL_OUTPUTS = {"namespace": "jupyterhub", "nfsServer": "192.168.10.20", "nfsPath": "/srv/nfs/ml-training",
                     "personalStorageClass": PERSONAL_CLASS, "hubUrl": "https://training.example.com"}
GKE_OUTPUTS = {**BAREMETAL_OUTPUTS, "nfsServer": "10.96.1.2", "nfsPath": "/export", "kubeconfig": "[secret]",
               "archiveBucket": "ml-training-demo-ml-training-archives"}
JOB_LOG = """claim-alice: archives/RUN/alice.tar.gz (2048 bytes)
claim-eve: empty, no archive
claim-frank: archives/RUN/frank.tar.gz (4096 bytes)
2 archived, 1 empty, 0 failed"""


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("pulumi", FAKE_PULUMI), ("kubectl", FAKE_KUBECTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI_")}
    return {**env, "PATH": f"{bin_dir}:{env['PATH']}", "PULUMI_CALLS": str(tmp_path / "pulumi-calls"),
            "KUBECTL_CALLS": str(tmp_path / "kubectl-calls"), "APPLIED": str(tmp_path / "applied.json"),
            "KUBECONFIG_SEEN": str(tmp_path / "kubeconfig-seen"), "KUBECONFIG_TEXT": "apiVersion: v1\nkind: Config\n",
            "OUTPUTS": json.dumps(BAREMETAL_OUTPUTS), "CLAIMS": json.dumps(CLAIMS), "JOB_LOG": JOB_LOG,
            "JOB_STATUS": "1/"}


def archive_tool(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "tools" / "archive"), *args], env=environment, capture_output=True, text=True,
                          timeout=120)


def kubectl_calls(environment: dict[str, str]) -> list[list[str]]:
    return [json.loads(line) for line in Path(environment["KUBECTL_CALLS"]).read_text().splitlines()]


def applied(environment: dict[str, str]) -> list[dict]:
    document = json.loads(Path(environment["APPLIED"]).read_text())
    assert document["kind"] == "List"
    return document["items"]


def test_without_a_stack_it_says_how_to_call_it(stand_ins):
    result = archive_tool(stand_ins)
    assert result.returncode == 2
    assert result.stderr == "usage: ./tools/archive STACK, where STACK is one of: baremetal, dev, gke\n"


def test_an_unknown_stack_is_refused_in_one_line(stand_ins):
    result = archive_tool(stand_ins, "gek")
    assert result.returncode == 1
    assert result.stderr == "error: no stack file Pulumi.gek.yaml: the stacks are baremetal, dev, gke\n"
    assert not Path(stand_ins["PULUMI_CALLS"]).exists()


def test_a_stack_never_deployed_stops_with_pulumis_reason(stand_ins):
    del stand_ins["OUTPUTS"]
    result = archive_tool(stand_ins, "baremetal")
    assert result.returncode == 1
    assert result.stderr == ("error: could not read the outputs of stack baremetal: error: no stack named "
                             "'baremetal' found\n")
    assert not Path(stand_ins["KUBECTL_CALLS"]).exists()


@pytest.mark.parametrize("missing", ["namespace", "nfsServer", "nfsPath", "personalStorageClass"])
def test_a_missing_output_is_named(stand_ins, missing):
    outputs = dict(BAREMETAL_OUTPUTS)
    del outputs[missing]
    result = archive_tool({**stand_ins, "OUTPUTS": json.dumps(outputs)}, "baremetal")
    assert result.returncode == 1
    assert result.stderr == f"error: stack baremetal has no output {missing}: deploy it first with ./tools/up baremetal\n"
    assert not Path(stand_ins["KUBECTL_CALLS"]).exists()


def test_gke_without_the_archive_bucket_says_how_to_declare_it(stand_ins):
    outputs = {key: value for key, value in GKE_OUTPUTS.items() if key != "archiveBucket"}
    result = archive_tool({**stand_ins, "OUTPUTS": json.dumps(outputs)}, "gke")
    assert result.returncode == 1
    assert result.stderr == ("error: stack gke has no output archiveBucket: set storage.archives true (pulumi config "
                             "set --stack gke --path storage.archives true) and run ./tools/up gke\n")


def run_id(environment: dict[str, str]) -> str:
    [job] = [item for item in applied(environment) if item["kind"] == "Job"]
    return job["metadata"]["name"].removeprefix("archive-homes-")


def test_on_an_existing_cluster_the_archives_go_to_the_export(stand_ins):
    result = archive_tool(stand_ins, "baremetal")
    assert result.returncode == 0, result.stderr
    run = run_id(stand_ins)
    where = f"archives/{run}/ on the export 192.168.10.20:/srv/nfs/ml-training"
    assert result.stdout.splitlines() == [
        "Reading the outputs of stack baremetal ...",
        f"Packing the personal folders in 192.168.10.20:/srv/nfs/ml-training/home into {where} (Job archive-homes-{run}) ...",
        *[f"  {line}" for line in JOB_LOG.splitlines()],
        f"Archived 2 personal folder(s) of stack baremetal into {where}; no personal folder was changed.",
    ]
    # The current kubeconfig context (the baremetal stack names none), the stack's namespace.
    assert kubectl_calls(stand_ins) == [
        ["--namespace", "jupyterhub", "get", "storageclass", PERSONAL_CLASS, "-o", "jsonpath={.parameters.share}"],
        ["--namespace", "jupyterhub", "get", "persistentvolumeclaims", "-o", "json"],
        ["--namespace", "jupyterhub", "get", "pods", "-l", "component=singleuser-server", "-o", "name"],
        ["--namespace", "jupyterhub", "apply", "-f", "-"],
        ["--namespace", "jupyterhub", "get", "pods", "-l", f"ml-training/archive-run={run}", "-o",
         'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\\n"}{end}'],
        ["--namespace", "jupyterhub", "logs", "--follow", "pod/archive-homes-run-x7k2p", "--container", "archive-homes"],
        ["--namespace", "jupyterhub", "get", "job", f"archive-homes-{run}", "-o",
         "jsonpath={.status.succeeded}/{.status.failed}"],
    ]
    [job] = applied(stand_ins)
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "jupyterhub"
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["sh", "-c", SCRIPT.read_text()]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env == {"HOMES_DIR": "/homes", "TRAINEES": tool.trainees(CLAIMS, PERSONAL_CLASS),
                   "ARCHIVE_DIR": f"/archives/{run}", "ARCHIVE_LOCATION": f"archives/{run}"}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    # The personal folders read-only, where the StorageClass puts them; the archives in archives/ of the export.
    assert volumes["homes"]["nfs"] == {"server": "192.168.10.20", "path": "/srv/nfs/ml-training/home", "readOnly": True}
    assert volumes["export"]["nfs"] == {"server": "192.168.10.20", "path": "/srv/nfs/ml-training"}
    assert container["volumeMounts"] == [{"name": "homes", "mountPath": "/homes", "readOnly": True},
                                         {"name": "export", "mountPath": "/archives", "subPath": "archives"}]
    [folder] = pod["initContainers"]
    assert folder["command"] == ["sh", "-c", "mkdir -p /export/archives && chmod 700 /export/archives"]
    assert folder["volumeMounts"] == [{"name": "export", "mountPath": "/export"}]
    assert job["spec"]["backoffLimit"] == 0
    assert "serviceAccountName" not in pod
    # The run's pod is found by a label of its own.
    assert job["spec"]["template"]["metadata"]["labels"]["ml-training/archive-run"] == run


def test_on_gke_the_archives_are_uploaded_to_the_bucket_as_the_archiver(stand_ins):
    result = archive_tool({**stand_ins, "OUTPUTS": json.dumps(GKE_OUTPUTS)}, "gke")
    assert result.returncode == 0, result.stderr
    run = run_id(stand_ins)
    assert result.stdout.splitlines()[-1] == (f"Archived 2 personal folder(s) of stack gke into "
                                              f"gs://ml-training-demo-ml-training-archives/{run}/; no personal folder "
                                              "was changed.")
    # kubectl reaches the cluster with the stack's kubeconfig output, a secret read only for this.
    assert Path(stand_ins["PULUMI_CALLS"]).read_text().splitlines() == [
        "stack output --stack gke --json", "stack output --stack gke kubeconfig --show-secrets"]
    assert Path(stand_ins["KUBECONFIG_SEEN"]).read_text() == stand_ins["KUBECONFIG_TEXT"] + "\n"
    assert all(call[0] == "--kubeconfig" for call in kubectl_calls(stand_ins))
    account, job = applied(stand_ins)
    assert account == {"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": False,
                       "metadata": {"name": ARCHIVER, "namespace": "jupyterhub",
                                    "labels": {"app.kubernetes.io/part-of": "ml-training",
                                               "app.kubernetes.io/component": "storage"}}}
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == ARCHIVER and "initContainers" not in pod
    [container] = pod["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["UPLOAD_TO"] == f"gs://ml-training-demo-ml-training-archives/{run}"
    assert env["ARCHIVE_DIR"] == f"/scratch/{run}"
    assert env["CLOUDSDK_STORAGE_PARALLEL_COMPOSITE_UPLOAD_ENABLED"] == "False"
    assert {v["name"]: {k: v for k, v in v.items() if k != "name"} for v in pod["volumes"]} == {
        "homes": {"nfs": {"server": "10.96.1.2", "path": "/srv/nfs/ml-training/home", "readOnly": True}},
        "scratch": {"emptyDir": {}}}


def test_a_failed_job_ends_with_an_error_naming_the_folders(stand_ins):
    log = JOB_LOG.replace("0 failed", "1 failed") + "\nerror: could not archive: claim-bob-40example-2ecom"
    result = archive_tool({**stand_ins, "JOB_LOG": log, "JOB_STATUS": "/1"}, "baremetal")
    assert result.returncode == 1
    run = run_id(stand_ins)
    assert result.stderr == (f"error: the Job archive-homes-{run} failed: could not archive: claim-bob-40example-2ecom; "
                             f"2 archive(s) are in archives/{run}/ on the export 192.168.10.20:/srv/nfs/ml-training; "
                             "no personal folder was changed\n")


def test_a_pod_that_does_not_start_stops_the_tool_with_where_to_look(stand_ins, monkeypatch, capsys):
    for key, value in stand_ins.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PHASE", "Pending")
    monkeypatch.setattr(tool, "POD_START_SECONDS", 0)
    assert tool.main(["baremetal"]) == 1
    run = run_id(stand_ins)
    assert capsys.readouterr().err == (f"error: the Job's pod has not started in 0 minutes: kubectl --namespace "
                                       f"jupyterhub describe pods -l ml-training/archive-run={run}\n")
    assert not any("logs" in call for call in kubectl_calls(stand_ins))


def test_output_that_cannot_be_followed_stops_the_tool(stand_ins):
    result = archive_tool({**stand_ins, "LOGS_STATUS": "1"}, "baremetal")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == ("error: could not follow the Job's output: kubectl --namespace jupyterhub "
                                              "describe pod archive-homes-run-x7k2p")


def test_running_servers_are_pointed_out(stand_ins):
    result = archive_tool({**stand_ins, "PODS": "pod/jupyter-alice\npod/jupyter-frank"}, "baremetal")
    assert result.returncode == 0
    assert ("note: 2 trainee server(s) still running: a file one changes while it is packed fails that folder (stop "
            "the servers first, on the hub's admin page, for a consistent archive)") in result.stdout.splitlines()


@pytest.mark.parametrize("bucket", ["", "archive-bucket"])
@pytest.mark.parametrize("version", ("1.31.0", "1.35.0"))
def test_the_job_is_a_valid_kubernetes_object_with_a_pinned_image(bucket, version):
    job = tool.job_manifest(job="archive-homes-20270305-170000", namespace="jupyterhub", server="10.0.0.2",
                            export_path="/export", homes_path="/export/home", run_id="20270305-170000", bucket=bucket,
                            trainee_lines="claim-alice\talice")
    kubernetes_validate.validate(job, version, strict=True)
    pod = job["spec"]["template"]["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        assert container["image"] == CLOUD_CLI_IMAGE
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        assert container["resources"]["limits"]["memory"]
    kubernetes_validate.validate(tool.service_account("jupyterhub"), version, strict=True)


# --- the archive bucket (gke) -----------------------------------------------------------------------------------------


def test_no_bucket_unless_asked_for(gke, baremetal):
    for preview in (gke, baremetal):
        assert not preview.of_type("gcp:storage/bucket:Bucket")
        assert "archiveBucket" not in preview.outputs


def test_the_bucket_is_private_protected_and_keeps_archives_for_the_retention_period():
    preview = run_preview("gke", {"storage.archives": True})
    [bucket] = preview.of_type("gcp:storage/bucket:Bucket")
    assert bucket.protect and bucket.retainOnDelete
    assert bucket.inputs == {
        "name": "ml-training-demo-ml-training-archives", "project": "ml-training-demo", "location": "EUROPE-WEST3",
        "storageClass": "STANDARD", "uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced",
        "forceDestroy": False, "retentionPolicy": {"retentionPeriod": str(90 * 24 * 3600)},
        "lifecycleRules": [{"action": {"type": "Delete"}, "condition": {"age": 91}}],
    }
    assert preview.outputs["archiveBucket"] == "ml-training-demo-ml-training-archives"
    [component] = preview.of_type("mltraining:storage:ArchiveBucket")
    assert bucket.parent == component.urn
    shorter = run_preview("gke", {"storage.archives": True, "storage.archiveRetentionDays": 30})
    [bucket] = shorter.of_type("gcp:storage/bucket:Bucket")
    assert bucket.inputs["retentionPolicy"] == {"retentionPeriod": "2592000"}
    assert bucket.inputs["lifecycleRules"][0]["condition"] == {"age": 31}


def test_only_the_archive_jobs_service_account_may_add_archives_and_the_signer_read_them():
    preview = run_preview("gke", {"storage.archives": True})
    [bucket] = preview.of_type("gcp:storage/bucket:Bucket")
    members = {r.inputs["role"]: r for r in preview.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert set(members) == {"roles/storage.objectCreator", "roles/storage.objectViewer"}
    creator = members["roles/storage.objectCreator"]
    # The Workload Identity principal of the Job's service account in the stack's namespace (tools/archive.py).
    assert creator.inputs["member"] == (
        f"principal://iam.googleapis.com/projects/{MOCK_PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
        f"ml-training-demo.svc.id.goog/subject/ns/jupyterhub/sa/{ARCHIVER}")
    assert creator.inputs["bucket"] == bucket.inputs["name"] and preview.depends_on(creator, bucket)
    [signer] = preview.of_type("gcp:serviceaccount/account:Account")
    assert signer.inputs["accountId"] == "ml-training-archives"
    email = "ml-training-archives@ml-training-demo.iam.gserviceaccount.com"
    assert members["roles/storage.objectViewer"].inputs["member"] == f"serviceAccount:{email}"
    assert preview.depends_on(members["roles/storage.objectViewer"], signer)
    assert preview.outputs["archiveLinkSigner"] == email
    renamed = run_preview("gke", {"storage.archives": True, "namespace": "class-b"})
    [creator] = [r for r in renamed.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
                 if r.inputs["role"] == "roles/storage.objectCreator"]
    assert creator.inputs["member"].endswith(f"/subject/ns/class-b/sa/{ARCHIVER}")


@pytest.mark.parametrize(("stack", "overrides", "message"), [
    ("baremetal", {"storage.archives": True},
     "Invalid configuration mltraining:storage.archives = true: expected false on an existing cluster, where "
     "./tools/archive keeps the archives in archives/ on the NFS export"),
    ("gke", {"storage.archives": True, "cluster.name": "a-very-long-cluster-name-for-the-class"},
     'Invalid configuration mltraining:cluster.name = "a-very-long-cluster-name-for-the-class": expected a shorter '
     "name with storage.archives: the bucket ml-training-demo-a-very-long-cluster-name-for-the-class-archives has "
     "more than 63 characters"),
    ("gke", {"storage.archives": True, "storage.archiveRetentionDays": 0},
     "Invalid configuration mltraining:storage.archiveRetentionDays = 0: expected a whole number between 1 and 3650"),
])
def test_bad_archive_settings_are_refused_in_one_line(stack, overrides, message):
    assert config_error(stack, overrides) == message
