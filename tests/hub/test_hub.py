"""The hub: the Zero to JupyterHub release, its folders, login, profiles, operations and network policy."""

import json

import pulumi
import kubernetes_validate
import pytest

from components.hub import hub as hub_module
from components.cluster.cluster import USER_NODE_LABEL, USER_NODE_TAINT, ClusterResult
from components.settings import DEFAULT_PROFILES, PYSPARK_IMAGE, SPARK_SCALA_VERSION, AuthSettings, HubSettings, Profile
from components.storage.nfs_endpoint import NfsEndpoint
from components.storage.storage import StorageResult
from components.services.user_access import UserAccess
from tests.conftest import config_error, run_preview
from tests.kubernetes_objects import KUBERNETES_VERSIONS, manifest

# The baremetal stack with development login on a hub reached by kubectl port-forward.
DUMMY = {"auth.type": "dummy", "auth.allowedGroups": None, "hub.ingress": False, "hub.host": None}
NO_SERVICES = {"services.spark.enabled": False, "services.kafka.enabled": False, "services.hdfs.enabled": False}
PROFILE = {"name": "py", "displayName": "Python", "image": "quay.io/jupyter/scipy-notebook:2026-08-07",
           "cpuGuarantee": "500m", "cpuLimit": "1.5", "memoryGuarantee": "1536Mi", "memoryLimit": "2Gi"}


def release(preview):
    return preview.releases()["jupyterhub"]


def values(preview) -> dict:
    return release(preview).inputs["values"]


def authenticator(preview) -> tuple[str, dict]:
    config = values(preview)["hub"]["config"]
    [section] = [name for name in config if name != "JupyterHub"]
    return config["JupyterHub"]["authenticator_class"], config[section] | {"section": section}


# --- the release ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_pinned_chart_in_the_environment_namespace_through_the_cluster_provider(stack, request):
    preview = request.getfixturevalue(stack)
    hub = release(preview)
    assert hub.inputs["chart"] == "jupyterhub"
    assert hub.inputs["version"] == "4.4.0"
    assert hub.inputs["repositoryOpts"] == {"repo": "https://hub.jupyter.org/helm-chart/"}
    assert hub.inputs["namespace"] == preview.outputs["namespace"] == "jupyterhub"
    [component] = preview.of_type("mltraining:hub:JupyterHub")
    assert hub.parent == component.urn
    [provider] = preview.of_type("pulumi:providers:kubernetes")
    assert hub.provider.startswith(provider.urn + "::")
    # The hub comes up after the namespace it lives in.
    [namespace] = preview.of_type("kubernetes:core/v1:Namespace")
    assert preview.depends_on(hub, namespace)


def test_hub_url_from_the_host_or_a_port_forward(gke, baremetal):
    assert gke.outputs["hubUrl"] == "https://training.example.com"
    assert baremetal.outputs["hubUrl"] == "https://jupyter.training.example.com"
    assert "hubPortForward" not in gke.outputs
    local = run_preview("baremetal", DUMMY)
    assert local.outputs["hubUrl"] == "http://localhost:8080"
    assert local.outputs["hubPortForward"] == "kubectl --namespace jupyterhub port-forward service/proxy-public 8080:http"


# --- the three folders -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_personal_folder_is_a_dynamic_home_from_the_provisioners_storage_class(stack, request):
    preview = request.getfixturevalue(stack)
    storage = values(preview)["singleuser"]["storage"]
    assert storage["type"] == "dynamic"
    assert storage["homeMountPath"] == "/home/jovyan"
    assert storage["dynamic"]["storageClass"] == preview.outputs["personalStorageClass"]


def storage_result(**names) -> StorageResult:
    out = pulumi.Output.from_input
    return StorageResult(endpoint=NfsEndpoint(server=out("10.0.0.2"), path=out("/export")),
                         public_claim=out(names["public"]), shared_claim=out(names["shared"]),
                         storage_class=out(names["storage_class"]))


def test_folders_mount_the_storage_claims_with_their_modes(gke):
    storage = values(gke)["singleuser"]["storage"]
    volumes = {v["name"]: v for v in storage["extraVolumes"]}
    mounts = {m["mountPath"]: m for m in storage["extraVolumeMounts"]}
    assert set(mounts) == {"/home/jovyan/public", "/home/jovyan/shared"}
    public_mount, shared_mount = mounts["/home/jovyan/public"], mounts["/home/jovyan/shared"]
    public, shared = volumes[public_mount["name"]], volumes[shared_mount["name"]]
    assert public_mount["readOnly"] is True
    assert public["persistentVolumeClaim"]["readOnly"] is True
    assert not shared_mount.get("readOnly", False)
    assert not shared["persistentVolumeClaim"].get("readOnly", False)
    assert public["persistentVolumeClaim"]["claimName"] != shared["persistentVolumeClaim"]["claimName"]


def test_sqlite_files_live_on_local_disk_not_on_the_nfs_home(baremetal):
    files = values(baremetal)["singleuser"]["extraFiles"]
    by_path = {f["mountPath"]: f["data"] for f in files.values()}
    history = by_path["/usr/local/etc/ipython/ipython_config.json"]["HistoryManager"]["hist_file"]
    signatures = by_path["/usr/local/etc/jupyter/jupyter_server_config.json"]["NotebookNotary"]["db_file"]
    for path in (history, signatures):
        assert path.startswith("/tmp/")
    # Neither the files nor the config that points at them is on a folder that NFS holds.
    for path in (history, signatures, *by_path):
        assert not path.startswith("/home/jovyan")


# --- login -------------------------------------------------------------------------------------------------


def test_github_login_with_organizations_teams_and_admins(gke):
    entry_point, config = authenticator(gke)
    assert entry_point == "github" and config["section"] == "GitHubOAuthenticator"
    assert config["client_id"] == "Ov23liExampleClientId"
    assert config["client_secret"] == "[secret]"
    assert config["oauth_callback_url"] == "https://training.example.com/hub/oauth_callback"
    assert config["allowed_organizations"] == ["ml-training-example:trainees"]
    assert config["scope"] == ["read:org"]
    assert config["allow_all"] is False
    assert config["admin_users"] == ["trainer-example"]


def test_github_login_by_user_names_only_needs_no_org_scope():
    preview = run_preview("gke", {"auth.allowedOrganizations": None, "auth.allowedUsers": ["alice", "bob"]})
    _, config = authenticator(preview)
    assert config["allowed_users"] == ["alice", "bob"]
    assert config["allowed_organizations"] == []
    assert "scope" not in config


def test_generic_oauth_login_for_corporate_single_sign_on(baremetal):
    entry_point, config = authenticator(baremetal)
    assert entry_point == "generic-oauth" and config["section"] == "GenericOAuthenticator"
    assert config["authorize_url"] == "https://example-tenant.accounts.ondemand.com/oauth2/authorize"
    assert config["token_url"] == "https://example-tenant.accounts.ondemand.com/oauth2/token"
    assert config["userdata_url"] == "https://example-tenant.accounts.ondemand.com/oauth2/userinfo"
    assert config["username_claim"] == "email"
    assert config["scope"] == ["openid", "email", "profile", "groups"]
    assert config["client_secret"] == "[secret]"
    assert config["oauth_callback_url"] == "https://jupyter.training.example.com/hub/oauth_callback"
    assert config["allow_all"] is False
    # Groups come from the userinfo claim and are only checked when JupyterHub manages groups.
    assert config["manage_groups"] is True
    assert config["auth_state_groups_key"] == "oauth_user.groups"
    assert config["allowed_groups"] == ["ml-training-participants"]


def test_generic_oauth_by_users_leaves_groups_alone():
    preview = run_preview("baremetal", {"auth.allowedGroups": None, "auth.allowedUsers": ["alice@example.com"],
                                        "auth.groupsClaim": "roles"})
    _, config = authenticator(preview)
    assert config["allowed_users"] == ["alice@example.com"]
    assert not {"manage_groups", "auth_state_groups_key", "allowed_groups"} & set(config)


def test_dummy_login_for_development_with_secret_passwords():
    preview = run_preview("baremetal", {**DUMMY, "auth.dummyPassword": {"secure": "x"},
                                        "auth.dummyAdminPassword": {"secure": "y"}})
    entry_point, config = authenticator(preview)
    # JupyterHub's shared-password login: DummyAuthenticator's password is deprecated since JupyterHub 5.3.
    assert entry_point == "shared-password" and config["section"] == "SharedPasswordAuthenticator"
    assert config["user_password"] == config["admin_password"] == "[secret]"
    assert config["allow_all"] is True and config["admin_users"] == ["trainer@example.com"]
    assert "client_secret" not in config
    any_password = run_preview("baremetal", DUMMY)
    entry_point, config = authenticator(any_password)
    assert entry_point == "dummy" and config["section"] == "DummyAuthenticator"
    assert "user_password" not in config and "password" not in config
    limited = run_preview("baremetal", {**DUMMY, "auth.allowedUsers": ["alice"]})
    _, config = authenticator(limited)
    assert config["allow_all"] is False and config["allowed_users"] == ["alice"]
    assert "password" not in config


@pytest.mark.parametrize("stack, overrides", [
    ("gke", {}),
    ("baremetal", {}),
    ("baremetal", {**DUMMY, "auth.dummyPassword": {"secure": "x"}, "auth.dummyAdminPassword": {"secure": "y"}}),
])
def test_secrets_never_appear_in_plaintext(stack, overrides):
    preview = run_preview(stack, overrides)
    everything = json.dumps([r.as_json() for r in preview.resources]) + json.dumps(preview.outputs)
    assert "secure-value-of-" not in everything  # the stand-in the preview gives every secret
    assert "[secret]" in json.dumps(values(preview)["hub"]["config"])


def test_dummy_login_on_a_public_hub_needs_the_opt_in_and_warns():
    preview = run_preview("gke", {"auth.type": "dummy", "auth.allowedOrganizations": None, "auth.allowInsecureDummy": True})
    assert authenticator(preview)[0] == "dummy"
    assert any("auth.type dummy on a public hub" in message for message in preview.warnings)
    # The opt-in shows on the hub pod (the policy pack's dummy-auth-opt-in looks for it).
    assert values(preview)["hub"]["annotations"] == {"ml-training/allow-insecure-dummy-auth": "true"}
    assert "annotations" not in values(run_preview("baremetal", DUMMY))["hub"]


# --- profiles ----------------------------------------------------------------------------------------------


def test_default_profiles_with_pinned_images_and_resources(baremetal):
    profiles = values(baremetal)["singleuser"]["profileList"]
    assert [p["slug"] for p in profiles] == [p["name"] for p in DEFAULT_PROFILES]
    python = profiles[0]
    assert python["default"] is True
    assert python["kubespawner_override"] == {"image": PYSPARK_IMAGE, "cpu_guarantee": 0.5, "cpu_limit": 2,
                                              "mem_guarantee": 2 * 2**30, "mem_limit": 4 * 2**30}
    images = [p["kubespawner_override"]["image"] for p in profiles]
    assert all(":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest") for image in images)
    assert all("default" not in p for p in profiles[1:])


def test_scala_kernel_matches_the_scala_of_spark(baremetal):
    [scala] = [p for p in values(baremetal)["singleuser"]["profileList"] if p["slug"] == "scala"]
    assert f"-scala-{SPARK_SCALA_VERSION}." in scala["kubespawner_override"]["image"]


def test_the_stack_example_lists_the_default_profiles(gke, baremetal):
    assert values(gke)["singleuser"]["profileList"] == values(baremetal)["singleuser"]["profileList"]


def test_profiles_from_config_convert_kubernetes_quantities():
    preview = run_preview("baremetal", {"hub.profiles": [PROFILE, {**PROFILE, "name": "big", "displayName": "Big",
                                                                   "memoryLimit": "8Gi", "default": True}]})
    small, big = values(preview)["singleuser"]["profileList"]
    assert small == {"display_name": "Python", "slug": "py", "description": "",
                     "kubespawner_override": {"image": PROFILE["image"], "cpu_guarantee": 0.5, "cpu_limit": 1.5,
                                              "mem_guarantee": 1536 * 2**20, "mem_limit": 2 * 2**30}}
    assert big["default"] is True and big["kubespawner_override"]["mem_limit"] == 8 * 2**30


# --- operations --------------------------------------------------------------------------------------------


def test_culling_pre_pulling_and_placeholders_from_config(gke):
    v = values(gke)
    assert v["cull"] == {"enabled": True, "timeout": 3600}
    assert v["prePuller"] == {"hook": {"enabled": True}, "continuous": {"enabled": True}}
    # Each placeholder holds the room of a server of the default profile (Pulumi.gke.yaml: python-spark).
    assert v["scheduling"]["userPlaceholder"] == {"enabled": True, "replicas": 2,
                                                  "resources": {"requests": {"cpu": "0.5", "memory": "2Gi"}},
                                                  "extraPodSpec": {"priorityClassName": "jupyterhub-user-placeholder"}}
    changed = values(run_preview("gke", {"hub.cullTimeout": 1800, "hub.prePuller": False, "hub.placeholders": 0}))
    assert changed["cull"]["timeout"] == 1800
    assert changed["prePuller"] == {"hook": {"enabled": False}, "continuous": {"enabled": False}}
    assert changed["scheduling"]["userPlaceholder"]["replicas"] == 0


# cluster-autoscaler's default: a Pending pod of lower priority adds no node (kubernetes/autoscaler
# cluster-autoscaler-1.34.5, cluster-autoscaler/config/flags/flags.go, expendable-pods-priority-cutoff).
AUTOSCALER_PRIORITY_CUTOFF = -10
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"


def test_placeholders_make_room_for_servers_and_then_ask_for_a_node(gke, baremetal):
    """Without a priority below the servers' z2jh's placeholders never yield to one (templates/NOTES.txt warns)."""
    for preview in (gke, baremetal):
        [priority] = preview.of_type(PRIORITY_CLASS)
        assert priority.inputs["metadata"]["name"] == "jupyterhub-user-placeholder"  # the namespace's
        placeholder = values(preview)["scheduling"]["userPlaceholder"]
        assert placeholder["extraPodSpec"] == {"priorityClassName": "jupyterhub-user-placeholder"}
        # Servers, at the default priority 0, evict placeholders; an evicted one, Pending, still adds a node.
        assert AUTOSCALER_PRIORITY_CUTOFF <= priority.inputs["value"] < 0
        assert priority.inputs["globalDefault"] is False and priority.inputs["preemptionPolicy"] == "Never"
        # Not the chart's pod priority: its pre-install hook's pods would name a class Helm creates after the hooks.
        assert "podPriority" not in values(preview)["scheduling"]
        assert values(preview)["prePuller"]["hook"]["enabled"] is True
    other = run_preview("baremetal", {"namespace": "class-b"})
    [priority] = other.of_type(PRIORITY_CLASS)
    assert priority.inputs["metadata"]["name"] == "class-b-user-placeholder"
    assert values(other)["scheduling"]["userPlaceholder"]["extraPodSpec"]["priorityClassName"] == "class-b-user-placeholder"


def test_the_placeholder_priority_class_is_valid_kubernetes(gke):
    [priority] = gke.of_type(PRIORITY_CLASS)
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(manifest(priority), version, strict=True)


def test_user_pods_on_the_user_pool_and_hub_on_the_core_pool(gke, baremetal):
    singleuser = values(gke)["singleuser"]
    assert singleuser["nodeSelector"] == USER_NODE_LABEL
    assert singleuser["extraTolerations"] == [{**USER_NODE_TAINT, "operator": "Equal"}]
    assert values(gke)["scheduling"]["corePods"]["nodeAffinity"]["matchNodePurpose"] == "require"
    # An existing cluster without dedicated nodes: anywhere.
    assert values(baremetal)["singleuser"]["nodeSelector"] == {}
    assert values(baremetal)["singleuser"]["extraTolerations"] == []
    assert values(baremetal)["scheduling"]["corePods"]["nodeAffinity"]["matchNodePurpose"] == "prefer"
    dedicated = values(run_preview("baremetal", {"cluster.dedicatedUserNodes": True}))["singleuser"]
    assert dedicated["nodeSelector"] == USER_NODE_LABEL


def test_load_balancer_with_lets_encrypt_for_the_host(gke):
    v = values(gke)
    assert v["proxy"]["service"] == {"type": "LoadBalancer"}
    assert v["proxy"]["https"] == {"enabled": True, "type": "letsencrypt", "hosts": ["training.example.com"],
                                   "letsencrypt": {"contactEmail": "trainers@example.com"}}
    assert v["ingress"] == {"enabled": False}


def test_ingress_for_the_host_with_a_cert_manager_certificate(baremetal):
    v = values(baremetal)
    host = "jupyter.training.example.com"
    assert v["ingress"] == {"enabled": True, "hosts": [host], "ingressClassName": "nginx",
                            "tls": [{"hosts": [host], "secretName": "jupyterhub-tls"}],
                            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}}
    assert v["proxy"] == {"service": {"type": "ClusterIP"}}


def test_ingress_without_an_issuer_uses_a_certificate_provided_in_the_secret():
    v = values(run_preview("baremetal", {"hub.clusterIssuer": None}))
    assert v["ingress"]["tls"] == [{"hosts": ["jupyter.training.example.com"], "secretName": "jupyterhub-tls"}]
    assert "annotations" not in v["ingress"]


# --- security ----------------------------------------------------------------------------------------------


def test_user_network_policy_opens_dns_and_internet_but_not_cloud_metadata(gke):
    policy = values(gke)["singleuser"]["networkPolicy"]
    assert policy["enabled"] is True
    rules = policy["egressAllowRules"]
    assert rules["cloudMetadataServer"] is False and rules["privateIPs"] is False
    assert rules["dnsPortsPrivateIPs"] is True and rules["nonPrivateIPs"] is True
    # Dataplane V2 enforces this policy: no privileged iptables init container on gke (see below).
    assert values(gke)["singleuser"]["cloudMetadata"] == {"blockWithIptables": False}
    closed = values(run_preview("gke", {"hub.allowInternet": False}))["singleuser"]["networkPolicy"]
    assert closed["egressAllowRules"]["nonPrivateIPs"] is False


def test_data_services_give_their_environment_and_network_paths(baremetal):
    singleuser = values(baremetal)["singleuser"]
    assert singleuser["extraEnv"]["KAFKA_BOOTSTRAP_SERVERS"] == baremetal.outputs["kafkaBootstrapServers"]
    assert singleuser["networkPolicy"]["egress"]
    alone = values(run_preview("baremetal", NO_SERVICES))["singleuser"]
    assert alone["extraEnv"] == {}
    assert alone["networkPolicy"]["egress"] == [] and alone["networkPolicy"]["ingress"] == []


# --- the values builder on its own -----------------------------------------------------------------------


def builder_args(user_access=()) -> hub_module.JupyterHubArgs:
    hub = HubSettings(host="", letsencrypt_email="", service_type="ClusterIP", ingress=False, ingress_class="nginx",
                      cluster_issuer="",
                      cull_timeout=600, pre_puller=False, placeholders=0, allow_internet=False,
                      profiles=(Profile("py", "Python", "", PROFILE["image"], "1", "2", "1Gi", "2Gi"),), expected_users=0,
                      metadata_block="iptables", image_registry="")
    auth = AuthSettings(type="dummy", client_id="", client_secret=None, callback_url="", authorize_url="", token_url="",
                        userdata_url="", username_claim="", groups_claim="", scopes=(), allowed_users=(),
                        allowed_organizations=(), allowed_groups=(), admin_users=(), dummy_password=None,
                        dummy_admin_password=None, allow_insecure_dummy=False)
    cluster = ClusterResult(provider=None, name=None, kind="existing", namespace=None, user_node_selector={},
                            user_tolerations=(), core_node_selector={}, data_storage_class="data-class")
    return hub_module.JupyterHubArgs(hub=hub, auth=auth, namespace="training", cluster=cluster,
                                     storage=storage_result(public="pub-claim", shared="shared-claim",
                                                            storage_class="home-class"),
                                     user_access=tuple(user_access))


def test_builder_merges_every_service_into_environment_and_policy():
    spark = UserAccess(environment={"SPARK_MASTER_URL": "spark://m:7077"},
                       egress=({"to": [{"podSelector": {"matchLabels": {"app": "spark"}}}]},),
                       ingress=({"from": [{"podSelector": {"matchLabels": {"app": "spark"}}}]},))
    kafka = UserAccess(environment={"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"},
                       egress=({"to": [{"podSelector": {"matchLabels": {"app": "kafka"}}}]},))
    singleuser = hub_module.hub_values(builder_args([spark, kafka]), "placeholders")["singleuser"]
    assert singleuser["extraEnv"] == {"SPARK_MASTER_URL": "spark://m:7077", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}
    assert singleuser["networkPolicy"]["egress"] == [*spark.egress, *kafka.egress]
    assert singleuser["networkPolicy"]["ingress"] == list(spark.ingress)
    assert singleuser["networkPolicy"]["egressAllowRules"]["nonPrivateIPs"] is False


def test_builder_refuses_two_services_setting_one_variable():
    one, other = UserAccess(environment={"HDFS_URL": "a"}), UserAccess(environment={"HDFS_URL": "b"})
    with pytest.raises(ValueError, match="HDFS_URL"):
        hub_module.hub_values(builder_args([one, other]), "placeholders")


def test_builder_mounts_the_storage_outputs_it_is_given():
    args = builder_args()
    storage = hub_module.hub_values(args, "placeholders")["singleuser"]["storage"]
    assert storage["dynamic"]["storageClass"] is args.storage.storage_class
    claims = {v["name"]: v["persistentVolumeClaim"] for v in storage["extraVolumes"]}
    assert claims == {"public": {"claimName": args.storage.public_claim, "readOnly": True},
                      "shared": {"claimName": args.storage.shared_claim}}


# --- bad configuration -------------------------------------------------------------------------------------

BAD = [
    ("gke", {"auth.allowedOrganizations": None},
     "Invalid configuration mltraining:auth.allowedOrganizations = []: expected at least one allow rule "
     "(auth.allowedUsers or auth.allowedOrganizations): JupyterHub 5 lets nobody in without one"),
    ("baremetal", {"auth.allowedGroups": None},
     "Invalid configuration mltraining:auth.allowedGroups = []: expected at least one allow rule "
     "(auth.allowedUsers or auth.allowedGroups): JupyterHub 5 lets nobody in without one"),
    ("baremetal", {"auth.clientId": None},
     "Invalid configuration mltraining:auth.clientId = (unset): expected the OAuth client id for auth.type generic-oauth"),
    ("gke", {"auth.type": "dummy", "auth.allowedOrganizations": None},
     'Invalid configuration mltraining:auth.type = "dummy": expected github or generic-oauth: the hub is public '
     "through a LoadBalancer Service (set auth.allowInsecureDummy true only for a throwaway demo)"),
    ("baremetal", {"auth.type": "dummy", "auth.allowedGroups": None},
     'Invalid configuration mltraining:auth.type = "dummy": expected github or generic-oauth: the hub is public '
     "through an Ingress (set auth.allowInsecureDummy true only for a throwaway demo)"),
    ("baremetal", {"hub.profiles": [{**PROFILE, "cpuLimt": "2"}]},
     'Invalid configuration mltraining:hub.profiles[0].cpuLimt = "2": expected a known field: name, displayName, '
     "description, image, cpuGuarantee, cpuLimit, memoryGuarantee, memoryLimit, default (did you mean cpuLimit?)"),
    ("baremetal", {"auth.tokenUrl": "http://example-tenant.accounts.ondemand.com/oauth2/token"},
     'Invalid configuration mltraining:auth.tokenUrl = "http://example-tenant.accounts.ondemand.com/oauth2/token": '
     "expected an https:// URL"),
    ("baremetal", {"auth.authorizeUrl": "example-tenant/oauth2/authorize"},
     'Invalid configuration mltraining:auth.authorizeUrl = "example-tenant/oauth2/authorize": expected an https:// URL'),
    ("baremetal", {"auth.userdataUrl": None},
     "Invalid configuration mltraining:auth.userdataUrl = (unset): expected the provider's https:// endpoint "
     "for auth.type generic-oauth"),
    ("gke", {"auth.allowedGroups": ["trainees"]},
     'Invalid configuration mltraining:auth.allowedGroups = ["trainees"]: expected no value with auth.type github, '
     "which does not use it (its allow rules: auth.allowedUsers, auth.allowedOrganizations)"),
    ("gke", {"auth.allowedOrganizations": ["https://github.com/ml-training-example"]},
     'Invalid configuration mltraining:auth.allowedOrganizations = "https://github.com/ml-training-example": '
     "expected a GitHub organization (org) or team (org:team-slug)"),
    ("gke", {"hub.serviceType": "ClusterIP"},
     'Invalid configuration mltraining:hub.serviceType = "ClusterIP": expected LoadBalancer to serve hub.host '
     "with Let's Encrypt (or set hub.ingress true)"),
    ("baremetal", {"hub.profiles": [{**PROFILE, "image": "quay.io/jupyter/pyspark-notebook:2025-10-20"}]},
     'Invalid configuration mltraining:hub.profiles[0].image = "quay.io/jupyter/pyspark-notebook:2025-10-20": '
     f"expected {PYSPARK_IMAGE}, the image the Spark cluster runs (PySpark needs the same Spark and Python in the notebook)"),
    ("baremetal", {"hub.clusterIssuer": "Let's Encrypt"},
     'Invalid configuration mltraining:hub.clusterIssuer = "Let\'s Encrypt": expected a cert-manager ClusterIssuer name'),
]


@pytest.mark.parametrize("stack, overrides, message", BAD, ids=[next(iter(o)) for _, o, _ in BAD])
def test_bad_hub_and_login_configuration_is_one_line(stack, overrides, message):
    assert config_error(stack, overrides) == message


def test_the_hub_lets_the_expected_class_start_at_once():
    assert "concurrentSpawnLimit" not in values(run_preview("baremetal"))["hub"]  # the chart's 64
    assert values(run_preview("gke", {"hub.expectedUsers": 120, "cluster.userPool.maxNodes": 30}))["hub"][
        "concurrentSpawnLimit"] == 120


def test_placeholders_are_the_size_of_the_default_profile():
    profiles = [{**PROFILE, "name": "small"}, {**PROFILE, "name": "big", "cpuGuarantee": "2", "cpuLimit": "2",
                                               "memoryGuarantee": "6Gi", "memoryLimit": "6Gi", "default": True}]
    placeholder = values(run_preview("baremetal", {"hub.profiles": profiles, "hub.placeholders": 3}))["scheduling"][
        "userPlaceholder"]
    assert placeholder == {"enabled": True, "replicas": 3, "resources": {"requests": {"cpu": "2", "memory": "6Gi"}},
                           "extraPodSpec": {"priorityClassName": "jupyterhub-user-placeholder"}}


def test_no_privileged_init_container_where_the_network_policy_blocks_the_metadata_server(gke, baremetal):
    """z2jh's blockWithIptables adds a privileged NET_ADMIN init container to every server; gke's Dataplane V2
    enforces the user NetworkPolicy, which never allows the metadata server, so gke goes without it."""
    for preview in (gke, baremetal):
        assert values(preview)["singleuser"]["networkPolicy"]["egressAllowRules"]["cloudMetadataServer"] is False
    assert values(gke)["singleuser"]["cloudMetadata"] == {"blockWithIptables": False}
    assert values(baremetal)["singleuser"]["cloudMetadata"] == {"blockWithIptables": True}
    enforced = run_preview("baremetal", {"hub.metadataBlock": "network-policy"})
    assert values(enforced)["singleuser"]["cloudMetadata"] == {"blockWithIptables": False}
    assert config_error("baremetal", {"hub.metadataBlock": "off"}) == (
        'Invalid configuration mltraining:hub.metadataBlock = "off": expected one of auto, iptables, network-policy')


def test_the_hub_runs_the_patched_image_from_the_project_registry(gke, baremetal):
    """images/hub: the chart's hub image with JupyterHub 5.5.4 (tests/test_images.py checks the Dockerfile)."""
    from components.settings import IMAGE_TAGS

    for preview in (gke, baremetal):
        assert values(preview)["hub"]["image"] == {"name": "ghcr.io/ml-training-example/k8s-hub",
                                                   "tag": IMAGE_TAGS["k8s-hub"]}
    assert IMAGE_TAGS["k8s-hub"].startswith("jupyterhub-5.5.4-")
    unpatched = run_preview("baremetal", {"hub.imageRegistry": None})
    assert "image" not in values(unpatched)["hub"]
    assert any("JupyterHub 5.5.0, without the security fixes" in w for w in unpatched.warnings)


# --- what ./tools/smoke relies on -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_the_smoke_test_service_has_a_chart_generated_token_and_only_its_scopes(stack, request):
    hub = values(request.getfixturevalue(stack))["hub"]
    # No token in the values: the chart generates it into the hub Secret and keeps it across upgrades.
    assert hub["services"] == {"smoke-test": {}}
    assert hub["loadRoles"]["smoke-test"]["services"] == ["smoke-test"]
    assert hub["loadRoles"]["smoke-test"]["scopes"] == ["admin:users", "admin:servers", "access:servers"]
    assert hub_module.SMOKE_TOKEN_KEY == "hub.services.smoke-test.apiToken"


def test_the_trainee_environment_names_the_profiles_the_seeded_files_and_the_services(gke, baremetal):
    environment = gke.outputs["traineeEnvironment"]
    assert [(p["name"], p["spark"]) for p in environment["profiles"]] == [
        ("python-spark", True), ("tensorflow", False), ("r", False), ("scala", True)]
    assert [p["name"] for p in environment["profiles"]] == [p["slug"] for p in values(gke)["singleuser"]["profileList"]]
    assert environment["datasets"] == ["datasets/iris/iris.data"]
    assert environment["services"] == ["spark", "kafka", "hdfs"]
    assert baremetal.outputs["traineeEnvironment"]["datasets"] == []


def test_the_trainee_environment_leaves_out_disabled_services():
    preview = run_preview("baremetal", {**NO_SERVICES, "services.kafka.enabled": True})
    assert preview.outputs["traineeEnvironment"]["services"] == ["kafka"]
