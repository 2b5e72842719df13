"""Which secrets a stack needs that its stack file does not set yet.

    python -m tools.secrets STACK

Runs the program offline (tools/preview.py) for Pulumi.STACK.yaml: the secrets its modes need and the file
does not hold as `secure:` values (auth.clientSecret for an OAuth login, auth.dummyAdminPassword for admins
of a shared-password login, services.vora.registryPassword for Vora) are printed one per line, nothing when
all are set. A mistake in the configuration prints its one line and exits 1. `./tools/up` asks for each
missing secret; set one yourself with `pulumi config set --stack STACK --path --secret KEY`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

import pulumi

from tools import preview as offline


def missing(stack: str) -> list[str]:
    """The secrets the stack's modes need that the stack file does not set."""
    return offline.run(stack).stand_ins


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.secrets", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.STACK.yaml")
    options = parser.parse_args(argv)
    try:
        keys = missing(options.stack)
    except (pulumi.RunError, offline.StackNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for key in keys:
        print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
