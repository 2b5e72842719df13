"""Prove on a deployed stack that a trainee gets everything:  ./tools/smoke STACK [--profile NAME] [--only CHECK]

Reads the stack's outputs (`pulumi stack output`): the hub's address, the namespace, the kubeconfig on gke, and
traineeEnvironment, what the program deployed for trainees (profiles, seeded files, data services). The API token
of the hub's smoke-test service (components/hub/hub.py) comes from the hub Secret through kubectl and is never printed.
A hub without a public address is reached through `kubectl port-forward`, which the tool starts and stops.

Then, through the hub's REST API, the single-user servers' Jupyter Server REST API and the kernels' websockets:
- creates a test user (smoke-<random>) and, for the isolation check, a neighbour with a server of the default profile;
- for every profile: starts the test user's server with it and, in each kernel the server offers,
  - Python: the three folders (personal written and read back, shared written, public refusing a write), a seeded
    file read; that the cloud metadata server and the neighbour's server are unreachable; on a profile with the Spark
    cluster's image, a Spark job with a Python UDF on the cluster, an HDFS write and read through Spark, and a Kafka
    produce and consume round trip on a fresh topic, deleted after;
  - R: a seeded file read from the public folder;
  - Scala: a Spark job on the cluster;
  then stops the server;
- stops the neighbour, deletes both users, and prints a table of every step, its result and seconds, and one line:
  all passed, or the steps that failed. Exits 1 when a step failed.

Every step has a timeout (a kernel that runs over is interrupted and replaced). --profile and --only (check
names: CHECKS) select parts; the server of a selected profile is always started. Each run appends one JSON line
of timings (user creation, spawn per profile, the first Spark job, every step) to the performance record
(RECORD, or --record PATH): README, "Smoke test".
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import secrets
import select
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import websocket

from components.hub.hub import HUB_SECRET, PROXY_SERVICE, SMOKE_SERVICE, SMOKE_TOKEN_KEY, SPAWN_TIMEOUT_SECONDS
from tools import stack_access
from tools.stack_access import ToolError
from tools.smoke_checks import ADDRESS_PYTHON, CHECK_NAMES, CHECKS, HELLO, PYTHON_KERNEL, Check, Context, NoNeighbour

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "smoke-timings.jsonl"
REQUEST_SECONDS = 30
KERNEL_START_SECONDS = 180  # almond compiles its first cell; a cold node may still be pulling nothing else
STOP_SECONDS = 300


class SmokeError(ToolError):
    """A step's failure, in one line."""


class StepTimeout(SmokeError):
    pass


# --- the hub's REST API ------------------------------------------------------------------------------------------


class Hub:
    """The hub's REST API with the smoke-test service's token (JupyterHub 5: `Authorization: token ...`)."""

    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.authorization = f"token {token}"  # JupyterHub 5: `Authorization: token ...`
        # Straight to the hub: the machine's HTTP proxy settings would send 127.0.0.1 (a port-forward) elsewhere.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: Any = None, seconds: float = REQUEST_SECONDS) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Authorization": self.authorization,
                                                  "Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=seconds) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise SmokeError(f"{method} {self.url}{path}: {getattr(error, 'reason', error)}") from None
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text.decode(errors="replace")

    def expect(self, method: str, path: str, statuses: tuple[int, ...], body: Any = None) -> Any:
        status, reply = self.request(method, path, body)
        if status not in statuses:
            message = reply.get("message") if isinstance(reply, dict) else str(reply)[:200]
            raise SmokeError(f"{method} {path}: HTTP {status}: {message}")
        return reply

    def user(self, name: str) -> dict:
        return self.expect("GET", f"/hub/api/users/{_quote(name)}", (200,))

    def server(self, name: str) -> dict:
        """The user's default server as the hub sees it, {} when there is none."""
        return self.user(name)["servers"].get("", {})


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def wait(what: str, check: Callable[[], Any], seconds: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise StepTimeout(f"{what}: not within {seconds:.0f} s")
        time.sleep(every)


# --- a kernel, through a server's REST API and websocket ---------------------------------------------------------


class Kernel:
    """One kernel of a user's server: started through /api/kernels, driven over its websocket channels with the
    Jupyter messaging protocol (execute_request, and interrupt through the REST API)."""

    def __init__(self, hub: Hub, user: str, spec: str):
        self.hub, self.user, self.spec = hub, user, spec
        self.base = f"/user/{_quote(user)}/api/kernels"
        self.session = uuid.uuid4().hex
        self.id = hub.expect("POST", self.base, (201,), {"name": spec})["id"]
        ws_url = hub.url.replace("http", "ws", 1) + f"{self.base}/{self.id}/channels?session_id={self.session}"
        try:
            self.socket = websocket.create_connection(ws_url, timeout=REQUEST_SECONDS, suppress_origin=True,
                                                      header=[f"Authorization: {hub.authorization}"])
        except (websocket.WebSocketException, OSError) as failure:
            hub.request("DELETE", f"{self.base}/{self.id}")
            raise SmokeError(f"the websocket of kernel {spec}: {failure}") from None

    def execute(self, code: str, seconds: float) -> str:
        """Run code; its output back. A raised error fails with its last line; over time, the kernel is interrupted."""
        message_id = uuid.uuid4().hex
        self.socket.send(json.dumps({
            "header": {"msg_id": message_id, "msg_type": "execute_request", "session": self.session,
                       "username": self.user, "date": datetime.datetime.now(datetime.UTC).isoformat(),
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        output, error, replied, idle = [], None, False, False
        deadline = time.monotonic() + seconds
        while not (replied and idle):
            left = deadline - time.monotonic()
            if left <= 0:
                self.interrupt()
                raise StepTimeout(f"timed out after {seconds:.0f} s (kernel interrupted)")
            self.socket.settimeout(min(left, 5))
            try:
                message = json.loads(self.socket.recv())
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as failure:
                raise SmokeError(f"the kernel's websocket closed: {failure}") from None
            if message.get("parent_header", {}).get("msg_id") != message_id:
                continue
            kind, content = message["header"]["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                output.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}".strip()
            elif kind == "execute_reply":
                replied = True
                if content["status"] != "ok" and error is None:
                    error = f"{content.get('ename', content['status'])}: {content.get('evalue', '')}".strip()
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        if error:
            raise SmokeError(error.splitlines()[-1] if error.strip() else "the kernel reported an error")
        return "".join(output)

    def interrupt(self) -> None:
        try:
            self.hub.request("POST", f"{self.base}/{self.id}/interrupt")
        except SmokeError:
            pass

    def shutdown(self) -> None:
        try:
            self.socket.close()
        finally:
            try:
                self.hub.request("DELETE", f"{self.base}/{self.id}")
            except SmokeError:
                pass


# --- the run -------------------------------------------------------------------------------------------------------


def last_line(output: str) -> str:
    """What a check printed last (its result), without what the libraries logged before."""
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Smoke:
    """One run against a hub: the steps in order, each timed, none stopping the next (but a failed spawn, which
    leaves its profile's kernels out)."""

    hub: Hub
    environment: dict  # the stack output traineeEnvironment
    profiles: tuple[str, ...] = ()  # () for all
    only: tuple[str, ...] = ()  # check names, () for all
    seconds: dict[str, float] = field(default_factory=dict)  # per check name (and "spawn", "kernel"), overrides
    checks: tuple[Check, ...] = CHECKS
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    steps: list[Step] = field(default_factory=list)
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    @property
    def user(self) -> str:
        return f"smoke-{self.run}"

    @property
    def neighbour(self) -> str:
        return f"smoke-{self.run}-neighbour"

    def timeout(self, name: str, default: float) -> float:
        return self.seconds.get(name, default)

    def step(self, name: str, action: Callable[[], str]) -> bool:
        self.progress(f"... {name}")
        start = time.monotonic()
        try:
            detail, ok = action() or "", True
        except (SmokeError, NoNeighbour) as failure:
            detail, ok = str(failure), False
        self.steps.append(Step(name, ok, round(time.monotonic() - start, 1), detail))
        return ok

    def selected(self, check: Check, profile: dict) -> bool:
        return ((not self.only or check.name in self.only)
                and (not check.service or check.service in self.environment["services"])
                and (not check.spark_image or profile["spark"]))

    def execute(self) -> list[Step]:
        profiles = [p for p in self.environment["profiles"] if not self.profiles or p["name"] in self.profiles]
        users = [self.user]
        probe_neighbour = any(c.name == "isolation" and (not self.only or c.name in self.only) for c in self.checks)
        if probe_neighbour:
            users.append(self.neighbour)
        try:
            if not self.step("hub", self._hub):
                return self.steps
            if not self.step("create users", lambda: self._create(users)):
                return self.steps
            context = Context(self.run, tuple(self.environment["datasets"]))
            if probe_neighbour:
                address: list = []
                if self.step("neighbour: spawn", lambda: self._spawn(self.neighbour, None)):
                    self.step("neighbour: address", lambda: self._neighbour_address(address))
                context = Context(context.run, context.datasets, tuple(address) if address else None)
            for profile in profiles:
                self._profile(profile, context)
        finally:
            self.step("cleanup", lambda: self._cleanup(users))
        return self.steps

    # -- the steps

    def _hub(self) -> str:
        version = self.hub.expect("GET", "/hub/api/", (200,))["version"]
        me = self.hub.expect("GET", "/hub/api/user", (200,))
        if me.get("kind") != "service" or me.get("name") != SMOKE_SERVICE:
            raise SmokeError(f"the token is not the {SMOKE_SERVICE} service's but {me.get('kind')} {me.get('name')}")
        return f"JupyterHub {version}"

    def _create(self, users: list[str]) -> str:
        for name in users:
            self.hub.expect("POST", f"/hub/api/users/{_quote(name)}", (201,))
        return ", ".join(users)

    def _spawn(self, user: str, profile: Optional[dict]) -> str:
        """The user's server with the profile (KubeSpawner takes its slug from the request body, the user_options),
        or the default profile."""
        body = {"profile": profile["name"]} if profile else {}
        self.hub.expect("POST", f"/hub/api/users/{_quote(user)}/server", (201, 202), body)

        def ready():
            server = self.hub.server(user)
            if not server:
                raise SmokeError(f"the server of {user} failed to start (the hub's log says why)")
            return server.get("ready")

        wait(f"server of {user} ready", ready, self.timeout("spawn", SPAWN_TIMEOUT_SECONDS))
        return profile["image"] if profile else "the default profile"

    def _ready_kernel(self, user: str, spec: str, language: str) -> tuple[Kernel, str]:
        """A kernel that has run its first cell, and what that cell printed. ipykernel 7 now and then never answers a
        new kernel's first cell (microsoft/vscode-jupyter#17228; microsoft/qdk#3661 pins ipykernel 6 for it), so a
        kernel that does not is replaced once, as a trainee would restart it, and the detail says so."""
        first = ""  # why the first kernel was replaced
        while True:
            kernel = Kernel(self.hub, user, spec)
            try:
                ready = last_line(kernel.execute(HELLO[language], self.timeout("kernel", KERNEL_START_SECONDS)))
            except SmokeError as failure:
                kernel.shutdown()
                if first or not isinstance(failure, StepTimeout):
                    raise
                first = str(failure)
                continue
            return kernel, f"{ready} (from a second kernel: the first {first})" if first else ready

    def _neighbour_address(self, found: list) -> str:
        kernel, _ = self._ready_kernel(self.neighbour, PYTHON_KERNEL, "python")
        try:
            host, port = json.loads(kernel.execute(ADDRESS_PYTHON, self.timeout("kernel", KERNEL_START_SECONDS)))
        finally:
            kernel.shutdown()
        found.extend([host, port])
        return f"{host}:{port}"

    def _profile(self, profile: dict, context: Context) -> None:
        name = profile["name"]
        if not self.step(f"{name}: spawn", lambda: self._spawn(self.user, profile)):
            return
        specs: dict = {}
        self.step(f"{name}: kernels", lambda: self._kernelspecs(specs))
        for spec, language in specs.items():
            checks = [c for c in self.checks if c.language == language and self.selected(c, profile)]
            if checks:
                self._kernel_checks(f"{name}: {spec}", spec, checks, context)
        self.step(f"{name}: stop", lambda: self._stop(self.user))

    def _kernelspecs(self, found: dict) -> str:
        specs = self.hub.expect("GET", f"/user/{_quote(self.user)}/api/kernelspecs", (200,))["kernelspecs"]
        found.update({name: spec["spec"]["language"].lower() for name, spec in sorted(specs.items())})
        return ", ".join(found)

    def _kernel_checks(self, prefix: str, spec: str, checks: list[Check], context: Context) -> None:
        kernel: Optional[Kernel] = None

        def start() -> str:
            nonlocal kernel
            kernel, ready = self._ready_kernel(self.user, spec, checks[0].language)
            return ready

        try:
            if not self.step(f"{prefix}: start", start):
                return
            for check in checks:
                def run(check=check) -> str:
                    nonlocal kernel
                    try:
                        return last_line(kernel.execute(check.code(context), self.timeout(check.name, check.seconds)))
                    except StepTimeout:
                        # Interrupted, perhaps still busy: the checks that follow get a kernel of their own.
                        kernel.shutdown()
                        kernel = Kernel(self.hub, self.user, spec)
                        raise
                self.step(f"{prefix}: {check.name}", run)
        finally:
            if kernel is not None:
                kernel.shutdown()

    def _stop(self, user: str) -> str:
        status, reply = self.hub.request("DELETE", f"/hub/api/users/{_quote(user)}/server")
        if status not in (202, 204):
            raise SmokeError(f"stopping the server of {user}: HTTP {status}: {reply}")
        wait(f"server of {user} stopped", lambda: not self.hub.server(user), self.timeout("stop", STOP_SECONDS))
        return ""

    def _cleanup(self, users: list[str]) -> str:
        problems = []
        for name in users:
            try:
                status, _ = self.hub.request("GET", f"/hub/api/users/{_quote(name)}")
                if status == 404:
                    continue
                if self.hub.server(name):
                    self._stop(name)
                self.hub.expect("DELETE", f"/hub/api/users/{_quote(name)}", (204,))
            except SmokeError as failure:
                problems.append(str(failure))
        if problems:
            raise SmokeError("; ".join(problems))
        return f"deleted {', '.join(users)}"


# --- the table and the record --------------------------------------------------------------------------------------


def table(steps: list[Step]) -> str:
    width = max([len("step"), *(len(s.name) for s in steps)])
    lines = [f"{'step':<{width}}  result   seconds  detail"]
    for s in steps:
        lines.append(f"{s.name:<{width}}  {'ok' if s.ok else 'FAILED':<6} {s.seconds:>9.1f}  {s.detail}".rstrip())
    return "\n".join(lines)


def summary(stack: str, steps: list[Step]) -> str:
    failed = [s.name for s in steps if not s.ok]
    if failed:
        return f"Smoke test of stack {stack}: {len(failed)} of {len(steps)} steps FAILED: {', '.join(failed)}"
    return f"Smoke test of stack {stack}: all {len(steps)} steps passed"


def record(stack: str, steps: list[Step]) -> dict:
    """The run's performance record: the timings a class waits for, and every step."""
    by_name = {s.name: s for s in steps}
    spark = next((s for s in steps if s.name.endswith(": spark") and s.ok), None)
    created = by_name.get("create users")
    return {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "stack": stack,
        "ok": all(s.ok for s in steps),
        "create_users_seconds": created.seconds if created and created.ok else None,
        "spawn_seconds": {s.name[:-len(": spawn")]: s.seconds for s in steps if s.name.endswith(": spawn") and s.ok},
        "first_spark_job_seconds": spark.seconds if spark else None,
        "steps": [asdict(s) for s in steps],
    }


# --- the deployed stack --------------------------------------------------------------------------------------------


class Target:
    """The stack's hub, as the tool reaches it: outputs, kubectl, the service's token, a port-forward if needed."""

    def __init__(self, stack: str):
        stack_access.require("pulumi", "kubectl")
        self.stack = stack
        self.outputs = stack_access.outputs(stack, ("hubUrl", "namespace", "traineeEnvironment"))
        self._folder = tempfile.TemporaryDirectory(prefix="smoke-")
        self.kubectl = ["kubectl", *stack_access.kubectl_arguments(stack, self.outputs, Path(self._folder.name)),
                        "--namespace", self.outputs["namespace"]]
        self._forward: Optional[subprocess.Popen] = None

    def token(self) -> str:
        secret = json.loads(stack_access.run([*self.kubectl, "get", "secret", HUB_SECRET, "--output", "json"],
                                             f"could not read the hub Secret {HUB_SECRET}"))
        data = secret.get("data", {})
        if SMOKE_TOKEN_KEY not in data:
            raise SmokeError(f"the hub Secret has no {SMOKE_TOKEN_KEY}: deploy the stack again with ./tools/up {self.stack}")
        return base64.b64decode(data[SMOKE_TOKEN_KEY]).decode()

    def hub_url(self) -> str:
        """The hub's address; through a port-forward to the proxy's Service when it has no public one."""
        if "hubPortForward" not in self.outputs:
            return self.outputs["hubUrl"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        print(f"Forwarding 127.0.0.1:{port} to service/{PROXY_SERVICE} with kubectl port-forward ...", file=sys.stderr)
        self._forward = subprocess.Popen([*self.kubectl, "port-forward", f"service/{PROXY_SERVICE}", f"{port}:http"],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready, _, _ = select.select([self._forward.stdout], [], [], REQUEST_SECONDS)
        line = self._forward.stdout.readline() if ready else f"no answer within {REQUEST_SECONDS} s"
        if not line.startswith("Forwarding from"):
            self.close()
            raise SmokeError(f"kubectl port-forward service/{PROXY_SERVICE}: {line.strip() or 'exited'}")
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        if self._forward is not None:
            self._forward.terminate()
            self._forward.wait(timeout=10)
        self._folder.cleanup()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="./tools/smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="a deployed stack (pulumi stack output answers for it)")
    parser.add_argument("--profile", action="append", default=[], metavar="NAME",
                        help="check this profile only (repeatable; default every profile)")
    parser.add_argument("--only", action="append", default=[], choices=CHECK_NAMES, metavar="CHECK",
                        help=f"run only these checks (repeatable): {', '.join(CHECK_NAMES)}")
    parser.add_argument("--record", type=Path, default=RECORD, help=f"the performance record (default {RECORD.name})")
    options = parser.parse_args(argv)
    target: Optional[Target] = None
    try:
        print(f"Reading the outputs of stack {options.stack} ...", file=sys.stderr)
        target = Target(options.stack)
        names = [p["name"] for p in target.outputs["traineeEnvironment"]["profiles"]]
        unknown = [p for p in options.profile if p not in names]
        if unknown:
            raise SmokeError(f"--profile {', '.join(unknown)}: stack {options.stack} has the profiles {', '.join(names)}")
        token = target.token()
        hub = Hub(target.hub_url(), token)
        smoke = Smoke(hub, target.outputs["traineeEnvironment"], tuple(options.profile), tuple(options.only))
        steps = smoke.execute()
    except ToolError as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    finally:
        if target is not None:
            target.close()
    print(table(steps))
    with options.record.open("a") as out:
        out.write(json.dumps(record(options.stack, steps)) + "\n")
    print(f"Timings appended to {options.record}")
    print(summary(options.stack, steps))
    return 0 if all(s.ok for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
