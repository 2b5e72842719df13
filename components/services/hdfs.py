"""HDFS for every notebook and for Spark: one NameNode and several DataNodes from the apache/hadoop image."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.settings import HdfsSettings
from components.services.user_access import UserAccess

# Spark 4's Hadoop client (in the notebooks and on the workers) is a 3.4 release too.
# Upstream: the apache/hadoop branch docker-hadoop-3.4.2, file Dockerfile (pushed by HADOOP-19711, apache/hadoop
# pull request #8005): Hadoop's binary tarball unpacked into /opt/hadoop on top of an apache/hadoop-runner image.
# That branch's Dockerfile itself could not be read for this check (the apache/hadoop snapshot is too large to
# mirror); the facts below are cited from the runner's and from earlier docker-hadoop-3 Dockerfiles and from
# Hadoop's tree (tests/test_image_layout.py keeps them). Java is the runner's and nothing here depends on its
# version ("The base apache/hadoop-runner image has Java 1.8", apache/hadoop pull request #8408, on the hadoop3
# image in 2026-04; which runner tag 3.4.2 was built on is not verified).
HADOOP_IMAGE = "apache/hadoop:3.4.2"
# The image's user "hadoop" (uid 1000, group users 100), the user the image runs as: apache/hadoop-runner's
# Dockerfile, "RUN useradd --uid 1000 hadoop --gid 100 --home /opt/hadoop" and "USER hadoop" (apache/hadoop,
# Dockerfile at 02cf95182546783e0bf137573c96a6fc219c9274, a docker-hadoop-runner branch). The runner for
# Hadoop 3.5 (branch docker-hadoop-runner-jdk17-u2404, apache/hadoop pull request #8413) moves it to uid 1001.
HADOOP_USER, HADOOP_GROUP = 1000, 100
# HADOOP_HOME is /opt/hadoop: "mv hadoop* hadoop" in /opt, "WORKDIR /opt/hadoop" (apache/hadoop, Dockerfile at
# f309d08bb1b25f92a8bc55d263c1534514a79f75, docker-hadoop-3 as of Hadoop 3.0.0). The tarball's etc/hadoop is
# Hadoop's hadoop-common-project/hadoop-common/src/main/conf (core-site.xml, hadoop-env.sh, log4j.properties) and
# hadoop-hdfs-project/hadoop-hdfs/src/main/conf/hdfs-site.xml. Not verified for 3.4.2: that its Dockerfile sets
# HADOOP_CONF_DIR=/opt/hadoop/etc/hadoop (the runner's Dockerfile above sets HADOOP_CONF_DIR=/etc/hadoop, and
# Hadoop reads its configuration from HADOOP_CONF_DIR).
CONFIG_DIR = "/opt/hadoop/etc/hadoop"
# Hadoop reads its configuration from $HADOOP_CONF_DIR, which the runner image sets to /etc/hadoop: every HDFS
# container names the directory our files are mounted in, whatever the image sets.
CONFIG_DIR_ENV = k8s.core.v1.EnvVarArgs(name="HADOOP_CONF_DIR", value=CONFIG_DIR)

NAMENODE_SERVICE = "hdfs-namenode"
DATANODE_SERVICE = "hdfs-datanode"
NAMENODE_RPC_PORT = 8020
NAMENODE_HTTP_PORT = 9870
DATANODE_DATA_PORT = 9866  # block reads and writes
DATANODE_IPC_PORT = 9867  # clients ask it for the length of a block being written
DATANODE_HTTP_PORT = 9864

HDFS_LABELS = {"app.kubernetes.io/name": "hdfs", "app.kubernetes.io/part-of": "ml-training"}
NAMENODE_LABELS = {**HDFS_LABELS, "app.kubernetes.io/component": "namenode"}
DATANODE_LABELS = {**HDFS_LABELS, "app.kubernetes.io/component": "datanode"}

# Each volume is mounted at /data and HDFS keeps its files in a subdirectory that it creates itself: a fresh
# volume's root (root-owned, with lost+found) is neither an unformatted name directory nor a usable data dir.
VOLUME_PATH = "/data"
NAME_DIR = f"{VOLUME_PATH}/name"
DATA_DIR = f"{VOLUME_PATH}/blocks"

# Formats the name directory exactly once: only while it holds no VERSION file, which a format writes last.
# "-force option formats if the name directory exists. -nonInteractive option aborts if the name directory
# exists, unless -force option is specified" (apache/hadoop, hadoop-hdfs-project/hadoop-hdfs/src/site/markdown/
# HDFSCommands.md, "namenode"). hdfs is on PATH: the runner's "ENV PATH $PATH:/opt/hadoop/bin" (Dockerfile at
# 02cf95182546783e0bf137573c96a6fc219c9274), bin/hdfs being hadoop-hdfs-project/hadoop-hdfs/src/main/bin/hdfs.
FORMAT_ONCE = (
    'if [ -f "$NAME_DIR/current/VERSION" ]; then echo "HDFS is formatted: $NAME_DIR"; '
    'else exec hdfs namenode -format -nonInteractive -force; fi'
)


def hadoop_xml(properties: dict[str, str]) -> str:
    """A Hadoop configuration file (core-site.xml, hdfs-site.xml) with these properties."""
    root = ET.Element("configuration")
    for name, value in properties.items():
        prop = ET.SubElement(root, "property")
        ET.SubElement(prop, "name").text = name
        ET.SubElement(prop, "value").text = value
    ET.indent(root)
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def replication(datanodes: int) -> int:
    return min(3, datanodes)


@dataclass(frozen=True)
class HdfsArgs:
    settings: HdfsSettings
    cluster: ClusterResult


class Hdfs(pulumi.ComponentResource):
    """A NameNode (StatefulSet, persistent metadata formatted once) and DataNodes (StatefulSet, a volume each)."""

    default_fs: pulumi.Output[str]  # fs.defaultFS, e.g. hdfs://hdfs-namenode.jupyterhub.svc:8020
    client_config: dict[str, pulumi.Input[str]]  # Hadoop settings of every client (Spark: spark.hadoop.*)
    user_access: UserAccess
    config: k8s.core.v1.ConfigMap
    namenode: k8s.apps.v1.StatefulSet
    datanodes: k8s.apps.v1.StatefulSet

    def __init__(self, name: str, args: HdfsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:services:Hdfs", name, None, opts)
        settings, cluster = args.settings, args.cluster
        child = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        namespace = cluster.namespace

        # From the namespace alone, so that notebooks and Spark do not wait for HDFS to be created.
        self.default_fs = pulumi.Output.concat("hdfs://", NAMENODE_SERVICE, ".", namespace, f".svc:{NAMENODE_RPC_PORT}")
        # Clients choose the replication of the files they write.
        self.client_config = {"fs.defaultFS": self.default_fs, "dfs.replication": str(replication(settings.datanodes))}
        files = self.default_fs.apply(lambda default_fs: {
            "core-site.xml": hadoop_xml({"fs.defaultFS": default_fs}),
            "hdfs-site.xml": hadoop_xml({
                "dfs.namenode.name.dir": f"file://{NAME_DIR}",
                "dfs.datanode.data.dir": f"file://{DATA_DIR}",
                "dfs.replication": str(replication(settings.datanodes)),
                # fs.defaultFS names the Service's address, which the NameNode cannot bind.
                "dfs.namenode.rpc-bind-host": "0.0.0.0",
                "dfs.namenode.servicerpc-bind-host": "0.0.0.0",
                "dfs.namenode.http-bind-host": "0.0.0.0",
                # Pod IPs have no reverse DNS names; the NameNode would refuse the DataNodes otherwise.
                "dfs.namenode.datanode.registration.ip-hostname-check": "false",
                # Every notebook runs as the same user (jovyan): HDFS is a shared space, as the shared folder is.
                "dfs.permissions.enabled": "false",
            }),
        })
        self.config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="hdfs-config", namespace=namespace, labels=HDFS_LABELS),
            data=files,
            opts=child,
        )
        # Pods restart when the configuration changes (the files are mounted with subPath, which never updates).
        config_checksum = files.apply(lambda data: hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest())

        k8s.core.v1.Service(
            f"{name}-namenode-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMENODE_SERVICE, namespace=namespace, labels=NAMENODE_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=NAMENODE_LABELS,
                ports=[k8s.core.v1.ServicePortArgs(name="rpc", port=NAMENODE_RPC_PORT, target_port="rpc"),
                       k8s.core.v1.ServicePortArgs(name="http", port=NAMENODE_HTTP_PORT, target_port="http")],
            ),
            opts=child,
        )
        # Headless: the DataNodes' own DNS names; clients reach them by the pod IPs the NameNode hands out.
        k8s.core.v1.Service(
            f"{name}-datanode-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DATANODE_SERVICE, namespace=namespace, labels=DATANODE_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                selector=DATANODE_LABELS,
                ports=[k8s.core.v1.ServicePortArgs(name="data", port=DATANODE_DATA_PORT, target_port="data")],
            ),
            opts=child,
        )

        volume = k8s.core.v1.VolumeMountArgs(name="data", mount_path=VOLUME_PATH)
        self.namenode = self._stateful_set(
            f"{name}-namenode", NAMENODE_SERVICE, NAMENODE_LABELS, 1, settings.namenode_storage, cluster,
            namespace, config_checksum, child,
            init_containers=[k8s.core.v1.ContainerArgs(
                name="format",
                image=HADOOP_IMAGE,
                command=["/bin/bash", "-c", FORMAT_ONCE],
                env=[k8s.core.v1.EnvVarArgs(name="NAME_DIR", value=NAME_DIR), CONFIG_DIR_ENV],
                # A JVM like the NameNode's, for a minute, once: the format writes an empty namespace.
                resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "100m", "memory": "512Mi"},
                                                               limits={"memory": "1Gi"}),
                volume_mounts=[volume, *_config_mounts()],
                security_context=_container_security(),
            )],
            container=k8s.core.v1.ContainerArgs(
                name="namenode",
                image=HADOOP_IMAGE,
                command=["hdfs", "namenode"],
                env=[CONFIG_DIR_ENV],
                ports=[k8s.core.v1.ContainerPortArgs(name="rpc", container_port=NAMENODE_RPC_PORT),
                       k8s.core.v1.ContainerPortArgs(name="http", container_port=NAMENODE_HTTP_PORT)],
                readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="rpc"),
                                                      period_seconds=10),
                resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "250m", "memory": "1Gi"},
                                                               limits={"memory": "2Gi"}),
                volume_mounts=[volume, *_config_mounts()],
                security_context=_container_security(),
            ),
        )
        self.datanodes = self._stateful_set(
            f"{name}-datanode", DATANODE_SERVICE, DATANODE_LABELS, settings.datanodes, settings.datanode_storage,
            cluster, namespace, config_checksum, child,
            init_containers=[],
            container=k8s.core.v1.ContainerArgs(
                name="datanode",
                image=HADOOP_IMAGE,
                command=["hdfs", "datanode"],
                env=[CONFIG_DIR_ENV],
                ports=[k8s.core.v1.ContainerPortArgs(name="data", container_port=DATANODE_DATA_PORT),
                       k8s.core.v1.ContainerPortArgs(name="ipc", container_port=DATANODE_IPC_PORT),
                       k8s.core.v1.ContainerPortArgs(name="http", container_port=DATANODE_HTTP_PORT)],
                readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="data"),
                                                      period_seconds=10),
                resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "250m", "memory": "1Gi"},
                                                               limits={"memory": "2Gi"}),
                volume_mounts=[volume, *_config_mounts()],
                security_context=_container_security(),
            ),
            # Replicas of a block on different nodes survive the loss of one node.
            spread=True,
        )

        self.user_access = UserAccess(
            environment={"HDFS_URL": self.default_fs},
            # A client asks the NameNode where the blocks are, then reads and writes them on the DataNodes.
            egress=(
                {"to": [{"podSelector": {"matchLabels": dict(NAMENODE_LABELS)}}],
                 "ports": [{"protocol": "TCP", "port": NAMENODE_RPC_PORT}]},
                {"to": [{"podSelector": {"matchLabels": dict(DATANODE_LABELS)}}],
                 "ports": [{"protocol": "TCP", "port": DATANODE_DATA_PORT},
                           {"protocol": "TCP", "port": DATANODE_IPC_PORT}]},
            ),
        )
        self.register_outputs({"defaultFs": self.default_fs})

    def _stateful_set(self, name: str, service: str, labels: dict, replicas: int, storage: str,
                      cluster: ClusterResult, namespace: pulumi.Output[str], config_checksum: pulumi.Output[str],
                      opts: pulumi.ResourceOptions, init_containers: list, container: k8s.core.v1.ContainerArgs,
                      spread: bool = False) -> k8s.apps.v1.StatefulSet:
        affinity = k8s.core.v1.AffinityArgs(pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[k8s.core.v1.WeightedPodAffinityTermArgs(
                weight=100,
                pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                    topology_key="kubernetes.io/hostname",
                ),
            )],
        )) if spread else None
        return k8s.apps.v1.StatefulSet(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=service, namespace=namespace, labels=labels),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=service,
                replicas=replicas,
                pod_management_policy="Parallel",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                # The volumes outlive the StatefulSet: deleting or scaling it down keeps the data.
                persistent_volume_claim_retention_policy=k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={"checksum/config": config_checksum}),
                    spec=k8s.core.v1.PodSpecArgs(
                        node_selector=cluster.core_node_selector or None,
                        affinity=affinity,
                        # fsGroup makes the fresh volume writable for the image's user.
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_user=HADOOP_USER, run_as_group=HADOOP_GROUP, fs_group=HADOOP_GROUP,
                            run_as_non_root=True,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        init_containers=init_containers or None,
                        containers=[container],
                        volumes=[k8s.core.v1.VolumeArgs(
                            name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=self.config.metadata.name))],
                    ),
                ),
                volume_claim_templates=[k8s.core.v1.PersistentVolumeClaimArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=labels),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=cluster.data_storage_class,
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": storage}),
                    ),
                )],
            ),
            opts=opts,
        )


def _config_mounts() -> list[k8s.core.v1.VolumeMountArgs]:
    # File by file, so that the image's other configuration (log4j.properties, hadoop-env.sh) stays: the
    # docker-hadoop-3 Dockerfile replaces log4j.properties with its own ("ADD log4j.properties
    # /opt/hadoop/etc/hadoop/log4j.properties", apache/hadoop Dockerfile at f309d08bb1b25f92a8bc55d263c1534514a79f75);
    # hadoop-env.sh is the tarball's (see CONFIG_DIR).
    return [k8s.core.v1.VolumeMountArgs(name="config", mount_path=f"{CONFIG_DIR}/{file}", sub_path=file, read_only=True)
            for file in ("core-site.xml", "hdfs-site.xml")]


def _container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(allow_privilege_escalation=False,
                                           capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]))
