"""The in-cluster NFS server: NFS-Ganesha, one replica on the core pool, behind a ClusterIP Service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.storage.folders import LABELS, content_hash, prepare_folders_container
from components.storage.nfs_endpoint import NfsEndpoint
from components.settings import StorageSettings

# NFS-Ganesha 4.0.8 (VFS backend on Fedora) as built and released by Kubernetes SIG Storage
# (kubernetes-sigs/nfs-ganesha-server-and-external-provisioner) to the immutable registry.k8s.io. Ganesha
# serves NFS from user space, so the pod needs only a few capabilities (NFS_SERVER_CAPABILITIES); a kernel
# nfsd image needs a privileged pod and the nfsd module loaded on the node. The image's entrypoint is that project's
# provisioner: we run only its Ganesha, with our export (files/ganesha.conf), started as the provisioner
# starts it. Citations: "upstream" is that repository at fcadaea, the v4.0.8 release (its server files are
# unchanged from e948dd1 to master); "Ganesha" is nfs-ganesha/nfs-ganesha at tag V4.0.8.
GANESHA_IMAGE = "registry.k8s.io/sig-storage/nfs-provisioner:v4.0.8"
GANESHA_CONFIG = (Path(__file__).parent / "files" / "ganesha.conf").read_text()
GANESHA_CONFIG_DIR = "/etc/ganesha"  # the ConfigMap, read-only: upstream keeps a writable /export/vfs.conf
# (cmd/nfs-provisioner/main.go) as its provisioner adds exports; ours are fixed.
# Ganesha exits when it cannot open its pid file (src/MainNFSD/nfs_main.c, LogFatal). Its default in this
# image, /usr/local/var/run/ganesha/ganesha.pid (GANESHA_PIDFILE_PATH in src/include/config-h.in.cmake, from
# RUNTIMEDIR in src/CMakeLists.txt and the prefix /usr/local in upstream's deploy/base/Dockerfile), is in a
# directory that neither Ganesha's install nor that Dockerfile creates. Upstream's server passes
# -p /var/run/ganesha.pid (ganeshaPid in cmd/nfs-provisioner/main.go, used by Run in pkg/server/server.go).
GANESHA_PID_FILE = "/var/run/ganesha.pid"
# Upstream raises the open-files limit to 1024*1024 before Ganesha, and goes on with a warning if it cannot
# (setRlimitNOFILE in pkg/server/server.go; SYS_RESOURCE below). Ganesha itself only raises its soft limit
# to the hard one (src/FSAL/Stackable_FSALs/FSAL_MDCACHE/mdcache_lru.c).
OPEN_FILES_LIMIT = 1024 * 1024
# Upstream's start sequence (pkg/server/server.go, Setup and Run), less rpc.statd, which serves only NLM
# (NFSv3 locks; disabled in files/ganesha.conf):
# - rpcbind -w: Ganesha registers NFSv4 with it (optional for v4: src/MainNFSD/nfs_rpc_dispatcher_thread.c).
# - dbus-daemon --system --nopidfile: Ganesha's admin interface; its socket directory /var/run/dbus and
#   Ganesha's bus policy are in the image (deploy/base/Dockerfile).
# - the open-files limit (OPEN_FILES_LIMIT), for Ganesha only, as upstream raises it after starting those.
# - ganesha.nfsd in the foreground (-F), with upstream's flags, logging to the container's output.
GANESHA_START = "; ".join([
    "set -e",
    "rpcbind -w",
    "dbus-daemon --system --nopidfile",
    f"ulimit -n {OPEN_FILES_LIMIT} || echo 'nfs-server: could not raise the open-files limit' >&2",
    f"exec ganesha.nfsd -F -L STDOUT -p {GANESHA_PID_FILE} -f {GANESHA_CONFIG_DIR}/ganesha.conf",
])
# The server runs as root, as Ganesha must: it serves every user's files, switching its threads to the caller's uid
# and groups to create files (fsal_set_credentials in src/FSAL/access_check.c: setgroups, then setresgid and
# setresuid, in src/os/linux/subr.c, whose failure to set groups is fatal) and doing everything else as itself,
# after its own permission check (src/FSAL/access_check.c) - with Squash = No_Root_Squash, root clients too.
# Every other capability is dropped; each one kept is named with the operation that needs it. Each is shown needed
# by a real operation on Debian's Ganesha run with this set less that one (tests/test_security.py).
NFS_SERVER_CAPABILITIES = (
    # A root client's chown (the personal folder provisioner handing a folder to its trainee); Ganesha performs
    # SETATTR as root.
    "CHOWN",
    # Ganesha's own writes and SETATTRs as root on files and folders that belong to trainees (a trainee's chmod of
    # their own file, a root client creating in the home folder, owned by uid 1000 with mode 755).
    "DAC_OVERRIDE",
    # open_by_handle_at(2), with which the VFS backend opens every object from its file handle
    # (src/FSAL/FSAL_VFS/os/linux/handle_syscalls.c); the man page: "The caller must have the
    # CAP_DAC_READ_SEARCH capability". Upstream's docs/deployment.md: "It needs to be run with capability
    # DAC_READ_SEARCH in order for Ganesha to work".
    "DAC_READ_SEARCH",
    # SETATTR of mode or times, as root, on files owned by the trainee who asks (chmod(2): EPERM "The effective UID
    # does not match the owner of the file, and the process is not privileged (Linux: it does not have the
    # CAP_FOWNER capability)"); creating a file with its attributes fails without it too.
    "FOWNER",
    # Keeps the set-group-ID bit a trainee sets on a file or folder of group users (100), which Ganesha, as root
    # and not in that group, would otherwise lose (chmod(2); Ganesha applies the rule for the caller itself in
    # src/FSAL/fsal_helper.c, then sets the mode as root).
    "FSETID",
    # setgroups(2) and setresgid(2) for the caller's groups (above); dbus-daemon switches to its user's group.
    "SETGID",
    # setresuid(2) to create files as their owner (above); rpcbind and dbus-daemon drop to their own users.
    "SETUID",
    # `ulimit -n` above the container's hard limit (OPEN_FILES_LIMIT; upstream's docs/deployment.md: "Optionally,
    # it should be run also with capability SYS_RESOURCE so that it can set a higher limit for the number of
    # opened files"). Ganesha drops it itself once started (lower_my_caps in src/MainNFSD/nfs_init.c).
    "SYS_RESOURCE",
)
# Not kept: NET_BIND_SERVICE. rpcbind cannot bind port 111 without it but keeps serving on its local socket
# (/run/rpcbind.sock), where Ganesha registers NFS v4; port 111 is in neither the container's ports nor the
# Service, and NFS v4 clients go to 2049 directly (RFC 7530, section 3.1). The other capabilities of the
# runtime's default set (KILL, MKNOD, NET_RAW, SETFCAP, SETPCAP, SYS_CHROOT, AUDIT_WRITE) serve nothing here.
# The seccomp profile is the runtime's default: containerd allows name_to_handle_at, which the VFS backend also
# uses, to every container since 1.6.22 and 1.7.3 (containerd/containerd 9a202e342, "seccomp: always allow
# name_to_handle_at"; before, only with SYS_ADMIN, why upstream's docs ask for a "more permissive seccomp
# profile"), and open_by_handle_at to containers holding DAC_READ_SEARCH (contrib/seccomp/seccomp_default.go).
EXPORT_PATH = "/export"
NFS_PORT = 2049
SERVER_LABELS = {**LABELS, "app.kubernetes.io/name": "nfs-server"}


@dataclass(frozen=True)
class NfsServerArgs:
    settings: StorageSettings
    cluster: ClusterResult
    data_volume: dict[str, Any]  # the pod volume source that holds the export: a claim or a node's directory
    node_selector: dict[str, str]  # where the server may run (the core pool, or the node of a local path)


class NfsServer(pulumi.ComponentResource):
    """Serves the data volume as <cluster IP>:/export, creating the three folders before it starts."""

    config: k8s.core.v1.ConfigMap
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    endpoint: NfsEndpoint  # the Service's cluster IP and the export path, once the server is ready

    def __init__(self, name: str, args: NfsServerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:storage:NfsServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)
        namespace = args.cluster.namespace

        self.config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={"name": "nfs-server", "namespace": namespace, "labels": SERVER_LABELS},
            data={"ganesha.conf": GANESHA_CONFIG},
            opts=child,
        )
        nfs_port = {"tcpSocket": {"port": NFS_PORT}}
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": "nfs-server", "namespace": namespace, "labels": SERVER_LABELS},
            spec={
                "replicas": 1,
                # The data volume mounts on one node at a time: stop the old server before starting a new one.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": SERVER_LABELS},
                "template": {
                    # A changed configuration restarts the server.
                    "metadata": {"labels": SERVER_LABELS, "annotations": {"checksum/config": content_hash(GANESHA_CONFIG)}},
                    "spec": {
                        "nodeSelector": args.node_selector,
                        "automountServiceAccountToken": False,
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "initContainers": [prepare_folders_container(args.settings, EXPORT_PATH)],
                        "containers": [{
                            "name": "nfs-ganesha",
                            "image": GANESHA_IMAGE,
                            "command": ["/bin/sh", "-c", GANESHA_START],
                            "ports": [{"name": "nfs", "containerPort": NFS_PORT, "protocol": "TCP"}],
                            "securityContext": {
                                # Root, with only the capabilities above (NFS_SERVER_CAPABILITIES).
                                "runAsUser": 0,
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"], "add": list(NFS_SERVER_CAPABILITIES)},
                            },
                            "readinessProbe": {**nfs_port, "initialDelaySeconds": 5, "periodSeconds": 10},
                            "livenessProbe": {**nfs_port, "initialDelaySeconds": 30, "periodSeconds": 20, "failureThreshold": 3},
                            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                            "volumeMounts": [
                                {"name": "export", "mountPath": EXPORT_PATH},
                                {"name": "config", "mountPath": GANESHA_CONFIG_DIR, "readOnly": True},
                            ],
                        }],
                        "volumes": [
                            {"name": "export", **args.data_volume},
                            {"name": "config", "configMap": {"name": self.config.metadata.name}},
                        ],
                    },
                },
            },
            opts=child,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "nfs-server", "namespace": namespace, "labels": SERVER_LABELS},
            spec={
                "type": "ClusterIP",
                "selector": SERVER_LABELS,
                "ports": [{"name": "nfs", "port": NFS_PORT, "targetPort": NFS_PORT, "protocol": "TCP"}],
            },
            opts=child,
        )
        # The kubelet mounts NFS volumes from the node, where cluster DNS does not resolve: clients get the IP.
        # The endpoint waits for the Deployment, so that nothing mounts the export before the server is ready.
        self.endpoint = NfsEndpoint(
            server=self.service.spec.cluster_ip, path=pulumi.Output.from_input(EXPORT_PATH),
        ).once(self.deployment.metadata.name)
        self.register_outputs({"server": self.endpoint.server, "path": self.endpoint.path})
