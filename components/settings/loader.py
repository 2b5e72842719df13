"""Reading the stack's configuration into the settings, before any resource exists.

Apart from namespace, settings live in maps under the project's keys (mltraining:cluster, ...), which the engine
passes as JSON; each map is validated by its concern's model, in the order cluster, hub, namespace, storage,
services, auth (each may use those before it), and the first mistake raises ConfigError: one line naming the key,
the value given and what is expected. ConfigError is a pulumi.RunError, so `pulumi up` prints that line without a
traceback. A key that no model declares is reported as a typo before anything else is read.
"""

import difflib
import json
import re
from pathlib import Path
from typing import Any, Iterator, Optional, get_args, get_origin

import pulumi
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from components import stack_file
from components.hub.auth_settings import Auth, AuthSettings
from components.cluster.settings import Cluster, ClusterSettings
from components.hub.settings import HubSettings
from components.services.settings import ServicesSettings
from components.storage.settings import Storage, StorageSettings
from components.settings.types import (JSON_TYPES, KEY_ONLY, LABEL, PLAINTEXT, SECRET_SHOWN_AS, ConfigError, Hidden,
                                       Invalid, Matching, MissingSecret, Model, SecretText, set_secret_command, text)

PROJECT_FILE = Path(__file__).resolve().parents[2] / "Pulumi.yaml"
# Namespaces of the providers' own settings, beside the project's: gcp:project, kubernetes:..., pulumi:tags.
PROVIDER_NAMESPACES = ("gcp", "kubernetes", "pulumi")
Namespace = Matching(LABEL, "a namespace name (RFC 1123 label)", required=True)


class Settings(Model):
    project: str
    stack: str
    namespace: Namespace = Field(
        "jupyterhub", description="Kubernetes namespace of the environment (hub, NFS server, data services).")
    cluster: ClusterSettings
    storage: StorageSettings
    services: ServicesSettings
    hub: HubSettings
    auth: AuthSettings


# The maps of settings, in Pulumi.yaml's order, and how each is read (a mode chooses among models by its field).
MAPS = {"cluster": ClusterSettings, "storage": StorageSettings, "services": ServicesSettings, "hub": HubSettings,
        "auth": AuthSettings}
STAGES = {"cluster": (Cluster, "type"), "hub": (HubSettings, None), "namespace": (Namespace, None),
          "storage": (Storage, "mode"), "services": (ServicesSettings, None), "auth": (Auth, "type")}
_ADAPTERS = {name: TypeAdapter(kind) for name, (kind, _) in STAGES.items()}


def kind_of(field: FieldInfo) -> str:
    """secret, object (a list or map of objects, set in the stack file) or scalar (Pulumi.yaml declares it)."""
    if field.annotation == Optional[pulumi.Output]:
        return "secret"
    args, origin = get_args(field.annotation), get_origin(field.annotation)
    if dict in (field.annotation, origin) or (origin is tuple and issubclass(args[0], BaseModel)):
        return "object"
    return "scalar"


def _nested(field: FieldInfo) -> Optional[type]:
    return next((t for t in (field.annotation, *get_args(field.annotation)) if isinstance(t, type)
                 and issubclass(t, Model) and kind_of(field) != "object"), None)


def declared(model: Optional[type] = None, prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every setting by key, such as cluster.userPool.maxNodes (a map's settings by their own keys; secrets in a list of
    objects as storage.materials[].deployKey), in Pulumi.yaml's order."""
    if model is None:
        yield "namespace", Settings.model_fields["namespace"]
        for name, model in MAPS.items():
            yield from declared(model, name + ".")
        return
    for field in model.model_fields.values():
        nested = _nested(field)
        if field.exclude:
            continue
        if nested:
            yield from declared(nested, prefix if (field.json_schema_extra or {}).get("flat") else f"{prefix}{field.alias}.")
            continue
        yield prefix + field.alias, field
        if kind_of(field) == "object" and get_origin(field.annotation) is tuple:
            for item in get_args(field.annotation)[0].model_fields.values():
                if kind_of(item) == "secret":
                    yield f"{prefix}{field.alias}[].{item.alias}", item


SETTINGS = dict(declared())
OBJECT_KEYS = tuple(key for key, field in SETTINGS.items() if kind_of(field) == "object")
# Secrets cannot be declared with a default in Pulumi.yaml. "[]" stands for any list index.
SECRET_KEYS = tuple(key for key, field in SETTINGS.items() if kind_of(field) == "secret")


def _raw_configuration() -> dict[str, str]:
    """Every configuration value the engine passed to the program, by full key (project:key)."""
    # The SDK exposes single lookups only; listing the keys (to catch typos) needs the same two
    # sources that pulumi.runtime.get_config reads: the process environment and values set in-process.
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


class _Config:
    """One stack's configuration as the engine passed it, and the stack file's as written (None without one): it
    tells `secure:` values from plaintext."""

    def __init__(self, project: str, stack: str, raw: dict[str, str], secret_keys: set[str], written: Optional[dict]):
        self.project, self.stack, self.raw, self.secret_keys, self.written = project, stack, raw, secret_keys, written
        self.secure = stack_file.secure_paths(written) if written is not None else set()
        self.maps = {key.split(".")[0] for key in SETTINGS if "." in key}

    def full(self, key: str) -> str:
        return key if ":" in key else f"{self.project}:{key}"

    def may_be_secret(self, full: str) -> bool:
        """Whether a setting's value may be secret: a secret setting, `secure:` in the stack file, or (with no
        stack file to tell) anything in a map the engine marks secret."""
        top = full.split(".")[0].split("[")[0]
        if re.sub(r"\[[0-9]+\]", "[]", full.partition(":")[2]) in SECRET_KEYS or full in self.secure:
            return True
        return self.written is None and top in self.secret_keys

    def fail(self, key: str, value: Any, expected: str) -> ConfigError:
        full = self.full(key)
        hidden = value is not None and value is not PLAINTEXT and self.may_be_secret(full)
        return ConfigError(full, Hidden(SECRET_SHOWN_AS) if hidden else value, expected)

    def _map(self, name: str) -> dict:
        """The settings under one of the project's map keys (cluster, storage, ...), {} when unset."""
        text = self.raw.get(self.full(name))
        if text is None:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if not isinstance(value, dict):
            example = next(key for key in SETTINGS if key.startswith(name + "."))
            raise self.fail(name, value, f"a map of settings such as {example}")
        return value

    def check_keys(self) -> None:
        """Every key is the project's or a provider's, and every setting of the project, inside its maps
        too, is one that the settings declare."""
        for full_key in sorted(set(self.raw) | set(self.written or ())):
            namespace, colon, key = str(full_key).partition(":")
            if not colon:
                raise ConfigError(str(full_key), KEY_ONLY, f"a key with its namespace, such as {self.project}:{full_key}")
            if namespace not in (self.project, *PROVIDER_NAMESPACES):
                near = difflib.get_close_matches(namespace, [self.project, *PROVIDER_NAMESPACES], n=1)
                hint = f"; did you mean {near[0]}:{key}?" if near else ""
                raise ConfigError(full_key, KEY_ONLY, f"a key of {self.project} or of a provider "
                                  f"({', '.join(PROVIDER_NAMESPACES)}){hint}")
            if namespace != self.project or full_key not in self.raw:
                continue
            if "." in key:
                raise self.fail(full_key, self.raw[full_key],
                                f"a nested setting: pulumi config set --path {key} VALUE (in the stack file, "
                                f"{key.split('.', 1)[1]} under {self.project}:{key.split('.')[0]})")
            if key in self.maps:
                self._check_map(key, self._map(key))
            elif key not in SETTINGS:
                self._unknown(key)

    def _check_map(self, path: str, value: dict) -> None:
        for name, item in value.items():
            key = f"{path}.{name}"
            if key in SETTINGS:
                continue
            if isinstance(item, dict) and any(known.startswith(key + ".") for known in SETTINGS):
                self._check_map(key, item)
            else:
                self._unknown(key)

    def _unknown(self, key: str) -> None:
        top_level = self.maps | {known for known in SETTINGS if "." not in known}
        near = difflib.get_close_matches(key, sorted(SETTINGS if "." in key else top_level), n=1)
        hint = f"; did you mean {self.project}:{near[0]}?" if near else ""
        # Only the key: its value may be a secret (a misspelt secret setting) or a whole map.
        raise ConfigError(self.full(key), KEY_ONLY, f"one of the keys declared in Pulumi.yaml{hint}")

    def plaintext(self, key: str) -> str:
        """A setting's value as configured, as text ("" when unset): for the checks of secrets' own values."""
        name, *path = key.split(".")
        value: Any = self._map(name)
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return text(value) or ""

    def secret(self, key: str, value: str) -> SecretText:
        """A secret setting's value, marked with whether the stack file (without one, the engine's mark on its map)
        keeps it secret."""
        marked = SecretText(value)
        marked.secure = (self.full(key) in self.secure if self.written is not None
                         else self.full(key.split(".")[0]) in self.secret_keys)
        marked.command = set_secret_command(self.stack, key)
        return marked

    def _prepared(self, path: str, value: Any) -> Any:
        """A map of settings as the models read it: settings set to null left out (their defaults apply), secrets
        marked."""
        if not isinstance(value, dict):
            return value
        prepared = {}
        for name, item in value.items():
            key = f"{path}.{name}"
            if item is not None:
                prepared[name] = (self.secret(key, text(item)) if key in SECRET_KEYS
                                  else self._prepared(key, item) if any(k.startswith(key + ".") for k in SETTINGS)
                                  else item)
        return prepared

    def read(self, name: str, context: dict) -> Any:
        """One stage: the namespace, or a map of settings validated by its model."""
        if name == "namespace":
            value = self.raw.get(self.full(name), Settings.model_fields["namespace"].default)
        else:
            value = self._prepared(name, self._map(name))
        try:
            return _ADAPTERS[name].validate_python(value, context=context)
        except ValidationError as error:
            raise self._failure(name, error.errors()[0]) from None

    def _failure(self, name: str, error: dict) -> ConfigError:
        mode = STAGES[name][1]
        if error["type"] == "union_tag_invalid":
            tags = re.findall(r"'([^']*)'", error["ctx"]["expected_tags"])
            return self.fail(f"{name}.{mode}", error["ctx"]["tag"], "one of " + ", ".join(tags))
        loc = list(error["loc"][1:] if mode else error["loc"])
        key = name + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc
                             if (name, part) != ("cluster", "gke"))
        invalid = (error.get("ctx") or {}).get("error")
        if not isinstance(invalid, Invalid):
            return self.fail(key, None if error["type"] == "missing" else error["input"], JSON_TYPES.get(error["type"], error["msg"]))
        key = invalid.key or (f"{key}.{invalid.field}" if invalid.field else key)
        if invalid.missing:
            return MissingSecret(key, self.project, self.stack, invalid.expected)
        return self.fail(key, invalid.value, invalid.expected)


def load() -> Settings:
    """Read and validate the whole stack configuration; raise ConfigError at the first mistake."""
    project, stack = pulumi.get_project(), pulumi.get_stack()
    raw = _raw_configuration()
    secret_keys = {key for key in raw if pulumi.runtime.is_config_secret(key)}
    config = _Config(project, stack, raw, secret_keys, stack_file.config(stack))
    config.check_keys()
    gcp = {name: raw[f"gcp:{name}"] for name in ("project", "zone", "region") if f"gcp:{name}" in raw}
    context = {"stack": stack, "gcp": gcp, "secret": config.secret, "plaintext": config.plaintext}
    for name in STAGES:
        context[name] = config.read(name, context)
    return Settings(project=project, stack=stack, **{name: context[name] for name in STAGES})
