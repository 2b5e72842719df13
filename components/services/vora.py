"""SAP Vora, optional: the customer's licensed chart, with images from their private registry."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.cluster import ClusterResult
from components.settings import VoraSettings
from components.services.user_access import UserAccess

PULL_SECRET = "vora-registry"


@dataclass(frozen=True)
class VoraArgs:
    settings: VoraSettings
    cluster: ClusterResult


def docker_config_json(registry: str, username: str, password: str) -> str:
    """The .dockerconfigjson of an image pull secret for one registry, as `kubectl create secret docker-registry` writes it."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}})


def merge_values(base: dict, extra: dict) -> dict:
    """Helm's merge of values: maps merge key by key, anything else in extra replaces."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = merge_values(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


class Vora(pulumi.ComponentResource):
    """The customer's Vora chart in a namespace of its own, pulling its images with a secret from config."""

    namespace: k8s.core.v1.Namespace
    pull_secret: k8s.core.v1.Secret
    release: k8s.helm.v3.Release
    user_access: UserAccess

    def __init__(self, name: str, args: VoraArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mltraining:services:Vora", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, provider=args.cluster.provider)

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": settings.namespace, "labels": {"app.kubernetes.io/part-of": "ml-training"}},
            opts=child,
        )
        namespace = self.namespace.metadata.name
        # apply keeps the password's secrecy; Output.secret makes sure of it for the whole document.
        config = pulumi.Output.secret(settings.registry_password.apply(
            lambda password: base64.b64encode(
                docker_config_json(settings.registry, settings.registry_username, password).encode()).decode()))
        self.pull_secret = k8s.core.v1.Secret(
            f"{name}-pull-secret",
            metadata={"name": PULL_SECRET, "namespace": namespace},
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": config},
            opts=child,
        )
        # The chart's own keys for registry and pull secret are unknown here: the common `global` ones are set,
        # and services.vora.values (merged over them) maps them to whatever the customer's chart reads.
        values: dict[str, Any] = merge_values(
            {"global": {"imageRegistry": settings.registry, "imagePullSecrets": [{"name": PULL_SECRET}]}},
            settings.values,
        )
        remote = bool(settings.repository) or settings.chart.startswith("oci://")
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="vora",
            chart=settings.chart,
            version=settings.version if remote else None,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=settings.repository) if settings.repository else None,
            namespace=namespace,
            values=values,
            timeout=1800,  # a large distribution: many images to pull from the customer's registry
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.pull_secret])),
        )
        # Vora's client ports depend on the customer's distribution: notebooks may reach any pod of its namespace.
        self.user_access = UserAccess(
            environment={"VORA_NAMESPACE": settings.namespace},
            egress=({"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.namespace}}}]},),
        )
        self.register_outputs({"namespace": namespace})
