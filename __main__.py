"""The training environment, read top to bottom: settings, cluster, storage, services, hub, exports."""

import pulumi

from components.cluster import ExistingCluster, ExistingClusterArgs, GkeCluster, GkeClusterArgs
from components.settings import load
from components.storage import NfsStorage, NfsStorageArgs

settings = load()

if settings.cluster.type == "gke":
    gke = GkeCluster("gke", GkeClusterArgs(settings=settings.cluster, namespace=settings.namespace))
    cluster = gke.result
else:
    cluster = ExistingCluster("cluster", ExistingClusterArgs(settings=settings.cluster, namespace=settings.namespace)).result

storage = NfsStorage("storage", NfsStorageArgs(settings=settings.storage, cluster=cluster, namespace=settings.namespace,
                                               gke=settings.cluster.gke)).result

pulumi.export("clusterName", cluster.name)
pulumi.export("namespace", cluster.namespace)
pulumi.export("nfsServer", storage.endpoint.server)
pulumi.export("nfsPath", storage.endpoint.path)
pulumi.export("personalStorageClass", storage.storage_class)
if cluster.kubeconfig is not None:
    pulumi.export("kubeconfig", cluster.kubeconfig)
