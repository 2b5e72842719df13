"""Write Pulumi.yaml's config block from the settings models (components/*/settings.py), which declare each setting's
default and description.

    python -m tools.configdoc

Only the block from `config:` on is rewritten; the rest of Pulumi.yaml and its comments stay as they are.
tests/tools/test_configdoc.py fails when the committed block differs from what the models say.
"""

import json
import sys
import textwrap

import yaml

from components.settings.loader import PROJECT_FILE, declared, kind_of

SECTIONS = {"cluster": "cluster", "storage": "storage", "services": "data services", "hub": "hub", "auth": "login"}
# Only string settings declare their type: Pulumi 3.202 and later mis-validates nested whole-number and true/false
# settings that declare one (pulumi/pulumi#21219), so their kind leads the description.
KINDS = {bool: "(true or false) ", int: "(whole number) ", list: "(list of strings) "}
WIDTH, FOLDED_WIDTH = 120, 110  # a description on its own line; folded (>-) over several


def _scalar(value: object) -> str:
    """A value as YAML writes it: plain when that reads back as the same, else quoted (lists in flow style)."""
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    if not isinstance(value, str):
        return json.dumps(value)
    try:
        plain = value != "" and yaml.safe_load(value) == value
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def block() -> str:
    """The config block: every scalar setting with its type (strings), default and description, by section."""
    lines, section = ["config:"], None
    for key, field in declared():
        if kind_of(field) != "scalar":
            continue
        if key.split(".")[0] in SECTIONS and key.split(".")[0] != section:
            section = key.split(".")[0]
            lines += ["", f"  # --- {SECTIONS[section]} ".ljust(97, "-")]
        kind = KINDS.get(type(field.default))
        lines += [f"  {key}:", *(["    type: string"] if kind is None else []), f"    default: {_scalar(field.default)}"]
        description = f"    description: {_scalar(field.description)}"
        if kind is None and len(description) <= WIDTH:
            lines.append(description)
        else:
            lines += ["    description: >-", *textwrap.wrap((kind or "") + field.description, FOLDED_WIDTH, initial_indent=" " * 6,
                                                            subsequent_indent=" " * 6, break_on_hyphens=False)]
    return "\n".join(lines) + "\n"


def project_file() -> str:
    """Pulumi.yaml with its config block as the models declare it (the block runs to the next top-level key)."""
    text = PROJECT_FILE.read_text()
    start = text.index("\nconfig:\n") + 1
    rest = [line for line in text[start:].splitlines(keepends=True)[1:] if line[:1] not in ("", " ", "#", "\n")]
    end = text.index(rest[0], start) if rest else len(text)
    return text[:start] + block() + ("\n" + text[end:] if rest else "")


def main() -> int:
    updated = project_file()
    if updated == PROJECT_FILE.read_text():
        print(f"{PROJECT_FILE.name}: the config block already matches the settings models")
        return 0
    PROJECT_FILE.write_text(updated)
    print(f"{PROJECT_FILE.name}: config block written from the settings models "
          f"({sum(kind_of(field) == 'scalar' for _, field in declared())} settings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
