"""Spark: a standalone cluster from the notebook's own image, used by every notebook's SparkSession."""

from __future__ import annotations

import copy
import shlex

import kubernetes_validate
import pytest

from components.services import spark
from components.hub.hub import RELEASE_NAME
from components.settings import PYSPARK_IMAGE
from tests.conftest import config_error, run_preview
from tests.kubernetes_objects import (KUBERNETES_VERSIONS, children, container, covers, descendants, manifest, one,
                                      pod_labels, pod_spec, selects, waits_for)

SPARK = "mltraining:services:Spark"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def master(preview):
    return one(preview, DEPLOYMENT, "spark-master")


def workers(preview):
    return one(preview, DEPLOYMENT, "spark-worker")


def hub_values(preview) -> dict:
    return preview.releases()[RELEASE_NAME].inputs["values"]


def notebook_env(preview) -> dict:
    return hub_values(preview)["singleuser"]["extraEnv"]


def user_policy(preview) -> dict:
    return hub_values(preview)["singleuser"]["networkPolicy"]


def submit(preview) -> tuple[str, dict[str, str]]:
    """The master and the --conf settings that pyspark passes to spark-submit in every notebook."""
    words = shlex.split(notebook_env(preview)["PYSPARK_SUBMIT_ARGS"])
    assert words[-1] == "pyspark-shell" and words[0] == "--master"
    conf = dict(value.split("=", 1) for option, value in zip(words[2:-1:2], words[3:-1:2]) if option == "--conf")
    assert len(conf) * 2 == len(words) - 3
    return words[1], conf


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_master_and_workers_run_the_notebook_pyspark_image(stack, request):
    preview = request.getfixturevalue(stack)
    for workload in (master(preview), workers(preview)):
        assert container(workload)["image"] == PYSPARK_IMAGE
        assert container(workload)["command"][:4] == ["tini", "-g", "--", "/usr/local/spark/bin/spark-class"]
        assert pod_labels(workload)["app.kubernetes.io/version"] == spark.runtime(PYSPARK_IMAGE).spark
        assert pod_spec(workload)["securityContext"]["runAsUser"] == 1000  # jovyan, the image's user
    assert container(master(preview))["command"][4] == "org.apache.spark.deploy.master.Master"
    assert container(workers(preview))["command"][4] == "org.apache.spark.deploy.worker.Worker"


def test_spark_pods_run_on_the_core_pool_of_gke_and_anywhere_on_an_existing_cluster(gke, baremetal):
    for workload in (master(gke), workers(gke)):
        assert pod_spec(workload)["nodeSelector"] == {"hub.jupyter.org/node-purpose": "core"}
    for workload in (master(baremetal), workers(baremetal)):
        assert "nodeSelector" not in pod_spec(workload)


def test_default_workers_two_with_two_cores_and_4gi():
    # Pulumi.yaml's defaults, where the stack file does not size Spark.
    defaults = run_preview("gke", {"services.spark.workers": None, "services.spark.workerCores": None,
                                   "services.spark.workerMemory": None})
    worker = container(workers(defaults))
    assert workers(defaults).inputs["spec"]["replicas"] == 2
    assert worker["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
    command = worker["command"]
    assert command[command.index("--cores") + 1] == "2"
    # (4096 - 512 daemon) / 2 cores = 1792Mi per core, 60% of it executor heap
    assert command[command.index("--memory") + 1] == "2150m"
    assert submit(defaults)[1]["spark.executor.memory"] == "1075m"


def test_workers_sized_from_config():
    preview = run_preview("gke", {"services.spark.workers": 5, "services.spark.workerCores": 4,
                                  "services.spark.workerMemory": "8Gi"})
    worker = container(workers(preview))
    assert workers(preview).inputs["spec"]["replicas"] == 5
    assert worker["resources"] == {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}
    command = worker["command"]
    assert command[command.index("--cores") + 1] == "4"
    assert command[command.index("--memory") + 1] == "4608m"  # 4 x 1152m: (8192 - 512) / 4 x 60%
    conf = submit(preview)[1]
    assert conf["spark.executor.memory"] == "1152m" and conf["spark.executor.cores"] == "1"


def test_workers_register_with_the_master_service(gke):
    service = one(gke, "kubernetes:core/v1:Service", "spark-master")
    assert selects({"podSelector": {"matchLabels": service.inputs["spec"]["selector"]}}, master(gke))
    ports = {p["name"]: p for p in container(master(gke))["ports"]}
    assert {(p["port"], p["targetPort"]) for p in service.inputs["spec"]["ports"]} == {(7077, "cluster"), (8080, "http")}
    assert ports["cluster"]["containerPort"] == 7077
    master_url = "spark://spark-master.jupyterhub.svc:7077"
    assert container(workers(gke))["command"][-1] == master_url
    assert gke.outputs["sparkMasterUrl"] == master_url
    # Both daemons bind to and advertise the pod IP, from the downward API.
    for workload in (master(gke), workers(gke)):
        command = container(workload)["command"]
        assert command[command.index("--host") + 1] == "$(POD_IP)"
        env = {e["name"]: e for e in container(workload)["env"]}
        assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_every_notebook_runs_its_session_on_the_cluster(gke):
    env = notebook_env(gke)
    master_url, conf = submit(gke)
    assert master_url == env["SPARK_MASTER_URL"] == "spark://spark-master.jupyterhub.svc:7077"
    # The driver binds to and advertises the pod IP; executors call it back on fixed ports.
    for variable in ("SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME"):
        assert env[variable] == {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    assert conf["spark.driver.port"] == "7078"
    assert conf["spark.driver.blockManager.port"] == "7079"
    assert conf["spark.blockManager.port"] == "7200"
    assert conf["spark.dynamicAllocation.enabled"] == "true"
    assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert conf["spark.hadoop.fs.defaultFS"] == gke.outputs["hdfsUrl"]


def worker_cores(preview) -> int:
    command = container(workers(preview))["command"]
    return int(command[command.index("--cores") + 1])


def allowed_ports(conf: dict[str, str], *bases: str) -> set[int]:
    """Every port Spark may bind for these settings: each base port and its spark.port.maxRetries successors."""
    retries = int(conf["spark.port.maxRetries"])
    return {int(conf[base]) + offset for base in bases for offset in range(retries + 1)}


def tcp_ports(ports: list[dict]) -> set[int]:
    """NetworkPolicy ports listed one by one (no endPort range: see test_no_network_policy_uses_a_port_range)."""
    assert all(set(p) == {"protocol", "port"} and p["protocol"] == "TCP" for p in ports)
    return {p["port"] for p in ports}


DRIVER_BASES = ("spark.driver.port", "spark.driver.blockManager.port")
EXECUTOR_BASES = ("spark.blockManager.port",)


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_network_paths_between_notebooks_and_spark_open_exactly_the_ports_spark_may_bind(stack, request):
    preview = request.getfixturevalue(stack)
    _, conf = submit(preview)
    driver_ports, executor_ports = allowed_ports(conf, *DRIVER_BASES), allowed_ports(conf, *EXECUTOR_BASES)
    policy = user_policy(preview)
    # Out of the notebook: the master's port, and the executors' block managers (large task results).
    [to_master] = [r for r in policy["egress"] if selects(r["to"][0], master(preview))]
    assert to_master["ports"] == [{"protocol": "TCP", "port": 7077}]
    [to_workers] = [r for r in policy["egress"] if selects(r["to"][0], workers(preview))]
    assert tcp_ports(to_workers["ports"]) == executor_ports
    # Into the notebook: master and executors calling the driver, on its ports and their retries.
    [from_spark] = [r for r in policy["ingress"] if selects(r["from"][0], workers(preview))]
    assert selects(from_spark["from"][0], master(preview))
    assert tcp_ports(from_spark["ports"]) == driver_ports
    assert 8888 not in driver_ports  # the notebook server itself stays closed
    # The Spark pods' own policy: the same ports in the other direction.
    [spark_policy] = preview.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    spec = spark_policy.inputs["spec"]
    [to_drivers] = [r for r in spec["egress"] if r.get("to") == [{"podSelector": {"matchLabels": spark.USER_POD_LABELS}}]]
    assert tcp_ports(to_drivers["ports"]) == driver_ports
    [from_notebooks] = [r for r in spec["ingress"] if r["from"] == [{"podSelector": {"matchLabels": spark.USER_POD_LABELS}}]]
    assert tcp_ports(from_notebooks["ports"]) == {7077} | executor_ports


@pytest.mark.parametrize("stack, retries, driver, executor", [
    # 3 sessions per server (the default) take 6 neighbouring driver ports; executors need 2 (gke's 3 cores)
    # or 1 (baremetal's 2) retries, but spark.port.maxRetries is one setting for both.
    ("gke", 4, range(7078, 7084), range(7200, 7205)),
    ("baremetal", 4, range(7078, 7084), range(7200, 7205)),
])
def test_port_retries_are_what_the_sessions_of_a_server_and_the_cores_of_a_worker_need(stack, retries, driver, executor,
                                                                                        request):
    preview = request.getfixturevalue(stack)
    _, conf = submit(preview)
    assert int(conf["spark.port.maxRetries"]) == retries
    assert allowed_ports(conf, *DRIVER_BASES) == set(driver)
    assert allowed_ports(conf, *EXECUTOR_BASES) == set(executor)
    assert retries >= worker_cores(preview) - 1  # a port for the executor of every core of a worker


@pytest.mark.parametrize("overrides, retries", [
    ({"services.spark.sessionsPerServer": 1, "services.spark.workerCores": 1, "services.spark.workerMemory": "2Gi"}, 0),
    ({"services.spark.sessionsPerServer": 1}, 1),  # 2 worker cores
    ({"services.spark.sessionsPerServer": 5}, 8),
    ({"services.spark.sessionsPerServer": 2, "services.spark.workerCores": 8, "services.spark.workerMemory": "16Gi"}, 7),
    ({"services.spark.sessionsPerServer": 16, "services.spark.workerCores": 32, "services.spark.workerMemory": "40Gi"}, 31),
])
def test_port_retries_follow_the_settings(overrides, retries):
    preview = run_preview("baremetal", overrides)
    _, conf = submit(preview)
    assert int(conf["spark.port.maxRetries"]) == retries
    [from_spark] = [r for r in user_policy(preview)["ingress"] if selects(r["from"][0], workers(preview))]
    assert tcp_ports(from_spark["ports"]) == set(range(7078, 7079 + retries + 1))
    # The driver's ports and their retries never reach the executors' (7200 on).
    assert 7079 + retries < int(conf["spark.blockManager.port"])


def all_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in all_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in all_keys(item)}
    return set()


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_no_network_policy_uses_a_port_range(stack, request):
    # Cilium before 1.16 accepts endPort and ignores it (cilium/cilium#28684): a range would open its first port only.
    preview = request.getfixturevalue(stack)
    policies = preview.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert policies
    for policy in policies:
        assert "endPort" not in all_keys(policy.inputs), policy.name
    user = user_policy(preview)
    assert user["egress"] and user["ingress"]
    assert "endPort" not in all_keys(user["egress"]) | all_keys(user["ingress"])
    # Nor anything else the program declares (other charts' values, custom resources).
    assert [r.name for r in preview.resources if "endPort" in all_keys(r.inputs)] == []


@pytest.mark.parametrize("stack, cap", [("gke", 3), ("baremetal", 1)])
def test_each_session_holds_a_fair_share_and_gives_it_back_when_idle(stack, cap, request):
    preview = request.getfixturevalue(stack)
    _, conf = submit(preview)
    # The stack's cluster (gke: 4 workers of 3 cores; baremetal: 2 of 2) shared by the 4 trainees expected to
    # run jobs at once (services.spark.concurrentUsers' default), rounded down.
    cores = workers(preview).inputs["spec"]["replicas"] * worker_cores(preview)
    assert cores == {"gke": 12, "baremetal": 4}[stack]
    assert cap == max(1, cores // 4)
    assert conf["spark.dynamicAllocation.maxExecutors"] == str(cap)
    assert conf["spark.executor.cores"] == "1"
    # Two tasks per core the session may hold, also before it has any executor (Spark would make 2).
    assert conf["spark.default.parallelism"] == str(2 * cap)
    # Idle executors go back after two minutes, also those that hold shuffle output or cached blocks (whose
    # timeouts Spark leaves infinite).
    for key in ("executorIdleTimeout", "shuffleTracking.timeout", "cachedExecutorIdleTimeout"):
        assert conf[f"spark.dynamicAllocation.{key}"] == "120s"


@pytest.mark.parametrize("overrides, cap, idle", [
    ({"services.spark.concurrentUsers": 1}, 12, "120s"),  # one trainee may use the whole cluster
    ({"services.spark.concurrentUsers": 5}, 2, "120s"),  # 12 // 5
    ({"services.spark.concurrentUsers": 40}, 1, "120s"),  # at least one executor
    ({"services.spark.maxExecutorsPerSession": 5, "services.spark.concurrentUsers": 40}, 5, "120s"),
    ({"services.spark.workers": 6, "services.spark.idleTimeoutSeconds": 30}, 4, "30s"),  # 18 cores // 4
])
def test_session_cap_and_idle_timeout_from_config(overrides, cap, idle):
    _, conf = submit(run_preview("gke", overrides))
    assert conf["spark.dynamicAllocation.maxExecutors"] == str(cap)
    assert conf["spark.default.parallelism"] == str(2 * cap)
    for key in ("executorIdleTimeout", "shuffleTracking.timeout", "cachedExecutorIdleTimeout"):
        assert conf[f"spark.dynamicAllocation.{key}"] == idle


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_workers_delete_finished_applications_files_after_an_hour(stack, request):
    env = {e["name"]: e.get("value") for e in container(workers(request.getfixturevalue(stack)))["env"]}
    options = dict(option.removeprefix("-D").split("=", 1) for option in env["SPARK_WORKER_OPTS"].split())
    # Plain numbers of seconds (Spark reads them as longs): every 10 minutes, what has not changed for an hour.
    assert options == {"spark.worker.cleanup.enabled": "true", "spark.worker.cleanup.interval": "600",
                       "spark.worker.cleanup.appDataTtl": "3600"}


def test_spark_pods_reach_each_other_the_drivers_and_the_data_services_only(gke):
    [policy] = gke.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    spec = policy.inputs["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert selects(spec, master(gke)) and selects(spec, workers(gke))
    egress = spec["egress"]
    assert {"to": [{"podSelector": spec["podSelector"]}]} in egress
    [to_drivers] = [r for r in egress if r.get("to") == [{"podSelector": {"matchLabels": spark.USER_POD_LABELS}}]]
    _, conf = submit(gke)
    assert covers(to_drivers["ports"], int(conf["spark.driver.port"]))
    # Executors run the notebooks' code against HDFS and Kafka: the same rules as the notebooks'.
    user_egress = user_policy(gke)["egress"]
    data_services = [r for r in user_egress if not r["to"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") == "spark"]
    assert len(data_services) == 3  # NameNode, DataNodes, Kafka brokers
    for rule in data_services:
        assert rule in egress
    # Nothing else: no rule without a destination but DNS.
    assert [r for r in egress if "to" not in r] == [
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    [from_notebooks] = [r for r in spec["ingress"] if r["from"] == [{"podSelector": {"matchLabels": spark.USER_POD_LABELS}}]]
    assert covers(from_notebooks["ports"], 7077) and covers(from_notebooks["ports"], int(conf["spark.blockManager.port"]))


def test_without_hdfs_spark_has_no_default_filesystem_and_no_hdfs_path():
    preview = run_preview("gke", {"services.hdfs.enabled": False})
    _, conf = submit(preview)
    assert not [key for key in conf if key.startswith("spark.hadoop.")]
    [policy] = preview.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert not [r for r in policy.inputs["spec"]["egress"] if "hdfs" in str(r)]


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_disabled_spark_creates_nothing_and_gives_notebooks_nothing(stack):
    preview = run_preview(stack, {"services.spark.enabled": False})
    assert not preview.of_type(SPARK)
    assert not [r for r in preview.resources if "spark" in r.name]
    env = notebook_env(preview)
    assert not [variable for variable in env if "SPARK" in variable]
    policy = user_policy(preview)
    assert "spark" not in str(policy["egress"]) and "spark" not in str(policy["ingress"])
    assert "sparkMasterUrl" not in preview.outputs


def runtime_mismatches(profiles: list[dict], worker_image: str) -> list[str]:
    """Profiles whose pyspark image differs from the workers' in Spark or Python version."""
    worker = spark.runtime(worker_image)
    mismatches = []
    for profile in profiles:
        image = profile["kubespawner_override"]["image"]
        if image.split(":")[0] == worker_image.split(":")[0]:
            notebook = spark.runtime(image)
            if notebook != worker:
                mismatches.append(f"{profile['slug']}: {notebook} on the workers {worker}")
    return mismatches


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_notebook_and_workers_run_the_same_spark_and_python(stack, request):
    preview = request.getfixturevalue(stack)
    profiles = hub_values(preview)["singleuser"]["profileList"]
    assert [p for p in profiles if p["slug"] == "python-spark"]
    assert runtime_mismatches(profiles, container(workers(preview))["image"]) == []


def test_the_version_check_catches_a_profile_on_another_spark(gke):
    other = next(image for image in spark.RUNTIMES if spark.RUNTIMES[image] != spark.runtime(PYSPARK_IMAGE))
    profiles = copy.deepcopy(hub_values(gke)["singleuser"]["profileList"])
    next(p for p in profiles if p["slug"] == "python-spark")["kubespawner_override"]["image"] = other
    [mismatch] = runtime_mismatches(profiles, container(workers(gke))["image"])
    assert mismatch.startswith("python-spark: ")
    # An image whose versions nobody looked up fails too.
    with pytest.raises(KeyError, match="add the Spark and Python versions it ships"):
        spark.runtime("quay.io/jupyter/pyspark-notebook:2024-01-01")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_spark_objects_are_valid_kubernetes(stack, version, request):
    declared = children(request.getfixturevalue(stack), SPARK)
    assert sorted(r.type.split(":")[2] for r in declared) == ["Deployment", "Deployment", "NetworkPolicy", "Service"]
    for resource in declared:
        kubernetes_validate.validate(manifest(resource), version, strict=True)


def test_spark_waits_for_neither_storage_nor_the_hub_nor_other_services(gke):
    others = [*descendants(gke, "mltraining:storage:NfsStorage"), *gke.of_type("mltraining:storage:NfsStorage"),
              *descendants(gke, "mltraining:hub:JupyterHub"), *descendants(gke, "mltraining:services:Hdfs"),
              *descendants(gke, "mltraining:services:Kafka")]
    assert gke.releases()[RELEASE_NAME] in others
    assert waits_for(gke, children(gke, SPARK), others) == []


P = "Invalid configuration mltraining:services.spark"


@pytest.mark.parametrize("overrides, message", [
    ({"services.spark.workers": 0}, f"{P}.workers = 0: expected a whole number between 1 and 100"),
    ({"services.spark.workerCores": 33}, f"{P}.workerCores = 33: expected a whole number between 1 and 32"),
    ({"services.spark.workerMemory": "4GB"}, f'{P}.workerMemory = "4GB": expected a Kubernetes quantity such as 100Gi'),
    ({"services.spark.workerMemory": "2Gi", "services.spark.workerCores": 2},
     f'{P}.workerMemory = "2Gi": expected at least 2560Mi for 2 cores (512Mi for the worker and 1Gi per core)'),
    ({"services.spark.workerMemory": "1Gi", "services.spark.workerCores": 1},
     f'{P}.workerMemory = "1Gi": expected at least 1536Mi for 1 core (512Mi for the worker and 1Gi per core)'),
    ({"services.spark.concurrentUsers": 0}, f"{P}.concurrentUsers = 0: expected a whole number between 1 and 1000"),
    # gke: 4 workers of 3 cores
    ({"services.spark.maxExecutorsPerSession": 13},
     f"{P}.maxExecutorsPerSession = 13: expected a whole number between 0 and 12"),
    ({"services.spark.sessionsPerServer": 17}, f"{P}.sessionsPerServer = 17: expected a whole number between 1 and 16"),
    ({"services.spark.idleTimeoutSeconds": 0}, f"{P}.idleTimeoutSeconds = 0: expected a whole number between 1 and 86400"),
])
def test_bad_spark_configuration_is_one_line(overrides, message):
    assert config_error("gke", overrides) == message
