"""What the program takes for granted about the images it runs, held to what upstream says (issue 10, item 2).

Every test's docstring names the upstream file, at the tag or commit, that states the fact; the constants'
comments in components/ cite the same. A test fails when a constant moves away from the cited value: re-check
the image upstream before changing both.

The two storage scripts are also checked against the tools their images provide: statically (every command they
invoke is one of the image's tools or a shell built-in) and for real (they run with a PATH that holds nothing but
the image's tools, taken from this machine).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

from components.storage import datasets
from components.storage import folders
from components.services import hdfs
from components.hub import hub
from components.settings import DEFAULT_PROFILES, PYSPARK_IMAGE

FILES = Path(__file__).resolve().parent.parent / "components" / "storage" / "files"

# --- The tools each image provides ---------------------------------------------------------------------------

# docker.io/library/busybox:1.37.0 (amd64): every name in /bin of the image's one layer, sha256 436a1b1f...
# (docker-library/busybox, branch dist-amd64 at 70ce0fb98bee360bbcce132660d727bf6ce55a99,
# latest-1/glibc/amd64/rootfs.tar.gz; "busybox --install /bin" in latest-1/glibc/Dockerfile.builder at
# e7bf068f570ae5a3236675c3c6b22a576773e833), getconf copied from Debian beside them.
BUSYBOX_1_37_0_BIN = frozenset("""
[ [[ acpid add-shell addgroup adduser adjtimex ar arch arp arping ascii ash awk base32 base64 basename bc beep
blkdiscard blkid blockdev bootchartd brctl bunzip2 busybox bzcat bzip2 cal cat chat chattr chgrp chmod chown chpasswd
chpst chroot chrt chvt cksum clear cmp comm conspy cp cpio crc32 crond crontab cryptpw cttyhack cut date dc dd
deallocvt delgroup deluser depmod devmem df dhcprelay diff dirname dmesg dnsd dnsdomainname dos2unix dpkg dpkg-deb du
dumpkmap dumpleases echo ed egrep eject env envdir envuidgid ether-wake expand expr factor fakeidentd fallocate false
fatattr fbset fbsplash fdflush fdformat fdisk fgconsole fgrep find findfs flock fold free freeramdisk fsck fsck.minix
fsfreeze fstrim fsync ftpd ftpget ftpput fuser getconf getfattr getopt getty grep groups gunzip gzip halt hd hdparm
head hexdump hexedit hostid hostname httpd hush hwclock i2cdetect i2cdump i2cget i2cset i2ctransfer id ifconfig ifdown
ifenslave ifplugd ifup inetd init inotifyd insmod install ionice iostat ip ipaddr ipcalc ipcrm ipcs iplink ipneigh
iproute iprule iptunnel kbd_mode kill killall killall5 klogd last less link linux32 linux64 linuxrc ln loadfont
loadkmap logger login logname logread losetup lpd lpq lpr ls lsattr lsmod lsof lspci lsscsi lsusb lzcat lzma lzop
makedevs makemime man md5sum mdev mesg microcom mim mkdir mkdosfs mke2fs mkfifo mkfs.ext2 mkfs.minix mkfs.vfat mknod
mkpasswd mkswap mktemp modinfo modprobe more mount mountpoint mpstat mt mv nameif nanddump nandwrite nbd-client nc
netstat nice nl nmeter nohup nologin nproc nsenter nslookup ntpd od openvt partprobe passwd paste patch pgrep pidof
ping ping6 pipe_progress pivot_root pkill pmap popmaildir poweroff powertop printenv printf ps pscan pstree pwd pwdx
raidautorun rdate rdev readahead readlink readprofile realpath reboot reformime remove-shell renice reset resize
resume rev rm rmdir rmmod route rpm rpm2cpio rtcwake run-init run-parts runlevel runsv runsvdir rx script
scriptreplay sed seedrng sendmail seq setarch setconsole setfattr setfont setkeycodes setlogcons setpriv setserial
setsid setuidgid sh sha1sum sha256sum sha3sum sha512sum showkey shred shuf slattach sleep smemcap softlimit sort split
ssl_client start-stop-daemon stat strings stty su sulogin sum sv svc svlogd svok swapoff swapon switch_root sync
sysctl syslogd tac tail tar taskset tc tcpsvd tee telnet telnetd test tftp tftpd time timeout top touch tr traceroute
traceroute6 tree true truncate ts tsort tty ttysize tunctl ubiattach ubidetach ubimkvol ubirename ubirmvol ubirsvol
ubiupdatevol udhcpc udhcpc6 udhcpd udpsvd uevent umount uname unexpand uniq unix2dos unlink unlzma unshare unxz unzip
uptime users usleep uudecode uuencode vconfig vi vlock volname w wall watch watchdog wc wget which who whoami whois
xargs xxd xz xzcat yes zcat zcip
""".split())

# Debian 12's coreutils (9.1-1, "Essential: yes", so in every Debian 12 system): the programs of its /bin and /usr/bin.
DEBIAN_12_COREUTILS = frozenset("""
[ arch b2sum base32 base64 basename basenc cat chcon chgrp chmod chown chroot cksum comm cp csplit cut date dd df dir
dircolors dirname du echo env expand expr factor false fmt fold groups head hostid id install join link ln logname ls
md5sum mkdir mkfifo mknod mktemp mv nice nl nohup nproc numfmt od paste pathchk pinky pr printenv printf ptx pwd
readlink realpath rm rmdir runcon seq sha1sum sha224sum sha256sum sha384sum sha512sum shred shuf sleep sort split stat
stdbuf stty sum sync tac tail tee test timeout touch tr true truncate tsort tty uname unexpand uniq unlink users vdir wc
who whoami yes
""".split())
# gcr.io/google.com/cloudsdktool/google-cloud-cli:555.0.0-slim: "FROM marketplace.gcr.io/google/debian12:latest" and
# the commands of what it installs ("curl", "git", "gnupg", "openssh-client", "python3-pip", "lsb-release",
# "google-cloud-cli=${CLOUD_SDK_VERSION}-0" with gcloud, gsutil and bq, which the Dockerfile runs to check them)
# (GoogleCloudPlatform/cloud-sdk-docker, debian_slim/Dockerfile at b8db7c9eda7dac3c824959698cee461442ee2d26).
CLOUD_CLI_SLIM_TOOLS = DEBIAN_12_COREUTILS | {"sh", "bash", "curl", "git", "gpg", "ssh", "scp", "python3", "pip3",
                                              "lsb_release", "gcloud", "gsutil", "bq"}

# Commands that the POSIX shell language itself provides (special built-ins, and read, which sets shell variables):
# dash (Debian's sh) and BusyBox's ash both build them in.
SHELL_BUILTINS = frozenset({":", "set", "exit", "return", "continue", "break", "read", "exec", "shift"})


def _data_file(name: str) -> Path:
    return FILES / name


def commands(script: str) -> set[str]:
    """The commands a shell script invokes (not its own functions): the first word of every simple command,
    command substitutions and case arms included."""
    text = re.sub(r"<<(\w+)\n.*?\n\1\n", "\n", script, flags=re.S)  # here-document bodies are data
    text = re.sub(r"(^|\s)#.*$", "", text, flags=re.M)
    functions = set(re.findall(r"^\s*([A-Za-z_]\w*)\(\)", text, flags=re.M))
    found = set()
    for segment in re.split(r"\$\(|[;\n|&(){}]|\b(?:if|then|else|elif|do|while|until)\b", text):
        words = segment.split()
        if not words or words[0] in {"fi", "done", "esac", "case", "for", "in", "!"} or "=" in words[0]:
            continue
        if re.fullmatch(r"[A-Za-z_][\w.-]*|\[|:", words[0]) and words[0] not in functions:
            found.add(words[0])
    return found


# --- apache/hadoop:3.4.2 (components/services/hdfs.py) ---------------------------------------------------------------


def test_hadoop_image_is_the_one_checked():
    """apache/hadoop branch docker-hadoop-3.4.2 (HADOOP-19711, apache/hadoop pull request #8005): the facts below
    were checked for this tag; another tag needs them checked again."""
    assert hdfs.HADOOP_IMAGE == "apache/hadoop:3.4.2"


def test_hadoop_runs_as_the_runners_hadoop_user():
    """apache/hadoop Dockerfile at 02cf95182546783e0bf137573c96a6fc219c9274 (docker-hadoop-runner):
    'RUN useradd --uid 1000 hadoop --gid 100 --home /opt/hadoop', 'USER hadoop'."""
    assert (hdfs.HADOOP_USER, hdfs.HADOOP_GROUP) == (1000, 100)


def test_hadoop_configuration_is_in_hadoop_home():
    """apache/hadoop Dockerfile at f309d08bb1b25f92a8bc55d263c1534514a79f75 (docker-hadoop-3): Hadoop unpacked as
    /opt/hadoop ('mv hadoop* hadoop' in /opt), its configuration in etc/hadoop."""
    assert hdfs.CONFIG_DIR == "/opt/hadoop/etc/hadoop"


def test_hadoop_mounts_replace_only_the_site_files():
    """apache/hadoop hadoop-common-project/hadoop-common/src/main/conf (core-site.xml, hadoop-env.sh,
    log4j.properties) and hadoop-hdfs-project/hadoop-hdfs/src/main/conf/hdfs-site.xml make etc/hadoop; the docker
    Dockerfile (at f309d08bb1b25f92a8bc55d263c1534514a79f75) adds its own log4j.properties, which is kept."""
    mounts = {m.mount_path: m.sub_path for m in hdfs._config_mounts()}
    assert mounts == {f"{hdfs.CONFIG_DIR}/core-site.xml": "core-site.xml",
                      f"{hdfs.CONFIG_DIR}/hdfs-site.xml": "hdfs-site.xml"}


def test_hadoop_formats_with_the_documented_options():
    """apache/hadoop hadoop-hdfs-project/hadoop-hdfs/src/site/markdown/HDFSCommands.md, namenode:
    '[-format [-clusterid cid ] [-force] [-nonInteractive] ]'."""
    assert "exec hdfs namenode -format -nonInteractive -force" in hdfs.FORMAT_ONCE


# --- google-cloud-cli:555.0.0-slim (components/storage/datasets.py, files/seed-datasets.sh) -------------------------


def test_cloud_cli_image_is_the_one_checked():
    """GoogleCloudPlatform/cloud-sdk-docker generate_cloudbuild.py (at 4d912428f54aecf49c855b52bd863baa53db5c28):
    'debian_slim': 'slim', REBRAND_NAME='google-cloud-cli', GCRIO_PROJECT='google.com/cloudsdktool'; 555.0.0 was
    built from debian_slim/Dockerfile as at b8db7c9eda7dac3c824959698cee461442ee2d26."""
    assert datasets.CLOUD_CLI_IMAGE == "gcr.io/google.com/cloudsdktool/google-cloud-cli:555.0.0-slim"


def test_seed_datasets_invokes_exactly_these_commands():
    """The script's commands, found by commands(): what the next test holds to the image."""
    assert commands(_data_file("seed-datasets.sh").read_text()) == {
        ":", "set", "read", "continue", "exit", "[", "echo", "sha256sum", "cut", "gcloud", "curl", "mkdir", "dirname",
        "rm", "chmod", "mv"}


def test_seed_datasets_uses_only_what_the_cloud_cli_image_provides():
    """GoogleCloudPlatform/cloud-sdk-docker debian_slim/Dockerfile at b8db7c9eda7dac3c824959698cee461442ee2d26
    (Debian 12, curl, google-cloud-cli) and Debian 12's coreutils 9.1-1."""
    assert commands(_data_file("seed-datasets.sh").read_text()) <= CLOUD_CLI_SLIM_TOOLS | SHELL_BUILTINS


# --- busybox:1.37.0 (components/storage/folders.py, files/prepare-folders.sh) ---------------------------------------


def test_busybox_image_is_the_one_checked():
    """docker-library/official-images library/busybox at 37079fb336f572a88700cf32e5e1f6be54a04e8f:
    'Tags: 1.37.0, 1.37' from latest-1/glibc (amd64), whose applets BUSYBOX_1_37_0_BIN lists."""
    assert folders.BUSYBOX_IMAGE == "docker.io/library/busybox:1.37.0"


def test_prepare_folders_invokes_exactly_these_commands():
    """The script's commands, found by commands(): what the next test holds to the image."""
    assert commands(_data_file("prepare-folders.sh").read_text()) == {
        ":", "set", "[", "mkdir", "stat", "chown", "chmod", "echo"}


def test_prepare_folders_uses_only_busybox_applets():
    """docker-library/busybox dist-amd64 at 70ce0fb98bee360bbcce132660d727bf6ce55a99,
    latest-1/glibc/amd64/rootfs.tar.gz: /bin."""
    assert commands(_data_file("prepare-folders.sh").read_text()) <= BUSYBOX_1_37_0_BIN | SHELL_BUILTINS


# --- The scripts, run with nothing but their image's tools on PATH ------------------------------------------


def image_path(tmp_path: Path, tools: frozenset[str], fakes: dict[str, str] | None = None) -> tuple[Path, Path]:
    """A PATH directory with this machine's programs for the image's tools (each logging its name), and fakes."""
    bin_dir = tmp_path / "image-bin"
    bin_dir.mkdir()
    log = tmp_path / "invoked.log"
    for tool in sorted(tools):
        real = shutil.which(tool)
        if real and re.fullmatch(r"[\w.-]+", tool):
            (bin_dir / tool).write_text(f'#!/bin/sh\necho {tool} >> "{log}"\nexec "{real}" "$@"\n')
            (bin_dir / tool).chmod(0o755)
    for tool, body in (fakes or {}).items():
        assert tool in tools
        (bin_dir / tool).write_text(f'#!/bin/sh\necho {tool} >> "{log}"\n{body}')
        (bin_dir / tool).chmod(0o755)
    return bin_dir, log


def run_in_image(script: str, bin_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    # /bin/sh is the images' sh (dash on Debian; BusyBox's ash is /bin/sh in busybox), the only program not on PATH.
    return subprocess.run(["/bin/sh", str(FILES / script)], env={"PATH": str(bin_dir), **env},
                          capture_output=True, text=True)


def invoked(log: Path) -> set[str]:
    return set(log.read_text().split()) if log.exists() else set()


def test_prepare_folders_runs_with_busybox_applets_only(tmp_path):
    """docker-library/busybox dist-amd64 at 70ce0fb98bee360bbcce132660d727bf6ce55a99 (/bin of the image)."""
    bin_dir, log = image_path(tmp_path, BUSYBOX_1_37_0_BIN)
    export = tmp_path / "export"
    export.mkdir()
    env = {"EXPORT_DIR": str(export), "PUBLIC_FOLDER": "public", "SHARED_FOLDER": "shared", "HOME_FOLDER": "home",
           "USER_UID": str(os.getuid()), "USER_GID": str(os.getgid())}
    (export / "shared").mkdir(mode=0o700)  # an existing folder with another mode: the chmod branch runs too
    done = run_in_image("prepare-folders.sh", bin_dir, env)
    assert (done.returncode, done.stderr, invoked(log)) == (0, "", {"mkdir", "stat", "chmod"})


def test_seed_datasets_runs_with_the_cloud_cli_images_tools_only(tmp_path):
    """GoogleCloudPlatform/cloud-sdk-docker debian_slim/Dockerfile at b8db7c9eda7dac3c824959698cee461442ee2d26 and
    Debian 12's coreutils; curl and gcloud are fakes serving local files (no network in tests)."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "iris.data").write_bytes(b"5.1,3.5\n")
    (served / "reviews.csv").write_bytes(b"id\n")
    fakes = {
        # curl ... --output FILE URL
        "curl": textwrap.dedent(f"""\
            while [ $# -gt 1 ]; do [ "$1" = "--output" ] && out="$2"; shift; done
            exec /bin/cp "{served}/${{1##*/}}" "$out"
            """),
        # gcloud storage cp gs://BUCKET/OBJECT FILE
        "gcloud": f'exec /bin/cp "{served}/${{3##*/}}" "$4"\n',
    }
    bin_dir, log = image_path(tmp_path, CLOUD_CLI_SLIM_TOOLS, fakes)
    public = tmp_path / "export" / "public"
    public.mkdir(parents=True)
    digest = hashlib.sha256(b"5.1,3.5\n").hexdigest()
    lines = f"https://example.org/iris.data {digest} datasets/iris.data\ngs://bucket/reviews.csv - reviews.csv"
    env = {"DATASETS": lines, "PUBLIC_DIR": str(public)}
    first, again = run_in_image("seed-datasets.sh", bin_dir, env), run_in_image("seed-datasets.sh", bin_dir, env)
    wrong = run_in_image("seed-datasets.sh", bin_dir,
                         {**env, "DATASETS": f"https://example.org/reviews.csv {digest} wrong.csv"})
    assert ((first.returncode, first.stderr), (again.returncode, again.stderr), "expected" in wrong.stderr,
            invoked(log)) == ((0, ""), (0, ""), True,
                              {"curl", "gcloud", "sha256sum", "cut", "mkdir", "dirname", "rm", "chmod", "mv"})


# --- The Jupyter Docker Stacks images (components/storage/folders.py, components/hub/hub.py) ---------------------------


def test_notebook_images_are_the_ones_checked():
    """jupyter/docker-stacks tags images with their build date (tagging/taggers/date.py); the last image builds
    of 2026-08-07 and 2026-08-08 ran on main at 92e38afb8743c95e67b098695cc332e7d05a0568 and
    8209386950497966c8a9aa446b9a84a5dd78eab5, the commits the facts below are read at."""
    images = {PYSPARK_IMAGE, *(p["image"] for p in DEFAULT_PROFILES if p["image"].startswith("quay.io/jupyter/"))}
    assert {image.rsplit(":", 1)[1] for image in images} <= {"2026-08-07", "2026-08-08"}


def test_notebook_user_is_jovyan_1000_users_100():
    """jupyter/docker-stacks images/docker-stacks-foundation/Dockerfile (92e38afb, 82093869):
    'ARG NB_UID="1000"', 'ARG NB_GID="100"'."""
    assert (folders.NOTEBOOK_UID, folders.NOTEBOOK_GID) == (1000, 100)


def test_notebook_home_is_home_jovyan():
    """jupyter/docker-stacks images/docker-stacks-foundation/Dockerfile (92e38afb, 82093869):
    'ARG NB_USER="jovyan"', 'HOME="/home/${NB_USER}"'."""
    assert hub.HOME == "/home/jovyan"


def test_notebook_local_state_is_in_tmp():
    """jupyter/docker-stacks images/docker-stacks-foundation/Dockerfile (92e38afb, 82093869): 'USER ${NB_UID}',
    then 'WORKDIR /tmp' for the Python install, so jovyan writes to /tmp."""
    assert hub.LOCAL_STATE_DIR == "/tmp"


def test_ipython_searches_the_config_directory_the_hub_writes_to():
    """ipython/ipython 9.16.1 IPython/core/application.py: SYSTEM_CONFIG_DIRS = ["/usr/local/etc/ipython",
    "/etc/ipython"] (the installed IPython is asked)."""
    from IPython.core.application import SYSTEM_CONFIG_DIRS

    assert os.path.dirname(hub.IPYTHON_CONFIG) in SYSTEM_CONFIG_DIRS


def test_jupyter_searches_the_config_directory_the_hub_writes_to():
    """jupyter/jupyter_core v5.9.1 jupyter_core/paths.py: SYSTEM_CONFIG_PATH = ["/usr/local/etc/jupyter",
    "/etc/jupyter"] without JUPYTER_PLATFORM_DIRS, which no image in jupyter/docker-stacks sets."""
    from jupyter_core.paths import SYSTEM_CONFIG_PATH

    assert os.path.dirname(hub.JUPYTER_SERVER_CONFIG) in SYSTEM_CONFIG_PATH


def rendered_extra_file(preview, key: str, tmp_path: Path) -> Path:
    """The file the chart writes for singleuser.extraFiles[key] (data as JSON for a .json mountPath:
    jupyterhub/zero-to-jupyterhub-k8s 4.4.0, jupyterhub/templates/_helpers.tpl), in a stand-in directory."""
    entry = preview.releases()[hub.RELEASE_NAME].inputs["values"]["singleuser"]["extraFiles"][key]
    assert entry["mountPath"].endswith(".json")
    path = tmp_path / os.path.basename(entry["mountPath"])
    path.write_text(json.dumps(entry["data"]))
    return path


def test_ipython_reads_the_history_file_setting_from_the_hubs_file(gke, tmp_path):
    """ipython/ipython 9.16.1 IPython/core/application.py: every BaseIPythonApplication (the kernel's IPKernelApp
    too, ipython/ipykernel v7.3.0 ipykernel/kernelapp.py) loads 'ipython_config' from its config paths, the .json
    as well as the .py (ipython/traitlets v5.16.1 traitlets/config/application.py, _load_config_files)."""
    from IPython.core.application import BaseIPythonApplication

    app = BaseIPythonApplication()
    app.config_file_paths = [str(rendered_extra_file(gke, "ipython-config", tmp_path).parent)]
    app.load_config_file()
    assert app.config.HistoryManager.hist_file == hub.IPYTHON_HISTORY


def test_jupyter_server_reads_the_signature_database_setting_from_the_hubs_file(gke, tmp_path):
    """jupyter-server/jupyter_server v2.20.0 jupyter_server/serverapp.py: name = "jupyter-server", which
    jupyter/jupyter_core v5.9.1 jupyter_core/application.py turns into the config file jupyter_server_config;
    its contents manager's NotebookNotary takes db_file (jupyter/nbformat v5.11.0 nbformat/sign.py)."""
    from jupyter_core.application import JupyterApp

    config_dir = str(rendered_extra_file(gke, "jupyter-server-config", tmp_path).parent)

    class ServerStandIn(JupyterApp):
        name = "jupyter-server"
        config_file_paths = [config_dir]

    app = ServerStandIn()
    app.load_config_file()
    assert app.config.NotebookNotary.db_file == hub.NOTEBOOK_SIGNATURES
