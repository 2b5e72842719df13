"""The Kubernetes scanner of tests/test_security.py: checkov at its pinned version, in an environment of its own.

    python -m tools.checkov     # install it when missing, print its path

checkov requires packaging<24 and Pulumi packaging>=26, so it cannot share .venv: it lives in .tools/checkov, at
the version pinned (as a comment line, which pip skips) in requirements-test.txt.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.search(r"^# (checkov==\S+)$", (ROOT / "requirements-test.txt").read_text(), re.M).group(1)
ENVIRONMENT = ROOT / ".tools" / "checkov"
EXECUTABLE = ENVIRONMENT / "bin" / "checkov"


def find() -> Path | None:
    """The pinned checkov if it is installed."""
    if not EXECUTABLE.exists():
        return None
    found = subprocess.run([str(EXECUTABLE), "--version"], capture_output=True, text=True).stdout.strip()
    return EXECUTABLE if found == PIN.split("==")[1] else None


def install() -> Path:
    print(f"Installing {PIN} into {ENVIRONMENT.relative_to(ROOT)} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(ENVIRONMENT)], check=True, capture_output=True)
    subprocess.run([str(ENVIRONMENT / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    PIN], check=True, timeout=600)
    return EXECUTABLE


def ensure() -> Path:
    return find() or install()


if __name__ == "__main__":
    print(ensure())
