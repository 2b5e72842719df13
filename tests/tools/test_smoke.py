"""./tools/smoke (tools/smoke.py), run for real against a local hub: JupyterHub 5.5 with the dev stack's release values
behind configurable-http-proxy (tests/hub_engine.py), single-user servers (jupyter_server) from its
SimpleLocalProcessSpawner, and ipykernel's Python kernel, driven over the kernels' websockets.

What a pod mounts, every server here finds in its home (linked there before it starts): `public` a read-only
folder with the seeded file (a read-only bind mount in a mount namespace of the hub's own when the tests run as
root, whom file modes do not stop), and `shared` a folder all users share. Every server here listens on 127.0.0.1, so one user's server reaches another's:
the isolation check fails, as it must where nothing separates the servers. The Spark check runs against the real
Spark of tests/services/test_spark_engine.py; Kafka, HDFS and the R and Scala kernels have no stand-in here, so their code is
checked for what it runs (compiled, where Python).

The servers' own Spark, Kafka and HDFS settings are not needed by the checks run here, so none is given.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.hub.hub import SMOKE_TOKEN_KEY
from tests.conftest import run_preview
from tests.engines import require_engine
from tests.hub_engine import Hub as LocalHub
from tests.hub_engine import descendants, missing_engines, release_values, start_hub
from tests.hub.test_hub import values
from tests.hub.test_hub_engine import with_secrets
from tests.hub.test_hub_values_schema import chart_file
from tools import smoke, smoke_checks

SEEDED = "datasets/iris/iris.data"
# Bind-mounts the folder (the first argument) read-only over itself, then runs the rest of the arguments.
READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


@pytest.fixture(scope="module")
def dev():
    return run_preview("dev")


@pytest.fixture(scope="module")
def local_hub(dev, tmp_path_factory):
    """The dev stack's hub, here; its folders as a server finds them."""
    missing = missing_engines() or (None if importlib.util.find_spec("ipykernel") else "missing ipykernel (pip)")
    if missing:
        require_engine(missing)
    folder = tmp_path_factory.mktemp("smoke-hub")
    public, shared = folder / "public", folder / "shared"
    (public / Path(SEEDED).parent).mkdir(parents=True)
    (public / SEEDED).write_text("5.1,3.5,1.4,0.2,Iris-setosa\n")
    shared.mkdir()
    wrap = ()
    if os.geteuid() == 0:
        wrap = ("unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY, "sh", str(public))
    else:
        for path in (public, public / Path(SEEDED).parent):
            path.chmod(0o555)
    program = values(dev)
    release = release_values(chart_file("values.yaml"),
                             {**program, "hub": {**program["hub"], "config": with_secrets(program["hub"]["config"])}},
                             dev.outputs["namespace"])
    hub = start_hub(release, folder, wrap, mounts={"public": public, "shared": shared})
    hub.public, hub.shared = public, shared
    try:
        yield hub
    finally:
        hub.stop()


def token(hub: LocalHub) -> str:
    """The smoke-test service's token, from the hub Secret as the chart writes it."""
    return (hub.folder / "z2jh" / "secret" / SMOKE_TOKEN_KEY).read_text()


def run_smoke(hub: LocalHub, dev, run: str, **options) -> smoke.Smoke:
    runner = smoke.Smoke(smoke.Hub(hub.url, token(hub)), dev.outputs["traineeEnvironment"], run=run,
                         progress=lambda line: None, **options)
    runner.execute()
    return runner


def results(runner: smoke.Smoke) -> dict[str, tuple[bool, str]]:
    return {step.name: (step.ok, step.detail) for step in runner.steps}


def assert_cleaned_up(hub: LocalHub, runner: smoke.Smoke) -> None:
    api = smoke.Hub(hub.url, token(hub))
    for user in (runner.user, runner.neighbour):
        assert api.request("GET", f"/hub/api/users/{user}")[0] == 404, user
    assert descendants(hub.processes["hub"].pid) == [], "a server or kernel outlived the run"
    assert list(hub.shared.iterdir()) == []
    assert not (hub.home(runner.user) / f".smoke-{runner.run}").exists()


# --- against the real hub -------------------------------------------------------------------------------------------


@pytest.mark.engines
def test_isolation_fails_where_servers_share_a_network_and_a_slow_or_failing_check_fails_alone(local_hub, dev):
    """One user's server reaches another's here; a check over its time is interrupted and the next one gets a new
    kernel; a check that raises fails with the error's line; the checks after them run, and cleanup removes all."""
    slow = smoke_checks.Check("slow", "python", lambda context: "import time\ntime.sleep(600)", seconds=3)
    failing = smoke_checks.Check("failing", "python", lambda context: "raise ValueError('no such thing')", seconds=30)
    isolation, folders = (next(c for c in smoke_checks.CHECKS if c.name == name) for name in ("isolation", "folders"))
    runner = run_smoke(local_hub, dev, "isolation", checks=(isolation, slow, failing, folders))
    found = results(runner)
    ok, address = found["neighbour: address"]
    assert ok and address.startswith("127.0.0.1:"), found
    assert found["python-spark: python3: isolation"] == (
        False, f"AssertionError: another user's server at {address} is reachable")
    assert found["python-spark: python3: slow"] == (False, "timed out after 3 s (kernel interrupted)")
    assert found["python-spark: python3: failing"] == (False, "ValueError: no such thing")
    assert found["python-spark: python3: folders"][0], found
    assert [name for name, (ok, _) in found.items() if not ok] == [
        "python-spark: python3: isolation", "python-spark: python3: slow", "python-spark: python3: failing"]
    assert found["cleanup"] == (True, "deleted smoke-isolation, smoke-isolation-neighbour")
    assert smoke.summary("dev", runner.steps) == (
        f"Smoke test of stack dev: 3 of {len(found)} steps FAILED: python-spark: python3: isolation, "
        "python-spark: python3: slow, python-spark: python3: failing")
    assert_cleaned_up(local_hub, runner)


@pytest.mark.engines
def test_a_server_that_never_becomes_ready_fails_its_spawn_and_skips_its_kernels(local_hub, dev):
    runner = run_smoke(local_hub, dev, "spawn", only=("folders",), seconds={"spawn": 0})
    found = results(runner)
    assert found["python-spark: spawn"] == (False, "server of smoke-spawn ready: not within 0 s")
    assert not any(name.startswith("python-spark: python3") for name in found)
    assert found["cleanup"] == (True, "deleted smoke-spawn")
    assert_cleaned_up(local_hub, runner)


def hanging_first_cell(marker: Path) -> str:
    """A first cell that never answers while the marker is missing, as ipykernel 7's now and then; it leaves the
    marker, so that a second kernel's first cell prints ready."""
    return (f"import os, time\nif not os.path.exists({str(marker)!r}):\n    open({str(marker)!r}, 'w').close()\n"
            "    time.sleep(600)\nprint('ready')")


@pytest.mark.engines
def test_a_kernel_whose_first_cell_never_answers_is_replaced_once(local_hub, dev, tmp_path, monkeypatch):
    monkeypatch.setitem(smoke.HELLO, "python", hanging_first_cell(tmp_path / "first-kernel"))
    runner = run_smoke(local_hub, dev, "restart", only=("folders",), seconds={"kernel": 5})
    found = results(runner)
    assert found["python-spark: python3: start"] == (
        True, "ready (from a second kernel: the first timed out after 5 s (kernel interrupted))")
    assert found["python-spark: python3: folders"][0], found
    assert_cleaned_up(local_hub, runner)


@pytest.mark.engines
def test_a_second_kernel_that_never_answers_fails_the_start_and_skips_the_checks(local_hub, dev, tmp_path, monkeypatch):
    monkeypatch.setitem(smoke.HELLO, "python", "import time\ntime.sleep(600)")
    runner = run_smoke(local_hub, dev, "hung", only=("folders",), seconds={"kernel": 3})
    found = results(runner)
    assert found["python-spark: python3: start"] == (False, "timed out after 3 s (kernel interrupted)")
    assert not any(name == "python-spark: python3: folders" for name in found)
    assert found["python-spark: stop"][0] and found["cleanup"] == (True, "deleted smoke-hung")
    assert_cleaned_up(local_hub, runner)


# --- the command ----------------------------------------------------------------------------------------------------


# kubectl: `get secret` prints the Secret; `port-forward service/S LOCAL:http` relays 127.0.0.1:LOCAL to the hub's
# proxy (FAKE_PROXY, host:port) as kubectl does, after its "Forwarding from" line; FAKE_FORWARD_ERROR fails instead.
FAKE_KUBECTL = """
import os, socket, sys, threading
folder = os.path.dirname(os.path.abspath(sys.argv[0]))
with open(os.path.join(folder, "calls"), "a") as calls:
    calls.write(" ".join(["kubectl", *sys.argv[1:]]) + "\\n")
if "get" in sys.argv:
    sys.stdout.write(open(os.path.join(folder, "secret.json")).read())
    sys.exit(0)
if os.environ.get("FAKE_FORWARD_ERROR"):
    print(os.environ["FAKE_FORWARD_ERROR"], flush=True)
    sys.exit(1)
port = int(sys.argv[-1].split(":")[0])
host, target = os.environ["FAKE_PROXY"].rsplit(":", 1)
listener = socket.create_server(("127.0.0.1", port))
print(f"Forwarding from 127.0.0.1:{port} -> 8000", flush=True)

def pipe(source, sink):
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        sink.close()

while True:
    client, _ = listener.accept()
    upstream = socket.create_connection((host, int(target)))
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
"""


def fake_commands(folder: Path, outputs: dict, secret: dict) -> dict[str, str]:
    """pulumi and kubectl stand-ins that answer `stack output`, `get secret` and `port-forward` as the real ones."""
    (folder / "outputs.json").write_text(json.dumps(outputs))
    (folder / "secret.json").write_text(json.dumps({"kind": "Secret", "data": secret}))
    pulumi = folder / "pulumi"
    pulumi.write_text(f'#!/bin/sh\necho "pulumi $*" >> "{folder}/calls"\ncat "{folder}/outputs.json"\n')
    kubectl = folder / "kubectl"
    kubectl.write_text(f"#!{sys.executable}\n{FAKE_KUBECTL}")
    for script in (pulumi, kubectl):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def run_command(folder: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.smoke", *args], capture_output=True, text=True,
                          cwd=Path(smoke.__file__).parent.parent, env={**os.environ, **env}, timeout=600)


@pytest.mark.engines
def test_the_command_reads_the_stack_prints_the_table_and_appends_the_record(local_hub, dev, tmp_path):
    """The dev stack's outputs as deployed: a hub without a public address, reached through kubectl port-forward."""
    assert dev.outputs["hubUrl"] == "http://localhost:8080" and "hubPortForward" in dev.outputs
    env = fake_commands(tmp_path, dev.outputs, {SMOKE_TOKEN_KEY: base64.b64encode(token(local_hub).encode()).decode()})
    env["FAKE_PROXY"] = local_hub.url.removeprefix("http://")
    record = tmp_path / "record.jsonl"
    done = run_command(tmp_path, env, "dev", "--only", "folders", "--record", str(record))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["step", "result", "seconds", "detail"]
    assert lines[-2] == f"Timings appended to {record}"
    assert lines[-1] == "Smoke test of stack dev: all 8 steps passed"
    assert token(local_hub) not in done.stdout + done.stderr
    [entry] = [json.loads(line) for line in record.read_text().splitlines()]
    assert entry["stack"] == "dev" and entry["ok"] is True
    assert list(entry["spawn_seconds"]) == ["python-spark"] and entry["first_spark_job_seconds"] is None
    steps = {step["name"]: step for step in entry["steps"]}
    assert list(steps) == ["hub", "create users", "python-spark: spawn", "python-spark: kernels",
                           "python-spark: python3: start", "python-spark: python3: folders", "python-spark: stop",
                           "cleanup"]
    assert [line.split("  ")[0].strip() for line in lines[1:-2]] == list(steps)
    assert steps["hub"]["detail"] == "JupyterHub 5.5.4"
    assert steps["python-spark: kernels"]["detail"] == "python3"
    assert steps["python-spark: python3: folders"]["detail"] == \
        "personal, shared and public as expected; 1 seeded file(s) read"
    user = steps["create users"]["detail"]
    assert steps["cleanup"]["detail"] == f"deleted {user}"
    assert smoke.Hub(local_hub.url, token(local_hub)).request("GET", f"/hub/api/users/{user}")[0] == 404
    assert list(local_hub.shared.iterdir()) == []
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[:2] == ["pulumi stack output --stack dev --json",
                         "kubectl --namespace jupyterhub get secret hub --output json"]
    assert re.fullmatch(r"kubectl --namespace jupyterhub port-forward service/proxy-public \d+:http", calls[2]), calls
    assert "Forwarding 127.0.0.1:" in done.stderr


def test_a_port_forward_that_fails_stops_the_command_with_kubectls_words(local_hub, dev, tmp_path):
    env = fake_commands(tmp_path, dev.outputs, {SMOKE_TOKEN_KEY: base64.b64encode(b"token").decode()})
    env["FAKE_FORWARD_ERROR"] = 'error: services "proxy-public" not found'
    done = run_command(tmp_path, env, "dev")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == \
        'error: kubectl port-forward service/proxy-public: error: services "proxy-public" not found'


def test_the_command_refuses_an_unknown_profile_and_names_the_stacks_profiles(dev, tmp_path):
    env = fake_commands(tmp_path, dev.outputs, {})
    done = run_command(tmp_path, env, "dev", "--profile", "julia")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[-1] == "error: --profile julia: stack dev has the profiles python-spark"


def test_the_command_says_what_is_missing_from_the_stack(tmp_path):
    env = fake_commands(tmp_path, {"hubUrl": "http://localhost:8080"}, {})
    done = run_command(tmp_path, env, "dev")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == \
        "error: stack dev has no output namespace, traineeEnvironment: deploy it first with ./tools/up dev"


def test_the_command_without_pulumi_says_so(tmp_path):
    done = run_command(tmp_path, {"PATH": str(tmp_path)}, "dev")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == \
        "error: the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/"


def test_the_hub_secret_without_the_token_asks_for_a_redeploy(dev, tmp_path):
    env = fake_commands(tmp_path, dev.outputs, {})  # kubectl answers with a Secret without the token
    done = run_command(tmp_path, env, "dev")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == \
        f"error: the hub Secret has no {SMOKE_TOKEN_KEY}: deploy the stack again with ./tools/up dev"


def test_only_takes_the_check_names(tmp_path):
    done = run_command(tmp_path, {}, "dev", "--only", "everything")
    assert done.returncode == 2
    assert "invalid choice: 'everything'" in done.stderr


# --- what runs where nothing stands in for the service here ---------------------------------------------------------


CONTEXT = smoke_checks.Context("abc123", (SEEDED,), ("10.1.2.3", 8888))


@pytest.mark.parametrize("check", [c for c in smoke_checks.CHECKS if c.language == "python"], ids=lambda c: c.name)
def test_the_python_checks_compile(check):
    compile(check.code(CONTEXT), f"<{check.name}>", "exec")


def test_an_address_that_refuses_counts_as_unreachable_and_one_that_answers_fails():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        address = listening.getsockname()
        refused = subprocess.run([sys.executable, "-c", smoke_checks.unreachable_python(address, "the thing")],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 0, refused.stderr
        assert refused.stdout.startswith("the thing unreachable: [Errno 111] Connection refused")
        listening.listen()
        answered = subprocess.run([sys.executable, "-c", smoke_checks.unreachable_python(address, "the thing")],
                                  capture_output=True, text=True, timeout=60)
    assert answered.returncode == 1
    assert answered.stderr.splitlines()[-1] == \
        f"AssertionError: the thing at 127.0.0.1:{address[1]} is reachable"


def test_the_kafka_check_uses_the_readme_client_on_a_fresh_topic_it_deletes():
    code = smoke_checks.kafka_python(CONTEXT)
    assert '"confluent-kafka==2.16.1"' in code
    assert "%pip install confluent-kafka==2.16.1" in (Path(smoke.__file__).parent.parent / "README.md").read_text()
    assert 'topic = os.environ["KAFKA_BOOTSTRAP_SERVERS"], "smoke-abc123"' in code
    body = code.split("try:\n", 1)[1]
    assert textwrap.dedent(body.split("finally:\n", 1)[1]).strip() == "admin.delete_topics([topic])[topic].result(60)"


def test_the_r_check_reads_each_seeded_file_from_the_public_folder():
    assert smoke_checks.dataset_r(CONTEXT).splitlines() == [
        'lines <- readLines(path.expand("~/public/datasets/iris/iris.data"), n = 1, warn = FALSE); '
        'if (length(lines) != 1) stop("the seeded file public/datasets/iris/iris.data is empty")',
        'cat(1, "seeded file(s) read\\n")']


def test_the_checks_run_where_the_profile_and_the_stack_have_what_they_need(dev):
    runner = smoke.Smoke(smoke.Hub("http://unused", "unused"), dev.outputs["traineeEnvironment"])
    spark_profile, plain = {"spark": True}, {"spark": False}
    by = {(c.name, c.language): c for c in smoke_checks.CHECKS}
    assert runner.selected(by["spark", "python"], spark_profile)
    assert not runner.selected(by["spark", "python"], plain)
    assert runner.selected(by["folders", "python"], plain)
    no_kafka = smoke.Smoke(runner.hub, {**dev.outputs["traineeEnvironment"], "services": ["spark"]})
    assert not no_kafka.selected(by["kafka", "python"], spark_profile)
