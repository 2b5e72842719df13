"""How many trainees' servers a user node holds, and so how many nodes a class needs: the one place of this
arithmetic (README, "Class size").

A server of the default profile requests its CPU and memory guarantees; a node offers what GKE leaves
allocatable, less what its DaemonSets request. The user pool must reach enough nodes for the expected class.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

# Compute Engine's predefined machine types: vCPUs from the name, memory per vCPU by family and kind
# (cloud.google.com/compute/docs/general-purpose-machines: E2, N2 and N2D standard 4 GB, highmem 8 GB and
# highcpu 1 GB per vCPU; Compute Engine's GB are GiB). Other types are not sized here.
_MACHINE_TYPE = re.compile(r"^(e2|n2|n2d)-(standard|highmem|highcpu)-([0-9]+)$")
_GIB_PER_VCPU = {"standard": 4, "highmem": 8, "highcpu": 1}

# GKE's reservations for the kubelet and the system (cloud.google.com/kubernetes-engine/docs/concepts/
# plan-node-sizes, "Memory and CPU reservations"): memory 25% of the first 4 GiB, 20% of the next 4, 10% of the
# next 8, 6% of the next 112 and 2% above 128 GiB, plus 100 MiB for eviction; CPU 6% of the first core, 1% of
# the next, 0.5% of the next 2 and 0.25% of every core above 4.
_MEMORY_TIERS = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02))
_CPU_TIERS = ((1, 0.06), (1, 0.01), (2, 0.005), (math.inf, 0.0025))
_EVICTION_MIB = 100

# What the DaemonSets of a GKE user node request, about: Dataplane V2, logging and metrics agents, the PD
# and NFS CSI node plugins, the image puller. An estimate, kept on the safe side.
DAEMONSET_MILLICPU = 400
DAEMONSET_MIB = 512


@dataclass(frozen=True)
class Node:
    millicpu: int  # allocatable to pods, after the DaemonSets
    mib: int


def _tiered(total: float, tiers: tuple[tuple[float, float], ...]) -> float:
    reserved, left = 0.0, total
    for size, share in tiers:
        part = min(left, size)
        reserved += part * share
        left -= part
    return reserved


def machine_shape(machine_type: str) -> Optional[tuple[str, int, int]]:
    """A predefined machine type's family (e2, n2, n2d), vCPUs and GiB of memory; None for a type not sized here."""
    match = _MACHINE_TYPE.match(machine_type)
    if not match:
        return None
    vcpus = int(match.group(3))
    return match.group(1), vcpus, vcpus * _GIB_PER_VCPU[match.group(2)]


def gke_node(machine_type: str) -> Optional[Node]:
    """What a GKE node of this machine type has for trainees' servers; None for a type not sized here."""
    shape = machine_shape(machine_type)
    if shape is None:
        return None
    _, vcpus, gib = shape
    millicpu = vcpus * 1000 - math.ceil(_tiered(vcpus, _CPU_TIERS) * 1000)
    mib = gib * 1024 - math.ceil(_tiered(gib, _MEMORY_TIERS) * 1024) - _EVICTION_MIB
    return Node(millicpu=millicpu - DAEMONSET_MILLICPU, mib=mib - DAEMONSET_MIB)


def servers_per_node(node: Node, cpu_millis: int, memory_bytes: int) -> int:
    """Servers that fit on a node by their guarantees (a server without a CPU guarantee counts by memory)."""
    by_memory = node.mib * 2**20 // memory_bytes
    return min(by_memory, node.millicpu // cpu_millis) if cpu_millis else by_memory


def nodes_for(users: int, per_node: int) -> int:
    return math.ceil(users / per_node)


def session_placeholders(trainees: int, standing: int) -> int:
    """Placeholders before a class session (hub.schedule): one for each expected trainee, so that every server of
    the default profile finds its room on a ready node; never fewer than hub.placeholders, which stand all week."""
    return max(trainees, standing)


def nodes_holding(pods: int, per_node: int, max_nodes: int) -> int:
    """Nodes the user pool grows to for servers and placeholders of the default profile's size: a placeholder a server
    displaces waits for room of its own, which the autoscaler adds up to maxNodes."""
    return min(max_nodes, nodes_for(pods, per_node))


# How long cluster-autoscaler keeps nodes it no longer needs: a node is removed once unneeded for 10 minutes, and
# not within 10 minutes of the last scale-up (kubernetes/autoscaler cluster-autoscaler-1.34.5, config/const.go,
# DefaultScaleDownUnneededTime; config/flags/flags.go, scale-down-delay-after-add). Both start at the latest when the
# displaced placeholders go, at the end of a session's arrival time. GKE runs its own build of the autoscaler.
SCALE_DOWN_MINUTES = 10
