"""Class size: servers per user node, the nodes a class needs, and the settings that follow it."""

from __future__ import annotations

import pytest

from components import capacity
from tests.conftest import config_error, run_preview

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
