"""A shared Spark standalone cluster that every notebook's SparkSession runs on.

The master and the workers run the notebook's own pyspark image, so the driver (in the trainee's server) and
the executors (on the workers) have the same Spark and the same Python: PySpark refuses, or UDFs fail, when
either differs. The driver listens on fixed ports that the executors call back on; the network policies
below and the user access open exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.settings import SPARK_DAEMON_MEMORY, SparkSettings, quantity_bytes
from components.services.user_access import UserAccess


@dataclass(frozen=True)
class SparkRuntime:
    spark: str
    python: str  # major.minor: PySpark needs the same on the driver and the executors


# What each pinned pyspark-notebook image ships (a jupyter/docker-stacks build of that date, whose tag never
# moves): the newest Spark release at build time in /usr/local/spark, and the notebook's Python (3.13 since
# the 2025-08-15 images; Spark 4.0.1 was the newest from 2025-09-06 until 4.1.0 in December 2025).
RUNTIMES: dict[str, SparkRuntime] = {
    "quay.io/jupyter/pyspark-notebook:2025-10-20": SparkRuntime(spark="4.0.1", python="3.13"),
    "quay.io/jupyter/pyspark-notebook:2026-08-08": SparkRuntime(spark="4.2.0", python="3.13"),
}


def runtime(image: str) -> SparkRuntime:
    """The Spark and Python versions of a pyspark image; an image not listed above is a mistake in the program."""
    if image not in RUNTIMES:
        raise KeyError(f"{image}: add the Spark and Python versions it ships to components.services.spark.RUNTIMES")
    return RUNTIMES[image]


# jupyter/docker-stacks at 8209386950497966c8a9aa446b9a84a5dd78eab5 (main on 2026-08-08, the build of the tag):
# images/pyspark-notebook/Dockerfile "ENV SPARK_HOME=/usr/local/spark" (setup_spark.py links it to the Spark it
# downloads), and "ARG openjdk_version=\"21\"": Java 21, as Spark 4 needs 17 or newer.
SPARK_HOME = "/usr/local/spark"
# The image's user jovyan, uid 1000, group users 100: images/docker-stacks-foundation/Dockerfile at the same
# commit, ARG NB_USER="jovyan", NB_UID="1000", NB_GID="100" (tests/test_image_layout.py).
SPARK_USER, SPARK_GROUP = 1000, 100

MASTER_SERVICE = "spark-master"
MASTER_PORT = 7077
MASTER_UI_PORT = 8080
WORKER_UI_PORT = 8081
# The driver in a notebook listens on these; a second session in the same server takes the next free ports.
DRIVER_PORT = 7078
DRIVER_BLOCK_MANAGER_PORT = 7079
# Each executor's block manager (the driver fetches large task results there); one executor per worker core.
EXECUTOR_BLOCK_MANAGER_PORT = 7200

SPARK_LABELS = {"app.kubernetes.io/name": "spark", "app.kubernetes.io/part-of": "ml-training"}
MASTER_LABELS = {**SPARK_LABELS, "app.kubernetes.io/component": "master"}
WORKER_LABELS = {**SPARK_LABELS, "app.kubernetes.io/component": "worker"}
# Zero to JupyterHub's label of trainees' servers.
USER_POD_LABELS = {"component": "singleuser-server"}




def port_retries(settings: SparkSettings) -> int:
    """spark.port.maxRetries: how many following ports a driver or an executor tries when its port is taken.

    Spark binds a service on port + 0, 1, ... maxRetries, the first free one (Utils.startServiceOnPort and
    Utils.portMaxRetries, default 16, in core/src/main/scala/org/apache/spark/util/Utils.scala at v4.2.0). It
    applies to every port, so it is the larger of two needs:
    - a worker runs an executor per core, all on one pod IP: worker cores - 1 retries;
    - the sessions of one server share its pod IP, and the driver's two ports are neighbours (7078, 7079):
      each session takes the two lowest free ports from 7078 on, so the last of sessionsPerServer needs
      2 x (sessionsPerServer - 1) retries for both of its ports.
    """
    return max(settings.worker_cores - 1, 2 * (settings.sessions_per_server - 1))


def _ports(first: int, last: int) -> list[dict]:
    # Port by port, never a range: Cilium before 1.16 accepts a NetworkPolicy's endPort and ignores it
    # (cilium/cilium#28684), opening only the first port. The retries above keep these lists short.
    return [{"protocol": "TCP", "port": port} for port in range(first, last + 1)]


def driver_ports(settings: SparkSettings) -> list[dict]:
    """Every port a notebook's drivers may listen on: both of its ports and their retries."""
    return _ports(DRIVER_PORT, DRIVER_BLOCK_MANAGER_PORT + port_retries(settings))


def executor_ports(settings: SparkSettings) -> list[dict]:
    """Every port an executor's block manager may listen on."""
    return _ports(EXECUTOR_BLOCK_MANAGER_PORT, EXECUTOR_BLOCK_MANAGER_PORT + port_retries(settings))


POD_IP = {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}

# The worker deletes the work directory of a finished application (its executors' logs and the jars and files
# they fetched) once nothing in it changed for WORKER_APP_DATA_TTL seconds, looking every
# WORKER_CLEANUP_INTERVAL seconds. Spark keeps them 7 days, looking every 30 minutes (spark.worker.cleanup.*
# are plain numbers of seconds, longConf with defaults 7 * 24 * 3600 and 60 * 30: APP_DATA_RETENTION and
# WORKER_CLEANUP_INTERVAL in core/src/main/scala/org/apache/spark/internal/config/Worker.scala at v4.2.0; the
# WorkDirCleanup case of core/src/main/scala/org/apache/spark/deploy/worker/Worker.scala): a class runs many
# applications a day on the workers' scratch space. Shuffle and spill files are not there: Spark deletes
# them when the executor or the application ends.
WORKER_APP_DATA_TTL = 3600
WORKER_CLEANUP_INTERVAL = 600


def executor_memory_mib(settings: SparkSettings) -> int:
    """Heap of each one-core executor: a worker's memory less its daemon, shared by its cores, with 40% of each
    share left for the executor's JVM overhead and its Python workers (settings guarantee a share of 1Gi)."""
    share = (quantity_bytes(settings.worker_memory) - quantity_bytes(SPARK_DAEMON_MEMORY)) // settings.worker_cores
    return share // 2**20 * 3 // 5


def default_parallelism(settings: SparkSettings) -> int:
    """spark.default.parallelism: two tasks for each core a session may hold ("2-3 tasks per CPU core", Level of
    Parallelism in docs/tuning.md at v4.2.0).

    Unset, a standalone session uses max(its executors' cores, 2) (CoarseGrainedSchedulerBackend.
    defaultParallelism, core/src/main/scala/org/apache/spark/scheduler/cluster/CoarseGrainedSchedulerBackend.scala
    at v4.2.0): with dynamic allocation it starts from no executor, so parallelize, spark.range and
    createDataFrame would make 2 partitions and dynamic allocation would ask for 2 executors only."""
    return 2 * settings.max_executors_per_session


def client_conf(settings: SparkSettings, hadoop_config: dict[str, pulumi.Input[str]]) -> dict[str, pulumi.Input[str]]:
    """Spark settings of every notebook's driver."""
    idle = f"{settings.idle_timeout_seconds}s"
    return {
        "spark.driver.port": str(DRIVER_PORT),
        "spark.driver.blockManager.port": str(DRIVER_BLOCK_MANAGER_PORT),
        "spark.blockManager.port": str(EXECUTOR_BLOCK_MANAGER_PORT),
        "spark.port.maxRetries": str(port_retries(settings)),
        "spark.executor.cores": "1",
        "spark.executor.memory": f"{executor_memory_mib(settings)}m",
        # A class shares the cluster: idle sessions give their executors back (shuffle tracking makes that
        # possible without an external shuffle service).
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",
        # Spark's defaults, in core/src/main/scala/org/apache/spark/internal/config/package.scala at v4.2.0, let
        # one session keep the cluster: maxExecutors is Int.MaxValue (DYN_ALLOCATION_MAX_EXECUTORS), so the
        # first session takes every core; an executor that holds shuffle output stays until that shuffle is
        # garbage-collected in the driver, i.e. for the life of the session (shuffleTracking.timeout Long.MaxValue,
        # DYN_ALLOCATION_SHUFFLE_TRACKING_TIMEOUT), and one that caches data forever (cachedExecutorIdleTimeout
        # Integer.MAX_VALUE seconds, DYN_ALLOCATION_CACHED_EXECUTOR_IDLE_TIMEOUT). ExecutorMonitor
        # (core/src/main/scala/org/apache/spark/scheduler/dynalloc/ExecutorMonitor.scala) times such an executor
        # out by those timeouts rather than executorIdleTimeout alone (Tracker.updateTimeout): all three are the
        # idle timeout here. Shuffle output or cached blocks lost with an executor are recomputed when needed.
        "spark.dynamicAllocation.maxExecutors": str(settings.max_executors_per_session),
        "spark.dynamicAllocation.executorIdleTimeout": idle,
        "spark.dynamicAllocation.shuffleTracking.timeout": idle,
        "spark.dynamicAllocation.cachedExecutorIdleTimeout": idle,
        "spark.default.parallelism": str(default_parallelism(settings)),
        **{f"spark.hadoop.{key}": value for key, value in hadoop_config.items()},
    }


def submit_args(master_url: str, conf: dict[str, str]) -> str:
    """PYSPARK_SUBMIT_ARGS: what pyspark passes to spark-submit when a notebook creates its SparkSession."""
    options = [f"--master {master_url}", *(f"--conf {key}={value}" for key, value in conf.items())]
    return " ".join([*options, "pyspark-shell"])


@dataclass(frozen=True)
class SparkArgs:
    settings: SparkSettings
    cluster: ClusterResult
    image: str  # the notebook's pyspark image (settings.PYSPARK_IMAGE)
    # Hadoop settings of the drivers and executors, e.g. HDFS's fs.defaultFS (spark.hadoop.*).
    hadoop_config: dict[str, pulumi.Input[str]]
    # Data services that executors read and write (HDFS, Kafka): their egress rules apply to the Spark pods too.
    data_services: tuple[UserAccess, ...] = ()


class Spark(pulumi.ComponentResource):
    """A standalone master (with its web UI) and N workers, and the settings that make notebooks use them."""

    master_url: pulumi.Output[str]
    user_access: UserAccess
    master: k8s.apps.v1.Deployment
    workers: k8s.apps.v1.Deployment
    network_policy: k8s.networking.v1.NetworkPolicy

    def __init__(self, name: str, args: SparkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:services:Spark", name, None, opts)
        settings, cluster = args.settings, args.cluster
        child = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        namespace = cluster.namespace
        version = runtime(args.image).spark

        # From the namespace alone, so that the hub does not wait for Spark to be created.
        self.master_url = pulumi.Output.concat("spark://", MASTER_SERVICE, ".", namespace, f".svc:{MASTER_PORT}")

        self.master = k8s.apps.v1.Deployment(
            f"{name}-master",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=MASTER_SERVICE, namespace=namespace, labels=MASTER_LABELS),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=MASTER_LABELS),
                template=self._pod(MASTER_LABELS, version, cluster, k8s.core.v1.ContainerArgs(
                    name="master",
                    image=args.image,
                    command=["tini", "-g", "--", f"{SPARK_HOME}/bin/spark-class", "org.apache.spark.deploy.master.Master",
                             "--host", "$(POD_IP)", "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI_PORT)],
                    env=_daemon_env(),
                    ports=[k8s.core.v1.ContainerPortArgs(name="cluster", container_port=MASTER_PORT),
                           k8s.core.v1.ContainerPortArgs(name="http", container_port=MASTER_UI_PORT)],
                    readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="cluster"),
                                                          period_seconds=10),
                    resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "250m", "memory": "1Gi"},
                                                                   limits={"memory": "1Gi"}),
                    security_context=_container_security(),
                ), volumes=[]),
            ),
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-master-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=MASTER_SERVICE, namespace=namespace, labels=MASTER_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=MASTER_LABELS,
                ports=[k8s.core.v1.ServicePortArgs(name="cluster", port=MASTER_PORT, target_port="cluster"),
                       k8s.core.v1.ServicePortArgs(name="http", port=MASTER_UI_PORT, target_port="http")],
            ),
            opts=child,
        )

        executor_memory = executor_memory_mib(settings)
        self.workers = k8s.apps.v1.Deployment(
            f"{name}-workers",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="spark-worker", namespace=namespace, labels=WORKER_LABELS),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=settings.workers,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=WORKER_LABELS),
                template=self._pod(WORKER_LABELS, version, cluster, k8s.core.v1.ContainerArgs(
                    name="worker",
                    image=args.image,
                    # The worker offers one executor heap per core; the rest of its memory is their overhead.
                    command=["tini", "-g", "--", f"{SPARK_HOME}/bin/spark-class", "org.apache.spark.deploy.worker.Worker",
                             "--host", "$(POD_IP)", "--cores", str(settings.worker_cores),
                             "--memory", f"{executor_memory * settings.worker_cores}m",
                             "--webui-port", str(WORKER_UI_PORT), "--work-dir", "/spark/work", self.master_url],
                    env=[*_daemon_env(),
                         k8s.core.v1.EnvVarArgs(name="SPARK_LOCAL_DIRS", value="/spark/local"),
                         # Removes the files of finished applications: a class runs many.
                         k8s.core.v1.EnvVarArgs(name="SPARK_WORKER_OPTS", value=" ".join([
                             "-Dspark.worker.cleanup.enabled=true",
                             f"-Dspark.worker.cleanup.interval={WORKER_CLEANUP_INTERVAL}",
                             f"-Dspark.worker.cleanup.appDataTtl={WORKER_APP_DATA_TTL}"]))],
                    ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=WORKER_UI_PORT)],
                    readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/", port="http"),
                                                          period_seconds=10),
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests={"cpu": str(settings.worker_cores), "memory": settings.worker_memory},
                        limits={"memory": settings.worker_memory}),
                    volume_mounts=[k8s.core.v1.VolumeMountArgs(name="scratch", mount_path="/spark")],
                    security_context=_container_security(),
                ), volumes=[k8s.core.v1.VolumeArgs(name="scratch", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())]),
            ),
            opts=child,
        )

        dns = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
        # Executors run trainees' code: they reach each other, the drivers and the data services, nothing else.
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="spark", namespace=namespace, labels=SPARK_LABELS),
            spec={
                "podSelector": {"matchLabels": dict(SPARK_LABELS)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {"from": [{"podSelector": {"matchLabels": dict(SPARK_LABELS)}}]},
                    {"from": [{"podSelector": {"matchLabels": dict(USER_POD_LABELS)}}],
                     "ports": [{"protocol": "TCP", "port": MASTER_PORT}, *executor_ports(settings)]},
                ],
                "egress": [
                    {"to": [{"podSelector": {"matchLabels": dict(SPARK_LABELS)}}]},
                    {"to": [{"podSelector": {"matchLabels": dict(USER_POD_LABELS)}}], "ports": driver_ports(settings)},
                    dns,
                    *(rule for service in args.data_services for rule in service.egress),
                ],
            },
            opts=child,
        )

        conf = client_conf(settings, args.hadoop_config)
        self.user_access = UserAccess(
            environment={
                "SPARK_MASTER_URL": self.master_url,
                "PYSPARK_SUBMIT_ARGS": pulumi.Output.all(self.master_url, conf).apply(lambda a: submit_args(*a)),
                # The driver binds to and advertises the pod's IP, which executors can reach (its host name is not
                # resolvable from other pods).
                "SPARK_LOCAL_IP": POD_IP,
                "SPARK_LOCAL_HOSTNAME": POD_IP,
            },
            egress=(
                {"to": [{"podSelector": {"matchLabels": dict(MASTER_LABELS)}}],
                 "ports": [{"protocol": "TCP", "port": MASTER_PORT}]},
                {"to": [{"podSelector": {"matchLabels": dict(WORKER_LABELS)}}], "ports": executor_ports(settings)},
            ),
            # The master and the executors call the driver back.
            ingress=({"from": [{"podSelector": {"matchLabels": dict(SPARK_LABELS)}}], "ports": driver_ports(settings)},),
        )
        self.register_outputs({"masterUrl": self.master_url})

    @staticmethod
    def _pod(labels: dict, version: str, cluster: ClusterResult, container: k8s.core.v1.ContainerArgs,
             volumes: list) -> k8s.core.v1.PodTemplateSpecArgs:
        return k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, "app.kubernetes.io/version": version}),
            spec=k8s.core.v1.PodSpecArgs(
                node_selector=cluster.core_node_selector or None,
                security_context=k8s.core.v1.PodSecurityContextArgs(
                    run_as_user=SPARK_USER, run_as_group=SPARK_GROUP, fs_group=SPARK_GROUP, run_as_non_root=True,
                    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                ),
                containers=[container],
                volumes=volumes or None,
            ),
        )


def _daemon_env() -> list[k8s.core.v1.EnvVarArgs]:
    return [
        k8s.core.v1.EnvVarArgs(name="POD_IP", value_from=k8s.core.v1.EnvVarSourceArgs(
            field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="status.podIP"))),
        k8s.core.v1.EnvVarArgs(name="SPARK_DAEMON_MEMORY", value=f"{quantity_bytes(SPARK_DAEMON_MEMORY) // 2**20}m"),
    ]


def _container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(allow_privilege_escalation=False,
                                           capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]))
