"""The guardrails as pulumi-policy policies: the engine's view of a resource, handed to guardrails.py.

pulumi-policy 1.21.0 gives a validation the properties with secrets decrypted and unmarked (the engine
sends them marked; the SDK unwraps them, pulumi/pulumi-policy#241), so "is this value secret?" could
not be answered. show_markers() makes the SDK's deserializer keep the engine's marks as the offline
preview writes them: a secret as "[secret]", a value unknown during preview as "[unknown]". The
guardrails then see exactly what the tests give them, and no policy ever holds a plaintext secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as sdk
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy import proxy

import guardrails

_UNKNOWNS = {
    proxy.UNKNOWN_BOOLEAN_VALUE, proxy.UNKNOWN_NUMBER_VALUE, proxy.UNKNOWN_STRING_VALUE, proxy.UNKNOWN_ARRAY_VALUE,
    proxy.UNKNOWN_ASSET_VALUE, proxy.UNKNOWN_ARCHIVE_VALUE, proxy.UNKNOWN_OBJECT_VALUE,
}


def with_markers(value: Any) -> Any:
    """Properties as the engine sends them (JSON), with secrets and unknowns replaced by the markers."""
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return guardrails.SECRET
        return {key: with_markers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_markers(item) for item in value]
    if isinstance(value, str) and value in _UNKNOWNS:
        return guardrails.UNKNOWN
    return value


def show_markers() -> None:
    """Have the SDK deserialize the properties of validations with markers (remediation is unchanged)."""
    original = sdk.deserialize_properties
    if getattr(original, "shows_markers", False):
        return

    def deserialize(props: dict, proxy_secrets: bool = False) -> dict:
        return original(props if proxy_secrets else with_markers(props), proxy_secrets)

    deserialize.shows_markers = True  # type: ignore[attr-defined]
    sdk.deserialize_properties = deserialize


def plain(value: Any) -> Any:
    """The SDK's read-only proxies as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(item) for item in value]
    return value


def _resource_policy(name: str, description: str, check) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        for message in check(args.resource_type, plain(args.props)):
            report_violation(message)

    return ResourceValidationPolicy(name=name, description=description, validate=validate)


def _data_disk(args: ResourceValidationArgs, report_violation) -> None:
    for message in guardrails.data_disk_protected(args.resource_type, bool(args.opts.protect)):
        report_violation(message)


def _public_folder(args: StackValidationArgs, report_violation) -> None:
    resources = [(r.resource_type, plain(r.props), r.urn) for r in args.resources]
    claims = guardrails.public_claims([(type_, props) for type_, props, _ in resources])
    for type_, props, urn in resources:
        for message in guardrails.public_folder_read_only(type_, props, claims):
            report_violation(message, urn)


def policies() -> list:
    return [
        ResourceValidationPolicy(name=guardrails.DATA_DISK_RULE[0], description=guardrails.DATA_DISK_RULE[1],
                                 validate=_data_disk),
        *(_resource_policy(name, description, check) for name, (description, check) in guardrails.RESOURCE_RULES.items()),
        StackValidationPolicy(name=guardrails.PUBLIC_FOLDER_RULE[0], description=guardrails.PUBLIC_FOLDER_RULE[1],
                              validate=_public_folder),
    ]


PACK_NAME = "mltraining-guardrails"
ENFORCEMENT = EnforcementLevel.MANDATORY
