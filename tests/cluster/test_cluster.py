"""The cluster layer: a GKE cluster with two pools and a provider wired from it; an existing cluster."""

from tests.conftest import run_preview


def test_gke_cluster_is_zonal_with_dataplane_v2_and_workload_identity(gke):
    [cluster] = gke.of_type("gcp:container/cluster:Cluster")
    inputs = cluster.inputs
    assert inputs["location"] == "europe-west3-a"
    assert inputs["removeDefaultNodePool"] is True
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert inputs["workloadIdentityConfig"] == {"workloadPool": "ml-training-demo.svc.id.goog"}
    assert inputs["releaseChannel"] == {"channel": "REGULAR"}
    assert inputs["deletionProtection"] is True
    assert cluster.protect  # `pulumi destroy --exclude-protected` keeps it


def test_gke_pools_core_fixed_and_user_autoscaling_with_label_and_taint(gke):
    pools = {p.inputs["name"]: p.inputs for p in gke.of_type("gcp:container/nodePool:NodePool")}
    assert set(pools) == {"core", "user"}
    assert pools["core"]["nodeCount"] == 3
    assert pools["core"]["nodeConfig"]["machineType"] == "e2-standard-8"
    assert "autoscaling" not in pools["core"]
    assert pools["core"]["nodeConfig"]["taints"] == []
    user = pools["user"]
    assert user["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 20}
    assert user["nodeConfig"]["labels"] == {"hub.jupyter.org/node-purpose": "user"}
    assert user["nodeConfig"]["taints"] == [{"key": "hub.jupyter.org_dedicated", "value": "user", "effect": "NO_SCHEDULE"}]
    assert user["nodeConfig"]["machineType"] == "e2-highmem-4"


def test_spot_user_pool_and_regional_cluster_from_config():
    preview = run_preview("gke", {"cluster.userPool.spot": True, "cluster.location": "europe-west3",
                                  "cluster.userPool.minNodes": 1, "cluster.userPool.maxNodes": 5,
                                  "hub.expectedUsers": 35})  # 5 nodes of 7 servers
    [cluster] = preview.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["location"] == "europe-west3"
    user = next(p for p in preview.of_type("gcp:container/nodePool:NodePool") if p.inputs["name"] == "user")
    assert user.inputs["nodeConfig"]["spot"] is True
    assert user.inputs["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 5}


def test_deletion_protection_can_be_switched_off_before_a_destroy():
    preview = run_preview("gke", {"cluster.deletionProtection": False})
    [cluster] = preview.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["deletionProtection"] is False
    assert not cluster.protect


def test_pinned_version_without_channel():
    preview = run_preview("gke", {"cluster.releaseChannel": "UNSPECIFIED", "cluster.version": "1.33.5-gke.1308000"})
    [cluster] = preview.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["minMasterVersion"] == "1.33.5-gke.1308000"
    assert cluster.inputs["releaseChannel"] == {"channel": "UNSPECIFIED"}


def test_gke_provider_is_wired_from_the_cluster_with_a_secret_kubeconfig(gke):
    [provider] = gke.of_type("pulumi:providers:kubernetes")
    [cluster] = gke.of_type("gcp:container/cluster:Cluster")
    assert cluster.urn in provider.dependsOn
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert provider.inputs["clusterIdentifier"] == "projects/ml-training-demo/locations/europe-west3-a/clusters/ml-training"
    assert gke.outputs["kubeconfig"] == "[secret]"
    # Every Kubernetes object goes through that provider.
    for resource in gke.resources:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn + "::"), resource.name


def test_kubeconfig_authenticates_with_the_gke_auth_plugin():
    import json

    from components.cluster.cluster import gke_kubeconfig

    config = json.loads(gke_kubeconfig("ml-training", "203.0.113.7", "Q0E="))
    [cluster] = config["clusters"]
    assert cluster["cluster"] == {"server": "https://203.0.113.7", "certificate-authority-data": "Q0E="}
    [user] = config["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    # The credentials `gcloud auth application-default login` sets up (README, Prerequisites), as Pulumi uses.
    assert user["user"]["exec"]["args"] == ["--use_application_default_credentials"]
    assert config["current-context"] == "gke-ml-training"


def test_existing_cluster_declares_no_cloud_resources(baremetal):
    assert not [r for r in baremetal.resources if r.type.startswith("gcp:")]
    [provider] = baremetal.of_type("pulumi:providers:kubernetes")
    assert "kubeconfig" not in provider.inputs  # the current kubeconfig and context
    assert baremetal.outputs["clusterName"] == "on-prem"
    assert "kubeconfig" not in baremetal.outputs


def test_existing_cluster_kubeconfig_and_context_from_config():
    preview = run_preview("baremetal", {"cluster.kubeconfig": "/etc/training/kubeconfig", "cluster.context": "lab"})
    [provider] = preview.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "/etc/training/kubeconfig"
    assert provider.inputs["context"] == "lab"


def test_namespace_from_config(baremetal):
    [namespace] = baremetal.of_type("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["name"] == "jupyterhub"
    preview = run_preview("baremetal", {"namespace": "class-2026"})
    [namespace] = preview.of_type("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["name"] == "class-2026"
    assert preview.outputs["namespace"] == "class-2026"


def test_maintenance_only_in_the_nightly_window_and_never_in_the_course_week(gke):
    [cluster] = gke.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["maintenancePolicy"] == {
        "recurringWindow": {"startTime": "2026-01-05T22:00:00Z", "endTime": "2026-01-06T04:00:00Z",
                            "recurrence": "FREQ=DAILY"},
        "maintenanceExclusions": [{"exclusionName": "course-week", "startTime": "2027-03-01T00:00:00Z",
                                   "endTime": "2027-03-06T00:00:00Z", "exclusionOptions": {"scope": "NO_UPGRADES"}}],
    }
    unset = run_preview("gke", {"cluster.maintenance": None, "cluster.maintenanceExclusions": None})
    [cluster] = unset.of_type("gcp:container/cluster:Cluster")
    assert "maintenancePolicy" not in cluster.inputs
