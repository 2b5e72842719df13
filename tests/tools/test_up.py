"""./tools/up, run for real on a copy of the repository with a stand-in `pulumi` that records its calls."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components import stack_file

ROOT = Path(__file__).resolve().parents[2]

FAKE_PULUMI = """#!/usr/bin/env bash
# Records each call (arguments, the backend, and for config set the value on standard input).
{ printf '%s\\n' "$*"; echo "backend=$PULUMI_BACKEND_URL"; } >> "$PULUMI_CALLS"
if [ "$1 $2" = "config set" ]; then printf 'stdin=%s\\n' "$(cat)" >> "$PULUMI_CALLS"; fi
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The repository's tracked files, with the test virtualenv standing in for .venv and policy/venv (it holds
    both requirement sets, so tools/up's installs find everything in place)."""
    copy = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    venv = Path(sys.prefix)
    (copy / ".venv").symlink_to(venv)
    (copy / "policy" / "venv").symlink_to(venv)
    return copy


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI_")}
    return {**env, "PATH": f"{bin_dir}:{env['PATH']}", "PULUMI_CALLS": str(tmp_path / "calls.log")}


def calls(environment: dict[str, str]) -> list[str]:
    log = Path(environment["PULUMI_CALLS"])
    return log.read_text().splitlines() if log.exists() else []


def up(checkout: Path, environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(checkout / "tools" / "up"), *args], env=environment, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)


def test_a_stack_without_a_stack_file_is_refused_in_one_line(checkout, environment):
    result = up(checkout, environment, "gek")
    assert result.returncode == 1
    assert result.stderr == "error: no stack file Pulumi.gek.yaml: the stacks are baremetal, dev, gke\n"
    assert calls(environment) == []


def test_an_option_is_not_taken_for_a_stack(checkout, environment):
    result = up(checkout, environment, "--yes")
    assert result.returncode == 2
    assert result.stderr == "usage: ./tools/up STACK [pulumi up arguments], where STACK is one of: baremetal, dev, gke\n"
    assert calls(environment) == []


def test_without_a_terminal_a_missing_secret_prints_the_command_and_stops(checkout, environment):
    result = up(checkout, environment, "gke", "--yes")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == ("error: the secret auth.clientSecret of stack gke is not set; set it with: "
                                              "pulumi config set --stack gke --path --secret auth.clientSecret")
    assert calls(environment) == ["stack select --create gke", f"backend=file://{checkout}/.pulumi-state"]


def test_with_the_secret_set_it_runs_pulumi_up_with_the_policy_pack(checkout, environment):
    stack = checkout / "Pulumi.gke.yaml"
    document = stack_file.read(stack)
    document["config"]["mltraining:auth"]["clientSecret"] = {"secure": "v1:c2VjcmV0"}
    import yaml

    stack.write_text(yaml.safe_dump(document))
    result = up(checkout, environment, "gke", "--yes", "--diff")
    assert result.returncode == 0, result.stderr
    backend = f"backend=file://{checkout}/.pulumi-state"
    assert calls(environment) == ["stack select --create gke", backend,
                                  "up --stack gke --policy-pack policy --yes --diff", backend]


def test_a_bad_setting_stops_before_pulumi_up_with_its_one_line(checkout, environment):
    stack = checkout / "Pulumi.baremetal.yaml"
    stack.write_text(stack.read_text().replace("size: 500Gi", "size: 500"))
    result = up(checkout, environment, "baremetal")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == ('error: Invalid configuration mltraining:storage.size = "500": expected a '
                                              "Kubernetes quantity with a unit, such as 500Gi (500 alone means 500 bytes)")
    assert not any(call.startswith("up ") for call in calls(environment))


def test_with_a_terminal_it_asks_for_the_secret_without_echo_and_stores_it(checkout, environment):
    pid, terminal = pty.fork()
    if pid == 0:  # the child: tools/up on a terminal
        os.execve(str(checkout / "tools" / "up"), [str(checkout / "tools" / "up"), "gke"], environment)
    screen = b""
    answered = False
    while True:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
        if not answered and b"not echoed): " in screen:
            os.write(terminal, b"the-oauth-client-secret\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, screen.decode(errors="replace")
    assert b"auth.clientSecret (stack gke, not echoed): " in screen
    assert b"the-oauth-client-secret" not in screen
    backend = f"backend=file://{checkout}/.pulumi-state"
    assert calls(environment) == [
        "stack select --create gke", backend,
        "config set --stack gke --path --secret auth.clientSecret", backend, "stdin=the-oauth-client-secret",
        "up --stack gke --policy-pack policy", backend,
    ]
