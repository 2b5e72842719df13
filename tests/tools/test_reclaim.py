"""./tools/reclaim, run for real with a stand-in kubectl that lists volumes and records patches."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What `kubectl get persistentvolumes -o jsonpath=...` prints for the Released volumes: name, claim namespace, claim.
RELEASED = """pvc-1 jupyterhub hub-db-dir
pvc-2 jupyterhub data-hdfs-namenode-0
pvc-3 other-class data-postgres-0
pvc-4 jupyterhub claim-alice
"""

FAKE_KUBECTL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$KUBECTL_CALLS"
if [ "$1" = get ]; then printf '%s' "$RELEASED"; fi
"""


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "kubectl").write_text(FAKE_KUBECTL)
    (tmp_path / "kubectl").chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "KUBECTL_CALLS": str(tmp_path / "calls"),
            "RELEASED": RELEASED}


def reclaim(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "tools" / "reclaim"), *args], env=environment, capture_output=True, text=True,
                          timeout=60)


def test_the_released_volumes_of_the_namespace_are_reserved_for_their_claims(environment):
    result = reclaim(environment, "jupyterhub")
    assert result.returncode == 0, result.stderr
    calls = Path(environment["KUBECTL_CALLS"]).read_text().splitlines()
    assert calls[0] == ("get persistentvolumes -o jsonpath={range .items[?(@.status.phase==\"Released\")]}"
                        "{.metadata.name}{\" \"}{.spec.claimRef.namespace}{\" \"}{.spec.claimRef.name}{\"\\n\"}{end}")
    patch = '--type merge -p {"spec":{"claimRef":{"uid":null,"resourceVersion":null}}}'
    assert calls[1:] == [f"patch persistentvolume {volume} {patch}" for volume in ("pvc-1", "pvc-2", "pvc-4")]
    assert result.stdout.splitlines() == [
        "Looking for Released volumes of namespace jupyterhub ...",
        "pvc-1: reserved for the claim jupyterhub/hub-db-dir",
        "pvc-2: reserved for the claim jupyterhub/data-hdfs-namenode-0",
        "pvc-4: reserved for the claim jupyterhub/claim-alice",
        "3 Released volume(s) of namespace jupyterhub reserved for their claims; now run ./tools/up STACK.",
    ]


def test_nothing_released_changes_nothing(environment):
    result = reclaim({**environment, "RELEASED": ""}, "jupyterhub")
    assert result.returncode == 0
    assert Path(environment["KUBECTL_CALLS"]).read_text().splitlines()[1:] == []
    assert result.stdout.splitlines()[-1].startswith("0 Released volume(s)")


def test_without_a_namespace_it_says_how_to_call_it(environment):
    result = reclaim(environment)
    assert result.returncode == 2
    assert result.stderr == "usage: ./tools/reclaim NAMESPACE   (the stack's namespace setting, default jupyterhub)\n"
