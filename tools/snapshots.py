"""Preview snapshots and the architecture diagram: every infrastructure change as a reviewable diff.

    python -m tools.snapshots

Runs the offline preview (tools.preview) of every stack and writes what it declares to
tests/snapshots/<stack>/ (resources.json, outputs.json, values/<release>.yaml: sorted, no timestamps,
secrets as "[secret]"), then draws the architecture from the gke preview's dependency graph into the
README (between the architecture markers) and from both stacks into docs/architecture.md.
tests/test_snapshots.py fails, with a diff, when the program and these files disagree.
"""

from __future__ import annotations

import difflib
import re
import sys
import tempfile
from pathlib import Path
from typing import Optional

from tools import preview as offline

ROOT = offline.ROOT
STACKS = ("gke", "baremetal")
SNAPSHOTS = ROOT / "tests" / "snapshots"
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
REGENERATE = "python -m tools.snapshots"
BEGIN, END = "<!-- architecture:begin -->", "<!-- architecture:end -->"
# The stand-in tools.preview gives a secure: config value; it must never reach a committed file.
SECRET_STAND_IN = "secure-value-of-"


# --- snapshots ---------------------------------------------------------------------------------------


def render(preview: offline.Preview) -> dict[str, str]:
    """The snapshot files of a preview, by path relative to its stack folder, exactly as written."""
    with tempfile.TemporaryDirectory() as scratch:
        offline.write(preview, Path(scratch))
        files = {path.relative_to(scratch).as_posix(): path.read_text()
                 for path in sorted(Path(scratch).rglob("*")) if path.is_file()}
    leaked = [name for name, text in files.items() if SECRET_STAND_IN in text]
    if leaked:
        raise ValueError(f"a secret config value reached {', '.join(leaked)} of stack {preview.stack} unredacted")
    return files


def committed(stack: str) -> dict[str, str]:
    folder = SNAPSHOTS / stack
    return {path.relative_to(folder).as_posix(): path.read_text()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def diff(old: dict[str, str], new: dict[str, str], label: str) -> str:
    """A unified diff between two sets of files ('' when equal), named as paths under label."""
    chunks = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        chunks.extend(difflib.unified_diff(
            (before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True),
            fromfile=f"a/{label}/{name}" if before is not None else "/dev/null",
            tofile=f"b/{label}/{name}" if after is not None else "/dev/null",
        ))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def write_snapshot(stack: str, files: dict[str, str]) -> None:
    folder = SNAPSHOTS / stack
    for stale in set(committed(stack)) - set(files):
        (folder / stale).unlink()
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


# --- the architecture diagram ------------------------------------------------------------------------

# Resources that are drawn; everything else (Services, ConfigMaps, RBAC, policies) is folded into the
# component that owns it, and its dependencies with it.
_DRAWN_KUBERNETES_KINDS = {
    "Namespace", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob",
    "PersistentVolume", "PersistentVolumeClaim", "StorageClass",
}
_DATA_TYPES = {"kubernetes:core/v1:PersistentVolume", "kubernetes:core/v1:PersistentVolumeClaim",
               "kubernetes:storage.k8s.io/v1:StorageClass", "gcp:compute/disk:Disk", "gcp:filestore/instance:Instance"}
_CORE_API_GROUPS = re.compile(r"^(core|apps|batch|policy|rbac\.authorization\.k8s\.io|networking\.k8s\.io|"
                              r"storage\.k8s\.io|scheduling\.k8s\.io|autoscaling|helm\.sh|yaml|apiextensions\.k8s\.io|"
                              r"admissionregistration\.k8s\.io|coordination\.k8s\.io|meta)$")


def _kind(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def drawn(resource: offline.Registration) -> bool:
    """Whether a resource is a node of the diagram: components, cloud resources and the key objects."""
    type_ = resource.type
    if not resource.custom or type_.startswith("gcp:") or type_ in (offline.HELM_RELEASE, "pulumi:providers:kubernetes"):
        return True
    if type_.startswith("kubernetes:"):
        group = type_.split(":")[1].split("/")[0]
        # Custom resources (a Kafka cluster, a Spark application) are drawn like workloads.
        return _kind(type_) in _DRAWN_KUBERNETES_KINDS or not _CORE_API_GROUPS.match(group)
    return False


def _label(resource: offline.Registration) -> str:
    inputs = resource.inputs
    if not resource.custom:
        detail = _kind(resource.type)
    elif resource.type == offline.HELM_RELEASE:
        chart = str(inputs.get("chart", "?")).rstrip("/").rsplit("/", 1)[-1]
        detail = f"Helm chart {chart} {inputs.get('version', '')}".strip()
    elif resource.type.startswith("pulumi:providers:"):
        detail = f"{resource.type.rsplit(':', 1)[-1]} provider"
    else:
        detail = _kind(resource.type)
    return f"{resource.name}<br/>{detail}".replace('"', "'")


def _shape(resource: offline.Registration, label: str) -> str:
    if resource.type == offline.HELM_RELEASE:
        return f'[["{label}"]]'
    if resource.type in _DATA_TYPES:
        return f'[("{label}")]'
    return f'["{label}"]'


def _reduce(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Drop every edge that another path already implies (same reachability, far fewer arrows)."""
    kept = set(edges)
    for edge in sorted(edges):
        source, target = edge
        kept.discard(edge)
        seen, todo = set(), [source]
        while todo:
            node = todo.pop()
            if node == target:
                break
            if node not in seen:
                seen.add(node)
                todo.extend(t for s, t in kept if s == node)
        else:
            kept.add(edge)
    return kept


def mermaid(preview: offline.Preview) -> str:
    """A Mermaid flowchart of a preview: components as boxes, an arrow from a resource to what needs it."""
    by_urn = {r.urn: r for r in preview.resources}
    ids: dict[str, str] = {}
    for resource in preview.resources:
        base = ("c_" if not resource.custom else "r_") + re.sub(r"[^A-Za-z0-9_]", "_", resource.name)
        node_id, n = base, 2
        while node_id in ids.values():
            node_id, n = f"{base}_{n}", n + 1
        ids[resource.urn] = node_id

    def ancestors(urn: str) -> list[str]:
        chain = []
        while urn in by_urn:
            chain.append(urn)
            urn = by_urn[urn].parent
        return chain

    def shown_as(urn: str) -> Optional[str]:
        """The node that stands for a resource: itself when drawn, else the closest drawn ancestor."""
        return next((u for u in ancestors(urn) if drawn(by_urn[u])), None)

    edges: set[tuple[str, str]] = set()
    for resource in preview.resources:
        needs = list(resource.dependsOn)
        if resource.provider:
            needs.append(resource.provider.rsplit("::", 1)[0])  # a provider reference is URN::ID
        target = shown_as(resource.urn)
        for dependency in needs:
            source = shown_as(dependency)
            if not source or not target or source == target:
                continue
            if source in ancestors(target) or target in ancestors(source):
                continue  # containment is drawn by nesting
            edges.add((source, target))

    # An arrow that a folded resource lends its component is left out where a drawn resource of that
    # component already has the same arrow (the component's Service next to its Deployment, say).
    def inside(node: str, component: str) -> bool:
        return node != component and component in ancestors(node)

    edges = {(s, t) for s, t in edges
             if not any(s2 == s and inside(t2, t) for s2, t2 in edges)
             and not any(t2 == t and inside(s2, s) for s2, t2 in edges)}
    edges = {(ids[s], ids[t]) for s, t in edges}

    children: dict[Optional[str], list[offline.Registration]] = {}
    for resource in preview.resources:
        if drawn(resource):
            parent = next((u for u in ancestors(resource.parent) if not by_urn[u].custom), None) if resource.parent else None
            children.setdefault(parent, []).append(resource)

    lines = ["flowchart TB"]

    def emit(resource: offline.Registration, depth: int) -> None:
        pad = "    " * depth
        if resource.custom:
            lines.append(f"{pad}{ids[resource.urn]}{_shape(resource, _label(resource))}")
            return
        if not children.get(resource.urn):  # a component with nothing drawn inside: a rounded box
            lines.append(f'{pad}{ids[resource.urn]}("{_label(resource)}")')
            return
        lines.append(f'{pad}subgraph {ids[resource.urn]}["{_label(resource)}"]')
        for child in children.get(resource.urn, []):
            emit(child, depth + 1)
        lines.append(f"{pad}end")

    for resource in children.get(None, []):
        emit(resource, 1)
    lines.extend(f"    {source} --> {target}" for source, target in sorted(_reduce(edges)))
    return "\n".join(lines) + "\n"


def _fenced(preview: offline.Preview) -> str:
    return "```mermaid\n" + mermaid(preview) + "```\n"


def readme_section(gke: offline.Preview) -> str:
    return (
        f"{BEGIN}\n"
        f"<!-- Generated by `{REGENERATE}` from the gke stack's offline preview; do not edit. -->\n"
        + _fenced(gke)
        + f"{END}"
    )


def architecture_document(previews: dict[str, offline.Preview]) -> str:
    parts = [
        "# Architecture\n\n",
        f"Generated by `{REGENERATE}` from the offline previews; do not edit. Boxes are components, arrows "
        "point from a resource to the resources that need it (its dependents, through `dependsOn`, inputs "
        "or the Kubernetes provider), with arrows implied by others left out. Cylinders hold data; "
        "double-edged boxes are Helm releases.\n",
    ]
    for stack, preview in previews.items():
        parts.append(f"\n## Stack `{stack}` ({len(preview.resources)} resources)\n\n" + _fenced(preview))
    return "".join(parts)


def replace_section(readme: str, section: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {BEGIN} ... {END} markers for the architecture diagram")
    return readme[:start] + section + readme[end + len(END):]


# --- the command ---------------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    previews = {}
    for stack in STACKS:
        try:
            previews[stack] = offline.run(stack)
        except offline.pulumi.RunError as error:
            print(f"error: stack {stack}: {error}", file=sys.stderr)
            return 1
        files = render(previews[stack])
        changed = diff(committed(stack), files, f"tests/snapshots/{stack}") if (SNAPSHOTS / stack).exists() else "new"
        write_snapshot(stack, files)
        print(f"tests/snapshots/{stack}: {len(files)} files, {'updated' if changed else 'unchanged'}")
    ARCHITECTURE.parent.mkdir(exist_ok=True)
    ARCHITECTURE.write_text(architecture_document(previews))
    README.write_text(replace_section(README.read_text(), readme_section(previews["gke"])))
    print(f"{ARCHITECTURE.relative_to(ROOT)} and the diagram in README.md: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
