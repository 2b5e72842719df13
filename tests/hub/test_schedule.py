"""A warm start for class sessions (hub.schedule): when the placeholders change, the settings' one-line errors, the
CronJobs and the account they scale as, and their kubectl command run for real against a stand-in API server."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import kubernetes_validate
import pytest

from components.hub import schedule
from components.cluster.cluster import CORE_NODE_LABEL
from components.settings import ClassSession
from tests.conftest import config_error, run_preview
from tests.kubernetes_objects import KUBERNETES_VERSIONS, container, manifest, pod_spec
from tools import helm as helm_tool

BERLIN = "Europe/Berlin"
COMPONENT = "mltraining:hub:PlaceholderSchedule"
CRON_JOB = "kubernetes:batch/v1:CronJob"


def session(days, start, end, trainees, time_zone=BERLIN) -> ClassSession:
    return ClassSession(days=tuple(days), start=start, end=end, time_zone=time_zone, trainees=trainees)


def item(days, start, end, trainees, time_zone=BERLIN) -> dict:
    """A session as the stack file writes it."""
    return {"days": list(days), "start": start, "end": end, "timeZone": time_zone, "trainees": trainees}


# The longest hub.scheduleArrivalMinutes: the sessions below are no longer, so they hold their placeholders to the end.
TO_THE_END = 12 * 60


def plan(sessions, lead=30, standing=2, arrival=TO_THE_END) -> list[tuple[str, str, int]]:
    """(CronJob name, schedule, replicas) of each change."""
    timing = schedule.Timing(lead=lead, arrival=arrival, standing=standing)
    return [(c.name, c.schedule, c.replicas) for c in schedule.changes(tuple(sessions), timing)]


# --- when the placeholders change ------------------------------------------------------------------------------


def test_a_session_grows_them_its_lead_time_before_and_shrinks_them_at_its_end():
    assert plan([session(["mon", "wed"], "09:00", "12:30", 30)]) == [
        ("placeholders-mon-wed-0830", "30 8 * * 1,3", 30),
        ("placeholders-mon-wed-1230", "30 12 * * 1,3", 2),
    ]
    assert plan([session(["fri"], "14:00", "17:00", 12)], lead=0, standing=0) == [
        ("placeholders-fri-1400", "0 14 * * 5", 12),
        ("placeholders-fri-1700", "0 17 * * 5", 0),
    ]


def test_a_lead_time_across_midnight_falls_on_the_day_before():
    # Monday 00:15 with 30 minutes' lead grows on Sunday 23:45 (cron's day 0); Sunday's session grows on Saturday.
    assert plan([session(["mon"], "00:15", "02:00", 10)]) == [
        ("placeholders-mon-0200", "0 2 * * 1", 2),
        ("placeholders-sun-2345", "45 23 * * 0", 10),
    ]
    assert plan([session(["mon", "tue", "sun"], "00:10", "01:00", 10)]) == [
        ("placeholders-mon-tue-sun-0100", "0 1 * * 0,1,2", 2),
        ("placeholders-mon-sat-sun-2340", "40 23 * * 0,1,6", 10),
    ]


def test_a_session_right_after_another_keeps_its_warm_start():
    # The afternoon session's lead time begins while the morning one runs: the count stays 30 until 12:00, then
    # holds 20 for the afternoon instead of falling to hub.placeholders in between.
    morning, afternoon = session(["mon"], "09:00", "12:00", 30), session(["mon"], "12:00", "15:00", 20)
    assert plan([morning, afternoon]) == [
        ("placeholders-mon-0830", "30 8 * * 1", 30),
        ("placeholders-mon-1200", "0 12 * * 1", 20),
        ("placeholders-mon-1500", "0 15 * * 1", 2),
    ]
    assert [schedule.replicas_at(minute, (morning, afternoon), schedule.Timing(30, TO_THE_END, 2)) for minute in (8 * 60 + 29, 8 * 60 + 30, 11 * 60 + 45,
                                                                                      12 * 60, 14 * 60 + 59, 15 * 60)] \
        == [2, 30, 30, 20, 20, 2]
    # A bigger session after a smaller one grows the count during the smaller one's end.
    assert plan([session(["tue"], "09:00", "10:00", 10), session(["tue"], "10:15", "12:00", 40)]) == [
        ("placeholders-tue-0830", "30 8 * * 2", 10),
        ("placeholders-tue-0945", "45 9 * * 2", 40),
        ("placeholders-tue-1200", "0 12 * * 2", 2),
    ]


def test_the_placeholders_shrink_once_the_trainees_have_arrived():
    """The servers that started displaced placeholders, which would ask for a node each until the session's end."""
    morning = session(["mon", "wed"], "09:00", "12:30", 30)
    assert plan([morning], arrival=15) == [
        ("placeholders-mon-wed-0830", "30 8 * * 1,3", 30),
        ("placeholders-mon-wed-0915", "15 9 * * 1,3", 2),
    ]
    assert plan([morning], arrival=0) == [
        ("placeholders-mon-wed-0830", "30 8 * * 1,3", 30),
        ("placeholders-mon-wed-0900", "0 9 * * 1,3", 2),
    ]
    assert plan([morning], arrival=211) == plan([morning], arrival=210) == plan([morning])  # at most to its end
    assert plan([morning], lead=0, arrival=0) == []  # no warm start at all
    # The afternoon's lead time no longer meets the morning's end: the count falls to hub.placeholders in between.
    morning, afternoon = session(["mon"], "09:00", "12:00", 30), session(["mon"], "12:00", "15:00", 20)
    assert plan([morning, afternoon], arrival=15) == [
        ("placeholders-mon-0830", "30 8 * * 1", 30),
        ("placeholders-mon-0915", "15 9 * * 1", 2),
        ("placeholders-mon-1130", "30 11 * * 1", 20),
        ("placeholders-mon-1215", "15 12 * * 1", 2),
    ]
    timing = schedule.Timing(lead=30, arrival=15, standing=2)
    assert [schedule.replicas_at(minute, (morning, afternoon), timing) for minute in (8 * 60 + 29, 9 * 60 + 14, 9 * 60 + 15,
                                                                                      11 * 60 + 30, 12 * 60 + 15)] \
        == [2, 30, 2, 20, 2]


def test_one_cronjob_per_time_of_day_and_count():
    # The same hours with different counts on different days are CronJobs of their own; the shared end is one.
    assert plan([session(["mon"], "09:00", "12:00", 30), session(["wed"], "09:00", "12:00", 20)]) == [
        ("placeholders-mon-0830", "30 8 * * 1", 30),
        ("placeholders-wed-0830", "30 8 * * 3", 20),
        ("placeholders-mon-wed-1200", "0 12 * * 1,3", 2),
    ]


def test_a_session_no_bigger_than_the_standing_placeholders_changes_nothing():
    assert plan([session(["mon"], "09:00", "12:00", 2)]) == []
    assert plan([session(["mon"], "09:00", "12:00", 3)], standing=5) == []


def test_names_fit_a_cronjob_and_are_unique():
    every_day = session(list(schedule.WEEKDAYS), "09:00", "10:00", 10)
    names = [name for name, _, _ in plan([every_day])]
    assert names == ["placeholders-mon-tue-wed-thu-fri-sat-sun-0830", "placeholders-mon-tue-wed-thu-fri-sat-sun-1000"]
    assert max(len(name) for name in names) <= 52


# --- settings ----------------------------------------------------------------------------------------------------

S = "Invalid configuration mltraining:hub.schedule"
MORNING = item(["mon", "wed"], "09:00", "12:30", 30)


@pytest.mark.parametrize(("sessions", "message"), [
    ([item(["monday"], "09:00", "12:00", 5)],
     f'{S}[0].days = "monday": expected a weekday: mon, tue, wed, thu, fri, sat or sun'),
    ([item([], "09:00", "12:00", 5)], f"{S}[0].days = []: expected a list of weekdays such as [mon, wed]"),
    ([item(["mon", "mon"], "09:00", "12:00", 5)], f'{S}[0].days = ["mon", "mon"]: expected each weekday once'),
    ([item(["mon"], "9:00", "12:00", 5)],
     f'{S}[0].start = "9:00": expected a time of day HH:MM from 00:00 to 23:59, such as "09:30" (in quotes: YAML '
     "reads 09:30 without them as a number)"),
    ([item(["mon"], "09:00", 750, 5)],  # 12:30 without quotes, as YAML 1.1 reads it
     f"{S}[0].end = 750: expected a time of day HH:MM from 00:00 to 23:59, such as \"09:30\" (in quotes: YAML "
     "reads 09:30 without them as a number)"),
    ([item(["mon"], "09:00", "24:00", 5)],
     f'{S}[0].end = "24:00": expected a time of day HH:MM from 00:00 to 23:59, such as "09:30" (in quotes: YAML '
     "reads 09:30 without them as a number)"),
    ([item(["mon"], "09:00", "08:00", 5)],
     f'{S}[0].end = "08:00": expected a time after start 09:00: a session ends on the day it starts'),
    ([item(["mon"], "09:00", "09:00", 5)],
     f'{S}[0].end = "09:00": expected a time after start 09:00: a session ends on the day it starts'),
    ([item(["mon"], "09:00", "12:00", 5, "Europe/Frankfurt")],
     f'{S}[0].timeZone = "Europe/Frankfurt": expected an IANA time zone such as Europe/Berlin or UTC'),
    ([MORNING, item(["fri"], "09:00", "12:00", 5, "UTC")],
     f'{S}[1].timeZone = "UTC": expected Europe/Berlin, the time zone of hub.schedule[0]: the sessions share one, '
     "so that their times compare"),
    ([item(["mon"], "09:00", "12:00", 0)], f"{S}[0].trainees = 0: expected a whole number between 1 and 5000"),
    ([item(["mon"], "09:00", "12:00", True)], f"{S}[0].trainees = true: expected an int"),
    ([MORNING, item(["tue", "wed"], "12:00", "14:00", 5)],
     f'{S}[1].start = "12:00": expected a session apart from hub.schedule[0] (09:00 to 12:30 on wed): sessions may '
     "not overlap"),
    ([{**MORNING, "room": "A1"}],
     f'{S}[0].room = "A1": expected a known field: days, start, end, timeZone, trainees'),
    ([{key: value for key, value in MORNING.items() if key != "timeZone"}],
     f"{S}[0].timeZone = (unset): expected a value: this field is required"),
    ({"days": ["mon"]}, f'{S} = {{"days": ["mon"]}}: expected a list of class sessions, each {{days, start, end, '
                        "timeZone, trainees}"),
], ids=["weekday", "no-days", "day-twice", "time-format", "time-unquoted", "time-24", "end-before-start", "no-length",
        "time-zone", "two-time-zones", "no-trainees", "trainees-bool", "overlap", "unknown-field", "field-missing",
        "not-a-list"])
def test_bad_sessions_are_one_line(sessions, message):
    assert config_error("baremetal", {"hub.schedule": sessions}) == message


def test_sessions_back_to_back_or_on_other_days_are_fine():
    preview = run_preview("baremetal", {"hub.schedule": [MORNING, item(["mon"], "12:30", "14:00", 20),
                                                         item(["tue"], "10:00", "11:00", 20)]})
    assert sorted(job.inputs["metadata"]["name"] for job in preview.of_type(CRON_JOB)) == [
        "placeholders-mon-1200", "placeholders-mon-1245", "placeholders-mon-wed-0830", "placeholders-mon-wed-0915",
        "placeholders-tue-0930", "placeholders-tue-1015"]


def test_the_lead_and_arrival_times_are_at_most_twelve_hours():
    assert config_error("baremetal", {"hub.schedule": [MORNING], "hub.scheduleLeadMinutes": 721}) == (
        "Invalid configuration mltraining:hub.scheduleLeadMinutes = 721: expected a whole number between 0 and 720")
    assert config_error("baremetal", {"hub.schedule": [MORNING], "hub.scheduleArrivalMinutes": -1}) == (
        "Invalid configuration mltraining:hub.scheduleArrivalMinutes = -1: expected a whole number between 0 and 720")


def test_a_session_the_user_pool_can_never_hold_is_refused():
    # gke: 7 servers of the default profile on each of at most 20 e2-highmem-4 nodes.
    assert config_error("gke", {"hub.schedule": [MORNING, item(["fri"], "09:00", "12:00", 141)]}) == (
        f"{S}[1].trainees = 141: expected at most 140, what cluster.userPool.maxNodes 20 e2-highmem-4 nodes hold: 7 "
        "servers of the default profile python-spark (0.5 CPU, 2Gi) each")
    assert run_preview("gke", {"hub.schedule": [item(["fri"], "09:00", "12:00", 140)]}).of_type(CRON_JOB)


def test_an_unsized_machine_type_is_a_warning_for_a_schedule_too():
    preview = run_preview("gke", {"cluster.userPool.machineType": "c3-highmem-4", "hub.expectedUsers": 0,
                                  "hub.schedule": [MORNING]})
    assert ("cluster.userPool.machineType c3-highmem-4 is not sized by components/cluster/capacity.py: check yourself that 20 "
            "nodes hold the servers of 30 trainees, hub.schedule's largest session") in preview.warnings


# --- the resources -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scheduled():
    return run_preview("gke", {"hub.schedule": [MORNING, item(["mon"], "13:00", "16:00", 20)]})


def declared(preview, type_: str) -> list:
    [component] = preview.of_type(COMPONENT)
    return [r for r in preview.resources if r.parent == component.urn and r.type == type_]


def test_without_a_schedule_nothing_is_declared(gke, baremetal):
    for preview in (gke, baremetal):
        assert not preview.of_type(COMPONENT)
        assert not preview.of_type(CRON_JOB)


def test_one_cronjob_per_change_in_the_namespace_through_the_cluster_provider(scheduled):
    jobs = declared(scheduled, CRON_JOB)
    assert {job.inputs["metadata"]["name"]: (job.inputs["spec"]["schedule"], container(job_template(job))["args"])
            for job in jobs} == {
        "placeholders-mon-wed-0830": ("30 8 * * 1,3", args(30)),
        "placeholders-mon-wed-0915": ("15 9 * * 1,3", args(2)),  # hub.scheduleArrivalMinutes: 15 by default
        "placeholders-mon-1230": ("30 12 * * 1", args(20)),
        "placeholders-mon-1315": ("15 13 * * 1", args(2)),
    }
    [provider] = scheduled.of_type("pulumi:providers:kubernetes")
    for job in jobs:
        assert job.inputs["metadata"]["namespace"] == "jupyterhub"
        assert job.provider.startswith(provider.urn + "::")
        spec = job.inputs["spec"]
        assert spec["timeZone"] == BERLIN
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] == schedule.STARTING_DEADLINE_SECONDS


def job_template(job) -> SimpleNamespace:
    """The CronJob's Job template, shaped like a workload for tests/kubernetes_objects.py."""
    return SimpleNamespace(inputs=job.inputs["spec"]["jobTemplate"])


def args(replicas: int) -> list[str]:
    return ["scale", "statefulset/user-placeholder", f"--replicas={replicas}", "--namespace=jupyterhub"]


def test_the_jobs_run_kubectl_as_a_non_root_user_on_the_core_pool(scheduled):
    for job in declared(scheduled, CRON_JOB):
        template = job_template(job)
        pod = pod_spec(template)
        assert pod["serviceAccountName"] == "placeholder-scaler"
        assert pod["automountServiceAccountToken"] is True
        assert pod["restartPolicy"] == "Never"
        assert pod["nodeSelector"] == CORE_NODE_LABEL
        assert pod["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True,
                                          "seccompProfile": {"type": "RuntimeDefault"}}
        kubectl = container(template)
        assert kubectl["image"] == "docker.io/rancher/kubectl:v1.33.13"
        assert "command" not in kubectl  # the image's entrypoint, /bin/kubectl
        assert kubectl["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                              "readOnlyRootFilesystem": True}
        assert kubectl["resources"]["limits"]["memory"]


def test_the_account_may_only_scale_the_placeholders(scheduled):
    [account] = declared(scheduled, "kubernetes:core/v1:ServiceAccount")
    [role] = declared(scheduled, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    [binding] = declared(scheduled, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert account.inputs["metadata"] == {"name": "placeholder-scaler", "namespace": "jupyterhub",
                                          "labels": schedule.LABELS}
    assert account.inputs["automountServiceAccountToken"] is False
    assert role.inputs["rules"] == [
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["user-placeholder"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets/scale"], "resourceNames": ["user-placeholder"],
         "verbs": ["patch"]},
    ]
    assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                         "name": "placeholder-scaler"}
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "placeholder-scaler",
                                           "namespace": "jupyterhub"}]
    for job in declared(scheduled, CRON_JOB):
        assert scheduled.depends_on(job, binding)


def test_the_chart_keeps_the_standing_placeholders(scheduled, gke):
    # The CronJobs change the count in the cluster; the release's value stays hub.placeholders.
    chart = scheduled.releases()["jupyterhub"].inputs["values"]["scheduling"]["userPlaceholder"]
    assert chart == gke.releases()["jupyterhub"].inputs["values"]["scheduling"]["userPlaceholder"]
    assert chart["replicas"] == 2


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_objects_are_valid_kubernetes(scheduled, version):
    [component] = scheduled.of_type(COMPONENT)
    objects = [r for r in scheduled.resources if r.parent == component.urn]
    assert len(objects) == 7
    for resource in objects:
        kubernetes_validate.validate(manifest(resource), version, strict=True)


def test_the_arrival_time_comes_from_the_stack():
    preview = run_preview("baremetal", {"hub.schedule": [MORNING], "hub.scheduleArrivalMinutes": 0,
                                        "hub.scheduleLeadMinutes": 45})
    assert {job.inputs["metadata"]["name"]: job.inputs["spec"]["schedule"] for job in declared(preview, CRON_JOB)} == {
        "placeholders-mon-wed-0815": "15 8 * * 1,3", "placeholders-mon-wed-0900": "0 9 * * 1,3"}


def test_an_existing_cluster_schedules_on_any_node():
    preview = run_preview("baremetal", {"hub.schedule": [MORNING], "hub.placeholders": 1})
    jobs = declared(preview, CRON_JOB)
    assert [job.inputs["metadata"]["name"] for job in jobs] == ["placeholders-mon-wed-0830", "placeholders-mon-wed-0915"]
    assert all(not pod_spec(job_template(job)).get("nodeSelector") for job in jobs)
    assert container(job_template(jobs[1]))["args"][2] == "--replicas=1"


# --- kubectl, for real ---------------------------------------------------------------------------------------------


class ApiServer(ThreadingHTTPServer):
    """A stand-in Kubernetes API server: discovery, and the placeholder StatefulSet and its scale subresource in one
    namespace, each request authorized as RBAC would authorize the Role's rules; every request is recorded."""

    def __init__(self, namespace: str, rules: list[dict]):
        super().__init__(("127.0.0.1", 0), ApiHandler)
        self.namespace, self.rules, self.replicas = namespace, rules, 2
        self.requests: list[tuple[str, str, str]] = []  # method, path, body

    def allows(self, verb: str, resource: str, name: str) -> bool:
        return any("apps" in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
                   and name in rule.get("resourceNames", [name]) for rule in self.rules)


DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": name, "versions": [{"groupVersion": f"{name}/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": f"{name}/v1", "version": "v1"}} for name in ("apps", "autoscaling")]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
    "/apis/autoscaling/v1": {"kind": "APIResourceList", "groupVersion": "autoscaling/v1", "resources": []},
    "/apis/apps/v1": {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
        {"name": "statefulsets", "singularName": "statefulset", "namespaced": True, "kind": "StatefulSet",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["sts"]},
        {"name": "statefulsets/scale", "singularName": "", "namespaced": True, "group": "autoscaling", "version": "v1",
         "kind": "Scale", "verbs": ["get", "patch", "update"]}]},
}


class ApiHandler(BaseHTTPRequestHandler):
    server: ApiServer

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, verb: str) -> None:
        path = self.path.split("?")[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.requests.append((self.command, path, body))
        if path in DISCOVERY and verb == "get":  # every account's: system:discovery
            return self._answer(200, DISCOVERY[path])
        prefix = f"/apis/apps/v1/namespaces/{self.server.namespace}/statefulsets/user-placeholder"
        if path not in (prefix, prefix + "/scale"):
            return self._answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
        resource = "statefulsets/scale" if path.endswith("/scale") else "statefulsets"
        if not self.server.allows(verb, resource, "user-placeholder"):
            return self._answer(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
                                      "reason": "Forbidden", "message": f"cannot {verb} {resource}"})
        if verb == "patch":
            self.server.replicas = json.loads(body)["spec"]["replicas"]
        metadata = {"name": "user-placeholder", "namespace": self.server.namespace, "resourceVersion": "7"}
        if resource == "statefulsets":
            return self._answer(200, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata,
                                      "spec": {"replicas": self.server.replicas}})
        self._answer(200, {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": metadata,
                           "spec": {"replicas": self.server.replicas}, "status": {"replicas": self.server.replicas}})

    def do_GET(self) -> None:
        self._handle("get")

    def do_PATCH(self) -> None:
        self._handle("patch")

    def do_PUT(self) -> None:
        self._handle("update")


@pytest.fixture(scope="module")
def kubectl() -> Path:
    # kubectl 1.32.3 of the npm package tools/helm.py takes Helm from; what `kubectl scale` does is 1.33.13's (no
    # change to pkg/cmd/scale or pkg/scale of kubernetes/kubectl between kubernetes-1.32.3 and kubernetes-1.33.13).
    return helm_tool.kubectl()


def run_kubectl(kubectl: Path, server: ApiServer, arguments: list[str], home: Path) -> subprocess.CompletedProcess:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = home / "config"
        config.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "pod",
            "clusters": [{"name": "cluster", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
            "users": [{"name": "placeholder-scaler", "user": {"token": "service-account-token"}}],
            "contexts": [{"name": "pod", "context": {"cluster": "cluster", "user": "placeholder-scaler"}}],
        }))
        return subprocess.run([str(kubectl), *arguments], env={**os.environ, "HOME": str(home), "KUBECONFIG": str(config)},
                              capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()


def test_kubectl_scales_the_placeholders_with_exactly_the_roles_rules(scheduled, kubectl, tmp_path):
    [role] = declared(scheduled, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    [job] = [j for j in declared(scheduled, CRON_JOB) if j.inputs["metadata"]["name"] == "placeholders-mon-wed-0830"]
    arguments = container(job_template(job))["args"]
    server = ApiServer("jupyterhub", role.inputs["rules"])
    done = run_kubectl(kubectl, server, arguments, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "statefulset.apps/user-placeholder scaled\n"
    assert server.replicas == 30
    prefix = "/apis/apps/v1/namespaces/jupyterhub/statefulsets/user-placeholder"
    assert [(method, path, body) for method, path, body in server.requests if path.startswith(prefix)] == [
        ("GET", prefix, ""),
        ("PATCH", prefix + "/scale", '{"spec":{"replicas":30}}'),
    ]
    assert {path for _, path, _ in server.requests} <= set(DISCOVERY) | {prefix, prefix + "/scale"}


@pytest.mark.parametrize(("rule", "refused"), [(0, "cannot get statefulsets"), (1, "cannot patch statefulsets/scale")],
                         ids=["without-get", "without-patch"])
def test_kubectl_needs_both_rules(scheduled, kubectl, tmp_path, rule, refused):
    [role] = declared(scheduled, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    server = ApiServer("jupyterhub", [r for index, r in enumerate(role.inputs["rules"]) if index != rule])
    done = run_kubectl(kubectl, server, args(30), tmp_path)
    assert done.returncode == 1
    assert refused in done.stderr
    assert server.replicas == 2
