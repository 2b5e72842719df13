"""How the tools reach a deployed stack (./tools/smoke, ./tools/archive): its outputs through the Pulumi CLI, and the
arguments that point kubectl at its cluster, as the program's Kubernetes provider is pointed there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from components import stack_file

INSTALL = {"pulumi": "the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/",
           "kubectl": "kubectl is not installed: https://kubernetes.io/docs/tasks/tools/"}


class ToolError(Exception):
    """What stops a tool: one line."""


def require(*commands: str) -> None:
    for command in commands:
        if shutil.which(command) is None:
            raise ToolError(INSTALL[command])


def run(command: list[str], what: str, stdin: Optional[str] = None) -> str:
    """A command's standard output; when it fails, a ToolError saying what it was doing, with its last error line."""
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise ToolError(f"{what}: {message}")
    return result.stdout


def outputs(stack: str, needed: tuple[str, ...]) -> dict:
    """The stack's outputs (secrets not shown), with those the tool needs."""
    found = json.loads(run(["pulumi", "stack", "output", "--stack", stack, "--json"],
                           f"could not read the outputs of stack {stack}") or "{}")
    missing = [name for name in needed if not found.get(name)]
    if missing:
        raise ToolError(f"stack {stack} has no output {', '.join(missing)}: deploy it first with ./tools/up {stack}")
    return found


def kubectl_arguments(stack: str, found: dict, folder: Path) -> list[str]:
    """kubectl's arguments that reach the stack's cluster: the kubeconfig a gke stack exports (a secret output, written
    to a file of folder that only its owner reads); on an existing cluster the stack file's cluster.kubeconfig and
    cluster.context, else kubectl's defaults (the current context)."""
    if "kubeconfig" in found:
        kubeconfig = folder / "kubeconfig"
        kubeconfig.touch(mode=0o600)
        kubeconfig.write_text(run(["pulumi", "stack", "output", "--stack", stack, "kubeconfig", "--show-secrets"],
                                  f"could not read the kubeconfig of stack {stack}"))
        return ["--kubeconfig", str(kubeconfig)]
    try:
        document = stack_file.read(stack_file.path(stack))
    except stack_file.StackFileError as error:
        raise ToolError(str(error)) from None
    cluster = (document.get("config") or {}).get("mltraining:cluster") or {}
    arguments = []
    if cluster.get("kubeconfig"):
        arguments += ["--kubeconfig", os.path.expanduser(cluster["kubeconfig"])]
    if cluster.get("context"):
        arguments += ["--context", cluster["context"]]
    return arguments
