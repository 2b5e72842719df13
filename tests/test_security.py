"""Security of every container the program declares: a scanner's verdict, the Pod Security level, and, for the
containers that must be root, their capabilities proven by running the real software with exactly that set.

1. checkov (pinned in requirements-test.txt, installed by this test into .tools/checkov: it needs packaging<24,
   the program's pulumi packaging>=26) scans every plain Kubernetes object of three previews (gke, baremetal, and
   baremetal with the NFS server on a node's directory) and the rendered local chart charts/nfs-volumes, once, over
   one directory. The test fails on any finding of the kinds in CHECKS unless EXCEPTIONS names that object with a
   reason. The charts the program installs from upstream (Zero to JupyterHub, Strimzi, csi-driver-nfs) are not
   scanned here: README, Security, has their figures.
2. The namespace's Pod Security Admission labels are those of the strictest level all its pods meet.
3. The NFS server's command, unchanged, with the real rpcbind, D-Bus and Debian's Ganesha, under exactly the
   container's capabilities (setpriv --bounding-set), serves a trainee's and root's file operations over NFS (a
   userspace client, libnfs); without any one of the capabilities, the operation that needs it fails.
4. prepare-folders.sh runs with exactly its capabilities, and fails without any one of them; seed-datasets.sh
   copies into the public folder as the notebook user.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.cluster.cluster import POD_SECURITY_LABELS
from components.storage.folders import NOTEBOOK_GID, NOTEBOOK_UID, PREPARE_FOLDERS_CAPABILITIES, PREPARE_FOLDERS_SCRIPT
from components.storage.datasets import SEED_DATASETS_SCRIPT
from components.storage.nfs_server import NFS_SERVER_CAPABILITIES
from components.storage.volumes import CHART
from tests.conftest import run_preview
from tests.engines import require_engine
from tests.kubernetes_objects import container, manifest, one, pod_spec
from tests.storage.test_nfs_server_engine import adapted_config
from tools import checkov as checkov_tool
from tools import helm as helm_tool

ROOT = Path(__file__).resolve().parent.parent
HOST_PATH_ON_EXISTING = {"storage.mode": "in-cluster", "storage.server": None, "storage.path": None,
                         "storage.hostPath": "/data/nfs", "storage.node": "worker-1"}
PREVIEWS = {"gke": ("gke", {}), "baremetal": ("baremetal", {}), "node-directory": ("baremetal", HOST_PATH_ON_EXISTING)}
NOT_PLAIN = ("kubernetes:helm.sh/", "kubernetes:yaml/")  # a release or a file of objects, not an object itself
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")  # the kinds with a pod template the program declares

# --- 1. checkov --------------------------------------------------------------------------------------------


# checkov has no check for hostPath volumes (its CKV_K8S_27 looks only for the Docker socket): this one, loaded
# with --external-checks-dir, fails a pod template with any hostPath volume.
HOST_PATH_CHECK = "CKV_K8S_MLT_HOSTPATH"
HOST_PATH_CHECK_SOURCE = f'''
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job")


class HostPathVolume(BaseK8Check):
    def __init__(self):
        super().__init__(name="Containers should not mount a directory of the node (hostPath)", id="{HOST_PATH_CHECK}",
                         categories=(CheckCategories.KUBERNETES,), supported_entities=("Pod", "CronJob") + WORKLOADS)

    def scan_spec_conf(self, conf):
        spec = conf.get("spec") or {{}}
        if conf["kind"] == "CronJob":
            spec = spec.get("jobTemplate", {{}}).get("spec", {{}})
        if conf["kind"] != "Pod":
            spec = spec.get("template", {{}}).get("spec", {{}})
        volumes = spec.get("volumes") or []
        return CheckResult.FAILED if any("hostPath" in v for v in volumes) else CheckResult.PASSED


check = HostPathVolume()
'''

# The kinds of finding this test fails on, and the checks of checkov 3.3.30 that report them
# (checkov/kubernetes/checks/resource/k8s/: each file's id and name).
CHECKS = {
    "privileged container": ("CKV_K8S_16",),  # PrivilegedContainers
    "privilege escalation allowed": ("CKV_K8S_20",),  # AllowPrivilegeEscalation: allowPrivilegeEscalation false
    "host namespaces": ("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"),  # hostPID, hostIPC, hostNetwork
    "hostPath volume": (HOST_PATH_CHECK,),  # above
    "SYS_ADMIN added": ("CKV_K8S_39",),  # AllowedCapabilitiesSysAdmin
    "image not pinned": ("CKV_K8S_14",),  # ImageTagFixed: a tag, not latest
    "no CPU request": ("CKV_K8S_10",),  # CPURequests, init containers included
    "no memory request": ("CKV_K8S_12",),  # MemoryRequests
    "no memory limit": ("CKV_K8S_13",),  # MemoryLimits
    "NET_RAW not dropped": ("CKV_K8S_28",),  # DropCapabilities: drop ALL or NET_RAW
    "not every capability dropped": ("CKV_K8S_37",),  # MinimizeCapabilities: drop ALL
    "capabilities added back": ("CKV_K8S_25",),  # AllowedCapabilities: any add
    "no seccomp profile": ("CKV_K8S_31",),  # Seccomp: RuntimeDefault, pod or every container
    "root": ("CKV_K8S_23",),  # RootContainers: runAsNonRoot, or runAsUser > 0, for the (non-init) containers
}
ENFORCED = {check for checks in CHECKS.values() for check in checks}
# Reported but not enforced, each for a reason: CPU limits (CKV_K8S_11; requests share the CPU, a limit would only
# throttle), pull policy Always (CKV_K8S_15), image digests (CKV_K8S_43: the images are pinned by version tag),
# a read-only root filesystem (CKV_K8S_22), a uid of 10000 or more (CKV_K8S_40: the images' users are uid 1000),
# liveness probes (CKV_K8S_8), service account tokens (CKV_K8S_38) and one NetworkPolicy per pod (CKV2_K8S_6).


@dataclass(frozen=True)
class Exception_:
    previews: tuple[str, ...]
    check: str
    kind: str
    name: str  # the object's name, or its start followed by "*" (Job names end in a content hash)
    why: str

    def covers(self, preview: str, check: str, kind: str, name: str) -> bool:
        named = name.startswith(self.name[:-1]) if self.name.endswith("*") else name == self.name
        return preview in self.previews and check == self.check and kind == self.kind and named


IN_CLUSTER = ("gke", "node-directory")  # the previews with the in-cluster NFS server
EXCEPTIONS = (
    Exception_(IN_CLUSTER, "CKV_K8S_23", "Deployment", "nfs-server",
               "Ganesha serves every user's files: it runs as root and switches its threads to each caller's uid "
               "to create their files (NFS_SERVER_CAPABILITIES, components/storage/nfs_server.py)"),
    Exception_(IN_CLUSTER, "CKV_K8S_25", "Deployment", "nfs-server",
               "after drop ALL: Ganesha's NFS_SERVER_CAPABILITIES, and CHOWN, FOWNER, FSETID for its init container "
               "prepare-folders (PREPARE_FOLDERS_CAPABILITIES), each named with why and proven below"),
    Exception_(("node-directory",), HOST_PATH_CHECK, "Deployment", "nfs-server",
               "storage.hostPath: the data lives in a directory of storage.node, by choice, for clusters without a "
               "StorageClass for it (README, Storage); the other modes use a claim"),
    Exception_(("baremetal",), "CKV_K8S_23", "Job", "prepare-folders-*",
               "chown of the folders to the notebook user needs root, on an export that does not squash root "
               "(components/storage/folders.py)"),
    Exception_(("baremetal",), "CKV_K8S_25", "Job", "prepare-folders-*",
               "after drop ALL: CHOWN, FOWNER, FSETID for the script's chown and chmod (PREPARE_FOLDERS_CAPABILITIES)"),
)


def plain_objects(preview) -> list[dict]:
    return [manifest(r) for r in preview.resources
            if r.type.startswith("kubernetes:") and r.custom and not r.type.startswith(NOT_PLAIN)]


def checkov() -> Path:
    """checkov at the pinned version, which ./tools/test installs (tools/checkov.py)."""
    found = checkov_tool.find()
    if found is None:
        require_engine(f"{checkov_tool.PIN} is not installed: ./tools/test installs it (python -m tools.checkov)")
    return found


@dataclass(frozen=True)
class Finding:
    preview: str  # a preview's name, or "chart" for charts/nfs-volumes
    check: str
    kind: str
    namespace: str
    name: str


@dataclass
class Scan:
    findings: list[Finding]  # every failed check, enforced or not
    passed: list[Finding]
    scanned: dict[str, list[dict]]  # the objects written, by preview


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> Scan:
    root = tmp_path_factory.mktemp("security")
    scanned: dict[str, list[dict]] = {}
    for name, (stack, overrides) in PREVIEWS.items():
        folder = root / "objects" / name
        folder.mkdir(parents=True)
        preview = run_preview(stack, overrides)
        scanned[name] = plain_objects(preview)
        for index, obj in enumerate(scanned[name]):
            (folder / f"{index:03d}-{obj['kind']}.yaml").write_text(yaml.safe_dump(obj))
        if name == "gke":  # the local chart, with the values the program gives it
            [release] = [r for r in preview.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == "./charts/nfs-volumes"]
            values = root / "nfs-volumes-values.yaml"
            values.write_text(yaml.safe_dump(release.inputs["values"]))
            rendered = subprocess.run([str(helm_tool.ensure()), "template", release.inputs["name"], str(CHART),
                                       "--namespace", release.inputs["namespace"], "--values", str(values)],
                                      capture_output=True, text=True, check=True).stdout
            scanned["chart"] = [doc for doc in yaml.safe_load_all(rendered) if doc]
            (root / "objects" / "chart").mkdir()
            (root / "objects" / "chart" / "nfs-volumes.yaml").write_text(rendered)
    checks = root / "checks"
    checks.mkdir()
    (checks / "__init__.py").write_text("")  # checkov loads external checks only from a package
    (checks / "host_path_volume.py").write_text(HOST_PATH_CHECK_SOURCE)
    # Offline: no download of checks or of Prisma Cloud's guidelines (BC_SKIP_MAPPING).
    done = subprocess.run([str(checkov()), "--directory", str(root / "objects"), "--framework", "kubernetes",
                           "--external-checks-dir", str(checks), "--output", "json", "--compact",
                           "--skip-download"],
                          capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: some check failed
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]

    def finding(result: dict) -> Finding:
        preview = Path(result["file_path"]).parts[1]  # "/gke/001-Namespace.yaml"
        kind, namespace, name = result["resource"].split(".", 2)
        return Finding(preview, result["check_id"], kind, namespace, name)

    results = [r["results"] for r in reports if r.get("check_type") == "kubernetes"]
    return Scan(findings=[finding(f) for r in results for f in r["failed_checks"]],
                passed=[finding(f) for r in results for f in r["passed_checks"]], scanned=scanned)


def excused(finding: Finding) -> bool:
    return any(e.covers(finding.preview, finding.check, finding.kind, finding.name) for e in EXCEPTIONS)


def test_checkov_finds_nothing_it_should_not(scan):
    found = [f for f in scan.findings if f.check in ENFORCED and not excused(f)]
    kinds = {check: kind for kind, checks in CHECKS.items() for check in checks}
    assert [f"{f.preview}: {f.kind} {f.name}: {f.check} ({kinds[f.check]})" for f in found] == []


def test_every_exception_is_still_needed(scan):
    unused = [e for e in EXCEPTIONS
              if not any(e.covers(f.preview, f.check, f.kind, f.name) for f in scan.findings)]
    assert unused == []


def test_every_workload_of_every_preview_was_scanned(scan):
    workloads = {(name, obj["kind"], obj["metadata"]["name"]) for name, objects in scan.scanned.items()
                 for obj in objects if obj["kind"] in WORKLOADS}
    checked = {(f.preview, f.kind, f.name) for f in scan.findings + scan.passed if f.check == "CKV_K8S_10"}
    assert workloads == checked
    # Between them the previews hold both Jobs, the NFS server on a claim and on a node's directory, HDFS and Spark.
    found = {(preview, re.sub(r"-[0-9a-f]{10}$", "", name)) for preview, _, name in workloads}
    assert {("gke", "seed-datasets"), ("baremetal", "prepare-folders"), ("gke", "nfs-server"),
            ("node-directory", "nfs-server"), ("gke", "hdfs-namenode"), ("gke", "hdfs-datanode"),
            ("gke", "spark-master"), ("gke", "spark-worker")} <= found


def test_the_local_chart_is_scanned(scan):
    kinds = sorted(obj["kind"] for obj in scan.scanned["chart"])
    assert kinds == ["PersistentVolume", "PersistentVolume", "PersistentVolumeClaim", "PersistentVolumeClaim"]
    assert {f.kind for f in scan.findings + scan.passed if f.preview == "chart"} <= {"PersistentVolume",
                                                                                     "PersistentVolumeClaim"}


def test_every_container_has_requests_a_memory_limit_and_a_locked_down_security_context(scan):
    """What checkov checks per workload, per container: so that an init container cannot hide behind another."""
    for preview, objects in scan.scanned.items():
        for obj in objects:
            if obj["kind"] not in WORKLOADS:
                continue
            spec = obj["spec"]["template"]["spec"]
            pod_context = spec.get("securityContext") or {}
            for item in spec.get("initContainers", []) + spec["containers"]:
                where = f"{preview}: {obj['metadata']['name']}/{item['name']}"
                resources = item.get("resources") or {}
                assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
                assert "memory" in resources.get("limits", {}), where
                context = item.get("securityContext") or {}
                assert context.get("allowPrivilegeEscalation") is False, where
                assert context.get("capabilities", {}).get("drop") == ["ALL"], where
                seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile")
                assert seccomp == {"type": "RuntimeDefault"}, where
                root = context.get("runAsUser", pod_context.get("runAsUser")) == 0
                added = context.get("capabilities", {}).get("add", [])
                assert not root or obj["metadata"]["name"].startswith(("nfs-server", "prepare-folders")), where
                assert not added or root, where  # capabilities only for the containers that must be root


# --- 2. Pod Security Admission ---------------------------------------------------------------------------------

# https://kubernetes.io/docs/concepts/security/pod-security-standards/ ("Baseline", "Capabilities": the only ones
# that may be added; "Restricted", "Volume Types" and "Capabilities").
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
LEVELS = ("restricted", "baseline", "privileged")


def pod_security_level(spec: dict) -> str:
    """The strictest Pod Security Standard a pod spec meets (the controls the program's pods can touch)."""
    containers = spec.get("initContainers", []) + spec["containers"]
    contexts = [c.get("securityContext") or {} for c in containers]
    pod = spec.get("securityContext") or {}
    if (any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))
            or any(c.get("privileged") for c in contexts)
            or any(set(c.get("capabilities", {}).get("add", [])) - BASELINE_CAPABILITIES for c in contexts)
            or any("hostPath" in v for v in spec.get("volumes", []))
            or any(p.get("hostPort") for c in containers for p in c.get("ports", []))
            or "Unconfined" in {(c.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
                                for c in contexts}):
        return "privileged"
    restricted = (
        all(set(v) - {"name"} <= RESTRICTED_VOLUMES for v in spec.get("volumes", []))
        and all(c.get("allowPrivilegeEscalation") is False for c in contexts)
        and all(c.get("runAsNonRoot", pod.get("runAsNonRoot")) is True for c in contexts)
        and all(c.get("runAsUser", pod.get("runAsUser")) != 0 for c in contexts)
        and all((c.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
                for c in contexts)
        and all(c.get("capabilities", {}).get("drop") == ["ALL"]
                and set(c.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"} for c in contexts))
    return "restricted" if restricted else "baseline"


def levels(preview) -> dict[str, str]:
    return {obj["metadata"]["name"]: pod_security_level(obj["spec"]["template"]["spec"])
            for obj in plain_objects(preview) if obj["kind"] in WORKLOADS}


def hub_user_pods_level(preview) -> str:
    """Zero to JupyterHub's trainee pods: with cloudMetadata.blockWithIptables, each gets the privileged init
    container block-cloud-metadata (jupyterhub/files/hub/jupyterhub_config.py at 4.4.0: privileged=True,
    run_as_user=0, NET_ADMIN); the chart's singleuser defaults otherwise (allowPrivilegeEscalation false, uid
    1000, no seccomp profile, no capabilities dropped: values.yaml at 4.4.0) meet baseline."""
    [hub] = [r for r in preview.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == "jupyterhub"]
    blocked = hub.inputs["values"]["singleuser"]["cloudMetadata"]["blockWithIptables"]
    return "privileged" if blocked else "baseline"


def test_the_namespace_enforces_the_strictest_level_its_pods_meet_and_warns_one_above(gke, baremetal):
    namespace = one(gke, "kubernetes:core/v1:Namespace", "jupyterhub").inputs["metadata"]["labels"]
    assert {k: v for k, v in namespace.items() if k.startswith("pod-security.")} == POD_SECURITY_LABELS
    enforce = POD_SECURITY_LABELS["pod-security.kubernetes.io/enforce"]
    warn = POD_SECURITY_LABELS["pod-security.kubernetes.io/warn"]
    assert LEVELS.index(warn) == LEVELS.index(enforce) - 1
    for preview in (gke, baremetal):
        found = list(levels(preview).values()) + [hub_user_pods_level(preview)]
        # No pod needs more than the namespace allows, and the namespace allows no more than some pod needs.
        assert max(LEVELS.index(level) for level in found) == LEVELS.index(enforce), (preview.stack, found)


def test_which_pods_need_which_level(gke, baremetal):
    """The NFS server is what makes gke's namespace privileged; on baremetal it is the hub's iptables container."""
    assert levels(gke) == {"hdfs-datanode": "restricted", "hdfs-namenode": "restricted", "spark-master": "restricted",
                           "spark-worker": "restricted", "nfs-server": "privileged",
                           **{name: "baseline" for name in levels(gke) if name.startswith("seed-datasets-")}}
    assert hub_user_pods_level(gke) == "baseline"
    assert set(levels(baremetal).values()) <= {"restricted", "baseline"}
    assert hub_user_pods_level(baremetal) == "privileged"
    # Beyond baseline, the NFS server adds exactly the two capabilities that baseline does not list.
    added = set(container(one(gke, "kubernetes:apps/v1:Deployment", "nfs-server"))["securityContext"]["capabilities"]["add"])
    assert added - BASELINE_CAPABILITIES == {"DAC_READ_SEARCH", "SYS_RESOURCE"}


# --- 3. The NFS server's capabilities, for real ------------------------------------------------------------

CAPABILITY_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
                   "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18,
                   "SYS_ADMIN": 21, "SYS_RESOURCE": 24, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}
LIBNFS = ctypes.util.find_library("nfs")  # libnfs13: an NFS v4.0 client in user space

# What trainees and root clients do on the export, as the client reports it; each needs a capability.
NEEDS = {
    "CHOWN": "root hands a file to a trainee",  # the personal folder provisioner
    "DAC_OVERRIDE": "root creates a folder in the home folder",  # home is uid 1000's, mode 755
    "DAC_READ_SEARCH": "root reads a trainee's private file",  # and every other operation: open_by_handle_at
    "FOWNER": "a trainee creates a file that is theirs",  # Ganesha sets the new file's attributes as root
    "FSETID": "a trainee's set-group-ID bit stays",
    "SETGID": "a trainee's new file is in their group",  # setgroups failing is fatal to Ganesha
    "SETUID": "a trainee's new file is theirs",
}

# Inside network, mount and PID namespaces of our own: a private /run, the config where the command reads it, the
# program's command under exactly $CAPS, then the client, then what the checks read, then SIGTERM.
SERVE = r"""
set -u
ip link set lo up
mount -t tmpfs tmpfs /run
mkdir /run/dbus  # as the image has it: "RUN mkdir -p /var/run/dbus" (deploy/base/Dockerfile at fcadaea)
mount --bind "$CONFIG" /etc/ganesha/ganesha.conf
setpriv --bounding-set "-all,$CAPS" --inh-caps -all -- /bin/sh -c "$START" > "$OUT/server.log" 2>&1 &
server=$!
"$PYTHON" -c "$CLIENT" "$EXPORT" "$OUT/client.json" > "$OUT/client.log" 2>&1
grep '^Cap' "/proc/$server/status" > "$OUT/capabilities" 2>/dev/null
ps -eo user:16,comm > "$OUT/processes"
kill -TERM "$server" 2>/dev/null
wait "$server"
"""
# The client: libnfs through ctypes, as uid 1000 (group 100) and as root, each with a client name of its own.
CLIENT = textwrap.dedent(r"""
    import ctypes, json, os, sys, time
    lib = ctypes.CDLL(os.environ["LIBNFS"])
    lib.nfs_init_context.restype = ctypes.c_void_p
    lib.nfs_get_error.restype = ctypes.c_char_p
    export, out = sys.argv[1], sys.argv[2]

    def context(uid, gid):
        deadline = time.monotonic() + 30
        while True:
            nfs = ctypes.c_void_p(lib.nfs_init_context())
            lib.nfs4_set_client_name(nfs, f"client-{uid}".encode())
            lib.nfs_set_version(nfs, 4)
            lib.nfs_set_uid(nfs, uid)
            lib.nfs_set_gid(nfs, gid)
            if lib.nfs_mount(nfs, b"127.0.0.1", export.encode()) == 0:
                return nfs
            if time.monotonic() > deadline:
                raise SystemExit("mount: " + lib.nfs_get_error(nfs).decode(errors="replace"))
            lib.nfs_destroy_context(nfs)
            time.sleep(0.3)

    def call(nfs, name, *args):
        if name == "creat":
            handle = ctypes.c_void_p()
            rc = lib.nfs_creat(nfs, args[0].encode(), args[1], ctypes.byref(handle))
            rc == 0 and lib.nfs_close(nfs, handle)
        elif name == "open":
            handle = ctypes.c_void_p()
            rc = lib.nfs_open(nfs, args[0].encode(), os.O_RDONLY, ctypes.byref(handle))
            rc == 0 and lib.nfs_close(nfs, handle)
        else:
            rc = getattr(lib, "nfs_" + name)(nfs, *[a.encode() if isinstance(a, str) else a for a in args])
        return "ok" if rc == 0 else lib.nfs_get_error(nfs).decode(errors="replace")

    trainee, admin = context(1000, 100), context(0, 0)
    done = {
        "trainee creates notes.txt": call(trainee, "creat", "/shared/notes.txt", 0o644),
        "trainee chmods notes.txt 600": call(trainee, "chmod", "/shared/notes.txt", 0o600),
        "trainee creates run.sh": call(trainee, "creat", "/shared/run.sh", 0o755),
        "trainee chmods run.sh 2755": call(trainee, "chmod", "/shared/run.sh", 0o2755),
        "root creates home/alice": call(admin, "mkdir2", "/home/alice", 0o755),
        "root creates home/alice/start.ipynb": call(admin, "creat", "/home/alice/start.ipynb", 0o644),
        "root chowns start.ipynb to 1000:100": call(admin, "chown", "/home/alice/start.ipynb", 1000, 100),
        "root opens notes.txt": call(admin, "open", "/shared/notes.txt"),
    }
    json.dump(done, open(out, "w"), indent=1)
""")


@dataclass
class Served:
    caps: tuple[str, ...]
    done: dict[str, str]  # the client's operations: "ok" or the error
    files: dict[str, tuple[int, int, int] | None]  # path in the export: (mode, uid, gid)
    bounding: set[str]  # Ganesha's bounding set, as /proc says
    log: str
    processes: str

    def works(self, scenario: str) -> bool:
        ok = lambda *ops: all(self.done.get(op) == "ok" for op in ops)
        notes, script, handed = (self.files.get(p) for p in ("shared/notes.txt", "shared/run.sh",
                                                              "home/alice/start.ipynb"))
        return {
            "a trainee creates a file that is theirs": ok("trainee creates notes.txt") and notes is not None,
            "a trainee's new file is theirs": ok("trainee creates notes.txt") and notes is not None and notes[1] == 1000,
            "a trainee's new file is in their group": ok("trainee creates notes.txt") and notes is not None and notes[2] == 100,
            "a trainee chmods their file": ok("trainee chmods notes.txt 600") and notes is not None and notes[0] == 0o600,
            "a trainee's set-group-ID bit stays": ok("trainee chmods run.sh 2755") and script is not None and script[0] == 0o2755,
            "root creates a folder in the home folder": ok("root creates home/alice") and self.files.get("home/alice") is not None,
            "root hands a file to a trainee": ok("root chowns start.ipynb to 1000:100") and handed is not None and handed[1:] == (1000, 100),
            "root reads a trainee's private file": ok("root opens notes.txt"),
        }[scenario]


SCENARIOS = ("a trainee creates a file that is theirs", "a trainee's new file is theirs",
             "a trainee's new file is in their group", "a trainee chmods their file",
             "a trainee's set-group-ID bit stays", "root creates a folder in the home folder",
             "root hands a file to a trainee", "root reads a trainee's private file")
SERVE_TOOLS = ("unshare", "setpriv", "ip", "rpcbind", "dbus-daemon", "ganesha.nfsd")


def available_capabilities() -> set[str]:
    """The capabilities this machine can give: its bounding set (a sandbox may lack some)."""
    bounding = int(re.search(r"^CapBnd:\s*([0-9a-f]+)", Path("/proc/self/status").read_text(), re.M).group(1), 16)
    return {name for name, bit in CAPABILITY_BITS.items() if bounding >> bit & 1}


@pytest.fixture(scope="module")
def serve(gke, tmp_path_factory):
    missing = [tool for tool in SERVE_TOOLS if shutil.which(tool) is None]
    if missing or os.geteuid() != 0 or not Path("/etc/ganesha/ganesha.conf").exists():
        require_engine(f"the NFS server's capabilities for real need root and {', '.join(SERVE_TOOLS)} "
                       f"(missing: {', '.join(missing) or 'root'}; ./tools/test installs Debian's nfs-ganesha)")
    if LIBNFS is None:
        require_engine("the NFS server's capabilities for real need a user-space NFS client: apt-get install libnfs13 "
                       "(./tools/test does, as root)")
    config = one(gke, "kubernetes:core/v1:ConfigMap", "nfs-server").inputs["data"]["ganesha.conf"]
    command = container(one(gke, "kubernetes:apps/v1:Deployment", "nfs-server"))["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    cache: dict[tuple[str, ...], Served] = {}

    def run(caps: tuple[str, ...]) -> Served:
        if caps in cache:
            return cache[caps]
        root = tmp_path_factory.mktemp("serve")
        export, out = root / "export", root / "out"
        out.mkdir()
        # The export as prepare-folders.sh leaves it (its test below): the folders the notebook user's, shared 2775.
        for folder, mode in (("public", 0o755), ("shared", 0o2775), ("home", 0o755)):
            (export / folder).mkdir(parents=True)
            os.chown(export / folder, NOTEBOOK_UID, NOTEBOOK_GID)
            os.chmod(export / folder, mode)
        # libnfs speaks NFS v4.0, which our export leaves out (Minor_Versions = 1, 2): added for this client only;
        # Ganesha's file system calls, which the capabilities are for, are the same in every minor version.
        adapted = adapted_config(config, export)
        assert adapted.count("Minor_Versions = 1, 2;") == 1
        (root / "ganesha.conf").write_text(adapted.replace("Minor_Versions = 1, 2;", "Minor_Versions = 0, 1, 2;"))
        environment = {**os.environ, "CONFIG": str(root / "ganesha.conf"), "START": command[2], "OUT": str(out),
                       "CAPS": ",".join(f"+{c.lower()}" for c in caps), "PYTHON": sys.executable,
                       "CLIENT": CLIENT, "EXPORT": str(export), "LIBNFS": LIBNFS}
        done = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--",
                               "/bin/sh", "-c", SERVE], env=environment, capture_output=True, text=True, timeout=180)
        if done.returncode != 0 and "unshare failed" in done.stderr:
            require_engine(f"namespaces for the NFS server: {done.stderr.strip().splitlines()[-1]}")

        def stat(path: str):
            try:
                found = os.stat(export / path)
            except FileNotFoundError:
                return None
            return found.st_mode & 0o7777, found.st_uid, found.st_gid

        read = lambda name: (out / name).read_text() if (out / name).exists() else ""
        bits = re.search(r"^CapBnd:\s*([0-9a-f]+)", read("capabilities"), re.M)
        served = Served(
            caps=caps,
            done=json.loads(read("client.json") or "{}"),
            files={p: stat(p) for p in ("shared/notes.txt", "shared/run.sh", "home/alice", "home/alice/start.ipynb")},
            bounding={n for n, b in CAPABILITY_BITS.items() if bits and int(bits.group(1), 16) >> b & 1},
            log=read("server.log") + read("client.log"),
            processes=read("processes"),
        )
        cache[caps] = served
        return served

    return run


def the_programs_capabilities() -> tuple[str, ...]:
    """NFS_SERVER_CAPABILITIES less what this machine cannot give; only SYS_RESOURCE may be missing (below)."""
    missing = set(NFS_SERVER_CAPABILITIES) - available_capabilities()
    if missing - {"SYS_RESOURCE"}:
        pytest.skip(f"this machine cannot give the NFS server's capabilities {sorted(missing)}")
    return tuple(c for c in NFS_SERVER_CAPABILITIES if c not in missing)


def test_the_container_adds_exactly_the_capabilities_named_here(gke):
    context = container(one(gke, "kubernetes:apps/v1:Deployment", "nfs-server"))["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": list(NFS_SERVER_CAPABILITIES)}
    assert context["allowPrivilegeEscalation"] is False and context["runAsUser"] == 0
    assert set(NEEDS) | {"SYS_RESOURCE"} == set(NFS_SERVER_CAPABILITIES)


@pytest.mark.engines
def test_the_server_serves_trainees_and_root_with_exactly_the_programs_capabilities(serve):
    served = serve(the_programs_capabilities())
    assert served.bounding == set(served.caps), served.log
    assert not any(text in served.log for text in LOGGED_WITHOUT.values())
    assert {scenario: served.works(scenario) for scenario in SCENARIOS} == dict.fromkeys(SCENARIOS, True), (
        served.done, served.files, served.log[-3000:])
    # rpcbind and dbus-daemon ran, and dropped to their own users (Debian's _rpc and messagebus).
    users = {line.split()[1]: line.split()[0] for line in served.processes.splitlines()[1:]}
    assert users.get("rpcbind") not in (None, "root") and users.get("dbus-daemon") not in (None, "root"), served.processes


@pytest.mark.engines
def test_without_sys_resource_the_server_only_keeps_the_open_files_limit(serve):
    """SYS_RESOURCE is for `ulimit -n` alone (OPEN_FILES_LIMIT), whose failure only warns; Ganesha drops it itself
    once started (lower_my_caps, src/MainNFSD/nfs_init.c). This machine may not have it to give."""
    served = serve(tuple(c for c in the_programs_capabilities() if c != "SYS_RESOURCE"))
    assert "nfs-server: could not raise the open-files limit" in served.log or os.getrlimit(os.RLIMIT_NOFILE)[1] >= 2**20
    assert all(served.works(scenario) for scenario in SCENARIOS), served.log[-3000:]


# What Ganesha logs when it lacks a capability it uses for every caller (src/os/linux/subr.c, setuser;
# src/FSAL/access_check.c, fsal_set_credentials).
LOGGED_WITHOUT = {"SETUID": "Could not set user identity Operation not permitted",
                  "SETGID": "set_threadgroups() returned Operation not permitted"}


@pytest.mark.engines
@pytest.mark.parametrize("capability", sorted(NEEDS))
def test_each_capability_is_needed(serve, capability):
    served = serve(tuple(c for c in the_programs_capabilities() if c != capability))
    assert served.done, served.log[-3000:]  # the server started and the client reached it
    assert not served.works(NEEDS[capability]), (served.done, served.files)
    assert LOGGED_WITHOUT.get(capability, "") in served.log


@pytest.mark.engines
def test_net_bind_service_is_not_needed(serve):
    """rpcbind cannot take port 111 without it, but Ganesha registers NFS v4 on rpcbind's local socket, and neither
    the container nor the Service offers port 111: the full set above has no NET_BIND_SERVICE and serves."""
    assert "NET_BIND_SERVICE" not in NFS_SERVER_CAPABILITIES
    assert serve(the_programs_capabilities()).done


# --- 4. The storage scripts' users and capabilities --------------------------------------------------------------


def prepare(export: Path, caps: tuple[str, ...]) -> subprocess.CompletedProcess:
    """prepare-folders.sh as root with exactly caps, on this machine's sh and coreutils (the image's are BusyBox's,
    whose chown and chmod make the same system calls)."""
    environment = {"PATH": os.environ["PATH"], "EXPORT_DIR": str(export), "PUBLIC_FOLDER": "public",
                   "SHARED_FOLDER": "shared", "HOME_FOLDER": "home", "USER_UID": str(NOTEBOOK_UID),
                   "USER_GID": str(NOTEBOOK_GID)}
    return subprocess.run(["setpriv", "--bounding-set", "-all," + ",".join(f"+{c.lower()}" for c in caps),
                           "--inh-caps", "-all", "--", "sh", "-c", PREPARE_FOLDERS_SCRIPT],
                          env=environment, capture_output=True, text=True)


def folders(export: Path) -> dict[str, tuple[int, int, int]]:
    return {name: (s.st_mode & 0o7777, s.st_uid, s.st_gid)
            for name in ("public", "shared", "home") for s in [os.stat(export / name)]}


PREPARED = {"public": (0o755, NOTEBOOK_UID, NOTEBOOK_GID), "shared": (0o2775, NOTEBOOK_UID, NOTEBOOK_GID),
            "home": (0o755, NOTEBOOK_UID, NOTEBOOK_GID)}
needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="runs the scripts as root under setpriv (util-linux)")


@needs_root
def test_prepare_folders_runs_with_exactly_its_capabilities(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    done = prepare(export, PREPARE_FOLDERS_CAPABILITIES)
    assert done.returncode == 0 and folders(export) == PREPARED, done.stderr
    # Again on folders that someone changed: it sets owner and mode back.
    os.chown(export / "shared", 0, 0)
    os.chmod(export / "public", 0o700)
    done = prepare(export, PREPARE_FOLDERS_CAPABILITIES)
    assert done.returncode == 0 and folders(export) == PREPARED, done.stderr


@needs_root
@pytest.mark.parametrize("capability", PREPARE_FOLDERS_CAPABILITIES)
def test_prepare_folders_needs_each_of_its_capabilities(tmp_path, capability):
    export = tmp_path / "export"
    export.mkdir()
    done = prepare(export, tuple(c for c in PREPARE_FOLDERS_CAPABILITIES if c != capability))
    assert done.returncode != 0 or folders(export) != PREPARED


@needs_root
def test_the_dataset_job_writes_the_public_folder_as_the_notebook_user(gke, tmp_path):
    """seed-datasets.sh as uid 1000, group 100, no capabilities, into the public folder prepare-folders.sh left."""
    job = [r for r in gke.of_type("kubernetes:batch/v1:Job") if r.inputs["metadata"]["name"].startswith("seed-")][0]
    pod = pod_spec(job)["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["runAsNonRoot"]) == (NOTEBOOK_UID, NOTEBOOK_GID, True)
    reachable = Path(tempfile.mkdtemp(prefix="seed-datasets-"))  # not below pytest's folder, which is root's alone
    os.chmod(reachable, 0o755)
    export = reachable / "export"
    export.mkdir()
    assert prepare(export, PREPARE_FOLDERS_CAPABILITIES).returncode == 0
    source = reachable / "source.csv"
    source.write_text("a,b\n1,2\n")
    lines = f"file://{source} - mnist/train.csv"
    environment = {"PATH": os.environ["PATH"], "DATASETS": lines, "PUBLIC_DIR": str(export / "public")}
    done = subprocess.run(["setpriv", "--reuid", str(NOTEBOOK_UID), "--regid", str(NOTEBOOK_GID), "--clear-groups",
                           "--bounding-set", "-all", "--inh-caps", "-all", "--no-new-privs", "--",
                           "sh", "-c", SEED_DATASETS_SCRIPT], env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    copied = os.stat(export / "public" / "mnist" / "train.csv")
    shutil.rmtree(reachable)
    assert (copied.st_uid, copied.st_gid, copied.st_mode & 0o777) == (NOTEBOOK_UID, NOTEBOOK_GID, 0o644)
