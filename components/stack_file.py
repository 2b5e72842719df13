"""The stack file (Pulumi.STACK.yaml) as written: which values are `secure:` and which keys it names.

The engine passes the program every map that holds a secret as a whole secret, so only the file tells a
plaintext value from a `secure:` one beside it. The offline preview builds its configuration from the same
document (with test overrides) and hands it to the program through `use()`.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, Optional

import pulumi
import yaml

ROOT = Path(__file__).resolve().parent.parent

# The document the offline preview evaluates; unset in a real run, where the program reads the file.
_document: ContextVar[Optional[dict]] = ContextVar("stack_document", default=None)


class StackFileError(pulumi.RunError):
    """A stack file that is not valid YAML or not a map of settings: one line with the file and line."""


def path(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"


def read(file: Path) -> dict:
    """The stack file's document, {} for an empty file."""
    try:
        document = yaml.safe_load(file.read_text()) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}" if mark else ""
        raise StackFileError(f"Invalid stack file {file.name}{where}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"Invalid stack file {file.name}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config") or {}, dict):
        raise StackFileError(f"Invalid stack file {file.name}: expected a map with a config: map of settings")
    return document


def use(document: Optional[dict]) -> None:
    """Make the program read this document instead of the stack file (the offline preview)."""
    _document.set(document)


def config(stack: str) -> Optional[dict]:
    """The stack's config: map as written, or None when the file cannot tell: there is none, or it imports
    Pulumi ESC environments, whose values reach the program without being written in it."""
    document = _document.get()
    if document is None:
        file = path(stack)
        if not file.exists():
            return None
        document = read(file)
    if document.get("environment"):
        return None
    return dict(document.get("config") or {})


def is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def secure_paths(config_map: dict) -> set[str]:
    """The settings written as `secure:` values, as full keys with paths: mltraining:auth.clientSecret."""
    found = set()

    def walk(value: Any, where: str) -> None:
        if is_secure(value):
            found.add(where)
        elif isinstance(value, dict):
            for name, item in value.items():
                walk(item, f"{where}.{name}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    for key, value in config_map.items():
        walk(value, str(key))
    return found
