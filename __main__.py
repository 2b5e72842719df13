"""The training environment, read top to bottom: settings, cluster, storage, services, hub, exports."""

import pulumi

from components.cluster import ExistingCluster, ExistingClusterArgs, GkeCluster, GkeClusterArgs
from components.settings import load

settings = load()

if settings.cluster.type == "gke":
    gke = GkeCluster("gke", GkeClusterArgs(settings=settings.cluster, namespace=settings.namespace))
    cluster = gke.result
else:
    cluster = ExistingCluster("cluster", ExistingClusterArgs(settings=settings.cluster, namespace=settings.namespace)).result

pulumi.export("clusterName", cluster.name)
pulumi.export("namespace", cluster.namespace)
if cluster.kubeconfig is not None:
    pulumi.export("kubeconfig", cluster.kubeconfig)
