"""The hub for real, for tests/hub/test_hub_engine.py: JupyterHub, its proxy, single-user servers, a fake OAuth provider.

- The release's values: the program's, coalesced over the chart's defaults as Helm does, with "Chart" and "Release"
  added, written as YAML into a folder laid out like the hub pod's /usr/local/etc/jupyterhub/secret (the chart's
  hub Secret, jupyterhub/templates/hub/secret.yaml at z2jh 4.4.0), beside the generated cookie secret, CryptKeeper
  keys and proxy token the Secret also holds.
- The proxy: configurable-http-proxy 5.2.0 from npm (package.json; the chart's proxy image tag at 4.4.0, values.yaml
  proxy.chp.image.tag), started as the chart's proxy pod starts it (jupyterhub/templates/proxy/deployment.yaml),
  on 127.0.0.1.
- The hub: `jupyterhub --config tests/hub_engine_config.py --upgrade-db` (the chart's hub command, with the
  chart's jupyterhub_config.py as tests/hub_engine_config.py reproduces it), in a temporary working directory
  where its sqlite database lands, as in the pod's /srv/jupyterhub.
- Single-user servers: jupyterhub-singleuser (jupyter_server), started by the hub's SimpleLocalProcessSpawner.

Everything listens on 127.0.0.1 on free ports; every wait has a deadline; stop() ends the hub, every process it
started (single-user servers run in sessions of their own, so they are found by parentage) and the proxy.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import pytest
import requests
import yaml

from components.hub.hub import CHART, CHART_VERSION, RELEASE_NAME
from tests.engines import wait_for

LOCAL = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = Path(__file__).with_name("hub_engine_config.py")
BIN = Path(sys.executable).parent  # the test environment's jupyterhub and jupyterhub-singleuser
CHP_VERSION = "5.2.0"
CHP_LOCAL = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
REQUEST_SECONDS = 10
HUB_START_SECONDS = 60
SPAWN_SECONDS = 60


def configurable_http_proxy() -> Optional[str]:
    """The proxy npm ci installs from package.json, else one on PATH."""
    return str(CHP_LOCAL) if CHP_LOCAL.exists() else shutil.which("configurable-http-proxy")


def missing_engines() -> Optional[str]:
    """One line naming what the hub needs and this machine lacks, or None."""
    missing = []
    if not shutil.which("node"):
        missing.append("node (Node.js 20 or newer, for configurable-http-proxy)")
    if not configurable_http_proxy():
        missing.append(f"configurable-http-proxy (./tools/test runs npm ci: {CHP_VERSION}, package.json)")
    if importlib.util.find_spec("jupyter_server") is None or not (BIN / "jupyterhub-singleuser").exists():
        missing.append("jupyter_server (pip install -r requirements-test.txt)")
    return "missing " + "; ".join(missing) if missing else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


# --- the release's values, as the hub pod reads them ----------------------------------------------------------------


def helm_coalesce(defaults: Any, values: Any) -> Any:
    """Helm's coalescing of a release's values over the chart's: maps merge key by key, a null removes the chart's
    key, anything else replaces (helm.sh/helm/v3 pkg/chartutil/coalesce.go)."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return values
    merged = {key: value for key, value in defaults.items() if key not in values}
    for key, value in values.items():
        if value is None:
            continue
        merged[key] = helm_coalesce(defaults[key], value) if key in defaults else value
    return merged


def release_values(chart_defaults: dict, values: dict, namespace: str) -> dict:
    """The hub Secret's values.yaml: .Values with "Chart" and "Release" set (jupyterhub/templates/hub/secret.yaml)."""
    merged = helm_coalesce(chart_defaults, values)
    merged["Chart"] = {"Name": CHART, "Version": CHART_VERSION, "AppVersion": "5.5.0"}
    merged["Release"] = {"Name": RELEASE_NAME, "Namespace": namespace, "Service": "Helm"}
    return merged


def write_hub_secret(folder: Path, values: dict) -> str:
    """The hub Secret's files in folder/secret, as mounted in /usr/local/etc/jupyterhub; the proxy token back.

    The chart generates them when the values set none (jupyterhub/templates/hub/_helpers-passwords.tpl: 64
    alphanumerics for the proxy token, 64 hex digits for the cookie secret, the CryptKeeper key and each service's
    API token), as here."""
    secret = folder / "secret"
    secret.mkdir(parents=True)
    # As plain data (the tests' secrets are a str subclass that hides its value from tracebacks).
    (secret / "values.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(values))))
    token = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(64))
    generated = {"hub.config.ConfigurableHTTPProxy.auth_token": token,
                 "hub.config.JupyterHub.cookie_secret": secrets.token_hex(32),
                 "hub.config.CryptKeeper.keys": secrets.token_hex(32),
                 # A service's token, 64 hex digits where the values give none (jupyterhub.hub.services.get_api_token).
                 **{f"hub.services.{key}.apiToken": service.get("apiToken") or secrets.token_hex(32)
                    for key, service in values["hub"].get("services", {}).items()}}
    for key, value in generated.items():
        (secret / key).write_text(value)
    return token


# --- processes ------------------------------------------------------------------------------------------------------


def _parents() -> dict[int, int]:
    """Every process's parent, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    """The process's group when it leads one (a session of its own), else the process."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def end(pids: list[int], seconds: float = 10) -> None:
    """SIGTERM, a deadline, then SIGKILL for what is left."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)


@dataclass
class Hub:
    """A running hub behind its proxy; url is the proxy's public address (the chart's proxy-public)."""

    url: str
    hub_url: str
    folder: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    servers: set[int] = field(default_factory=set)  # single-user servers' processes, as seen once they were ready

    def home(self, user: str) -> Path:
        """The user's home folder (SimpleLocalProcessSpawner.home_dir_template in tests/hub_engine_config.py)."""
        return self.folder / "home" / user

    def log(self, name: str, lines: int = 40) -> str:
        path = self.folder / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return f"--- {name} ({path}):\n" + "\n".join(text[-lines:])

    def logs(self) -> str:
        return "\n".join(self.log(name) for name in self.processes)

    def stop(self) -> None:
        hub = self.processes.get("hub")
        servers = set(descendants(hub.pid) if hub and hub.poll() is None else []) | self.servers
        for name in ("hub", "proxy"):
            process = self.processes.get(name)
            if process:
                end([process.pid])
        end([pid for pid in sorted(servers) if _alive(pid)])
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def _start(hub: Hub, name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
    log = open(hub.folder / f"{name}.log", "wb")
    try:
        hub.processes[name] = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def start_hub(values: dict, folder: Path, wrap: Sequence[str] = (), mounts: Optional[dict[str, Path]] = None) -> Hub:
    """The proxy and the hub with these release values (secrets already in them), in folder; up and answering.
    wrap: a command that runs the hub's command, given as its arguments (such as unshare); mounts: folders every
    server finds in its home under these names (linked there before it starts)."""
    proxy_port, api_port, hub_port = free_port(), free_port(), free_port()
    hub = Hub(url=f"http://{LOCAL}:{proxy_port}", hub_url=f"http://{LOCAL}:{hub_port}", folder=folder)
    z2jh, workdir, homes = folder / "z2jh", folder / "srv", folder / "home"
    for path in (workdir, homes):
        path.mkdir(parents=True)
    token = write_hub_secret(z2jh, values)
    base_env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "LANG": "C.UTF-8",
                "HOME": str(workdir), "CONFIGPROXY_AUTH_TOKEN": token}
    try:
        # The chart's proxy container (jupyterhub/templates/proxy/deployment.yaml): its flags, on 127.0.0.1; the hub
        # Service's address is the hub's.
        _start(hub, "proxy", [configurable_http_proxy(), f"--ip={LOCAL}", f"--api-ip={LOCAL}", f"--api-port={api_port}",
                              f"--default-target={hub.hub_url}", f"--error-target={hub.hub_url}/hub/error",
                              f"--port={proxy_port}"], base_env, workdir)
        _start(hub, "hub", [*wrap, str(BIN / "jupyterhub"), "--config", str(CONFIG_FILE), "--upgrade-db"],
               {**base_env, "PYTHONUNBUFFERED": "1", "Z2JH_DIR": str(z2jh), "HUB_ENGINE_HUB_URL": hub.hub_url,
                "HUB_ENGINE_PROXY_API_URL": f"http://{LOCAL}:{api_port}", "HUB_ENGINE_HOMES": str(homes),
                "HUB_ENGINE_MOUNTS": ",".join(f"{name}={path}" for name, path in (mounts or {}).items())}, workdir)

        def answering():
            for name, process in hub.processes.items():
                if process.poll() is not None:
                    pytest.fail(f"the {name} exited with {process.returncode}\n{hub.logs()}")
            try:
                # The hub has set up the proxy's routes, and answers through the proxy.
                return (b"JupyterHub is now running" in (folder / "hub.log").read_bytes()
                        and local_session().get(f"{hub.url}/hub/api", timeout=REQUEST_SECONDS).status_code == 200)
            except requests.RequestException:
                return False

        wait_for("hub answering through the proxy", answering, HUB_START_SECONDS, hub.logs)
    except BaseException:
        hub.stop()
        raise
    return hub


# --- a person with a browser ----------------------------------------------------------------------------------------


def local_session() -> requests.Session:
    """A requests session that talks to 127.0.0.1 directly, whatever proxy the environment names."""
    session = requests.Session()
    session.trust_env = False
    return session


class Browser:
    """A cookie session against the hub's public address, as one person's browser."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.session = local_session()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.hub.url + path

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(path), timeout=REQUEST_SECONDS, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.url(path), timeout=REQUEST_SECONDS, **kwargs)

    def api(self, path: str, method: str = "GET") -> requests.Response:
        """A hub API call from the page's JavaScript: the login cookie and the _xsrf token JupyterHub checks."""
        headers = {"X-XSRFToken": self.session.cookies.get("_xsrf", path="/hub/") or "",
                   "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}  # as a browser's fetch() sends
        return self.session.request(method, self.url(f"/hub/api{path}"), headers=headers, timeout=REQUEST_SECONDS)

    @property
    def logged_in(self) -> bool:
        return any(cookie.name == "jupyterhub-hub-login" for cookie in self.session.cookies)

    def login_page(self) -> str:
        page = self.get("/hub/login")
        assert page.status_code == 200, page.status_code
        return page.text

    def password_login(self, username: str, password: str) -> requests.Response:
        """The login form: GET /hub/login, POST it back with its _xsrf token."""
        page = self.login_page()
        [action] = re.findall(r'<form action="([^"]+)"', page)
        [xsrf] = re.findall(r'name="_xsrf" value="([^"]+)"', page)
        return self.post(action.replace("&amp;", "&"), data={"username": username, "password": password, "_xsrf": xsrf},
                         allow_redirects=False)

    def oauth_login(self, provider: "FakeOAuthProvider", login: str, callback_url: str) -> requests.Response:
        """The login button, the provider's consent as `login`, the redirect back to the hub's callback.

        The provider sends the browser to the program's callback URL (its public host); the browser reaches that
        host here through the proxy's address, as DNS and the ingress would."""
        [button] = re.findall(r"href='([^']*oauth_login[^']*)'", self.login_page())
        to_provider = self.get(button.replace("&amp;", "&"), allow_redirects=False)
        assert to_provider.status_code == 302, (to_provider.status_code, to_provider.text[:200])
        authorize = to_provider.headers["Location"]
        assert authorize.startswith(provider.authorize_url + "?"), authorize
        consent = self.get(f"{authorize}&login={urllib.parse.quote(login)}", allow_redirects=False)
        assert consent.status_code == 302, (consent.status_code, consent.text[:200])
        back = urllib.parse.urlsplit(consent.headers["Location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == callback_url, consent.headers["Location"]
        return self.get(f"{self.hub.url}{back.path}?{back.query}", allow_redirects=False)

    def server_model(self, user: str) -> dict:
        model = self.api(f"/users/{urllib.parse.quote(user)}")
        assert model.status_code == 200, model.status_code
        return model.json()["servers"].get("", {})

    def start_server(self, user: str, after_login: requests.Response) -> None:
        """What the browser does after logging in: follow the hub's redirects (home, spawn, spawn-pending) and wait
        for the server to be ready."""
        assert after_login.status_code == 302, after_login.status_code
        landing = self.get(after_login.headers["Location"])
        assert landing.status_code == 200, (landing.status_code, landing.url)
        wait_for(f"server of {user} ready", lambda: self.server_model(user).get("ready"), SPAWN_SECONDS,
                 self.hub.logs)
        self.hub.servers.update(descendants(self.hub.processes["hub"].pid))


# --- a fake OAuth provider ------------------------------------------------------------------------------------------


@dataclass
class Account:
    profile: dict  # what the userdata endpoint returns
    memberships: set[str] = field(default_factory=set)  # GitHub: "org" and "org:team" entries


class FakeOAuthProvider:
    """An OAuth 2 provider on 127.0.0.1: authorize (as any account the test names), token (checks the client, the
    code, the redirect URI and PKCE), userdata, and GitHub's membership endpoints.

    paths: authorize, token and userdata paths; github_api: the API's path prefix for the membership endpoints
    (None: not GitHub). Every refusal is a 4xx with a reason; nothing secret is printed."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str, scope: list[str],
                 paths: dict[str, str], accounts: dict[str, Account], github_api: Optional[str] = None):
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uri, self.scope = redirect_uri, scope
        self.paths, self.accounts, self.github_api = paths, accounts, github_api
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.requests: list[str] = []  # method and path of each request, for the tests
        self.errors: list[str] = []
        self.server = http.server.ThreadingHTTPServer((LOCAL, 0), self._handler())
        self.url = f"http://{LOCAL}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def authorize_url(self) -> str:
        return self.url + self.paths["authorize"]

    def __enter__(self) -> "FakeOAuthProvider":
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def _handler(self):
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_):  # quiet: the tests read provider.requests
                pass

            def reply(self, status: int, body: Any = None, headers: Optional[dict] = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def refuse(self, status: int, reason: str) -> None:
                provider.errors.append(f"{self.command} {urllib.parse.urlsplit(self.path).path}: {reason}")
                self.reply(status, {"error": "invalid_request", "message": reason})

            def account(self) -> Optional[str]:
                kind, _, token = self.headers.get("Authorization", "").partition(" ")
                return provider.tokens.get(token) if kind.lower() in ("bearer", "token") else None

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                provider.requests.append(f"GET {url.path}")
                if url.path == provider.paths["authorize"]:
                    return self.authorize(query)
                login = self.account()
                if login is None:
                    return self.refuse(401, "no valid access token")
                if url.path == provider.paths["userdata"]:
                    return self.reply(200, provider.accounts[login].profile)
                if provider.github_api and url.path.startswith(provider.github_api + "/orgs/"):
                    parts = url.path[len(provider.github_api + "/orgs/"):].split("/")
                    if len(parts) == 3 and parts[1] == "members":  # /orgs/{org}/members/{user}
                        user, entry = parts[2], parts[0]
                    elif len(parts) == 5 and parts[1] == "teams" and parts[3] == "members":
                        user, entry = parts[4], f"{parts[0]}:{parts[2]}"
                    else:
                        return self.refuse(404, "no such endpoint")
                    member = user in provider.accounts and entry in provider.accounts[user].memberships
                    return self.reply(204) if member else self.reply(404, {"message": "Not Found"})
                return self.refuse(404, "no such endpoint")

            def authorize(self, query: dict) -> None:
                expected = {"client_id": provider.client_id, "redirect_uri": provider.redirect_uri,
                            "response_type": "code", "code_challenge_method": "S256"}
                for key, value in expected.items():
                    if query.get(key) != value:
                        return self.refuse(400, f"{key} is {query.get(key)!r}, not {value!r}")
                if query.get("scope", "").split() != provider.scope:
                    return self.refuse(400, f"scope {query.get('scope')!r}, not {provider.scope}")
                if query.get("login") not in provider.accounts:
                    return self.refuse(400, f"no account {query.get('login')!r}")
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {"login": query["login"], "challenge": query.get("code_challenge"),
                                        "redirect_uri": query["redirect_uri"]}
                back = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
                self.reply(302, headers={"Location": back})

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                provider.requests.append(f"POST {url.path}")
                if url.path != provider.paths["token"]:
                    return self.refuse(404, "no such endpoint")
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                client_id, client_secret = form.get("client_id"), form.get("client_secret")
                kind, _, credentials = self.headers.get("Authorization", "").partition(" ")
                if kind == "Basic":
                    client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
                if client_id != provider.client_id or client_secret != provider.client_secret:
                    return self.refuse(401, "wrong client id or secret")
                grant = provider.codes.pop(form.get("code", ""), None)
                if grant is None or form.get("grant_type") != "authorization_code":
                    return self.refuse(400, "unknown or used code")
                if form.get("redirect_uri") != grant["redirect_uri"]:
                    return self.refuse(400, "redirect_uri differs from the authorization request's")
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if challenge != grant["challenge"]:
                    return self.refuse(400, "PKCE code_verifier does not match the code_challenge")
                token = secrets.token_urlsafe(16)
                provider.tokens[token] = grant["login"]
                self.reply(200, {"access_token": token, "token_type": "bearer", "scope": " ".join(provider.scope)})

        return Handler
