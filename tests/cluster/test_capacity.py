"""Class size: servers per user node, the nodes a class needs, and the settings that follow it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from components.cluster import capacity
from tests.conftest import config_error, run_preview
from tools import capacity as planner
from tools import preview as offline

GIB = 2**30


def test_a_gke_node_offers_what_gke_leaves_allocatable_less_its_daemonsets():
    # e2-highmem-4: 4 vCPU, 32 GiB. CPU reserved 60m + 10m + 2 x 5m = 80m; memory 1 + 0.8 + 0.8 + 0.96 GiB
    # (25% of 4, 20% of 4, 10% of 8, 6% of 16) and 100 MiB for eviction.
    node = capacity.gke_node("e2-highmem-4")
    assert node == capacity.Node(millicpu=4000 - 80 - capacity.DAEMONSET_MILLICPU,
                                 mib=32 * 1024 - 3646 - 100 - capacity.DAEMONSET_MIB)
    assert capacity.gke_node("e2-standard-8").mib == 32 * 1024 - 3646 - 100 - capacity.DAEMONSET_MIB
    assert capacity.gke_node("n2-highcpu-16").millicpu == 16000 - 60 - 10 - 10 - 30 - capacity.DAEMONSET_MILLICPU
    assert capacity.gke_node("c3-standard-4") is None  # not sized here


@pytest.mark.parametrize(("machine", "cpu", "memory", "servers"), [
    ("e2-highmem-4", 500, 2 * GIB, 7),   # bound by CPU: 3520m / 500m
    ("e2-standard-4", 500, 2 * GIB, 6),  # bound by memory: 12.2 GiB / 2 GiB
    ("e2-highmem-4", 0, 2 * GIB, 13),    # without a CPU guarantee, by memory alone
])
def test_servers_per_node(machine, cpu, memory, servers):
    assert capacity.servers_per_node(capacity.gke_node(machine), cpu, memory) == servers


def test_the_gke_stack_reaches_the_nodes_of_its_class():
    # Pulumi.gke.yaml: 100 trainees, 7 servers of the default profile per e2-highmem-4 node, maxNodes 20.
    assert capacity.nodes_for(100, 7) == 15
    assert config_error("gke", {"cluster.userPool.maxNodes": 14}) == (
        "Invalid configuration mltraining:cluster.userPool.maxNodes = 14: expected at least 15 for "
        "hub.expectedUsers 100: each e2-highmem-4 node holds 7 servers of the default profile python-spark "
        "(0.5 CPU, 2Gi)")
    assert run_preview("gke", {"cluster.userPool.maxNodes": 15}).resources


def test_a_machine_type_not_sized_here_is_a_warning_not_an_error():
    preview = run_preview("gke", {"cluster.userPool.machineType": "c3-highmem-4"})
    assert any("c3-highmem-4 is not sized" in warning for warning in preview.warnings)


def test_the_default_profile_must_fit_on_a_node():
    assert config_error("gke", {"cluster.userPool.machineType": "e2-highcpu-2"}) == (
        'Invalid configuration mltraining:cluster.userPool.machineType = "e2-highcpu-2": expected a machine type '
        "that holds a server of the default profile python-spark (0.5 CPU, 2Gi)")


P = "Invalid configuration mltraining:cluster"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"cluster.maintenance.end": None},
     f"{P}.maintenance.end = (unset): expected a time, as cluster.maintenance.start and .end go together"),
    ({"cluster.maintenance.start": "22:00"},
     f'{P}.maintenance.start = "22:00": expected an RFC 3339 time with its zone, such as 2026-01-05T22:00:00Z'),
    ({"cluster.maintenance.end": "2026-01-05T23:00:00Z"},
     f'{P}.maintenance.end = "2026-01-05T23:00:00Z": expected 4 to 24 hours after cluster.maintenance.start'),
    ({"cluster.maintenance.recurrence": "FREQ=WEEKLY;BYDAY=SA"},
     f'{P}.maintenance.recurrence = "FREQ=WEEKLY;BYDAY=SA": expected windows that add up to 48 hours in 32 days, '
     "as GKE requires (these add up to 27)"),
    ({"cluster.maintenance.recurrence": "FREQ=MONTHLY"},
     f'{P}.maintenance.recurrence = "FREQ=MONTHLY": expected FREQ=DAILY, or FREQ=WEEKLY with BYDAY such as '
     "FREQ=WEEKLY;BYDAY=SA,SU"),
    ({"cluster.maintenanceExclusions": [{"name": "course", "start": "2027-03-01T00:00:00Z",
                                         "end": "2027-04-15T00:00:00Z"}]},
     f'{P}.maintenanceExclusions[0].end = "2027-04-15T00:00:00Z": expected a time at most 30 days after '
     "cluster.maintenanceExclusions[0].start"),
    ({"cluster.maintenanceExclusions": [{"name": "course", "start": "2027-03-01T00:00:00Z",
                                         "end": "2027-03-05T00:00:00Z", "scope": "NEVER"}]},
     f'{P}.maintenanceExclusions[0].scope = "NEVER": expected one of NO_UPGRADES, NO_MINOR_UPGRADES, '
     "NO_MINOR_OR_NODE_UPGRADES"),
], ids=["start-without-end", "not-rfc3339", "too-short", "too-rare", "monthly", "exclusion-too-long", "scope"])
def test_bad_maintenance_settings_are_one_line(overrides, message):
    assert config_error("gke", overrides) == message


# --- class sessions (hub.schedule) and the planner, python -m tools.capacity ---------------------------------------

SESSIONS = [{"days": ["mon", "wed"], "start": "09:00", "end": "12:30", "timeZone": "Europe/Berlin", "trainees": 30},
            {"days": ["mon"], "start": "13:00", "end": "16:00", "timeZone": "Europe/Berlin", "trainees": 20}]


def test_a_session_holds_a_placeholder_for_each_trainee_and_its_servers_displace_them():
    assert capacity.session_placeholders(30, 2) == 30
    assert capacity.session_placeholders(1, 2) == 2  # never below hub.placeholders
    # While the trainees arrive: 30 servers and the 30 placeholders they displace, 7 to a node; at most maxNodes.
    assert capacity.nodes_holding(30 + 30, 7, 20) == 9
    assert capacity.nodes_holding(100 + 100, 7, 20) == 20
    # Then the placeholders shrink to hub.placeholders: 30 servers and 2 placeholders.
    assert capacity.nodes_holding(30 + 2, 7, 20) == 5
    assert capacity.nodes_holding(140 + 2, 7, 20) == 20


def test_a_nodes_price_is_its_vcpus_and_memory_at_the_regions_rates():
    # pricing.yml of 2026-07-30: e2-highmem-4 0.18079932 in us-central1, 0.23292744 in europe-west3; n2d-highcpu-8 0.249504.
    assert planner.node_price("e2-highmem-4", "us-central1-a") == pytest.approx(0.18079932, abs=1e-8)
    assert planner.node_price("e2-highmem-4", "europe-west3") == pytest.approx(0.23292744, abs=1e-8)
    assert planner.node_price("n2d-highcpu-8", "us-central1") == pytest.approx(0.249504, abs=1e-8)
    assert planner.node_price("e2-highmem-4", "asia-east1-b") is None
    assert planner.node_price("c3-highmem-4", "us-central1") is None


def test_the_planner_on_gke():
    assert planner.plan(offline.settings("gke", {"hub.schedule": SESSIONS})) == [
        "Class sessions of stack gke (hub.schedule), for servers of the default profile python-spark (0.5 CPU, 2Gi):",
        "the placeholders grow 30 minutes before each session (hub.scheduleLeadMinutes) and shrink to 2 "
        "(hub.placeholders) 15 minutes after its start (hub.scheduleArrivalMinutes), or at its end; times in "
        "Europe/Berlin",
        "images: the continuous pre-puller pulls the profile images onto each new user node (hub.prePuller)",
        "user pool: e2-highmem-4, 0 to 20 nodes, 7 servers each; $0.2329 an hour each (on-demand in europe-west3, "
        "prices of 2026-07-30)",
        "session  days     time         trainees  placeholders  nodes ready  nodes arriving  nodes in session  "
        "pool $/hour",
        "0        mon,wed  09:00-12:30  30        30            5            9               5                 1.16",
        "1        mon      13:00-16:00  20        20            3            6               4                 0.93",
        "nodes ready: the placeholders' room as the session starts; nodes arriving: as the trainees' servers "
        "displace the placeholders, these ask for room again, up to maxNodes 20; nodes in session: once the "
        "placeholders have shrunk and the autoscaler has removed the nodes left empty (about 10 minutes later)",
        "outside the sessions: 2 placeholders and minNodes 0 keep 1 node ($0.23 an hour)",
        # Lead, arrival and the autoscaler's 10 minutes, then the session: 2 x (0.5 h x 5 + 25 min x 9 + 185 min x 5)
        # x $0.2329 + (0.5 h x 3 + 25 min x 6 + 155 min x 4) x $0.2329
        "total: 3 sessions a week, 10 hours of class; the user pool costs at most $13.43 a week from each lead time "
        "to each session's end",
        "result: 2 sessions planned; 4 CronJobs set the placeholders; the user pool reaches 9 of its 20 nodes",
    ]


def test_the_planner_where_nodes_or_prices_are_not_known():
    lines = planner.plan(offline.settings("baremetal", {"hub.schedule": SESSIONS, "hub.prePuller": False}))
    assert lines[2:] == [
        "images: hub.prePuller is false: on a new node, each image's first server waits for its pull",
        "existing cluster: its nodes and their price are not the program's to know; below, the CPU and memory the "
        "placeholders reserve",
        "session  days     time         trainees  placeholders  CPU reserved  memory reserved",
        "0        mon,wed  09:00-12:30  30        30            15            60Gi",
        "1        mon      13:00-16:00  20        20            10            40Gi",
        "total: 3 sessions a week, 10 hours of class",
        "result: 2 sessions planned; 4 CronJobs set the placeholders; the user nodes and their cost are unknown here",
    ]
    held = planner.plan(offline.settings("gke", {"hub.schedule": SESSIONS, "hub.scheduleArrivalMinutes": 720}))
    assert held[5:7] == [  # the placeholders held to each session's end: the pool keeps the displaced ones' nodes
        "0        mon,wed  09:00-12:30  30        30            5            9               9                 2.10",
        "1        mon      13:00-16:00  20        20            3            6               6                 1.40"]
    # 2 x (0.5 h x 5 + 3.5 h x 9) x $0.2329 + (0.5 h x 3 + 3 h x 6) x $0.2329
    assert held[-2].endswith("the user pool costs at most $20.38 a week from each lead time to each session's end")
    elsewhere = planner.plan(offline.settings("gke", {"hub.schedule": SESSIONS, "gcp:zone": "asia-east1-b"}))
    assert ("user pool: e2-highmem-4, 0 to 20 nodes, 7 servers each; no price for it in asia-east1 here (prices of "
            "europe-west3, us-central1)") in elsewhere
    assert elsewhere[-1].endswith("the user pool reaches 9 of its 20 nodes")
    unsized = planner.plan(offline.settings("gke", {"hub.schedule": SESSIONS, "hub.expectedUsers": 0,
                                                    "cluster.userPool.machineType": "c3-highmem-4"}))
    assert ("cluster.userPool.machineType c3-highmem-4 is not sized by components/cluster/capacity.py: its nodes cannot be "
            "known; below, the CPU and memory the placeholders reserve") in unsized


def test_the_planner_command():
    done = subprocess.run([sys.executable, "-m", "tools.capacity", "gke"], cwd=offline.ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Reading the settings of stack gke offline ...",
        "Class sessions of stack gke (hub.schedule), for servers of the default profile python-spark (0.5 CPU, 2Gi):",
        "result: no class sessions in hub.schedule; 2 placeholders (hub.placeholders) stand all week",
    ]
    missing = subprocess.run([sys.executable, "-m", "tools.capacity", "nope"], cwd=offline.ROOT, capture_output=True,
                             text=True, timeout=300)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no stack file Pulumi.nope.yaml")


def test_the_readme_shows_the_planners_output_for_its_example():
    readme = (offline.ROOT / "README.md").read_text()
    [example] = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "schedule:" in block]
    hub = yaml.safe_load(example)["mltraining:hub"]
    assert hub["schedule"] == SESSIONS
    lines = planner.plan(offline.settings("gke", {"hub.schedule": hub["schedule"], "hub.placeholders": hub["placeholders"]}))
    assert "```\n" + "\n".join(lines) + "\n```" in readme
