"""JupyterHub for real: the program's login, run by JupyterHub 5.5 behind configurable-http-proxy on 127.0.0.1.

The hub runs with the release values the program renders (the offline preview, tools/preview.py), loaded as
Zero to JupyterHub 4.4.0 loads them: the chart's jupyterhub_config.py, reproduced in tests/hub_engine_config.py,
reads the values Helm coalesced over the chart's defaults from a folder laid out like the hub's Secret, and applies
each hub.config section to `c`. Only what Kubernetes provides is replaced (tests/hub_engine.py): the spawner is
JupyterHub's SimpleLocalProcessSpawner running jupyterhub-singleuser (jupyter_server), the proxy is
configurable-http-proxy 5.2.0 from npm, the chart's, and for the OAuth logins the provider is a fake on 127.0.0.1:
only the provider's addresses in hub.config are pointed at it (GitHub: github_url and github_api; generic:
authorize_url, token_url and userdata_url, keeping their paths). The secrets the preview shows as "[secret]" are
known test values here, never printed.

A browser is a requests session with cookies: it fetches the login page, posts the form with its _xsrf token or
follows the login button to the provider and back to /hub/oauth_callback, then the hub's redirects to its server.
The provider sends the browser to the program's callback URL on the public host; the browser reaches that host
through the proxy's local address, as DNS and the ingress would.

Each login mode is a class with its own hub, stopped (with its servers) after the class. Without node,
configurable-http-proxy (npm ci) or jupyter_server, the module skips, saying which; with CI=true it fails instead.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import run_preview
from tests.engines import require_engine
from tests.hub_engine import Account, Browser, FakeOAuthProvider, Hub, missing_engines, release_values, start_hub
from tests.hub.test_hub import DUMMY, values
from tests.hub.test_hub_traits import PASSWORDS
from tests.hub.test_hub_values_schema import chart_file

pytestmark = pytest.mark.engines


class Secret(str):
    """A test secret: the value where it is used, "[secret]" wherever it is shown (pytest's tracebacks too)."""

    def __repr__(self) -> str:
        return "'[secret]'"


# What the "[secret]" values hold here, by trait.
SECRETS = {trait: Secret(value) for trait, value in
           {**PASSWORDS, "client_secret": "client-secret-of-the-engine-tests"}.items()}
CLIENT_SECRET = SECRETS["client_secret"]

# Development logins with an allow list, so that someone is outside it.
DUMMY_WITH_USERS = {**DUMMY, "auth.allowedUsers": ["ann"]}
SHARED_PASSWORD_WITH_USERS = {**DUMMY_WITH_USERS, "auth.dummyPassword": {"secure": "x"},
                              "auth.dummyAdminPassword": {"secure": "y"}}


@pytest.fixture(scope="module", autouse=True)
def engines_installed() -> None:
    missing = missing_engines()
    if missing:
        require_engine(missing)


def section(hub_config: dict) -> tuple[str, dict]:
    """The authenticator's section of hub.config: its class name and traits."""
    [name] = [name for name in hub_config if name != "JupyterHub"]
    return name, hub_config[name]


def with_secrets(hub_config: dict) -> dict:
    """hub.config with the known test value of every secret the preview shows as "[secret]"."""
    unknown = [f"{name}.{trait}" for name, traits in hub_config.items() for trait, value in traits.items()
               if value == "[secret]" and trait not in SECRETS]
    assert unknown == [], f"no test value for {unknown}"
    return {name: {trait: SECRETS[trait] if value == "[secret]" else value for trait, value in traits.items()}
            for name, traits in hub_config.items()}


def run_hub(preview, hub_config: dict, folder: Path) -> Iterator[Hub]:
    """The program's release values with this hub.config, over the chart's defaults; the hub stopped afterwards."""
    program = values(preview)
    release = release_values(chart_file("values.yaml"), {**program, "hub": {**program["hub"], "config": hub_config}},
                             preview.outputs["namespace"])
    hub = start_hub(release, folder)
    try:
        yield hub
    finally:
        hub.stop()


def assert_loaded(hub: Hub, hub_config: dict) -> None:
    """The hub loaded every hub.config section the chart's way and runs the authenticator the section configures."""
    log = hub.log("hub", lines=10**6)
    for name in hub_config:
        assert f"Loading pass-through config section hub.config.{name}\n" in log, name
    [used] = [line.split("Using Authenticator: ")[1] for line in log.splitlines() if "Using Authenticator: " in line]
    assert used.split("-")[0].rsplit(".", 1)[1] == section(hub_config)[0], used


def assert_refused(response, browser: Browser) -> None:
    assert response.status_code == 403, (response.status_code, response.headers.get("Location"))
    assert not browser.logged_in


def assert_in(response, browser: Browser) -> None:
    assert response.status_code == 302, (response.status_code, response.text[-500:])
    assert browser.logged_in


def whoami(browser: Browser) -> dict:
    me = browser.api("/user")
    assert me.status_code == 200, me.status_code
    return me.json()


def assert_admin_api(admin: Browser, trainee: Browser) -> list[str]:
    """The admin lists the users through the admin API; the trainee is forbidden. The names listed."""
    listed = admin.api("/users")
    assert listed.status_code == 200, listed.status_code
    assert trainee.api("/users").status_code == 403
    return [user["name"] for user in listed.json()]


def assert_server_answers(browser: Browser, user: str) -> None:
    """The trainee's own server, through the proxy: it answers /api, lets the trainee in through its own OAuth with
    the hub (opening a file of the trainee's home folder) and knows who it is."""
    base = f"/user/{urllib.parse.quote(user)}"
    api = browser.get(f"{base}/api", allow_redirects=False)
    assert api.status_code == 200, api.status_code
    assert api.json()["version"]
    (browser.hub.home(user) / "hello.txt").write_text(f"hello, {user}")
    opened = browser.get(f"{base}/files/hello.txt")
    assert (opened.status_code, opened.text) == (200, f"hello, {user}"), opened.status_code
    assert any("/hub/api/oauth2/authorize" in step.url for step in opened.history)
    me = browser.get(f"{base}/api/me", allow_redirects=False)
    assert me.status_code == 200, me.status_code
    assert me.json()["identity"]["username"] == user


# --- dummy: any password, the allow list ------------------------------------------------------------------------------


class PasswordLoginHub:
    """A hub with the baremetal stack's login made a password login by OVERRIDES (the classes below)."""

    OVERRIDES: dict
    AUTHENTICATOR: str

    @pytest.fixture(scope="class")
    @classmethod
    def preview(cls):
        return run_preview("baremetal", cls.OVERRIDES)

    @pytest.fixture(scope="class")
    @classmethod
    def config(cls, preview) -> dict:
        config = with_secrets(values(preview)["hub"]["config"])
        assert section(config)[0] == cls.AUTHENTICATOR
        return config

    @pytest.fixture(scope="class")
    @classmethod
    def hub(cls, preview, config, tmp_path_factory) -> Iterator[Hub]:
        yield from run_hub(preview, config, tmp_path_factory.mktemp(cls.AUTHENTICATOR.lower()))


class TestDummyLogin(PasswordLoginHub):
    OVERRIDES, AUTHENTICATOR = DUMMY_WITH_USERS, "DummyAuthenticator"

    def test_the_hub_loads_the_programs_login(self, hub, config):
        assert_loaded(hub, config)

    def test_an_allowed_user_logs_in_and_gets_a_server(self, hub, config):
        [user] = section(config)[1]["allowed_users"]
        browser = Browser(hub)
        login = browser.password_login(user, "any password at all")
        assert_in(login, browser)
        assert whoami(browser)["name"] == user and not whoami(browser)["admin"]
        browser.start_server(user, login)
        assert_server_answers(browser, user)

    def test_a_user_outside_the_allow_list_is_refused(self, hub):
        browser = Browser(hub)
        assert_refused(browser.password_login("mallory", "any password at all"), browser)

    def test_the_admin_reaches_the_admin_api_and_a_trainee_does_not(self, hub, config):
        traits = section(config)[1]
        [admin_name], [user] = traits["admin_users"], traits["allowed_users"]
        admin, trainee = Browser(hub), Browser(hub)
        assert_in(admin.password_login(admin_name, "any password at all"), admin)
        assert_in(trainee.password_login(user, "any password at all"), trainee)
        assert whoami(admin)["admin"]
        assert admin_name in assert_admin_api(admin, trainee)


# --- shared password: one for trainees, another for the admins -------------------------------------------------------


class TestSharedPasswordLogin(PasswordLoginHub):
    OVERRIDES, AUTHENTICATOR = SHARED_PASSWORD_WITH_USERS, "SharedPasswordAuthenticator"

    def test_the_hub_loads_the_programs_login(self, hub, config):
        assert_loaded(hub, config)

    def test_an_allowed_user_with_the_password_logs_in_and_gets_a_server(self, hub, config):
        [user] = section(config)[1]["allowed_users"]
        browser = Browser(hub)
        login = browser.password_login(user, SECRETS["user_password"])
        assert_in(login, browser)
        browser.start_server(user, login)
        assert_server_answers(browser, user)

    def test_a_wrong_password_is_refused(self, hub, config):
        [user] = section(config)[1]["allowed_users"]
        browser = Browser(hub)
        assert_refused(browser.password_login(user, "a-wrong-password"), browser)
        assert_refused(browser.password_login(user, SECRETS["admin_password"]), browser)  # not an admin

    def test_a_user_outside_the_allow_list_is_refused_even_with_the_password(self, hub):
        browser = Browser(hub)
        assert_refused(browser.password_login("mallory", SECRETS["user_password"]), browser)

    def test_the_admin_with_the_admins_password_reaches_the_admin_api_and_a_trainee_does_not(self, hub, config):
        traits = section(config)[1]
        [admin_name], [user] = traits["admin_users"], traits["allowed_users"]
        refused = Browser(hub)
        assert_refused(refused.password_login(admin_name, SECRETS["user_password"]), refused)
        admin, trainee = Browser(hub), Browser(hub)
        assert_in(admin.password_login(admin_name, SECRETS["admin_password"]), admin)
        assert_in(trainee.password_login(user, SECRETS["user_password"]), trainee)
        assert whoami(admin)["admin"] and not whoami(trainee)["admin"]
        assert admin_name in assert_admin_api(admin, trainee)


class OAuthLoginHub:
    """What the OAuth logins share; each class below gives its program, provider, config and hub fixtures."""

    def login(self, hub, provider, program, name) -> tuple[Browser, object]:
        browser = Browser(hub)
        return browser, browser.oauth_login(provider, name, program["oauth_callback_url"])

    def test_the_hub_loads_the_programs_login(self, hub, config):
        assert_loaded(hub, config)


# --- GitHub: the allowed organizations' teams, through GitHub's membership API ---------------------------------------

GITHUB_API = "/api/v3"  # the API's path under github_url, as for GitHub Enterprise (oauthenticator/github.py)


class TestGitHubLogin(OAuthLoginHub):
    @pytest.fixture(scope="class")
    @classmethod
    def program(cls, gke) -> dict:
        name, traits = section(with_secrets(values(gke)["hub"]["config"]))
        assert name == "GitHubOAuthenticator"
        return traits

    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, program) -> Iterator[FakeOAuthProvider]:
        """The accounts: a member of every allowed team, an organization member outside the teams, a stranger, the
        admin (in no team)."""
        entries = set(program["allowed_organizations"])
        organizations = {entry.split(":")[0] for entry in entries}
        accounts = {"ann-example": Account({}, organizations | entries), "bob-example": Account({}, organizations),
                    "eve-example": Account({}), **{name: Account({}) for name in program["admin_users"]}}
        for number, (login, account) in enumerate(accounts.items(), 1):
            account.profile.update(login=login, id=number, name=login, email=None)
        with FakeOAuthProvider(program["client_id"], CLIENT_SECRET, program["oauth_callback_url"], program["scope"],
                               {"authorize": "/login/oauth/authorize", "token": "/login/oauth/access_token",
                                "userdata": f"{GITHUB_API}/user"}, accounts, github_api=GITHUB_API) as provider:
            yield provider

    @pytest.fixture(scope="class")
    @classmethod
    def config(cls, gke, program, provider) -> dict:
        """The program's hub.config with only the provider's addresses changed: GitHub's site and API are the fake's."""
        traits = {**program, "github_url": provider.url, "github_api": provider.url + GITHUB_API}
        return {**values(gke)["hub"]["config"], "GitHubOAuthenticator": traits}

    @pytest.fixture(scope="class")
    @classmethod
    def hub(cls, gke, config, tmp_path_factory) -> Iterator[Hub]:
        yield from run_hub(gke, config, tmp_path_factory.mktemp("github-hub"))

    def test_a_member_of_an_allowed_team_gets_in(self, hub, provider, program):
        browser, response = self.login(hub, provider, program, "ann-example")
        assert_in(response, browser)
        assert whoami(browser)["name"] == "ann-example" and not whoami(browser)["admin"]
        [team] = program["allowed_organizations"]
        org, slug = team.split(":")
        assert f"GET {GITHUB_API}/orgs/{org}/teams/{slug}/members/ann-example" in provider.requests
        assert provider.errors == []

    def test_an_organization_member_outside_the_teams_and_a_stranger_are_refused(self, hub, provider, program):
        for name in ("bob-example", "eve-example"):
            browser, response = self.login(hub, provider, program, name)
            assert_refused(response, browser)
        assert provider.errors == []

    def test_the_admin_gets_in_and_reaches_the_admin_api_and_a_member_does_not(self, hub, provider, program):
        [admin_name] = program["admin_users"]
        admin, response = self.login(hub, provider, program, admin_name)
        assert_in(response, admin)
        member, response = self.login(hub, provider, program, "ann-example")
        assert_in(response, member)
        assert admin_name in assert_admin_api(admin, member)


# --- generic OAuth/OIDC: the allowed groups, from the userinfo's groups claim ----------------------------------------


class TestGenericOAuthLogin(OAuthLoginHub):
    @pytest.fixture(scope="class")
    @classmethod
    def program(cls, baremetal) -> dict:
        name, traits = section(with_secrets(values(baremetal)["hub"]["config"]))
        assert name == "GenericOAuthenticator"
        return traits

    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, program) -> Iterator[FakeOAuthProvider]:
        """A member of the allowed groups (and another group), someone in another group only, the admin in none."""
        claim = program["auth_state_groups_key"].split(".", 1)[1]  # oauth_user.<the groups claim>
        groups = {"ann@example.com": [*program["allowed_groups"], "staff"], "bob@example.com": ["staff"],
                  **{name: [] for name in program["admin_users"]}}
        accounts = {name: Account({program["username_claim"]: name, claim: member_of, "sub": name})
                    for name, member_of in groups.items()}
        paths = {key: urllib.parse.urlsplit(program[f"{key}_url"]).path for key in ("authorize", "token", "userdata")}
        with FakeOAuthProvider(program["client_id"], CLIENT_SECRET, program["oauth_callback_url"], program["scope"],
                               paths, accounts) as provider:
            yield provider

    @pytest.fixture(scope="class")
    @classmethod
    def config(cls, baremetal, program, provider) -> dict:
        """The program's hub.config with only the provider's addresses changed: the fake's origin, the same paths."""
        traits = {**program, **{f"{key}_url": provider.url + path for key, path in provider.paths.items()}}
        return {**values(baremetal)["hub"]["config"], "GenericOAuthenticator": traits}

    @pytest.fixture(scope="class")
    @classmethod
    def hub(cls, baremetal, config, tmp_path_factory) -> Iterator[Hub]:
        yield from run_hub(baremetal, config, tmp_path_factory.mktemp("generic-oauth-hub"))

    def test_a_member_of_an_allowed_group_gets_in(self, hub, provider, program):
        browser, response = self.login(hub, provider, program, "ann@example.com")
        assert_in(response, browser)
        me = whoami(browser)
        assert me["name"] == "ann@example.com" and not me["admin"]
        assert set(program["allowed_groups"]) <= set(me["groups"])  # manage_groups: the hub's groups follow the claim
        assert provider.errors == []

    def test_someone_outside_the_allowed_groups_is_refused(self, hub, provider, program):
        browser, response = self.login(hub, provider, program, "bob@example.com")
        assert_refused(response, browser)
        assert provider.errors == []

    def test_the_admin_gets_in_and_reaches_the_admin_api_and_a_member_does_not(self, hub, provider, program):
        [admin_name] = program["admin_users"]
        admin, response = self.login(hub, provider, program, admin_name)
        assert_in(response, admin)
        member, response = self.login(hub, provider, program, "ann@example.com")
        assert_in(response, member)
        assert admin_name in assert_admin_api(admin, member)
