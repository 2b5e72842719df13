"""The project's own files that its comments, messages and documents cite exist: a module that moved leaves no
citation behind (upstream paths, such as a chart's files, are checked where they are read)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path of the project's Python: components/hub/hub.py, tests/storage/test_nfs_server*.py, tools/smoke.py.
OWN_PATH = re.compile(r"(?<![\w/.-])((?:components|tests|tools)/[\w/]+\*?\.py)\b")
# A name in a module, as a message gives it: components.services.spark.RUNTIMES.
OWN_NAME = re.compile(r"(?<![\w.])(components(?:\.[a-z_]+)+)\.([A-Za-z_]\w*)\b")
# A constant of a project file, as a comment cites it: (components/hub/hub.py, PLACEHOLDER_PRIORITY).
OWN_CONSTANT = re.compile(r"\((components/[\w/]+\.py), ([A-Z][A-Z0-9_]+)[),;]")
# A citation of a file as it was, which may be gone since: "components/settings.py (before commit 6252cd0)".
HISTORY = re.compile(r"\s*\(?before\s+commit\s+[0-9a-f]{7,40}")


def cited_files() -> list[Path]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    # This file's own examples are stale on purpose.
    return [ROOT / name for name in tracked if not name.startswith("tests/snapshots/")
            and name != "tests/test_citations.py" and (ROOT / name).is_file()]


def citations(text: str) -> list[tuple[int, str]]:
    found = []
    for match in OWN_PATH.finditer(text):
        if not HISTORY.match(text, match.end()):
            found.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return found


def missing(path: str) -> bool:
    return not (list(ROOT.glob(path)) if "*" in path else (ROOT / path).is_file())


def unknown_name(module: str, name: str) -> bool:
    """Whether module (a dotted name) is not the project's, or does not define name at its top level."""
    base = ROOT / module.replace(".", "/")
    source = next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()), None)
    return source is None or not re.search(rf"^(def |class )?{name}\b", source.read_text(), re.M)


def test_every_cited_project_file_exists():
    stale = []
    for file in cited_files():
        try:
            text = file.read_text()
        except UnicodeDecodeError:
            continue
        stale += [f"{file.relative_to(ROOT)}:{line}: {path}" for line, path in citations(text) if missing(path)]
    assert stale == []


def test_every_cited_module_name_exists():
    stale = []
    for file in cited_files():
        if file.suffix != ".py":
            continue
        for match in OWN_NAME.finditer(file.read_text()):
            module, name = match.groups()
            if name[0].isupper() and unknown_name(module, name):  # a constant or a class
                stale.append(f"{file.relative_to(ROOT)}: {match.group(0)}")
    for file in cited_files():
        try:
            text = file.read_text()
        except UnicodeDecodeError:
            continue
        for match in OWN_CONSTANT.finditer(text):
            path, name = match.groups()
            if not missing(path) and unknown_name(path[:-3].replace("/", "."), name):
                stale.append(f"{file.relative_to(ROOT)}: {match.group(0)}")
    assert stale == []


def test_the_checks_find_a_moved_module_and_leave_history_alone():
    text = "see components/spark.py (RUNTIMES)\nas components/settings.py (before commit 6252cd0) did\n"
    assert citations(text) == [(1, "components/spark.py")]
    assert missing("components/spark.py") and not missing("components/services/spark.py")
    assert not missing("tests/storage/test_nfs_server*.py") and missing("tests/test_nfs_server*.py")
    assert unknown_name("components.spark", "RUNTIMES") and not unknown_name("components.services.spark", "RUNTIMES")
    assert [m.groups() for m in OWN_CONSTANT.finditer("(components/hub/hub.py, POD_PRIORITY), (x.py, Y)")] == [
        ("components/hub/hub.py", "POD_PRIORITY")]
    assert unknown_name("components.hub.hub", "POD_PRIORITY")
    assert not unknown_name("components.hub.hub", "PLACEHOLDER_PRIORITY")
