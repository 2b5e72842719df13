"""The data services every notebook reaches: Spark, Kafka, HDFS, and the customer's SAP Vora."""

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from components.settings.types import (LABEL, Boolean, Invalid, Matching, Model, OneOf, Quantity, Secret, Text,
                                       WholeNumber, is_https_url, json_value, quantity_bytes, setting, whole_number)

# Kafka versions the Strimzi 1.2.0 operator runs (the Kafka images of its release; 4.1.x was dropped).
STRIMZI_KAFKA_VERSIONS = ("4.2.0", "4.2.1", "4.3.0", "4.3.1")
# A Spark worker's memory holds the worker daemon and, for each core, one executor with its JVM and Python
# overhead; components/services/spark.py divides it the same way.
SPARK_DAEMON_MEMORY = "512Mi"
SPARK_MEMORY_PER_CORE = "1Gi"
# Executors of one worker, and the sessions of one server, take consecutive ports; components/services/spark.py opens
# each of them by number, so these bound its network policies' lists.
SPARK_MAX_WORKER_CORES = 32
SPARK_MAX_SESSIONS_PER_SERVER = 16
_REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$")
_EXACT_VERSION = re.compile(r"^v?[0-9]+(\.[0-9]+)*([-+][0-9A-Za-z.-]+)?$")


def spark_session_cap(workers: int, worker_cores: int, concurrent_users: int) -> int:
    """Executors (of one core) a session may hold when services.spark.maxExecutorsPerSession is 0: the cluster's
    cores shared equally by the trainees expected to run jobs at once, rounded down, at least one."""
    return max(1, workers * worker_cores // concurrent_users)


class SparkSettings(Model):
    enabled: Boolean = setting(True, "Run a shared Spark standalone cluster that every notebook uses.")
    workers: WholeNumber(1, 100) = setting(2, "Number of Spark workers.")
    worker_cores: WholeNumber(1, SPARK_MAX_WORKER_CORES) = setting(
        2, "CPU cores of each Spark worker (1 to 32); each core runs one executor.")
    worker_memory: Quantity("1Gi") = setting("4Gi", (
        "Memory of each Spark worker, a Kubernetes quantity; at least 512Mi plus 1Gi per core."))
    concurrent_users: WholeNumber(1, 1000) = setting(4, (  # trainees running Spark jobs at the same time
        "Trainees expected to run Spark jobs at the same time; unless maxExecutorsPerSession is set, each session may "
        "hold an equal share of the cluster's cores."))
    max_executors_per_session: int = setting(0, (  # as configured, else spark_session_cap(...)
        "Executors (one core each) a SparkSession may hold at once. 0: workers x workerCores divided by concurrentUsers, "
        "rounded down, at least 1."))
    sessions_per_server: WholeNumber(1, SPARK_MAX_SESSIONS_PER_SERVER) = setting(3, (
        "SparkSessions one trainee's server can run at once (1 to 16), e.g. in several notebooks; each takes two of "
        "the driver ports that the network policies open."))
    idle_timeout_seconds: WholeNumber(1, 24 * 3600) = setting(120, (
        "Seconds after which a session's idle executors go back to the class, also those that hold shuffle output or "
        "cached data."))

    @field_validator("worker_memory")
    @classmethod
    def _fits_executors(cls, memory: str, info) -> str:
        cores = info.data.get("worker_cores", 1)
        needed = quantity_bytes(SPARK_DAEMON_MEMORY) + cores * quantity_bytes(SPARK_MEMORY_PER_CORE)
        if quantity_bytes(memory) < needed:
            raise Invalid(memory, f"at least {needed // 2**20}Mi for {cores} core{'s' if cores > 1 else ''} "
                          f"({SPARK_DAEMON_MEMORY} for the worker and {SPARK_MEMORY_PER_CORE} per core)")
        return memory

    @field_validator("max_executors_per_session", mode="before")
    @classmethod
    def _cap(cls, value: Any, info) -> int:
        # More than the cluster's cores would never be granted: 0 (the default) derives the cap.
        workers, cores, users = (info.data.get(name) for name in ("workers", "worker_cores", "concurrent_users"))
        cap = whole_number(value, 0, workers * cores if workers and cores else None)
        return cap or spark_session_cap(workers, cores, users) if workers and cores and users else cap

    @property
    def cores(self) -> int:
        return self.workers * self.worker_cores


class KafkaSettings(Model):
    enabled: Boolean = setting(True, "Run a Kafka cluster (Strimzi, KRaft mode) that every notebook reaches.")
    replicas: WholeNumber(1, 9) = setting(1, "Number of Kafka nodes (each both controller and broker).")
    storage_size: Quantity("1Gi") = setting("10Gi", "Persistent volume size of each Kafka node.")
    version: OneOf(*STRIMZI_KAFKA_VERSIONS) = setting(
        "4.3.1", "Kafka version, one that Strimzi 1.2.0 runs: 4.2.0, 4.2.1, 4.3.0 or 4.3.1.")
    # Strimzi leaves the cluster alone (README, "Tearing down": taking over retained volumes)
    paused: Boolean = setting(False, (
        "Pause Strimzi's reconciliation of the Kafka cluster (annotation strimzi.io/pause-reconciliation), to give a "
        "new cluster the id of the one whose volumes it takes over after a teardown (README, \"Tearing down\")."))


class HdfsSettings(Model):
    enabled: Boolean = setting(True, (
        "Run HDFS (one NameNode, several DataNodes) that every notebook and Spark reach."))
    datanodes: WholeNumber(1, 100) = setting(2, "Number of HDFS DataNodes.")
    datanode_storage: Quantity("1Gi") = setting("20Gi", "Persistent volume size of each DataNode.")
    namenode_storage: Quantity("1Gi") = setting("5Gi", "Persistent volume size of the NameNode's metadata.")


class VoraSettings(Model):
    enabled: Boolean = setting(False, (
        "Deploy the customer's licensed SAP Vora distribution (needs the settings below)."))
    chart: Text = setting("", (
        "Vora Helm chart: a local path, an oci:// reference, or a chart name in services.vora.repository."))
    repository: Matching(is_https_url, "an https:// Helm repository URL") = setting(
        "", "Helm repository URL of the Vora chart (empty when services.vora.chart is a path).")
    version: Matching(_EXACT_VERSION, "an exact chart version such as 2.3.41, not a range") = setting(
        "", "Exact version of the Vora chart (required with a repository or an oci:// chart).")
    namespace: Matching(LABEL, "a namespace name (RFC 1123 label)", required=True) = setting(
        "vora", "Namespace of the Vora deployment, its own (not the environment namespace).")
    registry: Matching(_REGISTRY, "a registry host (and port) such as registry.example.com:5000") = setting(
        "", "The customer's private image registry that holds the Vora images: host[:port].")
    registry_username: Text = setting("", "User name for the private registry.")
    registry_password: Secret = None
    values: dict = {}

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, value: Any) -> dict:
        values = json_value(value, "a map of Helm values") or {}
        if not isinstance(values, dict):
            raise Invalid(values, "a map of Helm values")
        return values

    @model_validator(mode="after")
    def _deployable(self, info) -> "VoraSettings":
        if not self.enabled or info.context is None:
            return self
        remote = bool(self.repository) or self.chart.startswith("oci://")
        required = {
            "chart": (self.chart, "the customer's Vora chart: a local path, an oci:// reference or a chart name in "
                                  "services.vora.repository"),
            "version": (self.version or not remote, "the exact version of the Vora chart to pull"),
            "registry": (self.registry, "the customer's private registry that holds the Vora images"),
            "registryUsername": (self.registry_username, "the user name for the Vora image registry"),
        }
        for field, (given, expected) in required.items():
            if not given:
                raise Invalid(None, expected, field=field)
        if self.registry_password is None:
            raise Invalid(None, "the password of the Vora image registry", field="registryPassword", missing=True)
        if not remote and not Path(self.chart).exists():
            raise Invalid(self.chart, "a chart directory or .tgz that exists, or a chart name with "
                          "services.vora.repository", field="chart")
        if self.namespace == info.context["namespace"]:
            raise Invalid(self.namespace, "a namespace of its own, not the environment's namespace", field="namespace")
        return self


class MonitoringSettings(Model):
    """services.monitoring: Prometheus and Grafana with the JupyterHub dashboards (components/services/monitoring.py)."""

    enabled: Boolean = setting(False, "Run Prometheus (scraping the hub's metrics and the cluster) and Grafana with the "
                               "dashboards of jupyterhub/grafana-dashboards, reached with kubectl port-forward (README, "
                               "\"Usage at a glance\").")
    retention_days: WholeNumber(1, 3650) = setting(  # how long Prometheus keeps samples
        30, "Days Prometheus keeps its samples (it also drops the oldest when its volume is 80% full).")
    storage_size: Quantity("1Gi") = setting(  # Prometheus's volume on the data class
        "20Gi", "Persistent volume size of Prometheus's samples, on the data class (kept through a teardown).")
    node_exporter: Boolean = setting(
        True, "Run Prometheus's node exporter on every node, on the node's network at port 9100, for the node figures "
        "of the Cluster dashboard (CPU, memory, out-of-memory kills, NFS requests). false where the cluster runs one "
        "on that port already: a second one could not start, and the release would time out.")


class ServicesSettings(Model):
    spark: SparkSettings = Field(default_factory=SparkSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    hdfs: HdfsSettings = Field(default_factory=HdfsSettings)
    vora: VoraSettings = Field(default_factory=VoraSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
