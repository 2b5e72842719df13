"""Bad configuration stops the program before any resource, with one line: key, value, what is expected."""

import pytest

from tests.conftest import config_error
from tools import preview as offline

DUMMY = {"auth.type": "dummy", "auth.allowedGroups": None, "hub.ingress": False, "hub.host": None}
PROFILE = {"name": "py", "displayName": "Python", "image": "quay.io/jupyter/base-notebook:2025-10-20",
           "cpuGuarantee": "1", "cpuLimit": "2", "memoryGuarantee": "1Gi", "memoryLimit": "2Gi"}

CASES = [
    ("gke", {"cluster.tyep": "gke"},
     "Invalid configuration mltraining:cluster.tyep: expected one of the keys declared in Pulumi.yaml; "
     "did you mean mltraining:cluster.type?"),
    ("gke", {"cluster.userPool.maxNode": 5},
     "Invalid configuration mltraining:cluster.userPool.maxNode: expected one of the keys declared in "
     "Pulumi.yaml; did you mean mltraining:cluster.userPool.maxNodes?"),
    ("gke", {"mltraining:clustr": {"type": "gke"}},
     "Invalid configuration mltraining:clustr: expected one of the keys declared in Pulumi.yaml; "
     "did you mean mltraining:cluster?"),
    ("baremetal", {"mltraining:services.spark.enabled": False},
     'Invalid configuration mltraining:services.spark.enabled = "false": expected a nested setting: pulumi config '
     "set --path services.spark.enabled VALUE (in the stack file, spark.enabled under mltraining:services)"),
    ("baremetal", {"mltraining:cluster": "gke"},
     'Invalid configuration mltraining:cluster = "gke": expected a map of settings such as cluster.type'),
    ("baremetal", {"cluster.type": "aks"},
     'Invalid configuration mltraining:cluster.type = "aks": expected one of gke, existing'),
    ("gke", {"gcp:project": None},
     "Invalid configuration gcp:project = (unset): expected the GCP project of the cluster: "
     "pulumi config set gcp:project ID"),
    ("gke", {"gcp:zone": None},
     "Invalid configuration mltraining:cluster.location = (unset): expected a GCP zone such as europe-west3-a "
     "or a region such as europe-west3 (or set gcp:zone)"),
    ("gke", {"cluster.location": "europe"},
     'Invalid configuration mltraining:cluster.location = "europe": expected a GCP zone such as europe-west3-a '
     "or a region such as europe-west3 (or set gcp:zone)"),
    ("gke", {"cluster.releaseChannel": "FAST"},
     'Invalid configuration mltraining:cluster.releaseChannel = "FAST": expected one of RAPID, REGULAR, STABLE, '
     "EXTENDED, UNSPECIFIED"),
    ("gke", {"cluster.releaseChannel": "UNSPECIFIED"},
     'Invalid configuration mltraining:cluster.version = "": expected a version to pin when '
     "cluster.releaseChannel is UNSPECIFIED"),
    ("gke", {"cluster.version": "latest"},
     'Invalid configuration mltraining:cluster.version = "latest": expected a GKE version such as 1.33 or '
     "1.33.5-gke.1308000"),
    ("gke", {"cluster.userPool.minNodes": 5, "cluster.userPool.maxNodes": 3},
     "Invalid configuration mltraining:cluster.userPool.maxNodes = 3: expected a whole number between 5 and 1000"),
    ("gke", {"cluster.corePool.nodes": 0},
     "Invalid configuration mltraining:cluster.corePool.nodes = 0: expected a whole number between 1 and 100"),
    ("gke", {"cluster.corePool.nodes": "two"},
     'Invalid configuration mltraining:cluster.corePool.nodes = "two": expected a whole number'),
    ("gke", {"cluster.userPool.spot": "yes"},
     'Invalid configuration mltraining:cluster.userPool.spot = "yes": expected true or false'),
    ("gke", {"cluster.name": "ML_Training"},
     'Invalid configuration mltraining:cluster.name = "ML_Training": expected a lowercase RFC 1123 name such as '
     "ml-training"),
    ("gke", {"cluster.userPool.machineType": "E2 Standard"},
     'Invalid configuration mltraining:cluster.userPool.machineType = "E2 Standard": expected a machine type such '
     "as e2-highmem-4"),
    ("baremetal", {"namespace": "Jupyter Hub"},
     'Invalid configuration mltraining:namespace = "Jupyter Hub": expected a namespace name (RFC 1123 label)'),
    ("baremetal", {"namespace": ""},
     'Invalid configuration mltraining:namespace = "": expected a namespace name (RFC 1123 label)'),
    ("baremetal", {"cluster.dedicatedUserNodes": "maybe"},
     'Invalid configuration mltraining:cluster.dedicatedUserNodes = "maybe": expected true or false'),
    ("baremetal", {"storage.size": "100GB"},
     'Invalid configuration mltraining:storage.size = "100GB": expected a Kubernetes quantity such as 100Gi'),
    ("gke", {"storage.diskType": "ssd"},
     'Invalid configuration mltraining:storage.diskType = "ssd": expected one of pd-standard, pd-balanced, pd-ssd'),
    ("baremetal", {"storage.onDelete": "delete"},
     'Invalid configuration mltraining:storage.onDelete = "delete": expected retain or archive '
     "(personal folders are never deleted)"),
    ("baremetal", {"storage.datasets": {"url": "https://example.com/a.csv"}},
     'Invalid configuration mltraining:storage.datasets = {"url": "https://example.com/a.csv"}: expected a list '
     "of datasets, each {url, sha256, path}"),
    ("baremetal", {"hub.profiles": "python"},
     'Invalid configuration mltraining:hub.profiles = "python": expected a YAML list or map in the stack file'),
    ("baremetal", {"hub.profiles": [{**PROFILE, "imgae": "x:1"}]},
     'Invalid configuration mltraining:hub.profiles[0].imgae = "x:1": expected a known field: name, displayName, '
     "description, image, cpuGuarantee, cpuLimit, memoryGuarantee, memoryLimit, default (did you mean image?)"),
    ("baremetal", {"hub.profiles": [{**PROFILE, "image": "quay.io/jupyter/base-notebook:latest"}]},
     'Invalid configuration mltraining:hub.profiles[0].image = "quay.io/jupyter/base-notebook:latest": expected '
     "an image pinned by an exact tag or digest, not latest"),
    ("baremetal", {"hub.cullTimeout": 10},
     "Invalid configuration mltraining:hub.cullTimeout = 10: expected a whole number between 300 and 604800"),
    ("baremetal", {"auth.scopes": "openid"},
     'Invalid configuration mltraining:auth.scopes = "openid": expected a list of non-empty strings'),
    ("gke", {"auth.clientSecret": "hunter2"},
     "Invalid configuration mltraining:auth.clientSecret = [plaintext, not shown]: expected a secret: "
     "pulumi config set --stack gke --path --secret auth.clientSecret"),
    # gke-only settings are checked on any cluster type.
    ("baremetal", {"cluster.userPool.maxNodes": "twenty"},
     'Invalid configuration mltraining:cluster.userPool.maxNodes = "twenty": expected a whole number'),
    ("baremetal", {"cluster.releaseChannel": "NIGHTLY"},
     'Invalid configuration mltraining:cluster.releaseChannel = "NIGHTLY": expected one of RAPID, REGULAR, STABLE, '
     "EXTENDED, UNSPECIFIED"),
    # A plaintext secret beside a secure one in the same map: the stack file tells them apart.
    ("baremetal", {"auth.type": "dummy", "auth.allowedGroups": None, "auth.adminUsers": ["trainer"],
                   "auth.dummyPassword": {"secure": "x"}, "auth.dummyAdminPassword": "admins-password-in-clear-text-32+"},
     "Invalid configuration mltraining:auth.dummyAdminPassword = [plaintext, not shown]: expected a secret: "
     "pulumi config set --stack baremetal --path --secret auth.dummyAdminPassword"),
    # Keys of another namespace than the project's and the providers', or of none.
    ("baremetal", {"mltrainig:hub": {"host": "x"}},
     "Invalid configuration mltrainig:hub: expected a key of mltraining or of a provider (gcp, kubernetes, pulumi); "
     "did you mean mltraining:hub?"),
    ("gke", {"auth.allowedOrganizations": ["ml-training-example", "ml-training-example:trainees"]},
     'Invalid configuration mltraining:auth.allowedOrganizations = ["ml-training-example", '
     '"ml-training-example:trainees"]: expected either ml-training-example or its team ml-training-example:trainees: '
     "every member of ml-training-example gets in, so the team restricts nobody"),
    ("baremetal", {"storage.size": "100"},
     'Invalid configuration mltraining:storage.size = "100": expected a Kubernetes quantity with a unit, such as '
     "100Gi (100 alone means 100 bytes)"),
    ("baremetal", {"hub.profiles": [{**PROFILE, "memoryLimit": 2}]},
     'Invalid configuration mltraining:hub.profiles[0].memoryLimit = "2": expected a memory quantity with a unit, '
     "such as 2Gi"),
]


@pytest.mark.parametrize(("stack", "overrides", "message"), CASES, ids=[next(iter(c[1])) for c in CASES])
def test_bad_configuration_is_one_clear_line(stack, overrides, message):
    assert config_error(stack, overrides) == message


def test_a_key_without_namespace_is_rejected(monkeypatch):
    written = offline.stack_document

    def with_bare_key(stack, overrides=None):
        document = written(stack, overrides)
        return {**document, "config": {**document["config"], "hub": {"host": "training.example.com"}}}

    monkeypatch.setattr(offline, "stack_document", with_bare_key)
    assert config_error("baremetal", {}) == \
        "Invalid configuration hub: expected a key with its namespace, such as mltraining:hub"


def test_a_misspelt_secret_setting_is_named_without_its_value():
    for stack, key in (("gke", "auth.clientSecrett"), ("baremetal", "services.vora.registryPasswd")):
        message = config_error(stack, {key: {"secure": "hunter2"}})
        assert message.startswith(f"Invalid configuration mltraining:{key}: expected one of the keys declared")
        assert "hunter2" not in message and "secure-value-of" not in message


def test_a_misspelt_map_is_named_without_its_content():
    message = config_error("gke", {"mltraining:auth": None, "mltraining:auht": {"type": "github", "clientId": "abc"}})
    assert message.startswith("Invalid configuration mltraining:auht: expected") and "abc" not in message


def test_a_cpu_setting_may_be_a_yaml_number():
    profile = {**PROFILE, "cpuGuarantee": 0.5, "cpuLimit": 2}
    preview = offline.run("baremetal", {"hub.profiles": [profile]})
    release = preview.releases()["jupyterhub"]
    options = release.inputs["values"]["singleuser"]["profileList"][0]["kubespawner_override"]
    assert (options["cpu_guarantee"], options["cpu_limit"]) == (0.5, 2)


def load_error(settings: dict[str, dict], secret: str) -> str:
    """The ConfigError of the settings alone, from maps as the engine passes them, with secrets decrypted."""
    import json

    import pulumi

    from components.settings import ConfigError, load

    offline.runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(offline.Mocks(), project="mltraining", stack="test", preview=True)
    pulumi.runtime.set_all_config({f"mltraining:{key}": json.dumps(value) for key, value in settings.items()},
                                  [f"mltraining:{secret}"])
    try:
        with pytest.raises(ConfigError) as caught:
            load()
    finally:
        pulumi.runtime.set_all_config({}, [])
    return str(caught.value)


ADMIN_PASSWORD = "admins-password-of-32-characters!"


@pytest.mark.parametrize(("auth", "message"), [
    ({"dummyPassword": "short"},
     "Invalid configuration mltraining:auth.dummyPassword = [secret]: expected at least 8 characters"),
    ({"dummyPassword": "trainees-password", "adminUsers": ["trainer"]},
     "Invalid configuration mltraining:auth.dummyAdminPassword = (unset): expected the admins' password, as the "
     "trainees' password does not make an admin: pulumi config set --stack test --path --secret auth.dummyAdminPassword"),
    ({"dummyPassword": "trainees-password", "adminUsers": ["trainer"], "dummyAdminPassword": "too-short-for-admins"},
     "Invalid configuration mltraining:auth.dummyAdminPassword = [secret]: expected at least 32 characters"),
    ({"dummyPassword": ADMIN_PASSWORD, "adminUsers": ["trainer"], "dummyAdminPassword": ADMIN_PASSWORD},
     "Invalid configuration mltraining:auth.dummyAdminPassword = [secret]: expected a password other than "
     "auth.dummyPassword"),
], ids=["short", "no-admin-password", "short-admin-password", "same-passwords"])
def test_dummy_passwords_are_checked_without_being_shown(auth, message):
    settings = {"auth": {"type": "dummy", **auth}, "cluster": {"dataStorageClass": "retained"}}
    assert load_error(settings, secret="auth") == message


def test_a_secret_value_is_never_printed_in_an_error():
    message = config_error("gke", {"auth.clientSecret": "hunter2"})
    assert "hunter2" not in message
    # Set as a flat key by mistake, a secret is still not shown.
    message = config_error("baremetal", {"mltraining:auth.clientSecret": {"secure": "hunter2"}})
    assert "hunter2" not in message and "secure-value-of" not in message


def test_bad_configuration_declares_no_resource(monitors):
    config_error("gke", {"cluster.releaseChannel": "FAST"})
    assert monitors and monitors[-1].registrations == []


def test_every_declared_setting_has_kind_description_and_default():
    import yaml

    from components.settings import PROJECT_FILE

    declared = yaml.safe_load(PROJECT_FILE.read_text())["config"]
    kinds = {bool: "(true or false)", int: "(whole number)", list: "(list of strings)"}
    for key, declaration in declared.items():
        assert "default" in declaration and declaration.get("description"), key
        default = declaration["default"]
        if isinstance(default, str):
            assert declaration["type"] == "string", key
        else:
            # Not a declared type (pulumi/pulumi#21219 rejects nested typed numbers and booleans): described.
            assert "type" not in declaration, key
            assert declaration["description"].startswith(kinds[type(default)]), key


def test_defaults_come_from_pulumi_yaml():
    import yaml

    from components.settings import PROJECT_FILE

    declared = yaml.safe_load(PROJECT_FILE.read_text())["config"]
    preview = offline.run("baremetal", {"namespace": None})
    assert preview.outputs["namespace"] == declared["namespace"]["default"] == "jupyterhub"


def test_a_needed_secret_that_is_not_set_stops_a_real_run_with_the_command_that_sets_it():
    from components.settings import MissingSecret

    with pytest.raises(MissingSecret) as caught:
        offline._run_once("gke", {})  # as a real run: no stand-ins
    assert str(caught.value) == ("Invalid configuration mltraining:auth.clientSecret = (unset): expected the OAuth "
                                 "client secret of the github login: pulumi config set --stack gke --path --secret "
                                 "auth.clientSecret")


@pytest.mark.parametrize(("stack", "overrides", "needed"), [
    ("gke", {}, ["auth.clientSecret"]),
    ("baremetal", {}, ["auth.clientSecret"]),
    ("baremetal", {**DUMMY, "auth.adminUsers": ["trainer"], "auth.dummyPassword": {"secure": "x"}},
     ["auth.dummyAdminPassword"]),
    ("baremetal", DUMMY, []),
    ("baremetal", {"auth.clientSecret": {"secure": "x"}, "services.vora.enabled": True,
                   "services.vora.chart": "oci://registry.example.com/vora", "services.vora.version": "2.3.41",
                   "services.vora.registry": "registry.example.com", "services.vora.registryUsername": "pull"},
     ["services.vora.registryPassword"]),
], ids=["gke", "baremetal", "dummy-admins", "dummy-open", "vora"])
def test_the_offline_preview_gives_needed_secrets_a_stand_in_and_names_them(stack, overrides, needed):
    preview = offline.run(stack, overrides)
    assert preview.stand_ins == needed
    assert preview.resources


def test_no_stack_file_holds_a_secure_value():
    from components import stack_file

    for path in offline.ROOT.glob("Pulumi.*.yaml"):
        assert stack_file.secure_paths(stack_file.read(path)["config"]) == set(), path.name


def test_a_yaml_syntax_error_is_one_line_with_file_and_line(tmp_path):
    from components import stack_file

    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config:\n  mltraining:hub:\n    host: a\n   cullTimeout: 10\n")
    with pytest.raises(stack_file.StackFileError) as caught:
        stack_file.read(broken)
    assert str(caught.value) == ("Invalid stack file Pulumi.broken.yaml, line 4: expected <block end>, "
                                 "but found '<block mapping start>'")


def test_with_esc_environments_the_engine_tells_what_is_secret(monkeypatch):
    """Values from a Pulumi ESC environment are not in the stack file: a secret from there is accepted."""
    written, engine_config = offline.stack_document, offline._engine_config

    def with_environment(stack, overrides=None):
        document = written(stack, overrides)
        return {**document, "environment": ["ml-training/secrets"]}

    def secret_from_the_environment(document):
        config, secret_keys = engine_config(document)
        return config, secret_keys | {"mltraining:auth"}  # as the engine marks a map with an ESC secret

    monkeypatch.setattr(offline, "stack_document", with_environment)
    monkeypatch.setattr(offline, "_engine_config", secret_from_the_environment)
    # The file as written shows the value in clear text; the environment made it a secret.
    preview = offline.run("gke", {"auth.clientSecret": "from-esc"})
    assert preview.stand_ins == []
    assert preview.releases()["jupyterhub"].inputs["values"]["hub"]["config"]["GitHubOAuthenticator"][
        "client_secret"] == "[secret]"
