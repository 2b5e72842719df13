"""HDFS: a NameNode formatted exactly once, DataNodes sized from config, and its address in notebooks and Spark."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import kubernetes_validate
import pytest

from components.hub.hub import RELEASE_NAME
from tests.conftest import config_error, run_preview
from tests.kubernetes_objects import (KUBERNETES_VERSIONS, children, container, covers, descendants, manifest, one,
                                      pod_labels, pod_spec, selects, waits_for)

HDFS = "mltraining:services:Hdfs"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
SERVICE = "kubernetes:core/v1:Service"
IMAGE = "apache/hadoop:3.4.2"


def namenode(preview):
    return one(preview, STATEFUL_SET, "hdfs-namenode")


def datanodes(preview):
    return one(preview, STATEFUL_SET, "hdfs-datanode")


def site(preview, file: str) -> dict[str, str]:
    """The properties of a configuration file the HDFS pods mount."""
    config = one(preview, "kubernetes:core/v1:ConfigMap", "hdfs-config")
    root = ET.fromstring(config.inputs["data"][file])
    return {prop.findtext("name"): prop.findtext("value") for prop in root.iter("property")}


def mounted_config(workload) -> dict[str, str]:
    """Files of the ConfigMap the workload mounts, by path."""
    [volume] = [v for v in pod_spec(workload)["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == "hdfs-config"
    return {m["mountPath"]: m["subPath"] for m in container(workload)["volumeMounts"] if m["name"] == volume["name"]}


def volume_mount(workload, container_spec: dict) -> str:
    [claim] = workload.inputs["spec"]["volumeClaimTemplates"]
    [mount] = [m for m in container_spec["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    return mount["mountPath"]


def hub_values(preview) -> dict:
    return preview.releases()[RELEASE_NAME].inputs["values"]


@pytest.mark.parametrize(("stack", "metadata_size"), [("gke", "10Gi"), ("baremetal", "5Gi")])
def test_namenode_keeps_its_metadata_in_a_subdirectory_of_its_volume(stack, metadata_size, request):
    preview = request.getfixturevalue(stack)
    nn = namenode(preview)
    assert nn.inputs["spec"]["replicas"] == 1
    assert container(nn)["image"] == IMAGE and container(nn)["command"] == ["hdfs", "namenode"]
    [claim] = nn.inputs["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == metadata_size
    mount = volume_mount(nn, container(nn))
    name_dir = site(preview, "hdfs-site.xml")["dfs.namenode.name.dir"].removeprefix("file://")
    # Not the volume's root: that exists from the start, so "format when missing" would never format.
    assert os.path.dirname(name_dir) == mount and name_dir != mount
    assert mounted_config(nn) == {"/opt/hadoop/etc/hadoop/core-site.xml": "core-site.xml",
                                  "/opt/hadoop/etc/hadoop/hdfs-site.xml": "hdfs-site.xml"}
    # The volumes stay when the StatefulSet goes or shrinks.
    for workload in (nn, datanodes(preview)):
        assert workload.inputs["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def run_format_step(preview, name_dir, stub_dir, log) -> None:
    """Run the NameNode's format step as its init container would, with a stand-in hdfs command."""
    [init] = pod_spec(namenode(preview))["initContainers"]
    assert init["image"] == IMAGE
    assert volume_mount(namenode(preview), init) == volume_mount(namenode(preview), container(namenode(preview)))
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env["NAME_DIR"] == site(preview, "hdfs-site.xml")["dfs.namenode.name.dir"].removeprefix("file://")
    command = init["command"]
    assert command[:2] == ["/bin/bash", "-c"]
    subprocess.run(command, check=True, capture_output=True, text=True,
                   env={"PATH": f"{stub_dir}:{os.environ['PATH']}", "NAME_DIR": str(name_dir), "LOG": str(log)})


def test_namenode_is_formatted_exactly_once(gke, tmp_path):
    stub_dir, log = tmp_path / "bin", tmp_path / "calls"
    stub_dir.mkdir()
    # Formatting writes current/VERSION last, as the real one does.
    (stub_dir / "hdfs").write_text('#!/bin/sh\necho "$@" >> "$LOG"\nmkdir -p "$NAME_DIR/current"\n'
                                   'echo namespaceID=1 > "$NAME_DIR/current/VERSION"\n')
    (stub_dir / "hdfs").chmod(0o755)
    volume = tmp_path / "data"
    (volume / "lost+found").mkdir(parents=True)  # a fresh volume
    name_dir = volume / "name"

    run_format_step(gke, name_dir, stub_dir, log)
    assert log.read_text() == "namenode -format -nonInteractive -force\n"
    run_format_step(gke, name_dir, stub_dir, log)  # a restart: the metadata stays
    assert log.read_text() == "namenode -format -nonInteractive -force\n"

    # A format cut short (no VERSION yet) left nothing the NameNode could start from: it runs again.
    (name_dir / "current" / "VERSION").unlink()
    run_format_step(gke, name_dir, stub_dir, log)
    assert log.read_text().count("-format") == 2


def test_datanodes_from_config_spread_over_nodes():
    preview = run_preview("gke", {"services.hdfs.datanodes": 4, "services.hdfs.datanodeStorage": "50Gi",
                                  "services.hdfs.namenodeStorage": "8Gi"})
    dn = datanodes(preview)
    assert dn.inputs["spec"]["replicas"] == 4
    [claim] = dn.inputs["spec"]["volumeClaimTemplates"]
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}},
                             "storageClassName": "jupyterhub-data"}  # the Retain class (tests/storage/test_teardown.py)
    [nn_claim] = namenode(preview).inputs["spec"]["volumeClaimTemplates"]
    assert nn_claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert container(dn)["image"] == IMAGE and container(dn)["command"] == ["hdfs", "datanode"]
    data_dir = site(preview, "hdfs-site.xml")["dfs.datanode.data.dir"].removeprefix("file://")
    assert os.path.dirname(data_dir) == volume_mount(dn, container(dn))
    [term] = pod_spec(dn)["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == dn.inputs["spec"]["selector"]["matchLabels"]
    assert pod_spec(dn)["nodeSelector"] == {"hub.jupyter.org/node-purpose": "core"}
    assert site(preview, "hdfs-site.xml")["dfs.replication"] == "3"


@pytest.mark.parametrize("count, factor", [(1, "1"), (2, "2"), (3, "3"), (7, "3")])
def test_replication_follows_the_number_of_datanodes_on_servers_and_clients(count, factor):
    preview = run_preview("baremetal", {"services.hdfs.datanodes": count})
    assert site(preview, "hdfs-site.xml")["dfs.replication"] == factor
    assert f"--conf spark.hadoop.dfs.replication={factor} " in hub_values(preview)["singleuser"]["extraEnv"]["PYSPARK_SUBMIT_ARGS"]


def test_a_configuration_change_restarts_the_hdfs_pods(gke):
    def checksums(preview):
        return [w.inputs["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
                for w in (namenode(preview), datanodes(preview))]

    before = checksums(gke)
    assert before[0] == before[1]
    # gke has three DataNodes: with two, files keep two replicas, and the configuration says so.
    assert checksums(run_preview("gke", {"services.hdfs.datanodes": 2}))[0] != before[0]


def test_default_fs_names_the_namenode_service_and_the_namenode_binds_everywhere(gke):
    default_fs = gke.outputs["hdfsUrl"]
    assert default_fs == "hdfs://hdfs-namenode.jupyterhub.svc:8020"
    assert site(gke, "core-site.xml") == {"fs.defaultFS": default_fs}
    service = one(gke, SERVICE, "hdfs-namenode")
    assert service.inputs["spec"].get("clusterIP") != "None"  # resolvable before the NameNode is ready
    assert selects({"podSelector": {"matchLabels": service.inputs["spec"]["selector"]}}, namenode(gke))
    ports = {p["name"]: p["containerPort"] for p in container(namenode(gke))["ports"]}
    assert {(p["port"], ports[p["targetPort"]]) for p in service.inputs["spec"]["ports"]} == {(8020, 8020), (9870, 9870)}
    hdfs_site = site(gke, "hdfs-site.xml")
    for key in ("dfs.namenode.rpc-bind-host", "dfs.namenode.servicerpc-bind-host", "dfs.namenode.http-bind-host"):
        assert hdfs_site[key] == "0.0.0.0"  # fs.defaultFS is the Service's address, not the pod's
    assert hdfs_site["dfs.namenode.datanode.registration.ip-hostname-check"] == "false"
    datanode_service = one(gke, SERVICE, "hdfs-datanode")
    assert datanode_service.inputs["spec"]["clusterIP"] == "None"
    assert datanodes(gke).inputs["spec"]["serviceName"] == "hdfs-datanode"
    assert namenode(gke).inputs["spec"]["serviceName"] == "hdfs-namenode"


def test_notebooks_and_spark_get_the_default_fs_and_the_paths_to_namenode_and_datanodes(gke):
    values = hub_values(gke)["singleuser"]
    default_fs = gke.outputs["hdfsUrl"]
    assert values["extraEnv"]["HDFS_URL"] == default_fs
    assert f"--conf spark.hadoop.fs.defaultFS={default_fs} " in values["extraEnv"]["PYSPARK_SUBMIT_ARGS"]
    egress = values["networkPolicy"]["egress"]
    [to_namenode] = [r for r in egress if selects(r["to"][0], namenode(gke))]
    assert to_namenode["ports"] == [{"protocol": "TCP", "port": 8020}]
    [to_datanodes] = [r for r in egress if selects(r["to"][0], datanodes(gke))]
    exposed = {p["containerPort"] for p in container(datanodes(gke))["ports"]}
    assert {9866, 9867} <= exposed
    assert covers(to_datanodes["ports"], 9866) and covers(to_datanodes["ports"], 9867)
    assert not covers(to_datanodes["ports"], 9864)  # the web UI is not needed by clients
    # The Spark executors too.
    [policy] = gke.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert to_namenode in policy.inputs["spec"]["egress"] and to_datanodes in policy.inputs["spec"]["egress"]


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_disabled_hdfs_creates_nothing_and_gives_notebooks_and_spark_nothing(stack):
    preview = run_preview(stack, {"services.hdfs.enabled": False})
    assert not preview.of_type(HDFS)
    assert not [r for r in preview.resources if "hdfs" in r.name]
    values = hub_values(preview)["singleuser"]
    assert "HDFS_URL" not in values["extraEnv"]
    assert "hdfs" not in values["extraEnv"]["PYSPARK_SUBMIT_ARGS"]
    assert "hdfs" not in str(values["networkPolicy"])
    assert "hdfsUrl" not in preview.outputs


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_hdfs_objects_are_valid_kubernetes(stack, version, request):
    declared = children(request.getfixturevalue(stack), HDFS)
    assert sorted(r.type.split(":")[2] for r in declared) == ["ConfigMap", "Service", "Service", "StatefulSet", "StatefulSet"]
    for resource in declared:
        kubernetes_validate.validate(manifest(resource), version, strict=True)


def test_hdfs_pods_run_as_the_image_user_with_a_writable_volume(gke):
    for workload in (namenode(gke), datanodes(gke)):
        security = pod_spec(workload)["securityContext"]
        assert (security["runAsUser"], security["fsGroup"]) == (1000, 100)
        assert set(pod_labels(workload).items()) >= set(workload.inputs["spec"]["selector"]["matchLabels"].items())


def test_hdfs_waits_for_neither_storage_nor_the_hub(gke):
    others = [*gke.of_type("mltraining:storage:NfsStorage"), *descendants(gke, "mltraining:storage:NfsStorage"),
              *descendants(gke, "mltraining:hub:JupyterHub")]
    assert gke.releases()[RELEASE_NAME] in others
    assert waits_for(gke, children(gke, HDFS), others) == []


P = "Invalid configuration mltraining:services.hdfs"


@pytest.mark.parametrize("overrides, message", [
    ({"services.hdfs.datanodes": 0}, f"{P}.datanodes = 0: expected a whole number between 1 and 100"),
    ({"services.hdfs.datanodeStorage": "20 GB"},
     f'{P}.datanodeStorage = "20 GB": expected a Kubernetes quantity such as 100Gi'),
    ({"services.hdfs.namenodeStorage": "100Mi"}, f'{P}.namenodeStorage = "100Mi": expected at least 1Gi'),
])
def test_bad_hdfs_configuration_is_one_line(overrides, message):
    assert config_error("baremetal", overrides) == message


def test_every_hdfs_container_reads_the_mounted_configuration(gke):
    """Hadoop reads $HADOOP_CONF_DIR, which apache/hadoop-runner sets to /etc/hadoop (components/services/hdfs.py): every
    container names the directory the configuration files are mounted in."""
    for workload in (namenode(gke), datanodes(gke)):
        spec = pod_spec(workload)
        for each in [*spec.get("initContainers", []), *spec["containers"]]:
            assert {"name": "HADOOP_CONF_DIR", "value": "/opt/hadoop/etc/hadoop"} in each["env"], each["name"]
            config_dirs = {os.path.dirname(m["mountPath"]) for m in each["volumeMounts"] if m["name"] == "config"}
            assert config_dirs == {"/opt/hadoop/etc/hadoop"}
