"""The jupyterhub_config.py that tests/hub/test_hub_engine.py runs the hub with: the chart's own, on this machine.

Zero to JupyterHub 4.4.0 starts the hub as `jupyterhub --config /usr/local/etc/jupyterhub/jupyterhub_config.py
--upgrade-db` in /srv/jupyterhub (jupyterhub/templates/hub/deployment.yaml; images/hub/Dockerfile's WORKDIR). That
file (jupyterhub/files/hub/jupyterhub_config.py, tag 4.4.0, commit 5c5f5df751588a68a7781ead01d0f62e88e2e72f) reads
the release's values through z2jh.py (jupyterhub/files/hub/z2jh.py) from the hub's Secret, mounted at
/usr/local/etc/jupyterhub/secret/: values.yaml, the whole .Values as Helm coalesced them, plus "Chart" and
"Release" (jupyterhub/templates/hub/secret.yaml), and one file per generated secret.

Here $Z2JH_DIR stands for /usr/local/etc/jupyterhub (tests/hub_engine.py writes its secret/ folder the way the
Secret is laid out), and this file runs the chart's statements that matter to a hub outside Kubernetes, in the
chart's order and with the chart's code, each marked with its line numbers in the chart's file. Where the chart
names Kubernetes (KubeSpawner, the proxy's and the hub's Services, the hub's port 8081 on every interface), the
local stand-in is set at the same place and marked LOCAL: the spawner is JupyterHub's SimpleLocalProcessSpawner
running jupyterhub-singleuser, and the proxy and the hub listen on 127.0.0.1.

Left out: what configures only KubeSpawner or Kubernetes (lines 109-136, labels and namespace; 145-362, the pod, its
storage and profiles; 450-482, the init container that blocks the metadata server); the idle culler service
(367-420: jupyterhub-idle-culler is not a test dependency, and it acts only after hub.cullTimeout); the
jupyterhub_config.d files and hub.extraConfig (528-542: the image has no such files, and the program's only
extraConfig, with hub.trainerView or hub.groups, adds Kubernetes volumes, run with the real KubeSpawner in
tests/hub/test_hub_folders.py); line 39, tornado's curl client (pycurl is not a test dependency; tornado's own client
makes the same requests).

hub.config is applied exactly as the chart applies it (lines 499-526): each section is merged into `c` after
everything else, so it wins over all of the above.
"""

# load the config object (satisfies linters)
c = get_config()  # noqa

import os
import re
import sys
from collections.abc import Mapping
from functools import lru_cache

import yaml

# z2jh.py's root, /usr/local/etc/jupyterhub in the hub pod.
Z2JH_DIR = os.environ["Z2JH_DIR"]
# LOCAL: the addresses Kubernetes' Services give the hub and the proxy's API, and the spawner's home folders.
HUB_URL = os.environ["HUB_ENGINE_HUB_URL"]
PROXY_API_URL = os.environ["HUB_ENGINE_PROXY_API_URL"]
HOMES = os.environ["HUB_ENGINE_HOMES"]
# LOCAL: folders every server finds in its home, as a pod's volume mounts give them (name=path, comma-separated).
MOUNTS = dict(item.split("=", 1) for item in os.environ.get("HUB_ENGINE_MOUNTS", "").split(",") if item)


# --- z2jh.py (jupyterhub/files/hub/z2jh.py at 4.4.0), with its root folder Z2JH_DIR -----------------------------


@lru_cache
def _load_config():
    cfg = {}
    for source in ("secret/values.yaml", "existing-secret/values.yaml"):
        path = f"{Z2JH_DIR}/{source}"
        if os.path.exists(path):
            print(f"Loading {path}")
            with open(path) as f:
                values = yaml.safe_load(f)
            cfg = _merge_dictionaries(cfg, values)
        else:
            print(f"No config at {path}")
    return cfg


@lru_cache
def get_secret_value(key, default="never-explicitly-set"):
    for source in ("existing-secret", "secret"):
        path = f"{Z2JH_DIR}/{source}/{key}"
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
    if default != "never-explicitly-set":
        return default
    raise Exception(f"{key} not found in either k8s Secret!")


def _merge_dictionaries(a, b):
    merged = a.copy()
    for key in b:
        if key in a:
            if isinstance(a[key], Mapping) and isinstance(b[key], Mapping):
                merged[key] = _merge_dictionaries(a[key], b[key])
            else:
                merged[key] = b[key]
        else:
            merged[key] = b[key]
    return merged


def get_config(key, default=None):
    value = _load_config()
    for level in key.split("."):
        if not isinstance(value, dict):
            return default
        if level not in value:
            return default
        else:
            value = value[level]
    return value


def set_config_if_not_none(cparent, name, key):
    data = get_config(key)
    if data is not None:
        setattr(cparent, name, data)


# --- jupyterhub_config.py (jupyterhub/files/hub/jupyterhub_config.py at 4.4.0) ----------------------------------


def camelCaseify(s):  # lines 26-32
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), s)


# line 41: c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
# LOCAL: JupyterHub's process spawner without system users, each server in a home folder of its own.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(HOMES, "{username}")

def _mount_folders(spawner):
    home = spawner.home_dir
    os.makedirs(home, exist_ok=True)
    for name, path in MOUNTS.items():
        if not os.path.lexists(os.path.join(home, name)):
            os.symlink(path, os.path.join(home, name))


if MOUNTS:
    c.Spawner.pre_spawn_hook = _mount_folders
if os.getuid() == 0:
    # jupyter_server refuses to run as root without it (the image runs servers as jovyan).
    c.Spawner.args = ["--allow-root"]

# lines 45-48: the proxy runs apart (the chart's proxy pod; here a configurable-http-proxy the test starts).
# LOCAL: its API's address instead of the proxy-api Service's.
c.ConfigurableHTTPProxy.api_url = PROXY_API_URL
c.ConfigurableHTTPProxy.should_start = False

# line 51
c.JupyterHub.cleanup_servers = False

# line 54
c.JupyterHub.last_activity_interval = 60

# lines 57-59
c.JupyterHub.tornado_settings = {
    "slow_spawn_timeout": 0,
}

# lines 63-77: the database (sqlite-pvc: a file in the working directory, here the test's temporary folder).
db_type = get_config("hub.db.type")
if db_type == "sqlite-pvc":
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
elif db_type == "sqlite-memory":
    c.JupyterHub.db_url = "sqlite://"
else:
    set_config_if_not_none(c.JupyterHub, "db_url", "hub.db.url")
db_password = get_secret_value("hub.db.password", None)
if db_password is not None:
    if db_type == "mysql":
        os.environ["MYSQL_PWD"] = db_password
    elif db_type == "postgres":
        os.environ["PGPASSWORD"] = db_password
    else:
        print(f"Warning: hub.db.password is ignored for hub.db.type={db_type}")

# lines 81-95
for trait, cfg_key in (
    ("concurrent_spawn_limit", None),
    ("active_server_limit", None),
    ("base_url", None),
    ("allow_named_servers", None),
    ("named_server_limit_per_user", None),
    ("authenticate_prometheus", None),
    ("redirect_to_server", None),
    ("shutdown_on_logout", None),
    ("template_paths", None),
    ("template_vars", None),
):
    if cfg_key is None:
        cfg_key = camelCaseify(trait)
    set_config_if_not_none(c.JupyterHub, trait, "hub." + cfg_key)

# lines 99-107: c.JupyterHub.hub_bind_url = "http://:8081", hub_connect_url the hub Service's address.
# LOCAL: 127.0.0.1 and a free port.
c.JupyterHub.hub_bind_url = HUB_URL
c.JupyterHub.hub_connect_url = HUB_URL

# lines 139-143
set_config_if_not_none(
    c.Spawner,
    "consecutive_failure_limit",
    "hub.consecutiveFailureLimit",
)

# lines 364-365 (the culler, 367-420, left out)
c.JupyterHub.services = []
c.JupyterHub.load_roles = []

# lines 422-439
for key, service in get_config("hub.services", {}).items():
    service.setdefault("name", key)
    service.pop("apiToken", None)
    service["api_token"] = get_secret_value(f"hub.services.{key}.apiToken")
    c.JupyterHub.services.append(service)

for key, role in get_config("hub.loadRoles", {}).items():
    role.setdefault("name", key)
    c.JupyterHub.load_roles.append(role)

# lines 443-448
_unspecified = object()
specified_cmd = get_config("singleuser.cmd", _unspecified)
if specified_cmd is not _unspecified:
    c.Spawner.cmd = specified_cmd

set_config_if_not_none(c.Spawner, "default_url", "singleuser.defaultUrl")

# lines 485-487
if get_config("debug.enabled", False):
    c.JupyterHub.log_level = "DEBUG"
    c.Spawner.debug = True

# lines 493-497
c.JupyterHub.cookie_secret = get_secret_value("hub.config.JupyterHub.cookie_secret")
c.CryptKeeper.keys = get_secret_value("hub.config.CryptKeeper.keys").split(";")

# lines 499-526: hub.config, section by section, onto c.
for section, cfg in get_config("hub.config", {}).items():
    if section == "JupyterHub":
        cfg.pop("proxy_auth_token", None)
        cfg.pop("cookie_secret", None)
        cfg.pop("services", None)
    elif section == "ConfigurableHTTPProxy":
        cfg.pop("auth_token", None)
    elif section == "CryptKeeper":
        cfg.pop("keys", None)

    if not section[:1].isupper():
        print(
            f"FATAL: Invalid hub.config section name: {section}."
            " hub.config sections must be Configurable class names (e.g. JupyterHub)."
            " Maybe misplaced or misspelled config?",
            file=sys.stderr,
        )
        sys.exit(1)

    print(f"Loading pass-through config section hub.config.{section}")
    c[section].update(cfg)
