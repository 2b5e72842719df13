"""Which secrets a stack needs that its stack file does not set yet.

    python -m tools.secrets STACK

    python -m tools.secrets STACK --set-from-env VARIABLE [--pulumi-stack NAME]

Runs the program offline (tools/preview.py) for Pulumi.STACK.yaml: the secrets its modes need and the file
does not hold as `secure:` values (auth.clientSecret for an OAuth login, auth.dummyAdminPassword for admins
of a shared-password login, services.vora.registryPassword for Vora) are printed one per line, nothing when
all are set. A mistake in the configuration prints its one line and exits 1. `./tools/up` asks for each
missing secret; set one yourself with `pulumi config set --stack STACK --path --secret KEY`.

With --set-from-env (for CI, such as the pull-request preview), each missing secret is set instead from the
JSON map of key to value in that environment variable, through `pulumi config set --secret` with the value on
standard input; a secret the map lacks is named, and the command exits 1. No value is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Optional

import pulumi

from tools import preview as offline


def missing(stack: str) -> list[str]:
    """The secrets the stack's modes need that the stack file does not set."""
    return offline.run(stack).stand_ins


def set_from_env(keys: list[str], variable: str, pulumi_stack: str) -> int:
    """Set each secret from the JSON map in the environment variable; 1 when one is not there."""
    try:
        values = json.loads(os.environ.get(variable) or "{}")
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        print(f"error: {variable} is not a JSON map of setting to secret value", file=sys.stderr)
        return 1
    absent = [key for key in keys if not isinstance(values.get(key), str) or not values[key]]
    if absent:
        print(f"error: {variable} has no value for {', '.join(absent)}", file=sys.stderr)
        return 1
    for key in keys:
        subprocess.run(["pulumi", "config", "set", "--stack", pulumi_stack, "--path", "--secret", key],
                       input=values[key], text=True, check=True)
        print(f"set {key} of stack {pulumi_stack} from {variable}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.secrets", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.STACK.yaml")
    parser.add_argument("--set-from-env", metavar="VARIABLE", help="set the missing secrets from this JSON map")
    parser.add_argument("--pulumi-stack", metavar="NAME", help="the stack as Pulumi names it (default: STACK)")
    options = parser.parse_args(argv)
    try:
        keys = missing(options.stack)
    except (pulumi.RunError, offline.StackNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if options.set_from_env:
        return set_from_env(keys, options.set_from_env, options.pulumi_stack or options.stack)
    for key in keys:
        print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
