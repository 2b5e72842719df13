"""Plan the class sessions of a stack: placeholders, user nodes and what the user pool costs.

    python -m tools.capacity STACK

Reads Pulumi.STACK.yaml offline, as the program reads it (tools/preview.py: no Pulumi CLI, cloud account or cluster),
and prints for each session of hub.schedule its weekdays and times, the expected trainees, the placeholders that hold
room for their servers, the user nodes ready when it starts, those the pool grows to while the trainees arrive and
those it keeps while they work, and the pool's cost per hour then; then the week's total and a result line. The
arithmetic is the program's own (components/cluster/capacity.py, components/hub/schedule.py). On an existing cluster,
nodes and prices are not the program's to know: it prints the CPU and memory the placeholders reserve instead. A
mistake in the configuration prints its one line and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Optional

import pulumi

from components.cluster import capacity
from components.hub import schedule
from components.settings import Settings, quantity_bytes, servers_per_user_node
from tools import preview as offline

# On-demand prices per hour of Compute Engine's E2, N2 and N2D machine types (those components/cluster/capacity.py sizes),
# which are billed by vCPU and by GiB of memory: (vCPU, GiB) in US dollars, by family and region, from the Cloud
# Billing Catalog as of 2026-07-30 (Cyclenerd/google-cloud-pricing-cost-calculator, pricing.yml at fd66b26,
# "generated: Thu Jul 30 06:13:17 2026"): every standard, highmem and highcpu type of these families costs there
# exactly its vCPUs times the first plus its GiB times the second. A GKE Standard node costs its machine's price
# (the cluster fee is per cluster); disks and network are not counted.
PRICES_AS_OF = "2026-07-30"
PRICES = {
    ("e2", "us-central1"): (0.02181159, 0.00292353),
    ("e2", "europe-west3"): (0.0281037, 0.00376602),
    ("n2", "us-central1"): (0.031611, 0.004237),
    ("n2", "europe-west3"): (0.04073, 0.005458),
    ("n2d", "us-central1"): (0.027502, 0.003686),
    ("n2d", "europe-west3"): (0.035435, 0.004748),
}


def region(location: str) -> str:
    """The region of a GKE location, a zone (europe-west3-a) or a region."""
    return location if location.count("-") == 1 else location.rsplit("-", 1)[0]


def node_price(machine_type: str, location: str) -> Optional[float]:
    """A node's on-demand price per hour; None for a machine type or region without a price here."""
    shape = capacity.machine_shape(machine_type)
    if shape is None or (shape[0], region(location)) not in PRICES:
        return None
    family, vcpus, gib = shape
    per_vcpu, per_gib = PRICES[(family, region(location))]
    return vcpus * per_vcpu + gib * per_gib


@dataclass(frozen=True)
class Pool:
    """A gke user pool whose machine type is sized: servers per node, and its price when the table has one."""

    machine_type: str
    min_nodes: int
    max_nodes: int
    per_node: int
    price: Optional[float]

    def nodes(self, servers: int) -> int:
        return max(self.min_nodes, capacity.nodes_for(servers, self.per_node))

    def holding(self, pods: int) -> int:
        """Nodes for servers and placeholders together, within minNodes and maxNodes."""
        return max(self.min_nodes, capacity.nodes_holding(pods, self.per_node, self.max_nodes))


def _cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _pool(settings: Settings, lines: list[str]) -> Optional[Pool]:
    """The user pool, described in lines; None, with the reason, where its nodes cannot be known."""
    gke = settings.cluster.gke
    if gke is None:
        lines.append("existing cluster: its nodes and their price are not the program's to know; below, the CPU and "
                     "memory the placeholders reserve")
        return None
    user = gke.user_pool
    per_node = servers_per_user_node(settings.cluster, settings.hub)
    if per_node is None:
        lines.append(f"cluster.userPool.machineType {user.machine_type} is not sized by components/cluster/capacity.py: its "
                     "nodes cannot be known; below, the CPU and memory the placeholders reserve")
        return None
    price = node_price(user.machine_type, gke.location)
    where = region(gke.location)
    cost = (f"${price:.4f} an hour each (on-demand in {where}, prices of {PRICES_AS_OF}"
            f"{'; the pool is spot, which costs less' if user.spot else ''})" if price is not None else
            f"no price for it in {where} here (prices of {', '.join(sorted({r for _, r in PRICES}))})")
    lines.append(f"user pool: {user.machine_type}, {user.min_nodes} to {user.max_nodes} nodes, {per_node} servers "
                 f"each; {cost}")
    return Pool(user.machine_type, user.min_nodes, user.max_nodes, per_node, price)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def plan(settings: Settings) -> list[str]:
    """What the planner prints, its result line last."""
    hub = settings.hub
    timing, profile = schedule.Timing.of(hub), hub.default_profile
    standing, lead = timing.standing, timing.lead
    lines = [f"Class sessions of stack {settings.stack} (hub.schedule), for servers of the default profile "
             f"{profile.name} ({profile.cpu_guarantee} CPU, {profile.memory_guarantee}):"]
    if not hub.schedule:
        return lines + [f"result: no class sessions in hub.schedule; {standing} placeholders (hub.placeholders) stand "
                        "all week"]
    lines.append(f"the placeholders grow {lead} minutes before each session (hub.scheduleLeadMinutes) and shrink to "
                 f"{standing} (hub.placeholders) {timing.arrival} minutes after its start (hub.scheduleArrivalMinutes), "
                 f"or at its end; times in {hub.schedule[0].time_zone}")
    lines.append("images: the continuous pre-puller pulls the profile images onto each new user node (hub.prePuller)"
                 if hub.pre_puller else "images: hub.prePuller is false: on a new node, each image's first server "
                 "waits for its pull")
    pool = _pool(settings, lines)
    rows = [["session", "days", "time", "trainees", "placeholders"]
            + (["CPU reserved", "memory reserved"] if pool is None else
               ["nodes ready", "nodes arriving", "nodes in session"])
            + (["pool $/hour"] if pool and pool.price is not None else [])]
    week_cost, class_minutes, most_nodes = 0.0, 0, 0
    for index, session in enumerate(hub.schedule):
        held = capacity.session_placeholders(session.trainees, standing)
        minutes = session.end_minute - session.start_minute
        class_minutes += minutes * len(session.days)
        row = [f"{index}", ",".join(session.days), f"{session.start}-{session.end}", f"{session.trainees}", f"{held}"]
        if pool is None:
            memory = held * quantity_bytes(profile.memory_guarantee) / 2**30
            row += [f"{held * _cpu_cores(profile.cpu_guarantee):g}", f"{memory:g}Gi"]
        else:
            ready = pool.nodes(held)
            # While the trainees arrive their servers displace the placeholders, which ask for room again; then the
            # placeholders shrink to hub.placeholders, unless they are held to the session's end.
            arriving = pool.holding(session.trainees + held)
            working = pool.holding(session.trainees + (held if timing.held_minutes(session) == minutes else standing))
            most_nodes = max(most_nodes, arriving)
            row += [f"{ready}", f"{arriving}", f"{working}"]
            if pool.price is not None:
                row.append(f"{working * pool.price:.2f}")
                arriving_minutes = min(minutes, timing.held_minutes(session) + capacity.SCALE_DOWN_MINUTES)
                node_minutes = lead * ready + arriving_minutes * arriving + (minutes - arriving_minutes) * working
                week_cost += len(session.days) * pool.price * node_minutes / 60
        rows.append(row)
    lines += _table(rows)
    sessions = sum(len(session.days) for session in hub.schedule)
    total = f"total: {sessions} sessions a week, {class_minutes / 60:g} hours of class"
    if pool is not None:
        lines.append(f"nodes ready: the placeholders' room as the session starts; nodes arriving: as the trainees' "
                     f"servers displace the placeholders, these ask for room again, up to maxNodes {pool.max_nodes}; "
                     f"nodes in session: once the placeholders have shrunk and the autoscaler has removed the nodes "
                     f"left empty (about {capacity.SCALE_DOWN_MINUTES} minutes later)")
    if pool is not None and pool.price is not None:
        idle = pool.nodes(standing)
        lines.append(f"outside the sessions: {standing} placeholders and minNodes {pool.min_nodes} keep {idle} "
                     f"node{'' if idle == 1 else 's'} (${idle * pool.price:.2f} an hour)")
        total += f"; the user pool costs at most ${week_cost:.2f} a week from each lead time to each session's end"
    lines.append(total)
    result = (f"result: {len(hub.schedule)} sessions planned; {len(schedule.changes(hub.schedule, timing))} "
              "CronJobs set the placeholders; ")
    if pool is None:
        return lines + [result + "the user nodes and their cost are unknown here"]
    return lines + [result + f"the user pool reaches {most_nodes} of its {pool.max_nodes} nodes"]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.STACK.yaml")
    options = parser.parse_args(argv)
    print(f"Reading the settings of stack {options.stack} offline ...", flush=True)
    try:
        settings = offline.settings(options.stack)
    except (pulumi.RunError, offline.StackNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(plan(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
