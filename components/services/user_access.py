"""What a data service gives every trainee's server: settings in its environment and network paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class UserAccess:
    """The part of a service that the hub puts into every user server and its network policy.

    environment: variables of the user container; a value is a string (or Output) or a Kubernetes
        EnvVar source such as {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}.
    egress: NetworkPolicy egress rules from user pods to the service (exactly its pods and ports).
    ingress: NetworkPolicy ingress rules into user pods (e.g. Spark executors calling the driver).
    """

    environment: dict[str, Any] = field(default_factory=dict)
    egress: tuple[dict, ...] = ()
    ingress: tuple[dict, ...] = ()
