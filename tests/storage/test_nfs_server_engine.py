"""The NFS server's own start command, unchanged, with the real rpcbind, D-Bus and Debian's Ganesha (4.3).

The command runs in network and mount namespaces of its own (unshare), so that rpcbind takes port 111, Ganesha
2049 and D-Bus its system socket there, never on this machine: a private /run (so /var/run, the pid file's
directory, as in the image, with the /var/run/dbus the image's Dockerfile creates) and the program's ganesha.conf
at /etc/ganesha/ganesha.conf, where the command reads it. Adapted, as this machine has no /export: the export's Path, Pseudo and RecoveryRoot point to a temporary
folder. Everything else, the command's every step and flag included, is the program's.

Asserted: the daemon starts and stays up, listens on 2049, registers NFS version 4 with rpcbind (`rpcinfo -p`),
wrote the pid file the command names, holds its clients' recovery state on the export, and stops on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.storage.nfs_server import EXPORT_PATH
from tests.engines import require_engine
from tests.kubernetes_objects import container, one

pytestmark = pytest.mark.engines

NFS_PROGRAM, NFS_PORT = "100003", "2049"

# Inside the namespaces: a private /run, the config where the command reads it, the program's command in the
# background; then, once rpcbind lists NFS v4 (or a deadline passes), what the checks read; then SIGTERM.
SCRIPT = r"""
set -u
ip link set lo up
mount -t tmpfs tmpfs /run
mkdir /run/dbus  # as the image has it: "RUN mkdir -p /var/run/dbus" (deploy/base/Dockerfile at fcadaea)
mount --bind "$CONFIG" /etc/ganesha/ganesha.conf
/bin/sh -c "$START" > "$OUT/server.log" 2>&1 &
server=$!
tries=0
until rpcinfo -p 127.0.0.1 2>/dev/null | grep -Eq "^ *$NFS_PROGRAM +4 +tcp +$NFS_PORT"; do
  tries=$((tries + 1)); [ "$tries" -gt 150 ] && break; sleep 0.2
done
sleep 3  # it stays up: checked below that the process is still there
kill -0 "$server" 2>/dev/null && echo alive > "$OUT/alive"
rpcinfo -p 127.0.0.1 > "$OUT/rpcinfo" 2>&1
ss -ltn > "$OUT/listening" 2>&1
cat /var/run/ganesha.pid > "$OUT/pid_file" 2>/dev/null
echo "$server" > "$OUT/pid"
kill -TERM "$server" 2>/dev/null
wait "$server"
echo $? > "$OUT/exit_code"
"""
TOOLS = ("unshare", "ip", "ss", "rpcbind", "rpcinfo", "dbus-daemon", "ganesha.nfsd")


def adapted_config(text: str, export: Path) -> str:
    for old in (f"Path = {EXPORT_PATH};", f"Pseudo = {EXPORT_PATH};", f"RecoveryRoot = {EXPORT_PATH};"):
        assert text.count(old) == 1, old
        text = text.replace(old, old.replace(EXPORT_PATH, str(export)))
    return text


@pytest.fixture(scope="module")
def run(gke, tmp_path_factory) -> Path:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing or os.geteuid() != 0 or not Path("/etc/ganesha/ganesha.conf").exists():
        require_engine(f"the NFS server's start command for real needs root and {', '.join(TOOLS)} "
                       f"(missing: {', '.join(missing) or 'root'}; ./tools/test installs Debian's nfs-ganesha)")
    root = tmp_path_factory.mktemp("nfs-server")
    (root / "export").mkdir()
    (root / "out").mkdir()
    config = one(gke, "kubernetes:core/v1:ConfigMap", "nfs-server").inputs["data"]["ganesha.conf"]
    (root / "ganesha.conf").write_text(adapted_config(config, root / "export"))
    command = container(one(gke, "kubernetes:apps/v1:Deployment", "nfs-server"))["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    environment = {**os.environ, "CONFIG": str(root / "ganesha.conf"), "START": command[2], "OUT": str(root / "out"),
                   "NFS_PROGRAM": NFS_PROGRAM, "NFS_PORT": NFS_PORT}
    # A PID namespace too: when its first process ends, rpcbind and D-Bus end with it.
    done = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--", "/bin/sh", "-c", SCRIPT], env=environment,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and "unshare failed" in done.stderr:
        require_engine(f"namespaces for the NFS server: {done.stderr.strip().splitlines()[-1]}")
    return root


def output(run: Path, name: str) -> str:
    file = run / "out" / name
    return file.read_text() if file.exists() else ""


def test_the_server_starts_and_stays_up(run):
    assert output(run, "alive").strip() == "alive", output(run, "server.log")


def test_ganesha_registers_nfs_version_4_with_rpcbind(run):
    registered = [line.split() for line in output(run, "rpcinfo").splitlines()]
    assert [NFS_PROGRAM, "4", "tcp", NFS_PORT, "nfs"] in registered, output(run, "rpcinfo") + output(run, "server.log")
    # NFSv4 only (Protocols = 4): no version 3, no lock manager.
    assert not any(entry[:2] == [NFS_PROGRAM, "3"] for entry in registered)
    assert not any(entry[-1:] == ["nlockmgr"] for entry in registered)


def test_ganesha_listens_on_the_nfs_port(run):
    assert any(line.split()[3].endswith(f":{NFS_PORT}") for line in output(run, "listening").splitlines()[1:])


def test_the_pid_file_names_the_server_the_command_execs(run):
    """exec makes Ganesha the container's main process: the pid file holds the shell's pid."""
    assert output(run, "pid_file").strip() == output(run, "pid").strip() != ""


def test_recovery_state_is_kept_on_the_export(run):
    assert {"v4recov", "v4old"} <= set(os.listdir(run / "export"))


def test_the_server_stops_on_sigterm(run):
    assert output(run, "exit_code").strip() == "0", output(run, "server.log")
