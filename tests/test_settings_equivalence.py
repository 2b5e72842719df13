"""The settings accept and reject exactly what they did before they became typed models (issue 15), in the same words.

tests/snapshots/settings/corpus.jsonl holds configurations and what the hand-written components/settings.py (before
commit 6252cd0) made of each (recorded once, with `python -m tests.test_settings_equivalence record CAPTURED...`): the
exact ConfigError line (and the missing secret's key), or digests of the loaded Settings, concern by concern, with
every attribute and property of the settings classes (secret Outputs as their value and secrecy, tuples told from
lists) and the warnings the loading logged. The configurations are the stack files, every override the tests passed to
the offline preview (recorded during a run of the suite), and generated mutations: each declared setting set to wrong
types, bounds and patterns, each mode switched alone and with the others, unknown keys and maps, the object settings'
fields, and pairs of mistakes (which one is reported first).

The hub's settings hold the tag of the project's Scala image, which changes with its build folder
(components/images.py, image_tag), and the gke stack file names that image. After such a change the outcomes are
replayed with the hand-written settings: in a worktree of commit 7eeffe7 (the last with them) holding this
repository's images/, Pulumi.gke.yaml, this file and the corpus, `python -m tests.test_settings_equivalence replay`
rewrites the corpus's outcomes; copy it back.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import itertools
import json
import random
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.sync_await import _sync_await

from components import stack_file
from tools import preview as offline

CORPUS = Path(__file__).resolve().parent / "snapshots" / "settings" / "corpus.jsonl"
PROJECT = "mltraining"


# --- evaluating one configuration ------------------------------------------------------------------


class _Log:
    def __init__(self):
        self.lines: list[str] = []

    def warning(self, message, *args):
        self.lines.append(f"warning: {message}")

    def info(self, message, *args):
        self.lines.append(f"info: {message}")

    def debug(self, *args, **kwargs):
        pass

    error = debug


_read = stack_file.read


@functools.lru_cache(maxsize=None)
def _stack_file(path: Path) -> dict:
    return _read(path)


def _engine_input(case: dict) -> tuple[str, dict[str, str], set[str], Any]:
    """The stack, the configuration as the engine passes it, its secret keys, and the stack file's document (None:
    the program finds no stack file, as without one or with ESC environments)."""
    if "engine" in case:  # values as the engine passes them, secrets decrypted, no stack file
        config = {key: offline._config_text(value) for key, value in case["engine"].items()}
        return case["stack"], config, set(case.get("secret_keys", ())), None
    # The stack file and Pulumi.yaml's name are parsed once: PyYAML's pure-Python parser is slow.
    real_read, real_project_name = stack_file.read, offline.project_name
    stack_file.read, offline.project_name = lambda path: copy.deepcopy(_stack_file(path)), lambda: PROJECT
    try:
        document = offline.stack_document(case["stack"], case.get("overrides"))
    finally:
        stack_file.read, offline.project_name = real_read, real_project_name
    document["config"].update(case.get("as_written", {}))
    if case.get("environment"):
        document = {**document, "environment": ["ml-training/secrets"]}
    config, secret_keys = offline._engine_config(document)
    return case["stack"], config, secret_keys | set(case.get("secret_keys", ())), document


def _load(stack: str, config: dict[str, str], secret_keys: set[str], document: Any, log: _Log):
    from components.settings import load

    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(offline.Mocks(), project=PROJECT, stack=stack, preview=True, logger=log)
    pulumi.runtime.set_all_config(config, sorted(secret_keys))
    stack_file.use(document)
    try:
        return load()
    finally:
        pulumi.runtime.set_all_config({}, [])
        stack_file.use(None)


def outcome(case: dict, schema: dict[str, list[str]]) -> dict:
    """What loading the case's configuration gives: the error line, or digests of the settings; then, as the
    offline preview does, again with a stand-in for each missing secret, until none is missing."""
    from components.settings import ConfigError, MissingSecret, servers_per_user_node

    stack, config, secret_keys, document = _engine_input(case)
    steps = []
    stand_ins: list[str] = []
    while True:
        log = _Log()
        try:
            settings = _load(stack, config, secret_keys, document, log)
        except MissingSecret as missing:
            steps.append({"error": str(missing), "missing": missing.key, "log": log.lines})
            if missing.key in stand_ins or "engine" in case or len(stand_ins) > 5:
                break
            stand_ins.append(missing.key)
            overrides = {**case.get("overrides", {}), **{key: {"secure": f"stand-in for {key}"} for key in stand_ins}}
            stack, config, secret_keys, document = _engine_input({**case, "overrides": overrides})
            continue
        except ConfigError as error:
            steps.append({"error": str(error), "log": log.lines})
            break
        parts = {name: fingerprint(getattr(settings, name), kind, schema) for name, kind in schema["Settings"]}
        parts["servers_per_user_node"] = servers_per_user_node(settings.cluster, settings.hub)
        steps.append({"settings": {name: _digest(part) for name, part in parts.items()}, "log": log.lines})
        break
    return {"steps": steps}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(value: Any, kind: Any, schema: dict[str, list]) -> Any:
    """A value of the settings as JSON. kind names the settings class the value is (or holds, in a tuple), as the
    recorded schema says: its attributes and properties are taken by name, whatever class the value has now.
    Outputs become their secrecy and value, tuples and maps are told from lists."""
    if isinstance(value, pulumi.Output):
        return {"output": {"secret": _sync_await(value.is_secret()), "value": _sync_await(value.future())}}
    if isinstance(value, tuple):
        return {"tuple": [fingerprint(item, kind, schema) for item in value]}
    if isinstance(value, list):
        return [fingerprint(item, kind, schema) for item in value]
    if isinstance(value, dict):
        return {"dict": [[key, fingerprint(item, kind, schema)] for key, item in value.items()]}
    if value is not None and kind:
        return {name: fingerprint(getattr(value, name), of, schema) for name, of in schema[kind]}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"unexpected value in the settings: {value!r}")


def settings_schema() -> dict[str, list]:
    """Each settings dataclass of components/settings.py before commit 6252cd0: its fields and properties, each with
    the settings class it holds (or None), read from their annotations (recorded once)."""
    import inspect
    import re

    from components import settings

    classes = {name: cls for name, cls in vars(settings).items()
               if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == settings.__name__}

    def held(annotation: Any) -> Any:
        return next((name for name in re.findall(r"\w+", str(annotation)) if name in classes), None)

    return {name: [[field.name, held(field.type)] for field in dataclasses.fields(cls)]
            + [[key, held(inspect.signature(attribute.fget).return_annotation)]
               for key, attribute in vars(cls).items() if isinstance(attribute, property)]
            for name, cls in classes.items()}


# --- the test ------------------------------------------------------------------------------------------


def _recorded() -> tuple[dict, list[dict]]:
    lines = CORPUS.read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def test_the_corpus_is_large_and_mixed():
    header, cases = _recorded()
    outcomes = [case["outcome"]["steps"][-1] for case in cases]
    accepted = sum("settings" in step for step in outcomes)
    assert len(cases) > 1000 and accepted > 200 and len(cases) - accepted > 500
    assert len({step["error"] for step in outcomes if "error" in step}) > 300


def test_every_configuration_loads_as_before():
    """Each configuration loads to the same settings or fails with the same line. With two mistakes (the pairs), the
    one reported may be the other: the models check a concern's settings in Pulumi.yaml's order."""
    header, cases = _recorded()
    alone = {json.dumps({"stack": c["case"]["stack"], "overrides": c["case"]["overrides"]}, sort_keys=True): c["outcome"]
             for c in cases if "overrides" in c["case"]}
    differences = []
    for case in cases:
        now = outcome(case["case"], header["schema"])
        if now == case["outcome"]:
            continue
        singles = [alone[json.dumps({"stack": case["case"]["stack"], "overrides": o}, sort_keys=True)]
                   for o in case["case"].get("pair", ())]
        if "error" in now["steps"][-1] and any(now == single for single in singles):
            continue
        differences.append(f"{json.dumps(case['case'])}\n  before: {json.dumps(case['outcome'])}\n"
                           f"  now:    {json.dumps(now)}")
    assert not differences, f"{len(differences)} of {len(cases)} configurations differ:\n" + "\n".join(differences[:20])


# --- recording the corpus (once, with the hand-written settings) -----------------------------------------


GENERIC = [None, "", "x y", ["a"], {"a": 1}, True, 7, -1, 1.5]
INTEGERS = [0, 1, 9, 10, 100, 101, 300, 720, 721, 1000, 1001, 3650, 3651, 5000, 5001, 65536, 65537, 604801, "12", "+5",
            "5.0", "1_000"]
BOOLEANS = ["true", "false", "True", "yes", 1]
LISTS = [["a", "b"], ["a", ""], [1], "a", '["a"]', [["a"]], ["ml-training-example"], ["org:team"], ["trainer"]]
STRINGS = ["UPPER", "ml-training", "a" * 64, "-x", "a.b", "europe-west3-a", "europe-west3", "/abs/path", "rel/path",
           "https://example.com/x", "https://example.com/x y", "http://x.org", "registry.example.com:5000", "ghcr.io/org",
           "trainer@example.com", "oci://registry.example.com/vora", "charts/nfs-volumes", "100Gi", "100", "1.5Gi",
           "1Ti", "100GB", "1.33.5-gke.1308000", "2.3.41", "^2.3", "rancher.io/local-path", "FREQ=WEEKLY;BYDAY=SA",
           "2026-01-06T00:00:00Z", "2026-01-05T22:00:00"]
# In the other contexts of a setting: a few values of its kind.
AGAIN = {bool: ["true", "false"], int: [0, 1, 1001], list: [["a"], []], str: ["", "UPPER", "x y"]}
CHOICES = {
    "cluster.type": ["gke", "existing"], "cluster.releaseChannel": ["RAPID", "REGULAR", "STABLE", "EXTENDED", "UNSPECIFIED"],
    "storage.mode": ["in-cluster", "external", "filestore"], "storage.diskType": ["pd-standard", "pd-balanced", "pd-ssd"],
    "storage.filestoreTier": ["BASIC_HDD", "BASIC_SSD", "ZONAL", "REGIONAL", "ENTERPRISE"],
    "storage.onDelete": ["retain", "archive"], "services.kafka.version": ["4.2.0", "4.2.1", "4.3.0", "4.3.1", "4.1.0"],
    "hub.serviceType": ["LoadBalancer", "NodePort", "ClusterIP"], "hub.metadataBlock": ["auto", "iptables", "network-policy"],
    "auth.type": ["github", "generic-oauth", "dummy"],
}
SECRET = {"secure": "x"}
VORA = {"services.vora.enabled": True, "services.vora.chart": "oci://registry.example.com/vora",
        "services.vora.version": "2.3.41", "services.vora.registry": "registry.example.com",
        "services.vora.registryUsername": "pull", "services.vora.registryPassword": SECRET}
DUMMY = {"auth.type": "dummy", "auth.allowedGroups": None, "auth.allowedOrganizations": None}
CONTEXTS = {
    "gke": ("gke", {}), "baremetal": ("baremetal", {}), "dev": ("dev", {}),
    "filestore": ("gke", {"storage.mode": "filestore", "storage.size": "1Ti"}),
    "regional": ("gke", {"cluster.location": "europe-west3"}),
    "vora": ("baremetal", VORA),
    "dummy-passwords": ("dev", {"auth.dummyPassword": SECRET, "auth.dummyAdminPassword": SECRET}),
}


def _contexts(key: str) -> list[str]:
    if key.startswith("services.vora."):
        return ["vora", "baremetal"]
    if key.startswith(("cluster.", "storage.zone", "storage.diskType", "storage.archive")):
        return ["gke", "regional", "baremetal"] if key in ("storage.zone", "cluster.location") else ["gke", "baremetal"]
    if key.startswith("storage.filestore"):
        return ["filestore", "gke"]
    return ["gke", "baremetal", "dev"]


def _probes(key: str, default: Any) -> list[Any]:
    if isinstance(default, bool):
        return BOOLEANS
    if isinstance(default, int):
        return INTEGERS
    if isinstance(default, list):
        return LISTS
    return CHOICES[key] + ["UPPER"] if key in CHOICES else STRINGS


PROFILE = {"name": "py", "displayName": "Python", "image": "quay.io/jupyter/base-notebook:2025-10-20",
           "cpuGuarantee": "1", "cpuLimit": "2", "memoryGuarantee": "1Gi", "memoryLimit": "2Gi"}
DATASET = {"url": "https://example.com/data/a.csv", "sha256": "0" * 64, "path": "datasets/a"}
MATERIAL = {"url": "https://github.com/example/course.git", "ref": "v1.0", "folder": "course"}
SSH_MATERIAL = {"url": "git@github.com:example/private.git", "ref": "a" * 40, "folder": "private",
                "deployKey": SECRET, "knownHosts": "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
SESSION = {"days": ["mon", "wed"], "start": "09:00", "end": "12:00", "timeZone": "Europe/Berlin", "trainees": 20}
EXCLUSION = {"name": "exam-week", "start": "2027-03-01T00:00:00Z", "end": "2027-03-06T00:00:00Z", "scope": "NO_UPGRADES"}


def _field_mutations(item: dict, fields: dict[str, list]) -> list[dict]:
    mutated = [{}, item]
    for field, values in fields.items():
        mutated.append({k: v for k, v in item.items() if k != field})
        mutated.extend({**item, field: value} for value in values)
    mutated.append({**item, "extra": 1})
    mutated.append({**item, list(item)[0] + "x": 1})
    return mutated


def _object_cases() -> list[dict]:
    """Mutations of the object settings: lists of profiles, datasets, materials, sessions, exclusions; maps."""
    cases = []

    def add(contexts, key, values):
        for context in contexts:
            stack, base = CONTEXTS[context]
            for value in values:
                cases.append({"stack": stack, "overrides": {**base, key: value}})

    add(["baremetal", "dev", "gke"], "hub.profiles", [None, [], {}, "x", [1], [PROFILE], [PROFILE, PROFILE],
        [PROFILE, {**PROFILE, "name": "b", "default": True}], [{**PROFILE, "default": True}, {**PROFILE, "name": "b", "default": True}]]
        + [[p] for p in _field_mutations(PROFILE, {
            "name": ["Py", "", 5, "a" * 64], "displayName": ["", 5], "description": ["", 5, None],
            "image": ["quay.io/jupyter/base-notebook:latest", "base", "quay.io/jupyter/pyspark-notebook:2025-01-01",
                      offline_pyspark(), "ghcr.io/org/scala-spark:1", "scala-spark:1", "a@sha256:" + "0" * 64,
                      "Quay.io/x:1", 5],
            "cpuGuarantee": [0.5, 2, "500m", "3", "x", "1.5m", True, "", "0.1"], "cpuLimit": ["0.5", 1, "4000m", "1m"],
            "memoryGuarantee": [2, "2", "1.5Gi", "3Gi", "1000M", "x", 2.5], "memoryLimit": ["1Gi", "1Mi", "4Gi", 4],
            "default": [True, False, "true", 1]})])
    add(["gke"], "hub.profiles", [[{**PROFILE, "cpuGuarantee": g, "memoryGuarantee": m, "cpuLimit": "64", "memoryLimit": "512Gi"}]
                                  for g, m in (("4", "2Gi"), ("3.9", "30Gi"), ("0.1", "100Mi"), ("8", "1Gi"), ("1", "64Gi"))])
    add(["baremetal", "dev"], "hub.imageRegistry", ["", "ghcr.io/org", "localhost:5000", "ghcr.io/org/x:1"])
    add(["baremetal", "gke", "dev"], "storage.datasets", [None, [], {}, "x", [1], [DATASET, DATASET],
        [DATASET, {**DATASET, "path": "other"}]] + [[d] for d in _field_mutations(DATASET, {
            "url": ["http://example.com/a.csv", "https://example.com/", "gs://bucket/a.csv", "gs://bucket/", "gs://B/a",
                    "https://example.com/a%20b.csv", "https://example.com/a b.csv", "ftp://x/a", 5, "https://example.com/.."],
            "sha256": ["", "0" * 63, "A" * 64, 5], "path": ["", "/a/b/", "a/../b", "a//b", "a b", 5, "course"]})])
    add(["baremetal", "dev"], "storage.materials", [None, [], {}, "x", [MATERIAL, MATERIAL],
        [MATERIAL, {**MATERIAL, "folder": "datasets"}], [{**MATERIAL, "folder": "datasets"}]]
        + [[m] for m in _field_mutations(MATERIAL, {
            "url": ["http://github.com/x.git", "https://user:pw@github.com/x.git", "git@github.com:x/y.git",
                    "ssh://git@github.com/x/y.git", "ssh://-x/y", "github.com/x", "git@github.com:-x", 5],
            "ref": ["main", "HEAD", "refs/tags/v1", "abc1234", "A" * 40, "a" * 40, "v1..2", "v1.lock", "@", "-v", "v 1",
                    "v1/", ""],
            "folder": ["", "a/b", ".x", "public"], "deployKey": [SECRET, "plain"], "knownHosts": ["x", ""]})]
        + [[m] for m in _field_mutations(SSH_MATERIAL, {
            "deployKey": ["plain-key"], "knownHosts": ["", "github.com ssh-ed25519", "bad line\n", "@cert-authority *.x ssh-rsa AAAA="],
            "url": ["https://github.com/x.git", "ssh://git@github.com:22/x/y.git"]})])
    add(["gke", "baremetal", "dev"], "hub.schedule", [None, [], {}, "x", [SESSION], [SESSION, SESSION],
        [SESSION, {**SESSION, "days": ["tue"]}], [SESSION, {**SESSION, "start": "12:00", "end": "13:00"}],
        [SESSION, {**SESSION, "start": "11:59", "end": "13:00"}], [SESSION, {**SESSION, "timeZone": "UTC", "days": ["fri"]}]]
        + [[s] for s in _field_mutations(SESSION, {
            "days": [[], ["mon", "mon"], ["Mon"], "mon", ["sun", "mon"], [1]], "start": ["9:00", 540, "24:00", "12:00", "11:59"],
            "end": ["09:00", "08:00", "23:59", 720], "timeZone": ["Mars/Olympus", "UTC", "", 1],
            "trainees": [0, 1, 5000, 5001, "20", 20.0, True, 141, 140, 200]})])
    add(["gke", "baremetal"], "cluster.maintenanceExclusions", [None, [], {}, "x", [EXCLUSION, EXCLUSION]]
        + [[e] for e in _field_mutations(EXCLUSION, {
            "name": ["Exam", "", 5], "start": ["2027-03-01", "2027-03-01T00:00:00", "x", 5],
            "end": ["2027-03-31T00:00:00Z", "2027-04-01T00:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"],
            "scope": ["NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES", "ALL", None]})]
        + [[{**EXCLUSION, "scope": "NO_MINOR_UPGRADES", "end": "2027-06-01T00:00:00Z"}]])
    add(["baremetal", "dev", "gke"], "cluster.dataStorageParameters", [None, {}, {"type": "gp3"}, {"a": 1}, [], "x", {"a": None}])
    add(["vora", "baremetal"], "services.vora.values", [None, {}, {"a": {"b": 1}}, [], "x", 5])
    add(["gke", "baremetal", "dev"], "hub.groups", [None, {}, [], "x", {"team-a": []}, {"team-a": None},
        {"team-a": ["trainee"]}, {"team-a": ["trainer-example"]}, {"team-a": ["ghost"]}, {"Team A": []},
        {"org:Team": []}, {"org:team": []}, {"org:team": [], "org-team": []}, {"team-a": ["a", "A"]},
        {"team-a": ["a b"]}, {"team-a": [""]}, {"team-a": "alice"}, {"a" * 64: []}, {"team-a": [1]}])
    add(["gke", "baremetal", "dev"], "hub.trainerView", [True])
    add(["gke", "baremetal", "dev"], "auth.groupsFromLogin", [True])
    return cases


def offline_pyspark() -> str:
    from components.settings import PYSPARK_IMAGE

    return PYSPARK_IMAGE


def _key_cases() -> list[dict]:
    """Unknown keys and maps, keys without or with another namespace, flat keys, maps that are not maps."""
    overrides = [
        {"cluster.foo": 1}, {"cluster.userPool.foo": 1}, {"cluster.userPool": 5}, {"cluster.maintenance": "x"},
        {"cluster.userPool.maxNode": 5}, {"storage.datasetz": []}, {"services.foo": {}}, {"services.spark.foo": 1},
        {"services.spark": 1}, {"hub.profile": []}, {"auth.clientSecrett": SECRET}, {"auth.clientSecrett": "x"},
        {"mltraining:foo": 1}, {"mltraining:clustr": {"type": "gke"}}, {"mltraining:cluster.type": "gke"},
        {"mltraining:namespace.x": "a"}, {"gcp:foo": "x"}, {"kubernetes:context": "x"}, {"pulumi:tags": {"a": "b"}},
        {"aws:region": "x"}, {"mltrainig:hub": {"host": "x"}}, {"mltraining:cluster": "gke"},
        {"mltraining:cluster": [1]}, {"mltraining:cluster": 5}, {"mltraining:cluster": {}}, {"mltraining:hub": {}},
        {"mltraining:auth": {}}, {"mltraining:storage": "x"}, {"mltraining:services": {}}, {"namespace": "Jupyter Hub"},
        {"mltraining:namespace": {"a": 1}}, {"mltraining:auth.clientSecret": SECRET}, {"hub.groups.team-a": ["x"]},
        {"services.vora.registryPassword": "plain"}, {"auth.dummyPassword": "plain"}, {"gcp:project": None},
        {"gcp:zone": None}, {"gcp:zone": None, "gcp:region": "europe-west3"}, {"gcp:zone": "europe-west1-b"},
        {"gcp:zone": None, "gcp:region": "europe-west3", "storage.zone": "europe-west3-b"},
    ]
    cases = [{"stack": stack, "overrides": o} for o in overrides for stack in ("gke", "baremetal", "dev")]
    cases += [
        {"stack": "baremetal", "overrides": {}, "as_written": {"hub": {"host": "training.example.com"}}},
        {"stack": "gke", "overrides": {"auth.clientSecret": "from-esc"}, "environment": True,
         "secret_keys": ["mltraining:auth"]},
        {"stack": "gke", "overrides": {"auth.clientSecret": "plain"}, "environment": True},
        {"stack": "baremetal", "overrides": VORA, "environment": True, "secret_keys": ["mltraining:services"]},
    ]
    password = "admins-password-of-32-characters!"
    for auth in ({"dummyPassword": "short"}, {"dummyPassword": "trainees-password", "adminUsers": ["trainer"]},
                 {"dummyPassword": "trainees-password", "adminUsers": ["trainer"], "dummyAdminPassword": "too-short"},
                 {"dummyPassword": password, "adminUsers": ["trainer"], "dummyAdminPassword": password},
                 {"dummyPassword": "trainees-password", "adminUsers": ["trainer"], "dummyAdminPassword": password + "x"},
                 {"dummyPassword": "trainees-password"}, {}):
        for secret in ("auth", "cluster"):
            cases.append({"stack": "test", "engine": {"mltraining:auth": {"type": "dummy", **auth},
                                                      "mltraining:cluster": {"dataStorageClass": "retained"}},
                          "secret_keys": [f"mltraining:{secret}"]})
    return cases


def _mode_cases() -> list[dict]:
    cases = []
    for stack in ("gke", "baremetal"):
        for kind, mode, login, service, ingress in itertools.product(
                ["gke", "existing"], ["in-cluster", "external", "filestore"], ["github", "generic-oauth", "dummy"],
                ["LoadBalancer", "NodePort", "ClusterIP"], [True, False]):
            cases.append({"stack": stack, "overrides": {
                "cluster.type": kind, "storage.mode": mode, "auth.type": login, "hub.serviceType": service,
                "hub.ingress": ingress, "gcp:project": "p", "gcp:zone": "europe-west3-a", "storage.size": "1Ti",
                "storage.server": "nfs.example.com", "storage.path": "/exports", "auth.clientSecret": SECRET,
                "auth.clientId": "id", "auth.allowedUsers": ["trainer-example", "trainee"]}})
        for host, email, issuer, insecure in itertools.product([None, "hub.example.com"], [None, "a@example.com"],
                                                               [None, "letsencrypt"], [None, True]):
            cases.append({"stack": "dev" if stack == "baremetal" else stack, "overrides": {**DUMMY, "hub.host": host, "hub.letsencryptEmail": email,
                                                        "hub.clusterIssuer": issuer, "auth.allowInsecureDummy": insecure}})
    return cases


def corpus(captured: list[Path]) -> list[dict]:
    """The configurations: the stack files, the tests' overrides (captured: JSON lines of {stack, overrides}, recorded
    from tools.preview.stack_document during a run of the suite), and the generated ones."""
    declared = yaml.safe_load((offline.ROOT / "Pulumi.yaml").read_text())["config"]
    cases = [{"stack": stack, "overrides": {}} for stack in ("gke", "baremetal", "dev")]
    # Not those that name a test's temporary files (a local chart): they are gone when the corpus is replayed.
    cases += [item for path in captured for item in map(json.loads, path.read_text().splitlines())
              if "overrides" in item and "pytest-of-" not in json.dumps(item)]
    singles = []
    for key, declaration in declared.items():
        contexts = _contexts(key)
        for value in GENERIC:
            singles.append({"stack": CONTEXTS[contexts[0]][0], "overrides": {**CONTEXTS[contexts[0]][1], key: value}})
        for index, context in enumerate(contexts):
            stack, base = CONTEXTS[context]
            default = declaration["default"]
            probes = _probes(key, default) if index == 0 else CHOICES.get(key, []) + AGAIN[type(default)]
            for value in probes:
                singles.append({"stack": stack, "overrides": {**base, key: value}})
    cases += singles + _object_cases() + _key_cases() + _mode_cases()
    # Pairs of mistakes: which one is reported first.
    rng = random.Random(15)
    for _ in range(400):
        first, second = rng.sample(singles, 2)
        if first["stack"] == second["stack"] and not set(first["overrides"]) & set(second["overrides"]):
            cases.append({"stack": first["stack"], "overrides": {**first["overrides"], **second["overrides"]},
                          "pair": [first["overrides"], second["overrides"]]})
    unique = {json.dumps(case, sort_keys=True): case for case in cases}
    return list(unique.values())


def record(captured: list[Path]) -> None:
    from components import settings

    declared = yaml.safe_load(settings.PROJECT_FILE.read_text())
    settings.yaml = type("CachedYaml", (), {"safe_load": staticmethod(lambda text: copy.deepcopy(declared))})
    schema = settings_schema()
    cases = corpus(captured)
    lines = [json.dumps({"schema": schema})]
    for index, case in enumerate(cases):
        if index % 200 == 0:
            print(f"{index} of {len(cases)}", file=sys.stderr)
        lines.append(json.dumps({"case": case, "outcome": outcome(case, schema)}))  # maps keep their order
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    CORPUS.write_text("\n".join(lines) + "\n")
    print(f"recorded {len(cases)} configurations in {CORPUS}")


def replay() -> None:
    """The recorded configurations again, each with what this tree's settings make of it."""
    header, cases = _recorded()
    lines = [json.dumps(header)] + [json.dumps({**case, "outcome": outcome(case["case"], header["schema"])})
                                    for case in cases]
    CORPUS.write_text("\n".join(lines) + "\n")
    print(f"replayed {len(cases)} configurations into {CORPUS}")


if __name__ == "__main__" and sys.argv[1:2] == ["record"]:
    record([Path(path) for path in sys.argv[2:]])
if __name__ == "__main__" and sys.argv[1:2] == ["replay"]:
    replay()
