"""A warm start for every class session (hub.schedule; README, "Class size").

Before a session (hub.scheduleLeadMinutes) the hub's user placeholders grow to one for each expected trainee
(components/cluster/capacity.py), so that the autoscaler has added the user nodes, and the continuous pre-puller has pulled
the profile images onto them (hub.prePuller), when the trainees arrive. Each server that starts evicts a placeholder
(components/hub/hub.py, PLACEHOLDER_PRIORITY), which then waits for a node of its own; once the trainees have arrived
(hub.scheduleArrivalMinutes after the start, or at the session's end if that comes first) the placeholders shrink back
to hub.placeholders, so that the pool keeps the trainees' nodes and lets the displaced placeholders' go. CronJobs in
the cluster set the count with kubectl at those times, in the sessions' time zone, as the only thing a ServiceAccount
of their own may do.

The count at any moment of the week is the largest one asked for then: hub.placeholders, or a session's from its lead
time to the end of its arrival time. A CronJob runs at each moment the count changes, one per time of day and count,
on every weekday it applies to (a lead time before midnight falls on the day before). A `pulumi up` leaves the count a
CronJob set: Helm 3 upgrades an object by a three-way merge of the last release's manifest, the new one and the live
object (helm/helm v3.20.2, the Helm of pulumi/pulumi-kubernetes' provider/go.mod in July 2026: pkg/kube/client.go,
createPatch), and the chart's count changes only with hub.placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import capacity
from components.cluster.cluster import ClusterResult
from components.settings import WEEKDAYS, ClassSession, HubSettings

# The chart's placeholder StatefulSet: "jupyterhub.user-placeholder.fullname" is "jupyterhub.fullname.dash" followed by
# user-placeholder (jupyterhub/zero-to-jupyterhub-k8s 4.4.0, jupyterhub/templates/_helpers-names.tpl), which is empty
# as the chart's fullnameOverride is the string "" (jupyterhub/values.yaml), so the release's name adds no prefix;
# its replicas are scheduling.userPlaceholder.replicas (jupyterhub/templates/scheduling/user-placeholder/
# statefulset.yaml, whose comment scales it the same way: "kubectl scale sts/user-placeholder --replicas 4").
PLACEHOLDER_STATEFULSET = "user-placeholder"

# kubectl 1.33: the program supports clusters of Kubernetes 1.31 and newer, and kubectl is supported one minor version
# either side of its server; the command uses only a StatefulSet's autoscaling/v1 scale subresource, the same for
# years. rancher/kubectl builds an image of each version in its versions.txt (v1.33.13 added in ac9e2bb, merged as
# 6343a93), tagged with the version (.github/workflows/publish.yml), from package/Dockerfile at that commit: kubectl
# downloaded from dl.k8s.io/release/v1.33.13 and checked against its sha256, as /bin/kubectl on an empty (scratch)
# image with the /etc/passwd and /etc/group of "useradd -u 1000 -U -m kubectl", USER kubectl, ENTRYPOINT
# ["/bin/kubectl"]. Its README calls the image deprecated for Rancher's own projects; versions.txt still gains every
# Kubernetes release (v1.36.2 in ac9e2bb, 2026-06-22).
KUBECTL_IMAGE = "docker.io/rancher/kubectl:v1.33.13"
KUBECTL_UID = 1000  # the image's user kubectl
SERVICE_ACCOUNT = "placeholder-scaler"
LABELS = {"app.kubernetes.io/part-of": "ml-training", "app.kubernetes.io/component": "placeholder-schedule"}
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
# Cron's day-of-week numbers (0 is Sunday), for WEEKDAYS.
CRON_DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
# A run the controller misses (it was down) still happens within this time, as long as it matters.
STARTING_DEADLINE_SECONDS = 15 * 60


@dataclass(frozen=True)
class Change:
    """A time of day at which the placeholders become `replicas`, on the given weekdays (the sessions' time zone)."""

    days: tuple[str, ...]  # of WEEKDAYS, in the week's order
    minute: int  # of the day
    replicas: int

    @property
    def schedule(self) -> str:
        """The CronJob's schedule: minute, hour, every day of month and month, the weekdays."""
        days = ",".join(str(CRON_DAYS[day]) for day in sorted(self.days, key=CRON_DAYS.get))
        return f"{self.minute % 60} {self.minute // 60} * * {days}"

    @property
    def name(self) -> str:
        """placeholders-<days>-<HHMM>: unique, as a weekday's time has one count; at most 45 characters, within a
        CronJob name's 52."""
        return f"placeholders-{'-'.join(self.days)}-{self.minute // 60:02d}{self.minute % 60:02d}"


@dataclass(frozen=True)
class Timing:
    """When a session's placeholders are held: lead minutes before its start to arrival minutes after it (at most its
    end); hub.placeholders stand the rest of the week."""

    lead: int
    arrival: int
    standing: int

    @classmethod
    def of(cls, hub: HubSettings) -> "Timing":
        return cls(hub.schedule_lead_minutes, hub.schedule_arrival_minutes, hub.placeholders)

    def held_minutes(self, session: ClassSession) -> int:
        """How long after its start a session holds its placeholders."""
        return min(self.arrival, session.end_minute - session.start_minute)

    def windows(self, session: ClassSession) -> list[tuple[int, int]]:
        """The minutes of the week (from Monday 00:00) a session holds its placeholders."""
        return [(WEEKDAYS.index(day) * MINUTES_PER_DAY + session.start_minute - self.lead,
                 WEEKDAYS.index(day) * MINUTES_PER_DAY + session.start_minute + self.held_minutes(session))
                for day in session.days]


def replicas_at(minute: int, sessions: tuple[ClassSession, ...], timing: Timing) -> int:
    """The placeholders at a minute of the week: the most any session holds then, at least hub.placeholders."""
    held = [capacity.session_placeholders(session.trainees, timing.standing) for session in sessions
            for start, end in timing.windows(session) if (minute - start) % MINUTES_PER_WEEK < end - start]
    return max([timing.standing, *held])


def changes(sessions: tuple[ClassSession, ...], timing: Timing) -> tuple[Change, ...]:
    """The moments of the week the placeholders change, each time of day and count with its weekdays."""
    moments = sorted({edge % MINUTES_PER_WEEK for session in sessions for window in timing.windows(session)
                      for edge in window})
    counts = [replicas_at(moment, sessions, timing) for moment in moments]
    grouped: dict[tuple[int, int], list[str]] = {}
    for index, moment in enumerate(moments):
        if counts[index] != counts[index - 1]:  # the first moment compares with the last: the week goes round
            grouped.setdefault((moment % MINUTES_PER_DAY, counts[index]), []).append(WEEKDAYS[moment // MINUTES_PER_DAY])
    found = [Change(days=tuple(days), minute=minute, replicas=replicas) for (minute, replicas), days in grouped.items()]
    return tuple(sorted(found, key=lambda change: (change.minute, WEEKDAYS.index(change.days[0]))))


@dataclass(frozen=True)
class PlaceholderScheduleArgs:
    hub: HubSettings
    cluster: ClusterResult


class PlaceholderSchedule(pulumi.ComponentResource):
    """The CronJobs that scale the chart's placeholders for hub.schedule, and the account they do it as."""

    cron_jobs: list[k8s.batch.v1.CronJob]

    def __init__(self, name: str, args: PlaceholderScheduleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:hub:PlaceholderSchedule", name, None, opts)
        hub, cluster = args.hub, args.cluster
        child = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        namespace = cluster.namespace
        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata={"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": LABELS},
            automount_service_account_token=False,  # only the CronJobs' pods mount its token
            opts=child,
        )
        # What `kubectl scale statefulset/user-placeholder --replicas=N` does, and no more (kubernetes/kubectl
        # kubernetes-1.33.13, pkg/cmd/scale/scale.go, RunScale): the resource builder gets the named StatefulSet
        # (kubernetes/cli-runtime kubernetes-1.33.13, pkg/resource/builder.go, Do: RetrieveLazy, as requireObject is
        # true), then without --current-replicas or --resource-version there is no precondition, so the scaler only
        # patches the scale subresource (pkg/scale/scale.go, ScaleSimple: a merge patch of spec.replicas), and
        # --record is off. Discovery (/api, /apis) is every authenticated account's (the ClusterRoleBinding
        # system:discovery to system:authenticated; kubernetes/enhancements, keps/sig-auth/789).
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata={"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": LABELS},
            rules=[
                {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": [PLACEHOLDER_STATEFULSET],
                 "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["statefulsets/scale"], "resourceNames": [PLACEHOLDER_STATEFULSET],
                 "verbs": ["patch"]},
            ],
            opts=child,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-role-binding",
            metadata={"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": LABELS},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": account.metadata.name, "namespace": namespace}],
            opts=child,
        )
        time_zone = hub.schedule[0].time_zone  # settings: one for every session
        self.cron_jobs = [
            k8s.batch.v1.CronJob(
                f"{name}-{change.name}",
                metadata={"name": change.name, "namespace": namespace, "labels": LABELS},
                spec={
                    "schedule": change.schedule,
                    # Kubernetes 1.27 and later (KEP-3140, TimeZone support in CronJob, stable in 1.27;
                    # kubernetes/enhancements, keps/sig-apps/3140-TimeZone-support-in-CronJob).
                    "timeZone": time_zone,
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
                    "jobTemplate": {"metadata": {"labels": LABELS}, "spec": {
                        "backoffLimit": 3,
                        "activeDeadlineSeconds": 300,
                        "template": {"metadata": {"labels": LABELS}, "spec": self._pod(change, account, namespace,
                                                                                        cluster)},
                    }},
                },
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[binding])),
            )
            for change in changes(hub.schedule, Timing.of(hub))
        ]
        self.register_outputs({"cronJobs": [job.metadata.name for job in self.cron_jobs]})

    @staticmethod
    def _pod(change: Change, account: k8s.core.v1.ServiceAccount, namespace: pulumi.Input[str],
             cluster: ClusterResult) -> dict:
        return {
            "restartPolicy": "Never",
            "serviceAccountName": account.metadata.name,
            # kubectl finds the API server and its token in the pod (kubernetes/client-go kubernetes-1.33.13,
            # tools/clientcmd/merged_client_builder.go: without a kubeconfig, the in-cluster configuration).
            "automountServiceAccountToken": True,
            "nodeSelector": cluster.core_node_selector,
            "securityContext": {"runAsUser": KUBECTL_UID, "runAsGroup": KUBECTL_UID, "runAsNonRoot": True,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "kubectl",
                "image": KUBECTL_IMAGE,
                "args": ["scale", f"statefulset/{PLACEHOLDER_STATEFULSET}", f"--replicas={change.replicas}",
                         pulumi.Output.concat("--namespace=", namespace)],
                # Nothing to write: kubectl's discovery cache fails to write and goes on (kubernetes/client-go
                # kubernetes-1.33.13, discovery/cached/disk/cached_discovery.go and round_tripper.go).
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True},
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            }],
        }
