"""Helpers over the plain Kubernetes objects a component declares in a preview."""

from __future__ import annotations

import base64

from tools.preview import SECRET, Preview, Registration

KUBERNETES_VERSIONS = ("1.31", "1.33", "1.35")


def children(preview: Preview, component_type: str) -> list[Registration]:
    """The resources a component (there must be exactly one of that type) declares itself."""
    [component] = preview.of_type(component_type)
    return [r for r in preview.resources if r.parent == component.urn]


def descendants(preview: Preview, component_type: str) -> list[Registration]:
    """Every resource under the components of that type, at any depth."""
    found = [r.urn for r in preview.of_type(component_type)]
    result = []
    for resource in preview.resources:
        if resource.parent in found:
            found.append(resource.urn)
            result.append(resource)
    return result


def waits_for(preview: Preview, resources: list[Registration], others: list[Registration]) -> list[tuple[str, str]]:
    """The (resource, other) name pairs where a resource waits for one of the others; [] when none does."""
    return [(r.name, o.name) for r in resources for o in others if preview.depends_on(r, o)]


def manifest(resource: Registration) -> dict:
    """The object as the API server receives it: apiVersion and kind from the resource type.

    A Secret's data, hidden as a whole in the preview ("[secret]"), stands in as one base64 entry."""
    _, group_version, kind = resource.type.split(":")
    obj = {**resource.inputs, "apiVersion": group_version.removeprefix("core/"), "kind": kind}
    for field in ("data", "stringData"):
        if kind == "Secret" and obj.get(field) == SECRET:
            obj[field] = {"hidden": base64.b64encode(SECRET.encode()).decode()}
    return obj


def one(preview: Preview, type_: str, name: str) -> Registration:
    """The object of that type whose metadata.name is name."""
    [found] = [r for r in preview.of_type(type_) if r.inputs["metadata"]["name"] == name]
    return found


def pod_spec(workload: Registration) -> dict:
    return workload.inputs["spec"]["template"]["spec"]


def container(workload: Registration) -> dict:
    """The one container of a workload's pods."""
    [found] = pod_spec(workload)["containers"]
    return found


def pod_labels(workload: Registration) -> dict:
    return workload.inputs["spec"]["template"]["metadata"]["labels"]


def selects(rule_peer: dict, workload: Registration) -> bool:
    """Whether a NetworkPolicy peer (podSelector with matchLabels) selects the workload's pods."""
    wanted = rule_peer["podSelector"]["matchLabels"]
    labels = pod_labels(workload)
    return all(labels.get(key) == value for key, value in wanted.items())


def covers(ports: list[dict], port: int) -> bool:
    """Whether NetworkPolicy ports (with an optional endPort range) include a TCP port."""
    return any(p.get("protocol", "TCP") == "TCP" and p["port"] <= port <= p.get("endPort", p["port"]) for p in ports)
