"""The hub's release values, merged over the chart's defaults as Helm does, pass the z2jh 4.4.0 values schema."""

from functools import lru_cache

import jsonschema
import pytest
import yaml

from tests.conftest import run_preview
from tests.hub.test_hub import DUMMY, values
from tools import reference


@lru_cache(maxsize=None)
def chart_file(name: str) -> dict:
    """The chart's own file, from the pinned reference data (never copied into the repository)."""
    return yaml.safe_load((reference.folder() / "z2jh-4.4.0" / name).read_text())


def merged(defaults, override):
    """Helm's coalescing of user values over chart defaults: maps merge key by key, anything else replaces."""
    if isinstance(defaults, dict) and isinstance(override, dict):
        return {key: merged(defaults[key], value) if key in defaults else value for key, value in override.items()} | {
            key: value for key, value in defaults.items() if key not in override}
    return override


def schema_errors(release_values: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(chart_file("values.schema.yaml"))
    document = merged(chart_file("values.yaml"), release_values)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_merge_is_helms_maps_merge_lists_replace():
    defaults = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merged(defaults, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


def test_the_schema_catches_what_the_chart_would_reject():
    # So that a pass below means something: a misspelt key and a wrong type both fail.
    assert schema_errors({"singleuser": {"storage": {"type": "dynamic", "homeMountPath": "/home/jovyan", "capcity": "1Gi"}}})
    assert schema_errors({"cull": {"enabled": True, "timeout": "1h"}})


@pytest.mark.parametrize("stack, overrides", [
    ("gke", {}),  # github, LoadBalancer, Let's Encrypt, dedicated user nodes
    ("baremetal", {}),  # generic-oauth with groups, ingress
    ("baremetal", {**DUMMY, "auth.dummyPassword": {"secure": "x"},
                   "auth.dummyAdminPassword": {"secure": "y"}}),  # shared-password, ClusterIP
    ("gke", {"auth.allowedOrganizations": None, "auth.allowedUsers": ["alice"], "hub.prePuller": False,
             "hub.allowInternet": False, "services.kafka.enabled": False}),
])
def test_release_values_pass_the_chart_schema(stack, overrides):
    assert schema_errors(values(run_preview(stack, overrides))) == []
