"""python -m tools.secrets: the secrets a stack needs and has not set, and setting them in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import preview as offline

ROOT = Path(__file__).resolve().parents[2]

FAKE_PULUMI = """#!/usr/bin/env bash
printf '%s | stdin=%s\\n' "$*" "$(cat)" >> "$PULUMI_CALLS"
"""


def secrets(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.secrets", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "pulumi").write_text(FAKE_PULUMI)
    (tmp_path / "pulumi").chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "PULUMI_CALLS": str(tmp_path / "calls")}


def test_lists_the_secrets_the_stack_needs_and_has_not_set():
    result = secrets("gke")
    assert (result.returncode, result.stdout) == (0, "auth.clientSecret\n")


def test_a_bad_stack_is_one_line():
    result = secrets("gek")
    assert (result.returncode, result.stderr) == (1, "error: no stack file Pulumi.gek.yaml: the stacks are baremetal, dev, gke\n")


def test_sets_the_missing_secrets_from_a_json_map_without_printing_them(environment):
    env = {**environment, "STACK_SECRETS": '{"auth.clientSecret": "the-client-secret", "unused": "x"}'}
    result = secrets("gke", "--set-from-env", "STACK_SECRETS", "--pulumi-stack", "acme/gke", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "set auth.clientSecret of stack acme/gke from STACK_SECRETS\n"
    assert "the-client-secret" not in result.stdout + result.stderr
    assert Path(environment["PULUMI_CALLS"]).read_text() == \
        "config set --stack acme/gke --path --secret auth.clientSecret | stdin=the-client-secret\n"


@pytest.mark.parametrize(("value", "message"), [
    ('{"auth.dummyPassword": "x"}', "error: STACK_SECRETS has no value for auth.clientSecret\n"),
    ("", "error: STACK_SECRETS has no value for auth.clientSecret\n"),
    ("not json", "error: STACK_SECRETS is not a JSON map of setting to secret value\n"),
])
def test_a_secret_missing_from_the_map_is_named_and_nothing_is_set(environment, value, message):
    result = secrets("gke", "--set-from-env", "STACK_SECRETS", env={**environment, "STACK_SECRETS": value})
    assert (result.returncode, result.stderr) == (1, message)
    assert not Path(environment["PULUMI_CALLS"]).exists()


def test_the_offline_preview_names_the_stand_ins_it_used(capsys):
    assert offline.main(["gke"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        "note: auth.clientSecret is not set for stack gke; this preview uses a stand-in secret (set it with: "
        "pulumi config set --stack gke --path --secret auth.clientSecret)")
