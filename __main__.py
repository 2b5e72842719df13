"""The training environment, read top to bottom: settings, cluster, storage, services, hub, exports."""

import pulumi

from components import continuity
from components.storage.archives import ArchiveBucket, ArchiveBucketArgs
from components.cluster.cluster import ExistingCluster, ExistingClusterArgs, GkeCluster, GkeClusterArgs
from components.services.hdfs import Hdfs, HdfsArgs
from components.hub.hub import JupyterHub, JupyterHubArgs, trainee_environment
from components.services.kafka import Kafka, KafkaArgs
from components.services.monitoring import METRICS_READER, Monitoring, MonitoringArgs
from components.hub.schedule import PlaceholderSchedule, PlaceholderScheduleArgs
from components.settings import PYSPARK_IMAGE, load
from components.services.spark import Spark, SparkArgs
from components.storage.storage import NfsStorage, NfsStorageArgs
from components.services.vora import Vora, VoraArgs

settings = load()
continuity.check(settings, continuity.deployed_identity())  # where the data lives never changes by accident

if settings.cluster.type == "gke":
    cluster = GkeCluster("gke", GkeClusterArgs(settings=settings.cluster, namespace=settings.namespace)).result
else:
    cluster = ExistingCluster("cluster", ExistingClusterArgs(settings=settings.cluster, namespace=settings.namespace)).result

storage = NfsStorage("storage", NfsStorageArgs(settings=settings.storage, cluster=cluster,
                                               cluster_settings=settings.cluster)).result
if settings.storage.archive_bucket:  # where ./tools/archive puts the personal folders at course end (gke)
    archives = ArchiveBucket("archives", ArchiveBucketArgs(settings=settings.storage, gke=settings.cluster.gke,
                                                          cluster_name=settings.cluster.name, namespace=settings.namespace))
    pulumi.export("archiveBucket", archives.bucket_name)
    pulumi.export("archiveLinkSigner", archives.link_signer)

# Data services, each handing the hub its notebook environment and network paths (a disabled one: nothing).
user_access = []
hadoop_config = {}
if settings.services.hdfs.enabled:
    hdfs = Hdfs("hdfs", HdfsArgs(settings=settings.services.hdfs, cluster=cluster))
    user_access.append(hdfs.user_access)
    hadoop_config = hdfs.client_config
    pulumi.export("hdfsUrl", hdfs.default_fs)
if settings.services.kafka.enabled:
    kafka = Kafka("kafka", KafkaArgs(settings=settings.services.kafka, cluster=cluster))
    user_access.append(kafka.user_access)
    pulumi.export("kafkaBootstrapServers", kafka.bootstrap_servers)
if settings.services.vora.enabled:
    user_access.append(Vora("vora", VoraArgs(settings=settings.services.vora, cluster=cluster)).user_access)
if settings.services.spark.enabled:
    # Executors run the notebook's image (same Spark and Python as the driver) and reach the same data services.
    spark = Spark("spark", SparkArgs(settings=settings.services.spark, cluster=cluster, image=PYSPARK_IMAGE,
                                     hadoop_config=hadoop_config, data_services=tuple(user_access)))
    user_access.append(spark.user_access)
    pulumi.export("sparkMasterUrl", spark.master_url)

hub = JupyterHub("hub", JupyterHubArgs(hub=settings.hub, auth=settings.auth, namespace=cluster.namespace, cluster=cluster,
                                       storage=storage, user_access=tuple(user_access),
                                       metrics_reader=METRICS_READER if settings.services.monitoring.enabled else ""))
pulumi.export("hubUrl", hub.url)
if settings.services.monitoring.enabled:  # usage at a glance: Prometheus and Grafana with JupyterHub's dashboards
    monitoring = Monitoring("monitoring", MonitoringArgs(settings=settings.services.monitoring, cluster=cluster,
                                                         hub_release=hub.release))
    pulumi.export("grafanaPortForward", monitoring.port_forward)
    pulumi.export("grafanaAdminPassword", monitoring.admin_password_command)
if hub.port_forward is not None:
    pulumi.export("hubPortForward", hub.port_forward)
if settings.hub.schedule:  # class sessions: the placeholders warm the user pool before each
    PlaceholderSchedule("placeholder-schedule", PlaceholderScheduleArgs(hub=settings.hub, cluster=cluster))

# What ./tools/smoke checks that a trainee gets.
pulumi.export("traineeEnvironment", trainee_environment(settings.hub, tuple(d.target for d in settings.storage.datasets),
                                                        tuple(name for name in ("spark", "kafka", "hdfs")
                                                              if getattr(settings.services, name).enabled)))

pulumi.export("clusterName", cluster.name)
pulumi.export("namespace", cluster.namespace)
pulumi.export("nfsServer", storage.endpoint.server)
pulumi.export("nfsPath", storage.endpoint.path)
pulumi.export("personalStorageClass", storage.storage_class)
pulumi.export(continuity.DATA_IDENTITY, continuity.identity(settings))
if cluster.kubeconfig is not None:
    pulumi.export("kubeconfig", cluster.kubeconfig)
