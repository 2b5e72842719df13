"""Spark for real: the program's master, workers and notebook sessions, run here on Spark 4.2.0.

The master and the two workers run the commands, environment and options of the program's Deployments, taken
from the offline preview (tools/preview.py), never retyped: only what Kubernetes gives a pod is put in here.
The image's Spark (/usr/local/spark) is pyspark's install directory (requirements-test.txt pins the image's
Spark version), the pod IP and the master's service name are 127.0.0.1, and a pod's volume is a temporary
directory. tini, the image's init, is left out: each pod is a process group here, killed as a whole. The web
UIs get SPARK_LOCAL_IP=127.0.0.1: in a pod their 0.0.0.0 is the pod's own address, here it would be the
machine's. The cluster is sized for this 2-core machine through the settings (2 workers of 2 cores, two
trainees at once), and the idle timeout is 5 seconds through services.spark.idleTimeoutSeconds.

Notebook sessions are python processes (tests/spark_notebook.py) with exactly the environment the hub's values
give every server (PYSPARK_SUBMIT_ARGS, SPARK_MASTER_URL, SPARK_LOCAL_IP, ...), PYSPARK_PYTHON this test's
python; both run in one server (one address), as two notebooks of one trainee do.

Every pod shares 127.0.0.1 here, so a connection's pod is told by its process: a process belongs to the pod
whose process group it runs in, and the test checks every connection between pods against the network policies
the program declares (the Spark pods' NetworkPolicy and the hub's singleuser.networkPolicy).

Waits have deadlines; nothing is timed. The module needs java and pyspark, and skips, saying so, without them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from components.services import spark
from components.hub.hub import RELEASE_NAME
from components.settings import PYSPARK_IMAGE
from tests.conftest import run_preview
from tests import engines
from tests.engines import require_engine
from tests.kubernetes_objects import container, one, pod_labels

JAVA = shutil.which("java")
_PYSPARK = importlib.util.find_spec("pyspark")
PYSPARK_HOME = Path(_PYSPARK.origin).parent if _PYSPARK and _PYSPARK.origin else None

pytestmark = pytest.mark.engines


@pytest.fixture(autouse=True, scope="module")
def spark_installed() -> None:
    if JAVA is None:
        require_engine("java not found: ./tools/test installs Debian's openjdk-17-jre-headless (as root); Spark 4.2.0 "
                       "runs on Java 17")
    if PYSPARK_HOME is None:
        require_engine("pyspark not found: pip install -r requirements-test.txt")

LOCAL = "127.0.0.1"
STACK = "baremetal"
IDLE_SECONDS = 5
OVERRIDES = {
    "services.spark.workers": 2,
    "services.spark.workerCores": 2,
    "services.spark.workerMemory": "2560Mi",  # the least for 2 cores: 614m executors
    "services.spark.concurrentUsers": 2,  # 4 cores: 2 executors a session
    "services.spark.idleTimeoutSeconds": IDLE_SECONDS,
}
CAP = 2
MASTER_JSON = f"http://{LOCAL}:{spark.MASTER_UI_PORT}/json/"
# A status page answers slowly while the JVMs of a busy machine collect garbage: a deadline, not a measure.
UI_SECONDS = 30
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def wait_for(what: str, check: Callable[[], Any], seconds: float, pods: Optional[list["Pod"]] = None) -> Any:
    """tests.engines.wait_for, failing with the pods' last log lines."""
    return engines.wait_for(what, check, seconds, lambda: "\n".join(pod.tail() for pod in pods or []), interval=0.5)


# --- pods: the program's containers as local process groups --------------------------------------------------


@dataclass
class Pod:
    name: str
    labels: dict
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"--- {self.name} ({self.log}):\n" + "\n".join(text[-lines:])

    def stop(self) -> None:
        """The pod's whole process group (its JVMs, executors and Python workers), by the group's id."""
        if self.process.poll() is None or _group_alive(self.process.pid):
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while _group_alive(self.process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
                self.process.poll()
            if _group_alive(self.process.pid):
                os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _base_env(home: Path) -> dict[str, str]:
    """What any container has besides its own environment: a PATH (with java), a HOME, a locale."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    return env


def _resolve(value: Any) -> str:
    """An environment value as Kubernetes gives it: the downward API's pod IP is 127.0.0.1 here."""
    if isinstance(value, str):
        return value
    assert value == {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}, value
    return LOCAL


class Localizer:
    """Maps what a pod sees to this machine: the image's SPARK_HOME, service names, volumes."""

    def __init__(self, service_hosts: list[str], mounts: dict[str, Path]):
        self.replacements = [(spark.SPARK_HOME, str(PYSPARK_HOME)), *((host, LOCAL) for host in service_hosts),
                             *((path, str(local)) for path, local in mounts.items())]

    def __call__(self, text: str) -> str:
        for old, new in self.replacements:
            text = re.sub(rf"(?<![\w.-]){re.escape(old)}(?=[/:]|$)", new, text)
        return text


def _expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) in a command, from the container's environment."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)


def start_daemon(name: str, workload, service_hosts: list[str], root: Path) -> Pod:
    """One replica of a Deployment: its container's command and environment, as the preview declares them."""
    spec = container(workload)
    home = root / name
    home.mkdir()
    mounts = {m["mountPath"]: home / m["name"] for m in spec.get("volumeMounts", [])}
    for local in mounts.values():
        local.mkdir(parents=True)
    localize = Localizer(service_hosts, mounts)
    env = {e["name"]: localize(_resolve(e["value"] if "value" in e else {"valueFrom": e["valueFrom"]}))
           for e in spec["env"]}
    env = {**_base_env(home), "SPARK_HOME": str(PYSPARK_HOME), **env, "SPARK_LOCAL_IP": LOCAL}
    command = spec["command"]
    assert command[:3] == ["tini", "-g", "--"]
    argv = [localize(_expand(arg, env)) for arg in command[3:]]
    log = root / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=home, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return Pod(name, pod_labels(workload), process, log)


def master_status() -> Optional[dict]:
    try:
        with urllib.request.urlopen(MASTER_JSON, timeout=UI_SECONDS) as response:
            return json.load(response)
    except OSError:
        return None


def rest(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=UI_SECONDS) as response:
        return json.load(response)


# --- the cluster ------------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    preview: Any
    root: Path
    service_hosts: list[str]
    pods: list[Pod] = field(default_factory=list)

    def deployment(self, name: str):
        return one(self.preview, DEPLOYMENT, name)

    @property
    def hub_values(self) -> dict:
        return self.preview.releases()[RELEASE_NAME].inputs["values"]

    @property
    def notebook_env(self) -> dict[str, str]:
        localize = Localizer(self.service_hosts, {})
        return {name: localize(_resolve(value)) for name, value in self.hub_values["singleuser"]["extraEnv"].items()}

    def app(self, app_id: str) -> Optional[dict]:
        status = master_status() or {}
        return next((a for a in status.get("activeapps", []) if a["id"] == app_id), None)


def ports_in_use(ports) -> list[int]:
    taken = []
    for port in ports:
        with socket.socket() as probe:
            # As Spark binds: connections of an earlier run waiting out TIME_WAIT do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOCAL, port))
            except OSError:
                taken.append(port)
    return taken


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Another Spark here (another test run) would answer in this one's place, or take its ports.
    busy = ports_in_use([spark.MASTER_PORT, spark.MASTER_UI_PORT, spark.WORKER_UI_PORT, 4040, 4041,
                         *range(spark.DRIVER_PORT, spark.DRIVER_PORT + 10),
                         *range(spark.EXECUTOR_BLOCK_MANAGER_PORT, spark.EXECUTOR_BLOCK_MANAGER_PORT + 10)])
    if busy:
        pytest.fail(f"ports {busy} of 127.0.0.1 are in use: is another Spark running here?")
    preview = run_preview(STACK, OVERRIDES)
    master = one(preview, DEPLOYMENT, spark.MASTER_SERVICE)
    namespace = master.inputs["metadata"]["namespace"]
    root = tmp_path_factory.mktemp("spark")
    found = Cluster(preview, root, service_hosts=[f"{spark.MASTER_SERVICE}.{namespace}.svc"])
    try:
        found.pods.append(start_daemon("master", master, found.service_hosts, root))
        wait_for("master status page", master_status, 60, found.pods)
        workers = found.deployment("spark-worker")
        for index in range(workers.inputs["spec"]["replicas"]):
            found.pods.append(start_daemon(f"worker-{index}", workers, found.service_hosts, root))
        wait_for("two alive workers", lambda: len([w for w in (master_status() or {}).get("workers", [])
                                                    if w["state"] == "ALIVE"]) == 2, 90, found.pods)
        yield found
    finally:
        for pod in reversed(found.pods):
            pod.stop()


# --- notebooks ----------------------------------------------------------------------------------------------------


class Notebook:
    """A trainee's notebook kernel with its SparkSession (tests/spark_notebook.py), driven line by line."""

    def __init__(self, name: str, pod: Pod):
        self.name, self.pod = name, pod
        self.replies: list[dict] = []
        self._lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.pod.process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._lock:
                self.replies.append(message)
                self._lock.notify_all()

    def ask(self, within: float, **command) -> dict:
        with self._lock:
            seen = len(self.replies)
        self.pod.process.stdin.write(json.dumps(command) + "\n")
        self.pod.process.stdin.flush()
        deadline = time.monotonic() + within
        with self._lock:
            while len(self.replies) == seen:
                left = deadline - time.monotonic()
                if left <= 0 or self.pod.process.poll() is not None:
                    pytest.fail(f"{self.name}: no answer to {command} within {within:.0f} s\n{self.pod.tail(60)}")
                self._lock.wait(min(left, 0.5))
            return self.replies[seen]


def start_notebook(cluster: Cluster, name: str) -> Notebook:
    home = cluster.root / name
    home.mkdir()
    env = {**_base_env(home), "SPARK_HOME": str(PYSPARK_HOME), **cluster.notebook_env, "PYSPARK_PYTHON": sys.executable}
    log = cluster.root / f"{name}.log"
    with log.open("wb") as err:
        process = subprocess.Popen([sys.executable, str(Path(__file__).parent.parent / "spark_notebook.py"), name],
                                   env=env, cwd=home, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                   text=True, start_new_session=True)
    pod = Pod(name, dict(spark.USER_POD_LABELS), process, log)
    cluster.pods.append(pod)
    return Notebook(name, pod)


@dataclass
class Sessions:
    a: Notebook
    b: Notebook
    info: dict[str, dict]
    connections: "ConnectionLog"


@pytest.fixture(scope="module")
def sessions(cluster):
    log = ConnectionLog(cluster.pods)
    log.start()
    a, b = start_notebook(cluster, "notebook-a"), start_notebook(cluster, "notebook-b")
    try:
        info = {notebook.name: notebook.ask(120, do="session") for notebook in (a, b)}
        yield Sessions(a, b, info, log)
    finally:
        log.stop()
        for notebook in (a, b):
            notebook.pod.stop()


# --- connections between pods, from /proc ---------------------------------------------------------------------------

_STATES = {"01": "ESTABLISHED", "0A": "LISTEN"}


def _sockets() -> list[tuple[str, str, int, str, int, int]]:
    """(state, local address, local port, remote address, remote port, inode) of every TCP socket."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            state = _STATES.get(fields[3])
            if state:
                (local, lport), (remote, rport) = (_address(fields[1]), _address(fields[2]))
                found.append((state, local, lport, remote, rport, int(fields[9])))
    return found


def _address(text: str) -> tuple[str, int]:
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 16:  # /proc prints each 32-bit word in host order
        words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
        raw = b"".join(words)
        if raw[:12] == b"\0" * 10 + b"\xff\xff":
            raw = raw[12:]
        elif raw == b"\0" * 16:
            return "::", int(hex_port, 16)
        elif raw == b"\0" * 15 + b"\1":
            return "::1", int(hex_port, 16)
        else:
            return raw.hex(), int(hex_port, 16)
    else:
        raw = raw[::-1]
    return ".".join(str(b) for b in raw), int(hex_port, 16)


def _socket_owners(groups: dict[int, str]) -> dict[int, str]:
    """Socket inode -> pod, for the processes in the pods' process groups."""
    owners = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            if pgid not in groups:
                continue
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owners[int(target[8:-1])] = groups[pgid]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError, ValueError):
            continue
    return owners


class ConnectionLog:
    """Samples, once a second, every TCP connection between two of the pods and every listening socket."""

    def __init__(self, pods: list[Pod]):
        self.pods = pods
        self.connections: set[tuple[str, str, int]] = set()  # (client pod, server pod, server port)
        self.listening: set[tuple[str, str, int]] = set()  # (pod, address, port)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def sample(self) -> None:
        owners = _socket_owners({pod.process.pid: pod.name for pod in self.pods})
        sockets = [(s, owners[s[5]]) for s in _sockets() if s[5] in owners]
        listeners = {}
        for (state, address, port, _, _, _), pod in sockets:
            if state == "LISTEN":
                listeners[port] = pod
                self.listening.add((pod, address, port))
        for (state, _, _, _, remote_port, _), pod in sockets:
            server = listeners.get(remote_port)
            if state == "ESTABLISHED" and server and server != pod:
                self.connections.add((pod, server, remote_port))

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()


# --- network policies -----------------------------------------------------------------------------------------


def _peer_selects(peers: Optional[list[dict]], labels: dict) -> bool:
    if peers is None:  # no to/from: every peer
        return True
    return any(set(p) == {"podSelector"} and
               all(labels.get(k) == v for k, v in p["podSelector"].get("matchLabels", {}).items()) for p in peers)


def _port_allowed(ports: Optional[list[dict]], port: int) -> bool:
    if ports is None:
        return True
    assert all("endPort" not in p for p in ports)
    return any(p.get("protocol", "TCP") == "TCP" and p["port"] == port for p in ports)


def policy_allows(cluster: Cluster, client: dict, server: dict, port: int) -> bool:
    """Whether the egress rules of the client's pod and the ingress rules of the server's pod let it connect."""
    def rules(labels: dict, direction: str) -> list[dict]:
        if labels == spark.USER_POD_LABELS:
            return cluster.hub_values["singleuser"]["networkPolicy"][direction]
        [policy] = [p.inputs["spec"] for p in cluster.preview.of_type(NETWORK_POLICY)
                    if all(labels.get(k) == v for k, v in p.inputs["spec"]["podSelector"]["matchLabels"].items())]
        return policy[direction]

    out = any(_peer_selects(rule.get("to"), server) and _port_allowed(rule.get("ports"), port)
              for rule in rules(client, "egress"))
    into = any(_peer_selects(rule.get("from"), client) and _port_allowed(rule.get("ports"), port)
               for rule in rules(server, "ingress"))
    return out and into


def listed(ports: list[dict]) -> set[int]:
    return {p["port"] for p in ports}


# --- tests --------------------------------------------------------------------------------------------------------


def test_workers_offer_the_cores_and_memory_the_program_gives_them(cluster):
    assert spark.runtime(PYSPARK_IMAGE).spark == importlib.import_module("pyspark").__version__  # the pin
    command = container(cluster.deployment("spark-worker"))["command"]
    status = master_status()
    assert status["status"] == "ALIVE" and status["url"] == f"spark://{LOCAL}:{spark.MASTER_PORT}"
    assert sorted((w["host"], w["cores"], w["memory"]) for w in status["workers"]) == [
        (LOCAL, int(command[command.index("--cores") + 1]), int(command[command.index("--memory") + 1][:-1]))] * 2
    assert status["cores"] == 4


def test_the_smoke_tests_spark_check_runs_a_udf_job_on_the_cluster_from_a_real_kernel(cluster, tmp_path):
    """./tools/smoke's Spark step (tools/smoke.py) from ipykernel in a server of a real hub (tests/tools/test_smoke.py),
    whose servers have the notebook environment of the hub's values; before any other session holds the driver ports."""
    from tests import hub_engine
    from tests.hub.test_hub_engine import with_secrets
    from tests.hub.test_hub_values_schema import chart_file
    from tools import smoke

    missing = hub_engine.missing_engines() or (None if importlib.util.find_spec("ipykernel") else "missing ipykernel")
    if missing:
        require_engine(missing)
    # The hub gives servers its PATH (with jupyterhub-singleuser) and their HOME.
    environment = {**{k: v for k, v in _base_env(tmp_path).items() if k not in ("PATH", "HOME")},
                   "SPARK_HOME": str(PYSPARK_HOME), **cluster.notebook_env, "PYSPARK_PYTHON": sys.executable}
    program = cluster.hub_values
    config = {**with_secrets(program["hub"]["config"]), "Spawner": {"environment": environment}}
    release = hub_engine.release_values(chart_file("values.yaml"), {**program, "hub": {**program["hub"], "config": config}},
                                        cluster.preview.outputs["namespace"])
    hub = hub_engine.start_hub(release, tmp_path / "hub")
    try:
        token = (hub.folder / "z2jh" / "secret" / smoke.SMOKE_TOKEN_KEY).read_text()
        runner = smoke.Smoke(smoke.Hub(hub.url, token), cluster.preview.outputs["traineeEnvironment"],
                             profiles=("python-spark",), only=("spark",), progress=lambda line: None)
        steps = {step.name: (step.ok, step.detail) for step in runner.execute()}
    finally:
        hub.stop()
    assert [(name, detail) for name, (ok, detail) in steps.items() if not ok] == [], smoke.table(runner.steps) + hub.logs()
    assert steps["python-spark: python3: spark"] == (True, f"sum of squares on the cluster: {sum(n * n for n in range(1000))}")


def test_sessions_take_the_notebook_environment_and_the_settings_spark_would_default(cluster, sessions):
    env = cluster.notebook_env
    for name, info in sessions.info.items():
        assert info["version"] == spark.runtime(PYSPARK_IMAGE).spark
        assert info["master"] == env["SPARK_MASTER_URL"] == f"spark://{LOCAL}:{spark.MASTER_PORT}"
        assert info["python"] == sys.executable
        conf = info["conf"]
        assert conf["spark.dynamicAllocation.maxExecutors"] == str(CAP)
        for key in ("executorIdleTimeout", "shuffleTracking.timeout", "cachedExecutorIdleTimeout"):
            assert conf[f"spark.dynamicAllocation.{key}"] == f"{IDLE_SECONDS}s"
        # Before any executor: the configured parallelism, not Spark's max(cores, 2) = 2.
        assert info["defaultParallelism"] == 2 * CAP == int(conf["spark.default.parallelism"])
        assert cluster.app(info["app"])["cores"] == 0
        # The defaults components/services/spark.py cites and overrides are this Spark's.
        assert info["defaults"] == {
            "spark.dynamicAllocation.maxExecutors": str(2**31 - 1),
            "spark.dynamicAllocation.executorIdleTimeout": "60000ms",
            "spark.dynamicAllocation.shuffleTracking.timeout": f"{2**63 - 1}ms",
            "spark.dynamicAllocation.cachedExecutorIdleTimeout": f"{(2**31 - 1) * 1000}ms",
            "spark.worker.cleanup.interval": "1800",
            "spark.worker.cleanup.appDataTtl": str(7 * 24 * 3600),
            "spark.port.maxRetries": "16",
        }, name


def test_a_python_udf_and_a_shuffle_run_on_the_executors_which_go_back_when_idle(cluster, sessions):
    a = sessions.a
    app = sessions.info[a.name]["app"]
    answer = a.ask(180, do="udf_shuffle")
    assert answer["counts"] == {str(digit): 10_000 for digit in range(10)}
    assert answer["executor_python"] == [sys.executable]
    url = f"{sessions.info[a.name]['ui']}/api/v1/applications/{app}/allexecutors"
    executors = [e for e in rest(url) if e["id"] != "driver"]
    assert 1 <= len(executors) <= CAP
    # Their shuffle output stays referenced (the notebook keeps the DataFrame), which Spark's default
    # shuffleTracking.timeout would keep them for: they go back after the idle timeout.
    wait_for("executors given back", lambda: cluster.app(app)["cores"] == 0, IDLE_SECONDS + 40, cluster.pods)
    removed = wait_for("the driver to see its executors removed", lambda: [
        e for e in rest(url) if e["id"] != "driver"] if not [e for e in rest(url) if e["isActive"] and e["id"] != "driver"]
        else None, 20, cluster.pods)
    assert {e["id"] for e in removed} >= {e["id"] for e in executors}
    assert {e["removeReason"] for e in removed} == {"Executor killed by driver."}, removed
    assert cluster.app(app) is not None  # the session goes on


def test_two_sessions_both_get_executors_under_the_cap(cluster, sessions, tmp_path):
    flag = tmp_path / "go"
    apps = [sessions.info[n.name]["app"] for n in (sessions.a, sessions.b)]
    seen: list[tuple[int, int]] = []

    def both_capped_and_served():
        cores = tuple(cluster.app(app)["cores"] for app in apps)
        seen.append(cores)
        return cores == (CAP, CAP)

    try:
        for notebook in (sessions.a, sessions.b):
            # 2 x CAP tasks each: without the cap the first session would take all 4 cores.
            assert notebook.ask(30, do="busy", flag=str(flag), seconds=120) == {"started": True, "tasks": 2 * CAP}
        wait_for("both sessions running on their full share", both_capped_and_served, 90, cluster.pods)
    finally:
        flag.touch()
    assert max(max(cores) for cores in seen) == CAP
    for notebook in (sessions.a, sessions.b):
        assert notebook.ask(60, do="join", seconds=50) == {"done": True, "result": list(range(2 * CAP))}
    wait_for("every core given back", lambda: [cluster.app(app)["cores"] for app in apps] == [0, 0],
             IDLE_SECONDS + 40, cluster.pods)


def test_connections_between_pods_use_only_ports_the_network_policies_open(cluster, sessions):
    sessions.connections.sample()
    labels = {pod.name: pod.labels for pod in cluster.pods}
    user_ingress = cluster.hub_values["singleuser"]["networkPolicy"]["ingress"]
    [from_spark] = [r for r in user_ingress if r["from"] == [{"podSelector": {"matchLabels": spark.SPARK_LABELS}}]]
    to_workers = [r for r in cluster.hub_values["singleuser"]["networkPolicy"]["egress"]
                  if r["to"][0]["podSelector"]["matchLabels"] == spark.WORKER_LABELS]
    driver_ports, executor_ports = listed(from_spark["ports"]), listed(to_workers[0]["ports"])
    # The two sessions of one server, started together, take the four lowest driver ports (in either order:
    # the second's RPC port may take 7079 before the first's block manager does).
    bound = []
    for notebook in (sessions.a, sessions.b):
        info = sessions.info[notebook.name]
        executors = rest(f"{info['ui']}/api/v1/applications/{info['app']}/allexecutors")
        [driver] = [e for e in executors if e["id"] == "driver"]
        assert driver["hostPort"].startswith(f"{LOCAL}:")
        bound += [int(info["conf"]["spark.driver.port"]), int(driver["hostPort"].rsplit(":", 1)[1])]
        # Every executor's block manager, on either worker: a port the notebook may reach.
        for executor in executors:
            if executor["id"] != "driver":
                assert int(executor["hostPort"].rsplit(":", 1)[1]) in executor_ports
    assert sorted(bound) == [7078, 7079, 7080, 7081]
    assert set(bound) <= driver_ports
    # What actually connected: the notebooks to the master, the executors back to both ports of each driver (the
    # master answers a driver on the driver's own connection).
    connections = sessions.connections.connections
    kinds = {(client.split("-")[0], server.split("-")[0], port) for client, server, port in connections}
    assert ("notebook", "master", spark.MASTER_PORT) in kinds
    for port in bound:
        assert ("worker", "notebook", port) in kinds, sorted(connections)
    refused = [c for c in connections if not policy_allows(cluster, labels[c[0]], labels[c[1]], c[2])]
    assert refused == [], sorted(connections)
    # And nothing listened beyond this machine's loopback.
    assert {address for _, address, _ in sessions.connections.listening} <= {LOCAL}, sessions.connections.listening
