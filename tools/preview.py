"""Offline preview: run the real program for a stack under Pulumi's mock runtime.

    python -m tools.preview STACK [--out DIR]

No Pulumi CLI, plugins, credentials or cluster are needed. The stack's configuration is read from
Pulumi.STACK.yaml (`secure:` values become secrets without being decrypted, and a secret that the stack's
modes need but that is not set gets a stand-in, which the output names); the mocks answer with realistic
outputs (cluster IPs, endpoints, names) so that the wiring between components is exercised.
The tree of resources is printed; with --out, resources.json, outputs.json and values/<release>.yaml
are written, every secret shown as "[secret]" and every unknown as "[unknown]".
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components import stack_file
from components.settings import MissingSecret, Settings, load, set_secret_command

ROOT = Path(__file__).resolve().parent.parent
SECRET = "[secret]"
UNKNOWN = "[unknown]"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
MOCK_CA_CERTIFICATE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nmock\n-----END CERTIFICATE-----\n").decode()
MOCK_PROJECT_NUMBER = 123456789012  # what a bucket reports as its project's number


# --- configuration ---------------------------------------------------------------------------------


class StackNotFound(Exception):
    """A stack name without a Pulumi.STACK.yaml."""


def project_name() -> str:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]


def _config_text(value: Any) -> str:
    """A configuration value as the Pulumi engine passes it to a program: a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def stack_config(stack: str, overrides: Optional[dict[str, Any]] = None) -> tuple[dict[str, str], set[str]]:
    """The stack's configuration by full key, as the engine passes it, and the keys that are secret.

    overrides (for tests) change it as `pulumi config set --path` would: "auth.type" sets type inside the
    project's auth map; a key with its namespace ("gcp:project", "mltraining:auth.type") is set as written.
    None removes a value, and {"secure": ...} makes a secret.
    """
    return _engine_config(stack_document(stack, overrides))


def stack_document(stack: str, overrides: Optional[dict[str, Any]] = None) -> dict:
    """The stack file's document with the overrides applied (see stack_config)."""
    path = stack_file.path(stack)
    if not path.exists():
        raise StackNotFound(f"no stack file {path.name}: the stacks are "
                            + ", ".join(sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))))
    project = project_name()
    document = stack_file.read(path)
    values: dict[str, Any] = dict(document.get("config") or {})
    for key, value in (overrides or {}).items():
        if ":" in key:  # as written, e.g. gcp:project
            parts = [key]
        else:  # a path into the project's maps, as `pulumi config set --path` takes it
            first, *rest = key.split(".")
            parts = [f"{project}:{first}", *rest]
        node = values
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return {**document, "config": values}


def _engine_config(document: dict) -> tuple[dict[str, str], set[str]]:
    values = document.get("config") or {}
    config, secret_keys = {}, set()
    for key, value in values.items():
        plain, secret = _reveal(value, key)
        config[key] = _config_text(plain)
        if secret:
            secret_keys.add(key)
    return config, secret_keys


def _reveal(value: Any, where: str) -> tuple[Any, bool]:
    """A value with every `secure:` part replaced by a stand-in (not decrypted), and whether it had one:
    the engine marks the whole key secret then."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return f"secure-value-of-{where}", True
    if isinstance(value, dict):
        revealed = {name: _reveal(item, f"{where}.{name}") for name, item in value.items()}
        return {name: plain for name, (plain, _) in revealed.items()}, any(s for _, s in revealed.values())
    if isinstance(value, list):
        revealed = [_reveal(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return [plain for plain, _ in revealed], any(s for _, s in revealed)
    return value, False


# --- mocks -----------------------------------------------------------------------------------------


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def mock_cluster_ip(name: str) -> str:
    """A stable cluster IP in the service range, derived from the Service's name."""
    digest = _digest(name)
    return f"10.96.{digest[0]}.{digest[1] % 254 + 1}"


class Mocks(pulumi_mocks.Mocks):
    """Answers resource registrations with the outputs a real provider would add; a reference to a stack (the
    program reads its own last deployment) answers with deployed_outputs, {} for a stack never deployed."""

    def __init__(self, deployed_outputs: Optional[dict[str, Any]] = None):
        self.deployed_outputs = deployed_outputs or {}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            return args.resource_id, {**state, "outputs": self.deployed_outputs, "secretOutputNames": []}
        if args.typ.startswith("kubernetes:"):
            metadata = dict(state.get("metadata") or {})
            metadata.setdefault("name", f"{args.name}-{_digest(args.name).hex()[:8]}")
            state["metadata"] = metadata
            if args.typ == "kubernetes:core/v1:Service":
                spec = dict(state.get("spec") or {})
                if spec.get("clusterIP") != "None":
                    spec["clusterIP"] = mock_cluster_ip(metadata["name"])
                state["spec"] = spec
            if args.typ == HELM_RELEASE:
                state.setdefault("name", args.name)
                state["status"] = {"name": state["name"], "namespace": state.get("namespace", "default"),
                                   "status": "deployed", "version": 1}
        elif args.typ == "gcp:container/cluster:Cluster":
            state.update(
                endpoint=f"203.0.113.{_digest(args.name)[0] % 254 + 1}",
                masterAuth={"clusterCaCertificate": MOCK_CA_CERTIFICATE},
                selfLink=f"https://container.googleapis.com/v1/projects/mock/clusters/{state.get('name', args.name)}",
            )
        elif args.typ == "gcp:filestore/instance:Instance":
            networks = [dict(n, ipAddresses=["10.0.0.2"]) for n in state.get("networks") or [{}]]
            state["networks"] = networks
        elif args.typ == "gcp:storage/bucket:Bucket":
            state["projectNumber"] = MOCK_PROJECT_NUMBER
        elif args.typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{state['accountId']}@{state.get('project', 'mock')}.iam.gserviceaccount.com"
        if args.typ.startswith("gcp:"):
            state.setdefault("name", args.name)
            state.setdefault("selfLink", f"https://www.googleapis.com/mock/{args.typ}/{state['name']}")
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, None]:
        return {}, None


# --- recording what the program registers ------------------------------------------------------------


def redact(value: Any) -> Any:
    """A property value as JSON, with secrets and unknowns replaced by readable markers."""
    if isinstance(value, str):
        return UNKNOWN if value == rpc.UNKNOWN else value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return SECRET
        if sig == rpc._special_output_value_sig:
            if value.get("secret"):
                return SECRET
            return redact(value["value"]) if "value" in value else UNKNOWN
        if sig == rpc._special_resource_sig:
            return value.get("urn")
        return {key: redact(item) for key, item in value.items()}
    return value


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: Optional[str]
    dependsOn: list[str]
    provider: Optional[str]
    protect: bool
    retainOnDelete: bool
    deleteBeforeReplace: bool
    ignoreChanges: list[str]
    inputs: dict

    def as_json(self) -> dict:
        return dict(self.__dict__)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps the whole RegisterResource request: parent, dependencies, options."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            dependencies = set(request.dependencies)
            for property_dependencies in request.propertyDependencies.values():
                dependencies.update(property_dependencies.urns)
            self.registrations.append(Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                dependsOn=sorted(dependencies),
                provider=request.provider or None,
                protect=bool(request.protect),
                retainOnDelete=bool(request.retainOnDelete),
                deleteBeforeReplace=bool(request.deleteBeforeReplace),
                ignoreChanges=sorted(request.ignoreChanges),
                inputs=redact(json_format.MessageToDict(request.object)),
            ))
        return response


# --- running the program ---------------------------------------------------------------------------


@dataclass
class Preview:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    stand_ins: list[str] = field(default_factory=list)  # secrets not set in the stack file, given a stand-in

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def releases(self) -> dict[str, Registration]:
        """Helm releases by release name."""
        return {r.inputs.get("name", r.name): r for r in self.of_type(HELM_RELEASE)}

    def depends_on(self, resource: Registration, other: Registration) -> bool:
        """Whether resource waits for other: directly, through a dependency's dependencies, or its parents."""
        seen, todo = set(), [resource.urn]
        while todo:
            urn = todo.pop()
            if urn == other.urn or (urn != resource.urn and self.by_urn(urn).parent == other.urn):
                return True
            if urn in seen:
                continue
            seen.add(urn)
            current = self.by_urn(urn)
            todo.extend(current.dependsOn)
        return False


class _WarningCollector:
    def __init__(self):
        self.messages: list[str] = []

    def warning(self, message, *args):
        self.messages.append(str(message))

    def debug(self, *args, **kwargs):
        pass

    info = error = debug


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    if await output.is_secret():
        return SECRET
    if not await output.is_known():
        return UNKNOWN
    return redact(await output.future())


def run(stack: str, overrides: Optional[dict[str, Any]] = None, deployed: Optional[dict[str, Any]] = None) -> Preview:
    """Evaluate the program for a stack under mocks; raises the program's ConfigError on bad settings.

    A secret the stack's modes need and the stack file does not set (a fresh clone sets none) gets a
    stand-in, named in Preview.stand_ins, so that the preview shows what a real run would declare. deployed
    (for tests) stands for the outputs of the stack's last deployment, which the program reads back."""
    preview, stand_ins = _with_stand_ins(overrides, lambda given: _run_once(stack, given, deployed))
    preview.stand_ins = stand_ins
    return preview


def settings(stack: str, overrides: Optional[dict[str, Any]] = None) -> Settings:
    """The stack's settings as the program reads them (components/settings/, load), evaluated offline like run()
    but without declaring anything; raises the program's ConfigError on bad settings."""
    loaded: list[Settings] = []
    _with_stand_ins(overrides, lambda given: _run_once(stack, given, program=lambda: loaded.append(load())))
    return loaded[-1]


def _with_stand_ins(overrides: Optional[dict[str, Any]],
                    evaluate: Callable[[dict[str, Any]], Preview]) -> tuple[Preview, list[str]]:
    """Evaluate with the overrides, giving each secret the program reports missing a stand-in, until none is."""
    overrides = dict(overrides or {})
    stand_ins: list[str] = []
    while True:
        try:
            return evaluate(overrides), stand_ins
        except MissingSecret as missing:
            if missing.key in stand_ins:
                raise
            stand_ins.append(missing.key)
            overrides[missing.key] = {"secure": f"stand-in for {missing.key}"}


def _run_once(stack: str, overrides: dict[str, Any], deployed: Optional[dict[str, Any]] = None,
              program: Optional[Callable[[], None]] = None) -> Preview:
    """One evaluation under the mocks: the program (__main__.py), or the function given instead."""
    document = stack_document(stack, overrides)
    config, secret_keys = _engine_config(document)
    mocks = Mocks(deployed)
    monitor = RecordingMonitor(mocks)
    warnings = _WarningCollector()
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project_name(), stack=stack, preview=True, monitor=monitor,
                             logger=warnings)
    pulumi.runtime.set_all_config(config, sorted(secret_keys))
    stack_file.use(document)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    def main() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(program or main))
        stack_resource = runtime_settings.get_root_resource()
        outputs = {name: _sync_await(_resolve(value)) for name, value in sorted(stack_resource.outputs.items())}
    finally:
        pulumi.runtime.set_all_config({}, [])
        stack_file.use(None)
    return Preview(stack, sorted(monitor.registrations, key=lambda r: r.urn), outputs, warnings.messages)


# --- output ----------------------------------------------------------------------------------------


def _summary(resource: Registration) -> str:
    inputs = resource.inputs
    if resource.type == HELM_RELEASE:
        # A chart from a local path has no version of its own here: its Chart.yaml has it.
        text = f"chart={inputs.get('chart')}" + (f" version={inputs['version']}" if "version" in inputs else "")
    else:
        metadata = inputs.get("metadata") or {}
        name = metadata.get("name") or inputs.get("name")
        text = f"name={name}" if name else ""
    flags = [flag for flag in ("protect", "retainOnDelete") if getattr(resource, flag)]
    return " ".join(part for part in (text, " ".join(f"[{f}]" for f in flags)) if part)


def tree(preview: Preview) -> str:
    children: dict[Optional[str], list[Registration]] = {}
    for resource in preview.resources:
        children.setdefault(resource.parent, []).append(resource)
    roots = [r for r in preview.resources if r.parent not in {x.urn for x in preview.resources}]
    lines = [f"stack {preview.stack}: {len(preview.resources)} resources"]

    def walk(resource: Registration, depth: int) -> None:
        summary = _summary(resource)
        lines.append(f"{'  ' * depth}{resource.type}  {resource.name}" + (f"  ({summary})" if summary else ""))
        for child in children.get(resource.urn, []):
            walk(child, depth + 1)

    for resource in roots:
        walk(resource, 1)
    lines.append("outputs:")
    lines.extend(f"  {name}: {json.dumps(value)}" for name, value in preview.outputs.items())
    return "\n".join(lines)


def write(preview: Preview, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "resources.json").write_text(json.dumps([r.as_json() for r in preview.resources], indent=2, sort_keys=True) + "\n")
    (out / "outputs.json").write_text(json.dumps(preview.outputs, indent=2, sort_keys=True) + "\n")
    values_dir = out / "values"
    values_dir.mkdir(exist_ok=True)
    for old in values_dir.glob("*.yaml"):
        old.unlink()
    for name, release in sorted(preview.releases().items()):
        (values_dir / f"{name}.yaml").write_text(yaml.safe_dump(release.inputs.get("values") or {}, sort_keys=True))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.STACK.yaml")
    parser.add_argument("--out", type=Path, help="write resources.json, outputs.json and values/ here")
    options = parser.parse_args(argv)
    try:
        preview = run(options.stack)
    except (pulumi.RunError, StackNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(tree(preview))
    for key in preview.stand_ins:
        print(f"note: {key} is not set for stack {options.stack}; this preview uses a stand-in secret "
              f"(set it with: {set_secret_command(options.stack, key)})", file=sys.stderr)
    for message in preview.warnings:
        print(f"warning: {message}", file=sys.stderr)
    if options.out:
        write(preview, options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
