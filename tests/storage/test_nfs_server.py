"""The in-cluster NFS server starts Ganesha as the image's own server does, and Ganesha takes our config.

The image registry.k8s.io/sig-storage/nfs-provisioner:v4.0.8 comes from
kubernetes-sigs/nfs-ganesha-server-and-external-provisioner (v4.0.8 is commit fcadaea). Its server starts in
pkg/server/server.go (Setup: rpcbind -w, rpc.statd --port 662, dbus-daemon --system --nopidfile, the
open-files limit, a generated config with Grace_Period = 90; Run: ganesha.nfsd -F -L <log> -p <pid> -f
<config>), with the paths of cmd/nfs-provisioner/main.go (pid file /var/run/ganesha.pid); the image is built
by deploy/base/Dockerfile (Ganesha V4.0.8 under /usr/local, /var/run/dbus created, recovery root /export).
Ganesha (nfs-ganesha/nfs-ganesha V4.0.8, src/MainNFSD/nfs_main.c) exits when it cannot open its pid file.

The first tests read the Deployment and ConfigMap the program declares under Pulumi's mocks. The last ones
run Debian's ganesha.nfsd (package nfs-ganesha, with nfs-ganesha-vfs) on our config, its paths moved into a
temporary directory and its port onto 127.0.0.1; they skip where it is not installed.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from components.storage.nfs_server import EXPORT_PATH
from tests.engines import require_engine
from tests.kubernetes_objects import container, one, pod_spec

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def server(preview):
    return container(one(preview, DEPLOYMENT, "nfs-server"))


def steps(preview) -> list[str]:
    """The shell steps of the server container's command."""
    command = server(preview)["command"]
    assert command[:2] == ["/bin/sh", "-c"] and len(command) == 3
    return [step.strip() for step in command[2].split(";")]


def ganesha_argv(start: str) -> list[str]:
    """ganesha.nfsd and its arguments, from the last step of a start command."""
    last = [step.strip() for step in start.split(";")][-1]
    words = shlex.split(last)
    assert words[0] == "exec"
    return words[1:]


def flags(argv: list[str]) -> dict[str, str | None]:
    """ganesha.nfsd's options (getopt "v@L:N:f:p:FRTE:Ch" in src/MainNFSD/nfs_main.c, V4.0.8)."""
    with_value = set("LNfpE")
    found, words = {}, iter(argv[1:])
    for word in words:
        assert word.startswith("-") and len(word) == 2, word
        found[word] = next(words) if word[1] in with_value else None
    return found


def config_text(preview) -> str:
    return one(preview, CONFIG_MAP, "nfs-server").inputs["data"]["ganesha.conf"]


def blocks(text: str) -> dict[str, dict[str, str]]:
    """The top-level blocks of a Ganesha config: block name (upper case, as Ganesha matches names without
    regard to case) to its settings; nested blocks are skipped."""
    text = re.sub(r"#[^\n]*", "", text)
    found: dict[str, dict[str, str]] = {}
    for name, body in re.findall(r"(\w+)\s*\{((?:[^{}]|\{[^{}]*\})*)\}", text):
        assert name.upper() not in found, f"block {name} twice"
        body = re.sub(r"\w+\s*\{[^{}]*\}", "", body)
        settings = dict(re.findall(r"(\w+)\s*=\s*([^;]+?)\s*;", body))
        found[name.upper()] = settings
    return found


# --- the command --------------------------------------------------------------------------------------------


def test_command_runs_upstreams_start_sequence_in_order(gke):
    """pkg/server/server.go, Setup then Run: rpcbind, (statd,) dbus, the open-files limit, then Ganesha."""
    found = steps(gke)
    assert found[0] == "set -e"  # a failed step stops the container, as Setup's errors stop upstream's server
    order = ["rpcbind -w", "dbus-daemon --system --nopidfile", "ulimit -n ", "exec ganesha.nfsd "]
    positions = [next(i for i, step in enumerate(found) if step.startswith(prefix)) for prefix in order]
    assert positions == sorted(positions)
    assert positions[-1] == len(found) - 1  # Ganesha replaces the shell: it gets the pod's SIGTERM


def test_ganesha_gets_upstreams_flags_with_a_writable_pid_file(gke):
    """Run in pkg/server/server.go: -F -L <log> -p <pid> -f <config>; the pid path of cmd/nfs-provisioner/main.go."""
    argv = ganesha_argv(server(gke)["command"][2])
    assert argv[0] == "ganesha.nfsd"
    options = flags(argv)
    assert set(options) == {"-F", "-L", "-p", "-f"}
    assert options["-L"] == "STDOUT"  # the container's log, where upstream writes /export/ganesha.log
    assert options["-p"] == "/var/run/ganesha.pid"  # without -p: /usr/local/var/run/ganesha/, which is missing
    # The config file is the ConfigMap's, mounted at its directory; the pid file is not on a mounted volume.
    mounts = {m["name"]: m for m in server(gke)["volumeMounts"]}
    config = PurePosixPath(options["-f"])
    assert str(config.parent) == mounts["config"]["mountPath"] and mounts["config"]["readOnly"]
    assert config.name in one(gke, CONFIG_MAP, "nfs-server").inputs["data"]
    pid_dir = PurePosixPath(options["-p"]).parent
    assert not any(pid_dir == PurePosixPath(m["mountPath"]) or PurePosixPath(m["mountPath"]) in pid_dir.parents
                   for m in mounts.values())


def test_open_files_limit_is_upstreams_and_a_failure_only_warns(gke):
    """setRlimitNOFILE in pkg/server/server.go: 1024*1024, a warning when it cannot be raised."""
    [step] = [step for step in steps(gke) if step.startswith("ulimit ")]
    assert step.startswith(f"ulimit -n {1024 * 1024} || echo ")
    assert "SYS_RESOURCE" in server(gke)["securityContext"]["capabilities"]["add"]


def test_no_rpc_statd_as_the_server_speaks_only_nfsv4_without_nlm(gke):
    """Upstream starts rpc.statd for NLM, NFSv3's locks; our export is NFSv4 only, with NLM off."""
    assert not any("statd" in step for step in steps(gke))
    core = blocks(config_text(gke))["NFS_CORE_PARAM"]
    assert core["Protocols"] == "4" and core["Enable_NLM"] == "false"


# --- the config ---------------------------------------------------------------------------------------------


def test_grace_and_lease_are_upstreams_and_ganeshas_defaults(gke):
    """Grace_Period = 90 in pkg/server/server.go's generated config; Lease_Lifetime 60 in Ganesha's gsh_config.h."""
    nfsv4 = blocks(config_text(gke))["NFSV4"]
    assert (nfsv4["Grace_Period"], nfsv4["Lease_Lifetime"]) == ("90", "60")


def test_recovery_state_lives_on_the_export(gke):
    """deploy/base/Dockerfile compiles /export in as NFS_V4_RECOV_ROOT; we say it in the config."""
    nfsv4 = blocks(config_text(gke))["NFSV4"]
    assert nfsv4["RecoveryBackend"] == "fs"
    assert nfsv4["RecoveryRoot"] == EXPORT_PATH == blocks(config_text(gke))["EXPORT"]["Path"]
    assert {"name": "export", "mountPath": EXPORT_PATH} in server(gke)["volumeMounts"]
    [volume] = [v for v in pod_spec(one(gke, DEPLOYMENT, "nfs-server"))["volumes"] if v["name"] == "export"]
    assert set(volume) - {"name"} == {"persistentVolumeClaim"}  # the data disk: the state outlives the pod


def test_export_and_security_settings_are_kept(gke):
    export = blocks(config_text(gke))["EXPORT"]
    assert export["Path"] == export["Pseudo"] == "/export"
    assert (export["Access_Type"], export["Squash"], export["SecType"]) == ("RW", "No_Root_Squash", "sys")


# --- Debian's Ganesha on our config and command ---------------------------------------------------------------

GANESHA = shutil.which("ganesha.nfsd")
VFS_FSAL = glob.glob("/usr/lib/*/ganesha/libfsalvfs.so") + glob.glob("/usr/lib*/ganesha/libfsalvfs.so")
STARTUP_SECONDS = 20
STOP_SECONDS = 30
# Debian's build lacks the RADOS URL library; Ganesha says so while loading the config, whatever it holds.
DEBIAN_ONLY_WARNINGS = ("Missing RADOS URLs backend library",)
# Daemons of the command that would take this machine's port 111 and system bus: stand-ins record their
# arguments instead. Ganesha does without both (a CRIT line for D-Bus, a MAJ one for rpcbind).
STAND_INS = ("rpcbind", "dbus-daemon")

@pytest.fixture(scope="module")
def ganesha_installed() -> None:
    if GANESHA is None or not VFS_FSAL or os.geteuid() != 0:
        require_engine("needs Debian's ganesha.nfsd with its VFS backend (apt-get install nfs-ganesha "
                       "nfs-ganesha-vfs), run as root (the VFS backend opens files by handle)")


needs_ganesha = pytest.mark.usefixtures("ganesha_installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def local_config(text: str, root: Path, port: int) -> str:
    """Our config with the export and its recovery state under root and the NFS port on 127.0.0.1."""
    replacements = {
        f"Path = {EXPORT_PATH};": f"Path = {root / 'export'};",
        f"RecoveryRoot = {EXPORT_PATH};": f"RecoveryRoot = {root / 'export'};",
        "NFS_Port = 2049;": f"NFS_Port = {port};\n    Bind_Addr = 127.0.0.1;",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def local_command(start: str, root: Path) -> tuple[str, Path]:
    """Our start command with its pid and config files under root, and where the pid file is."""
    options = flags(ganesha_argv(start))
    pid_file = root / "run" / PurePosixPath(options["-p"]).name
    for option, local in (("-p", pid_file), ("-f", root / "ganesha.conf")):
        old = f"{option} {options[option]}"
        assert start.count(old) == 1, old
        start = start.replace(old, f"{option} {local}")
    return start, pid_file


def stand_ins(root: Path) -> dict[str, str]:
    """An environment whose PATH finds recording stand-ins for STAND_INS first."""
    folder = root / "bin"
    folder.mkdir()
    for name in STAND_INS:
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "$*" > "{root}/{name}.args"\n')
        script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop(process: subprocess.Popen) -> int:
    """SIGTERM, as the kubelet sends; SIGKILL to the whole group if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return -signal.SIGKILL
    return process.returncode


@dataclass
class Run:
    pid: int  # of the container's /bin/sh
    pid_file: str | None  # its content once the server listened
    listened: bool
    exit_code: int  # after SIGTERM
    log: str  # the container's output
    export: list[str]
    stand_in_args: dict[str, str | None]


def start(gke, root: Path, make_pid_dir: bool = True) -> tuple[subprocess.Popen, Path, int, Path]:
    (root / "export").mkdir()
    if make_pid_dir:
        (root / "run").mkdir()
    port = free_port()
    (root / "ganesha.conf").write_text(local_config(config_text(gke), root, port))
    command, pid_file = local_command(server(gke)["command"][2], root)
    log_path = root / "output.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=stand_ins(root), start_new_session=True)
    return process, pid_file, port, log_path


def run_once(gke, root: Path) -> Run:
    """Runs our start command, with Debian's ganesha.nfsd on our config, until it listens; then stops it."""
    process, pid_file, port, log_path = start(gke, root)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None and not listening(port):
            time.sleep(0.2)
        listened = process.poll() is None and listening(port)
        pid_text = pid_file.read_text().strip() if pid_file.exists() else None
    finally:
        exit_code = stop(process)
    args = {name: (root / f"{name}.args").read_text().strip() if (root / f"{name}.args").exists() else None
            for name in STAND_INS}
    return Run(pid=process.pid, pid_file=pid_text, listened=listened, exit_code=exit_code,
               log=log_path.read_text(errors="replace"), export=sorted(os.listdir(root / "export")),
               stand_in_args=args)


@pytest.fixture(scope="module")
def ganesha_run(gke, tmp_path_factory, ganesha_installed) -> Run:
    return run_once(gke, tmp_path_factory.mktemp("ganesha"))


def crashed_in_rpc_teardown(run: Run) -> bool:
    """Debian's Ganesha 4.3 now and then (once in CI, never in a hundred runs here) dies of SIGSEGV in libntirpc's
    svc_shutdown, which do_shutdown calls after logging "Shutting down RPC services" (nfs-ganesha V4.3,
    src/MainNFSD/nfs_admin_thread.c): a race in the stand-in's RPC library, after the signal reached Ganesha and its
    orderly shutdown began."""
    shutdown = [line for line in run.log.splitlines() if "do_shutdown :" in line]
    return (run.exit_code == -signal.SIGSEGV and "NFS EXIT: stopping NFS service" in run.log
            and shutdown[-1].endswith("Shutting down RPC services"))


@needs_ganesha
def test_debian_ganesha_parses_our_config_without_complaint(ganesha_run):
    assert "Configuration file successfully parsed" in ganesha_run.log, ganesha_run.log
    complaints = [line for line in ganesha_run.log.splitlines()
                  if re.search(r":CONFIG :(WARN|MAJ|CRIT|FATAL)", line)
                  and not any(known in line for known in DEBIAN_ONLY_WARNINGS)]
    assert complaints == []


@needs_ganesha
def test_our_command_starts_the_daemons_then_ganesha_in_place_of_the_shell(ganesha_run):
    assert ganesha_run.stand_in_args == {"rpcbind": "-w", "dbus-daemon": "--system --nopidfile"}
    # The pid file holds the shell's pid: exec made Ganesha the container's main process, which gets SIGTERM.
    assert ganesha_run.pid_file == str(ganesha_run.pid), ganesha_run.log
    assert ganesha_run.listened, ganesha_run.log
    assert "NFS SERVER INITIALIZED" in ganesha_run.log
    assert "NFS Server Now IN GRACE, duration 90" in ganesha_run.log


@needs_ganesha
def test_debian_ganesha_keeps_recovery_state_on_the_export(ganesha_run):
    assert {"v4recov", "v4old"} <= set(ganesha_run.export), ganesha_run.log


@needs_ganesha
def test_debian_ganesha_stops_cleanly_on_sigterm(ganesha_run, gke, tmp_path):
    """Ganesha takes the SIGTERM and ends its shutdown by itself, in time. When the stand-in hit its rare RPC teardown
    crash, a second run must stop cleanly: two crashes in a row fail."""
    run = ganesha_run
    if crashed_in_rpc_teardown(run):
        run = run_once(gke, tmp_path)
    assert run.exit_code == 0, run.log
    assert "NFS EXIT: stopping NFS service" in run.log
    assert "NFS EXIT: regular exit" in run.log


def test_only_the_stand_ins_rpc_teardown_crash_earns_a_second_run():
    started = "x[Admin] do_shutdown :MAIN :EVENT :NFS EXIT: stopping NFS service\n"
    rpc = "x[Admin] do_shutdown :MAIN :EVENT :Shutting down RPC services\n"
    later = "x[Admin] do_shutdown :MAIN :EVENT :Stopping reaper threads\n"

    def run(exit_code: int, log: str) -> Run:
        return Run(pid=1, pid_file="1", listened=True, exit_code=exit_code, log=log, export=[], stand_in_args={})

    assert crashed_in_rpc_teardown(run(-signal.SIGSEGV, started + rpc))
    assert not crashed_in_rpc_teardown(run(-signal.SIGSEGV, started + rpc + later))  # a crash elsewhere
    assert not crashed_in_rpc_teardown(run(-signal.SIGSEGV, rpc))  # no orderly shutdown: SIGTERM never reached it
    assert not crashed_in_rpc_teardown(run(-signal.SIGKILL, started + rpc))  # hung: killed after STOP_SECONDS
    assert not crashed_in_rpc_teardown(run(0, started + rpc + later))


@needs_ganesha
def test_debian_ganesha_exits_when_its_pid_file_cannot_be_written(gke, tmp_path):
    """The crash loop the -p flag avoids: a pid file in a missing directory stops Ganesha at once."""
    process, _, port, log_path = start(gke, tmp_path, make_pid_dir=False)
    try:
        exit_code = process.wait(timeout=STARTUP_SECONDS)
    except subprocess.TimeoutExpired:
        stop(process)
        pytest.fail("ganesha.nfsd did not exit without its pid file")
    assert exit_code != 0
    assert re.search(r"FATAL.*pid file", log_path.read_text(errors="replace"))
    assert not listening(port)
