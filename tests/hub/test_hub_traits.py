"""The hub's configuration means something to the real classes: JupyterHub 5.5.0, OAuthenticator 17.4.0,
KubeSpawner 7.0.0, IPython and nbformat (pinned in requirements-test.txt)."""

import asyncio
from importlib.metadata import entry_points

import pytest
from IPython.core.application import SYSTEM_CONFIG_DIRS as IPYTHON_SYSTEM_CONFIG_DIRS
from IPython.core.history import HistoryManager
from jupyter_core.paths import SYSTEM_CONFIG_PATH as JUPYTER_SYSTEM_CONFIG_PATH
from jupyterhub.app import JupyterHub
from kubespawner import KubeSpawner
from nbformat.sign import NotebookNotary
from oauthenticator.oauth2 import OAuthenticator
from traitlets.config import Config

from components.hub import hub as hub_module
from tests.conftest import run_preview
from tests.hub.test_hub import DUMMY, values

LOGINS = {
    "github": ("gke", {}),
    "generic-oauth": ("baremetal", {}),
    "generic-oauth-users": ("baremetal", {"auth.allowedGroups": None, "auth.allowedUsers": ["ann@example.com"]}),
    "dummy": ("baremetal", DUMMY),
    "shared-password": ("baremetal", {**DUMMY, "auth.dummyPassword": {"secure": "x"},
                                      "auth.dummyAdminPassword": {"secure": "y"}}),
}
# What the secrets shown as "[secret]" hold in a real deployment, for the classes that check them.
PASSWORDS = {"user_password": "trainees-password", "admin_password": "admins-password-of-32-characters!"}


def with_passwords(config: dict) -> dict:
    return {section: {trait: PASSWORDS.get(trait, value) if value == "[secret]" else value
                      for trait, value in traits.items()} for section, traits in config.items()}


def run(coroutine):
    # Not asyncio.run: it leaves no current event loop behind, which the mock runtime of later previews needs.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def hub_config(login: str) -> dict:
    stack, overrides = LOGINS[login]
    return values(run_preview(stack, overrides))["hub"]["config"]


def authenticator_class(config: dict) -> type:
    """The class the chart loads for JupyterHub.authenticator_class: JupyterHub's entry point of that name."""
    name = config["JupyterHub"]["authenticator_class"]
    [entry_point] = [e for e in entry_points(group="jupyterhub.authenticators") if e.name == name]
    return entry_point.load()


@pytest.mark.parametrize("login", LOGINS)
def test_every_hub_config_key_is_a_configurable_trait_of_its_class(login):
    config = hub_config(login)
    authenticator = authenticator_class(config)
    classes = {"JupyterHub": JupyterHub, authenticator.__name__: authenticator}
    assert set(config) == set(classes)
    for section, settings in config.items():
        assert set(settings) <= set(classes[section].class_traits(config=True)), section


@pytest.mark.parametrize("login", LOGINS)
def test_the_authenticator_accepts_its_configuration(login):
    config = with_passwords(hub_config(login))
    authenticator = authenticator_class(config)(config=Config(config))
    section = config[type(authenticator).__name__]
    # traitlets converted every value (lists into sets) and ran the validators, such as groups needing manage_groups.
    for trait, value in section.items():
        loaded = getattr(authenticator, trait)
        assert (set(loaded) if isinstance(loaded, (set, frozenset)) else loaded) == (
            set(value) if isinstance(loaded, (set, frozenset)) else value), trait


def test_the_oauth_callback_is_the_route_jupyterhub_serves():
    for login in ("github", "generic-oauth"):
        section = next(v for k, v in hub_config(login).items() if k != "JupyterHub")
        assert section["oauth_callback_url"].endswith("/hub/oauth_callback")


def login_model(authenticator: OAuthenticator, name: str, groups: list[str]) -> dict:
    """What OAuthenticator hands check_allowed after a login: the userinfo in auth_state, groups from it."""
    model = {"name": name, "admin": name in authenticator.admin_users,
             "auth_state": {hub_module.OAUTH_USER_KEY: {"email": name, "groups": groups}}}
    if authenticator.manage_groups:
        model["groups"] = sorted(run(authenticator.get_user_groups(model["auth_state"])))
    return model


def test_generic_oauth_lets_in_the_allowed_group_and_the_admins_only():
    config = hub_config("generic-oauth")
    authenticator = authenticator_class(config)(config=Config(config))
    assert authenticator.user_auth_state_key == hub_module.OAUTH_USER_KEY

    def allowed(name, groups):
        return run(authenticator.check_allowed(name, login_model(authenticator, name, groups)))

    assert allowed("ann@example.com", ["ml-training-participants", "staff"])
    assert not allowed("bob@example.com", ["staff"])
    assert not allowed("eve@example.com", [])
    assert allowed("trainer@example.com", [])


def test_generic_oauth_by_user_name():
    config = hub_config("generic-oauth-users")
    authenticator = authenticator_class(config)(config=Config(config))
    assert run(authenticator.check_allowed("ann@example.com", login_model(authenticator, "ann@example.com", [])))
    assert not run(authenticator.check_allowed("bob@example.com", login_model(authenticator, "bob@example.com", [])))


def test_dummy_login_takes_any_name_and_password():
    config = hub_config("dummy")
    authenticator = authenticator_class(config)(config=Config(config))
    assert run(authenticator.authenticate(None, {"username": "ann", "password": "anything"})) == "ann"


def test_dummy_login_with_passwords_checks_them_and_keeps_admins_apart():
    config = with_passwords(hub_config("shared-password"))
    authenticator = authenticator_class(config)(config=Config(config))

    def login(name, password):
        user = run(authenticator.authenticate(None, {"username": name, "password": password}))
        return user and (user["name"], user["admin"])

    assert login("ann", PASSWORDS["user_password"]) == ("ann", False)
    assert not login("ann", "guess")
    assert login("trainer@example.com", PASSWORDS["admin_password"]) == ("trainer@example.com", True)
    assert not login("trainer@example.com", PASSWORDS["user_password"])
    assert not login("ann", PASSWORDS["admin_password"])


def test_profile_overrides_are_valid_kubespawner_settings(baremetal):
    traits = KubeSpawner.class_traits(config=True)
    for profile in values(baremetal)["singleuser"]["profileList"]:
        for trait, value in profile["kubespawner_override"].items():
            assert trait in traits, trait
            assert traits[trait].validate(None, value) == value, (profile["slug"], trait)


def test_kubespawner_reads_memory_as_bytes_not_kubernetes_quantities():
    # Why profiles carry bytes: the trait refuses Kubernetes' binary suffixes.
    from traitlets import TraitError

    with pytest.raises(TraitError):
        KubeSpawner.class_traits()["mem_limit"].validate(None, "2Gi")


def test_sqlite_settings_are_real_traits_in_files_the_applications_read():
    ipython_config, server_config = hub_module.IPYTHON_CONFIG, hub_module.JUPYTER_SERVER_CONFIG
    assert "hist_file" in HistoryManager.class_traits(config=True)
    assert "db_file" in NotebookNotary.class_traits(config=True)
    # IPython (terminal and kernels) loads ipython_config.* from its system directories; Jupyter Server loads
    # jupyter_server_config.* from Jupyter's.
    assert ipython_config.rsplit("/", 1) == [IPYTHON_SYSTEM_CONFIG_DIRS[0], "ipython_config.json"]
    assert server_config.rsplit("/", 1) == [JUPYTER_SYSTEM_CONFIG_PATH[0], "jupyter_server_config.json"]
