"""The policy pack (policy/): each guardrail with passing and violating resources, the pack as the Pulumi
engine drives it, and the whole pack over the offline previews of both stacks."""

import sys

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto

from tools import preview as offline

sys.path.insert(0, str(offline.ROOT / "policy"))  # as `pulumi preview --policy-pack policy` runs it
import guardrails  # noqa: E402
import guardrails_pack  # noqa: E402

DISK = "gcp:compute/disk:Disk"
PV, PVC, SC = guardrails.PERSISTENT_VOLUME, guardrails.PERSISTENT_VOLUME_CLAIM, guardrails.STORAGE_CLASS
RELEASE = guardrails.HELM_RELEASE
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def release(chart: str, values: dict, version: str = "1.0.0", **props) -> dict:
    return {"name": chart, "chart": chart, "version": version, "values": values, **props}


def hub(values: dict) -> dict:
    return release("jupyterhub", values, version="4.4.0", repositoryOpts={"repo": "https://hub.jupyter.org/helm-chart/"})


def pod_template(spec: dict) -> dict:
    return {"metadata": {"name": "app"}, "spec": {"template": {"spec": spec}}}


# --- the NFS data is protected ------------------------------------------------------------------------


def test_data_disk_must_be_protected():
    assert guardrails.data_disk_protected(DISK, protect=True) == []
    [message] = guardrails.data_disk_protected(DISK, protect=False)
    assert "protect=True" in message
    assert guardrails.data_disk_protected("gcp:filestore/instance:Instance", protect=False)
    assert guardrails.data_disk_protected("gcp:container/nodePool:NodePool", protect=False) == []


# --- user volumes are retained ----------------------------------------------------------------------------


def test_persistent_volume_reclaim_policy():
    check = guardrails.reclaim_policy_retain
    assert check(PV, {"metadata": {"name": "public"}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}}) == []
    assert check(PV, {"spec": {}}) == []  # a PersistentVolume declared by hand is retained by default
    [message] = check(PV, {"metadata": {"name": "public"}, "spec": {"persistentVolumeReclaimPolicy": "Delete"}})
    assert message == "PersistentVolume public has reclaim policy Delete; expected Retain"
    assert check(PV, {"spec": {"persistentVolumeReclaimPolicy": "Recycle"}})


def test_storage_class_reclaim_policy_defaults_to_delete():
    check = guardrails.reclaim_policy_retain
    assert check(SC, {"metadata": {"name": "home"}, "provisioner": "nfs.csi.k8s.io", "reclaimPolicy": "Retain"}) == []
    assert check(SC, {"metadata": {"name": "home"}, "reclaimPolicy": "Delete"})
    [message] = check(SC, {"metadata": {"name": "home"}, "provisioner": "nfs.csi.k8s.io"})
    assert "Delete (unset)" in message


def test_storage_classes_of_the_csi_driver_nfs_release():
    check = guardrails.reclaim_policy_retain
    keeping = {"storageClass": {"create": True, "name": "home", "reclaimPolicy": "Retain",
                                "parameters": {"onDelete": "archive"}}}
    assert check(RELEASE, release("csi-driver-nfs", keeping)) == []
    deleting = {"storageClass": {"create": True, "name": "home", "reclaimPolicy": "Delete"}}
    [message] = check(RELEASE, release("csi-driver-nfs", deleting))
    assert message.startswith("StorageClass home of Helm release csi-driver-nfs")
    # A class the chart does not create is not checked; the list form is.
    assert check(RELEASE, release("csi-driver-nfs", {"storageClass": {"create": False, "reclaimPolicy": "Delete"}})) == []
    assert check(RELEASE, release("csi-driver-nfs", {"storageClasses": [{"name": "a"}]}))
    # The chart may come from a repository URL or an OCI reference.
    assert check(RELEASE, release("oci://example.com/charts/csi-driver-nfs", deleting))


def test_nfs_provisioner_retains_or_archives():
    check = guardrails.provisioner_keeps_folders
    for on_delete in ("retain", "archive"):
        assert check(SC, {"provisioner": "nfs.csi.k8s.io", "parameters": {"onDelete": on_delete}}) == []
    assert check(SC, {"provisioner": "nfs.csi.k8s.io", "parameters": {"onDelete": "delete"}})
    [message] = check(SC, {"metadata": {"name": "home"}, "provisioner": "nfs.csi.k8s.io", "parameters": {}})
    assert "onDelete (unset, the driver deletes)" in message
    assert check(SC, {"provisioner": "kubernetes.io/gce-pd"}) == []  # not an NFS provisioner


def test_nfs_provisioner_chart_default_on_delete():
    check = guardrails.provisioner_keeps_folders
    klass = {"create": True, "name": "home", "reclaimPolicy": "Retain"}
    assert check(RELEASE, release("csi-driver-nfs", {"storageClass": klass}))  # the driver's default deletes
    retaining = {"storageClass": klass, "controller": {"defaultOnDeletePolicy": "retain"}}
    assert check(RELEASE, release("csi-driver-nfs", retaining)) == []
    assert check(RELEASE, release("nfs-subdir-external-provisioner", {"storageClass": {"archiveOnDelete": False}}))
    assert check(RELEASE, release("nfs-subdir-external-provisioner", {"storageClass": {}})) == []


# --- the public folder is read-only -------------------------------------------------------------------------


def test_public_claims_are_the_read_only_many_claims():
    resources = [
        (PVC, {"metadata": {"name": "public"}, "spec": {"accessModes": ["ReadOnlyMany"]}}),
        (PVC, {"metadata": {"name": "shared"}, "spec": {"accessModes": ["ReadWriteMany"]}}),
        (PV, {"metadata": {"name": "public-pv"}, "spec": {"accessModes": ["ReadOnlyMany"]}}),
    ]
    assert guardrails.public_claims(resources) == {"public"}
    # The claims of charts/nfs-volumes: its public claim is ReadOnlyMany.
    chart = release("./charts/nfs-volumes", {"public": {"claimName": "nfs-public"}, "shared": {"claimName": "nfs-shared"}})
    assert guardrails.public_claims([(RELEASE, chart)]) == {"nfs-public"}


def hub_mounting_public(volume_read_only, mount_read_only, as_map=False) -> dict:
    volume = {"name": "public", "persistentVolumeClaim": {"claimName": "public", "readOnly": volume_read_only}}
    mount = {"name": "public", "mountPath": "/home/jovyan/public", "readOnly": mount_read_only}
    shared = {"name": "shared", "persistentVolumeClaim": {"claimName": "shared"}}
    shared_mount = {"name": "shared", "mountPath": "/home/jovyan/shared"}
    storage = ({"extraVolumes": {"public": volume, "shared": shared}, "extraVolumeMounts": {"public": mount, "shared": shared_mount}}
               if as_map else {"extraVolumes": [volume, shared], "extraVolumeMounts": [mount, shared_mount]})
    return hub({"singleuser": {"storage": storage}})


@pytest.mark.parametrize("as_map", [False, True])
def test_public_folder_read_only_in_the_hub_values(as_map):
    check = guardrails.public_folder_read_only
    assert check(RELEASE, hub_mounting_public(True, True, as_map), {"public"}) == []
    [volume] = check(RELEASE, hub_mounting_public(False, True, as_map), {"public"})
    assert "persistentVolumeClaim.readOnly: true" in volume
    [mount] = check(RELEASE, hub_mounting_public(True, None, as_map), {"public"})
    assert "/home/jovyan/public" in mount and "singleuser.storage.extraVolumeMounts" in mount
    # Without a public claim in the stack there is nothing to judge.
    assert check(RELEASE, hub_mounting_public(False, False, as_map), set()) == []


def test_public_folder_read_only_in_any_pod():
    check = guardrails.public_folder_read_only
    spec = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "public", "readOnly": True}}],
            "containers": [{"name": "spark", "image": "spark:4.0.1", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}
    [message] = check(DEPLOYMENT, pod_template(spec), {"public"})
    assert message.startswith("Deployment app: mount of the public folder at /data")
    spec["containers"][0]["volumeMounts"][0]["readOnly"] = True
    assert check(DEPLOYMENT, pod_template(spec), {"public"}) == []


# --- OAuth client secrets are secret -------------------------------------------------------------------------


def test_oauth_client_secret_is_secret():
    check = guardrails.oauth_client_secret_secret
    config = {"GitHubOAuthenticator": {"client_id": "abc", "client_secret": "[secret]"}}
    assert check(RELEASE, hub({"hub": {"config": config}})) == []
    config["GitHubOAuthenticator"]["client_secret"] = "s3cr3t"
    [message] = check(RELEASE, hub({"hub": {"config": config}}))
    assert "values.hub.config.GitHubOAuthenticator.client_secret is in plain text" in message
    assert "s3cr3t" not in message
    secret = {"metadata": {"name": "oauth"}, "stringData": {"hub.config.GenericOAuthenticator.client_secret": "x"}}
    assert check("kubernetes:core/v1:Secret", secret)
    assert check("kubernetes:core/v1:Secret", {"stringData": "[secret]"}) == []


# --- the hub ---------------------------------------------------------------------------------------------------


def test_user_network_policy_enabled():
    check = guardrails.user_network_policy_enabled
    assert check(RELEASE, hub({"singleuser": {"networkPolicy": {"enabled": True}}})) == []
    [message] = check(RELEASE, hub({"singleuser": {"networkPolicy": {"enabled": False}}}))
    assert message.endswith("singleuser.networkPolicy.enabled is False; expected true")
    assert check(RELEASE, hub({"singleuser": {}}))  # must be said explicitly
    assert check(RELEASE, release("strimzi-kafka-operator", {})) == []


@pytest.mark.parametrize("login", ["dummy", "shared-password"])
def test_dummy_login_on_a_public_hub_needs_the_opt_in(login):
    check = guardrails.dummy_auth_opted_in
    dummy = {"config": {"JupyterHub": {"authenticator_class": login}}}
    assert check(RELEASE, hub({"hub": dummy, "proxy": {"service": {"type": "ClusterIP"}}})) == []
    for exposure in ({"proxy": {"service": {"type": "LoadBalancer"}}}, {"proxy": {"service": {"type": "NodePort"}}},
                     {"ingress": {"enabled": True}}):
        [message] = check(RELEASE, hub({"hub": dummy, **exposure}))
        assert "auth.allowInsecureDummy" in message
    opted_in = {**dummy, "annotations": {guardrails.INSECURE_DUMMY_ANNOTATION: "true"}}
    assert check(RELEASE, hub({"hub": opted_in, "ingress": {"enabled": True}})) == []
    github = {"config": {"JupyterHub": {"authenticator_class": "github"}}}
    assert check(RELEASE, hub({"hub": github, "ingress": {"enabled": True}})) == []


# --- pinned versions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["4.4.0", "v4.34.2", "1.2.0-rc.1", "2.0.0+build.5"])
def test_exact_chart_versions_pass(version):
    assert guardrails.chart_version_pinned(RELEASE, release("jupyterhub", {}, version=version)) == []


@pytest.mark.parametrize("version", [None, "", "^4.0.0", "~4.4", ">=1.0.0", "4.x", "4.4", "*", "4.4.0 || 5.0.0"])
def test_missing_or_ranged_chart_versions_fail(version):
    [message] = guardrails.chart_version_pinned(RELEASE, release("jupyterhub", {}, version=version))
    assert "is not an exact version" in message


def test_chart_version_of_a_local_chart_is_its_chart_yaml():
    assert guardrails.chart_version_pinned(RELEASE, {"chart": "./charts/vora", "values": {}}) == []
    assert guardrails.chart_version_pinned(guardrails.HELM_CHART, {"chart": "vora", "version": ""})


@pytest.mark.parametrize("image", ["quay.io/jupyter/pyspark-notebook:2025-10-20", "busybox:1.36.1",
                                   "registry.example.com:5000/team/app:v1",
                                   "busybox@sha256:" + "a" * 64])
def test_pinned_images_pass(image):
    assert guardrails.image_pinned(image)
    assert guardrails.images_pinned(DEPLOYMENT, pod_template({"containers": [{"name": "c", "image": image}]})) == []


@pytest.mark.parametrize("image", ["busybox", "busybox:latest", "registry.example.com:5000/team/app", "app:"])
def test_untagged_or_latest_images_fail(image):
    [message] = guardrails.images_pinned(DEPLOYMENT, pod_template({"containers": [{"name": "c", "image": image}]}))
    assert "spec.template.spec.containers[0].image" in message


def test_images_in_every_kind_of_workload_and_init_container():
    for kind, props in (
        ("StatefulSet", pod_template({"initContainers": [{"name": "i", "image": "busybox"}], "containers": []})),
        ("Job", pod_template({"containers": [{"name": "c", "image": "busybox:latest"}]})),
        ("Pod", {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        ("CronJob", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}}}),
    ):
        assert guardrails.images_pinned(f"kubernetes:apps/v1:{kind}", props), kind
    [message] = guardrails.images_pinned(DEPLOYMENT, pod_template({"containers": [{"name": "c"}]}))
    assert "names no image" in message


def test_images_in_helm_values():
    check = guardrails.images_pinned
    assert check(RELEASE, hub({"singleuser": {"image": {"name": "quay.io/jupyter/base-notebook", "tag": "2025-10-20"}}})) == []
    assert check(RELEASE, hub({"singleuser": {"image": {"name": "quay.io/jupyter/base-notebook"}}}))
    assert check(RELEASE, hub({"singleuser": {"image": {"name": "quay.io/jupyter/base-notebook", "tag": "latest"}}}))
    assert check(RELEASE, hub({"singleuser": {"image": {"pullPolicy": "IfNotPresent"}}})) == []  # the chart's image
    profiles = [{"slug": "r", "kubespawner_override": {"image": "quay.io/jupyter/r-notebook"}}]
    [message] = check(RELEASE, hub({"singleuser": {"profileList": profiles}}))
    assert "profileList[0].kubespawner_override.image" in message
    assert check(RELEASE, release("csi-driver-nfs", {"image": {"nfs": {"repository": "x/nfsplugin", "tag": "canary"}}})) == []
    assert check(RELEASE, release("spark", {"workerImage": "apache/spark"}))


def test_unknown_values_are_not_judged():
    assert guardrails.images_pinned(DEPLOYMENT, pod_template({"containers": [{"name": "c", "image": "[unknown]"}]})) == []
    assert guardrails.chart_version_pinned(RELEASE, release("jupyterhub", {}, version="[unknown]")) == []
    assert guardrails.oauth_client_secret_secret(RELEASE, hub({"hub": {"config": {"X": {"client_secret": "[unknown]"}}}})) == []


# --- the pack as the engine runs it --------------------------------------------------------------------------------


SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@pytest.fixture(scope="module")
def analyzer():
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    guardrails_pack.show_markers()
    return _PolicyAnalyzerServicer(guardrails_pack.PACK_NAME, "0.1.0", guardrails_pack.policies(), guardrails_pack.ENFORCEMENT)


def engine_resource(type_: str, props: dict, name: str = "r", protect: bool = False, message=proto.AnalyzeRequest):
    return message(type=type_, urn=f"urn:pulumi:gke::mltraining::{type_}::{name}", name=name,
                   properties=json_format.ParseDict(props, struct_pb2.Struct()),
                   options=proto.AnalyzerResourceOptions(protect=protect))


def diagnostics(response) -> list[tuple[str, int]]:
    return [(d.policyName, d.enforcementLevel) for d in response.diagnostics]


def test_pack_sees_engine_secrets_as_secret(analyzer):
    config = {"GitHubOAuthenticator": {"client_id": "abc", "client_secret": {**SECRET_SIG, "value": "s3cr3t"}}}
    values = {"hub": {"config": config}, "singleuser": {"networkPolicy": {"enabled": True}}}
    assert diagnostics(analyzer.Analyze(engine_resource(RELEASE, hub(values)), None)) == []
    config["GitHubOAuthenticator"]["client_secret"] = "s3cr3t"
    response = analyzer.Analyze(engine_resource(RELEASE, hub(values)), None)
    assert diagnostics(response) == [("oauth-client-secret-is-secret", proto.MANDATORY)]
    assert "s3cr3t" not in response.diagnostics[0].message


def test_pack_passes_unknown_values_without_an_advisory(analyzer):
    props = pod_template({"containers": [{"name": "c", "image": UNKNOWN_STRING}]})
    assert diagnostics(analyzer.Analyze(engine_resource(DEPLOYMENT, props), None)) == []
    props = pod_template({"containers": [{"name": "c", "image": "busybox"}]})
    assert diagnostics(analyzer.Analyze(engine_resource(DEPLOYMENT, props), None)) == [("images-pinned", proto.MANDATORY)]


def test_pack_reads_the_protect_option(analyzer):
    assert diagnostics(analyzer.Analyze(engine_resource(DISK, {"size": 100}, protect=True), None)) == []
    assert diagnostics(analyzer.Analyze(engine_resource(DISK, {"size": 100}), None)) == [("nfs-data-protected", proto.MANDATORY)]


def test_pack_finds_the_public_claim_across_the_stack(analyzer):
    claim = engine_resource(PVC, {"metadata": {"name": "public"}, "spec": {"accessModes": ["ReadOnlyMany"]}},
                            name="public", message=proto.AnalyzerResource)
    writable = engine_resource(RELEASE, hub_mounting_public(True, False), name="hub", message=proto.AnalyzerResource)
    response = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[claim, writable]), None)
    assert diagnostics(response) == [("public-folder-read-only", proto.MANDATORY)]
    assert response.diagnostics[0].urn == writable.urn
    read_only = engine_resource(RELEASE, hub_mounting_public(True, True), name="hub", message=proto.AnalyzerResource)
    assert diagnostics(analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[claim, read_only]), None)) == []


def test_every_guardrail_is_a_mandatory_policy_of_the_pack():
    names = [p.name for p in guardrails_pack.policies()]
    assert sorted(names) == sorted([guardrails.DATA_DISK_RULE[0], guardrails.PUBLIC_FOLDER_RULE[0], *guardrails.RESOURCE_RULES])
    assert guardrails_pack.ENFORCEMENT.value == "mandatory"


# --- the whole pack over the program's previews --------------------------------------------------------------------


def violations(preview: offline.Preview) -> list[tuple[str, str]]:
    return guardrails.check_stack([(r.type, r.inputs, r.protect) for r in preview.resources])


def test_no_violation_in_the_gke_preview(gke):
    assert violations(gke) == []


def test_no_violation_in_the_baremetal_preview(baremetal):
    assert violations(baremetal) == []


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_the_previews_give_every_guardrail_something_to_check(stack, request):
    """The runs above find nothing because the program complies, not because the guardrails miss it."""
    preview = request.getfixturevalue(stack)
    resources = [(r.type, r.inputs) for r in preview.resources]
    hub_values = preview.releases()["jupyterhub"].inputs["values"]
    claims = guardrails.public_claims(resources)
    mounted = {guardrails.dig(volume, "persistentVolumeClaim", "claimName") for _, volume in guardrails.volumes(hub_values)}
    assert claims and claims <= mounted, "the hub mounts no claim the guardrail knows as the public folder"
    personal = [sc for t, p in resources for sc in ([p] if t == SC else guardrails.chart_storage_classes(t, p))]
    assert any(sc.get("provisioner") == guardrails.NFS_CSI_PROVISIONER for sc in personal)
    assert guardrails.dig(hub_values, "hub", "config", "JupyterHub", "authenticator_class")
    assert any(str(key).endswith("client_secret") for _, key, _ in guardrails.walk(hub_values))
    assert "networkPolicy" in hub_values["singleuser"]
    assert all(r.inputs.get("version") or r.inputs["chart"].startswith("./") for r in preview.of_type(RELEASE))
    if stack == "gke":
        assert [r.protect for r in preview.resources if r.type in guardrails.USER_DATA_CLOUD_TYPES] == [True]


def test_the_guardrails_catch_a_broken_program(gke):
    """The gke preview with one mistake at a time, as a careless change to a component would make it."""
    import copy

    def broken(change) -> set[str]:
        resources = [(r.type, copy.deepcopy(r.inputs), r.protect) for r in gke.resources]
        change(resources)
        return {name for name, _ in guardrails.check_stack(resources)}

    def find(resources, type_, name=None):
        return next(i for i, (t, p, _) in enumerate(resources) if t == type_ and (name is None or p.get("name") == name))

    def hub_values(resources):
        return resources[find(resources, RELEASE, "jupyterhub")][1]["values"]

    def writable_public(resources):
        next(m for m in hub_values(resources)["singleuser"]["storage"]["extraVolumeMounts"] if m.get("readOnly")).pop("readOnly")

    def no_network_policy(resources):
        hub_values(resources)["singleuser"]["networkPolicy"]["enabled"] = False

    def plain_secret(resources):
        config = hub_values(resources)["hub"]["config"]
        next(section for section in config.values() if "client_secret" in section)["client_secret"] = "s3cr3t"

    def deleting_class(resources):
        resources[find(resources, SC)][1]["reclaimPolicy"] = "Delete"

    def unprotected_disk(resources):
        i = find(resources, DISK)
        resources[i] = (*resources[i][:2], False)

    def latest_image(resources):
        resources[find(resources, DEPLOYMENT)][1]["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:latest"

    def ranged_chart(resources):
        resources[find(resources, RELEASE, "jupyterhub")][1]["version"] = "^4.4.0"

    assert broken(lambda resources: None) == set()
    assert broken(writable_public) == {"public-folder-read-only"}
    assert broken(no_network_policy) == {"user-network-policy-enabled"}
    assert broken(plain_secret) == {"oauth-client-secret-is-secret"}
    assert broken(deleting_class) == {"user-volumes-retained"}
    assert broken(unprotected_disk) == {"nfs-data-protected"}
    assert broken(latest_image) == {"images-pinned"}
    assert broken(ranged_chart) == {"chart-version-pinned"}


DUMMY = {"auth.type": "dummy", "auth.clientId": None, "auth.clientSecret": None, "auth.allowedOrganizations": None,
         "auth.adminUsers": None}


@pytest.mark.parametrize("stack,overrides", [
    ("gke", {"storage.mode": "filestore", "storage.size": "1Ti"}),
    ("gke", {"storage.onDelete": "archive"}),
    ("baremetal", {"storage.mode": "external", "storage.server": "nfs.example.com", "storage.path": "/exports/training"}),
    ("baremetal", {"storage.hostPath": "/srv/nfs", "storage.node": "node-1"}),
    ("gke", {**DUMMY, "hub.serviceType": "ClusterIP", "hub.host": None, "hub.letsencryptEmail": None}),
    ("gke", {"hub.schedule": [{"days": ["mon"], "start": "09:00", "end": "12:00", "timeZone": "UTC", "trainees": 30}]}),
], ids=["filestore", "archive", "external-nfs", "host-path", "private-dummy-login", "class-schedule"])
def test_no_violation_in_other_configurations(stack, overrides):
    assert violations(offline.run(stack, overrides)) == []


def test_public_dummy_login_with_the_opt_in_passes():
    """The hub records auth.allowInsecureDummy as the annotation the guardrail looks for."""
    preview = offline.run("gke", {**DUMMY, "auth.allowInsecureDummy": True})
    assert guardrails.dig(preview.releases()["jupyterhub"].inputs["values"], "proxy", "service", "type") == "LoadBalancer"
    assert violations(preview) == []


def test_the_pack_starts_as_the_pulumi_cli_starts_it():
    """`pulumi preview --policy-pack policy` runs `python -u -m pulumi.policy ENGINE policy`; the pack then
    serves its policies over gRPC on a local port it prints."""
    import subprocess

    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    pack = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "policy"], cwd=offline.ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = pack.stdout.readline().strip()
        assert port.isdigit(), pack.stderr.read() if pack.poll() is not None else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty())
    finally:
        pack.kill()
        pack.wait()
    assert info.name == guardrails_pack.PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in guardrails_pack.policies())
    assert {p.enforcementLevel for p in info.policies} == {proto.MANDATORY}
