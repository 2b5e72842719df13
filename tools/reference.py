"""The upstream reference data the tests validate against: the Zero to JupyterHub 4.4.0 values schema and
defaults, and Strimzi 1.2.0's CRDs for Kafka, KafkaTopic and KafkaNodePool.

    python -m tools.reference     # make sure the files are there, print the folder that holds them

The folder is, in this order: the one named by $ML_TRAINING_REFERENCE; else ../shared/reference beside the
checkout when it holds the files; else .tools/reference/ in the checkout (ignored by git), filled by
downloading each file from its pinned release tag on raw.githubusercontent.com. Every file, wherever it
comes from, must match the sha256 pinned below. A missing or wrong file, or a failed download, stops with
one line (exit status 1) saying which file and what to do.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional, TextIO

ROOT = Path(__file__).resolve().parent.parent
ENV = "ML_TRAINING_REFERENCE"
SHARED = ROOT.parent / "shared" / "reference"
CACHE = ROOT / ".tools" / "reference"
GITHUB = "https://raw.githubusercontent.com"

# Each folder holds upstream files from one path at one release tag.
SOURCES = {
    "z2jh-4.4.0": "jupyterhub/zero-to-jupyterhub-k8s/4.4.0/jupyterhub",
    "strimzi-1.2.0": "strimzi/strimzi-kafka-operator/1.2.0/install/cluster-operator",
}
SHA256 = {
    "z2jh-4.4.0/values.schema.yaml": "1d9d48ee343efda1140edfc3de4d8ec4113ae9173bf9e44b83f19c2ca335a0dc",
    "z2jh-4.4.0/values.yaml": "d61742ce43e33262bb8fa0d68b6b9e7a7b229a3c7ce6d5a08cf97788c0ba796b",
    "strimzi-1.2.0/040-Crd-kafka.yaml": "b5b27fc8d52068a77cde7c40d47c068023c7b4e92fc266c45200db2d2506392a",
    "strimzi-1.2.0/043-Crd-kafkatopic.yaml": "36390f0731c699448076d4ee739e8b7f331d083e91a7fb71500aaa830ab1127e",
    "strimzi-1.2.0/045-Crd-kafkanodepool.yaml": "411c1b32ef8c1a6408ac9d4fe791115a6ce2b41107204588f976a3ed19be2430",
}
TIMEOUT = 60  # seconds per file


class ReferenceDataError(Exception):
    """A reference file is missing, wrong or cannot be downloaded; the message is one line."""


def url(name: str, base_url: str = GITHUB) -> str:
    folder, file = name.split("/")
    return f"{base_url.rstrip('/')}/{SOURCES[folder]}/{file}"


def shown(path: Path) -> str:
    """A path as a person finds it: relative to the checkout, or to the folder beside it."""
    for base, prefix in ((ROOT, ""), (ROOT.parent, "../")):
        if path.is_relative_to(base):
            return prefix + str(path.relative_to(base))
    return str(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in SHA256)


def check(folder: Path, advice: str) -> Path:
    """The folder, when it holds every file with its pinned sha256."""
    for name, expected in SHA256.items():
        path = folder / name
        if not path.is_file():
            raise ReferenceDataError(f"{shown(path)} is missing: {advice}")
        digest = sha256(path)
        if digest != expected:
            raise ReferenceDataError(f"{shown(path)} is not the pinned upstream file (sha256 {digest}, "
                                     f"expected {expected}): replace it with {url(name)}, or {advice}")
    return folder


def download(name: str, target: Path, base_url: str) -> None:
    """One file into target, written only when its sha256 is the pinned one (never a partial file)."""
    source = url(name, base_url)
    try:
        with urllib.request.urlopen(source, timeout=TIMEOUT) as response:
            data = response.read()
    except (OSError, http.client.HTTPException) as error:
        cause = getattr(error, "reason", None) or error
        reason = " ".join(str(cause).split()) or type(cause).__name__
        raise ReferenceDataError(
            f"cannot download {name} from {source} ({reason}): connect to the network and retry, or set "
            f"{ENV} to a folder holding the pinned files (or provide {shown(SHARED)})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise ReferenceDataError(
            f"{name} downloaded from {source} has sha256 {digest}, not the pinned {SHA256[name]}: nothing was "
            f"saved; retry later, or set {ENV} to a folder holding the pinned files (or provide {shown(SHARED)})")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part",
                                     delete=False) as part:
        part.write(data)
    try:
        os.replace(part.name, target)
    except BaseException:
        os.unlink(part.name)
        raise


def fetch(cache: Path = CACHE, base_url: str = GITHUB, log: TextIO = sys.stderr) -> Path:
    """The cache, with every file that is missing or wrong in it downloaded from its pinned tag."""
    wanted = [name for name, expected in SHA256.items()
              if not (cache / name).is_file() or sha256(cache / name) != expected]
    if wanted:
        print(f"Fetching reference data ({len(wanted)} files, pinned by sha256) from {base_url} into "
              f"{shown(cache)}", file=log, flush=True)
    for name in wanted:
        download(name, cache / name, base_url)
    return cache


def ensure(environ: Optional[Mapping[str, str]] = None, shared: Path = SHARED, cache: Path = CACHE,
           base_url: str = GITHUB, log: TextIO = sys.stderr) -> Path:
    """The folder holding the verified reference files: $ML_TRAINING_REFERENCE, ../shared/reference or the
    cache (downloaded as needed)."""
    chosen = (os.environ if environ is None else environ).get(ENV)
    if chosen:
        return check(Path(chosen).resolve(), f"point {ENV} at a folder holding the pinned files, or unset it")
    if complete(shared):
        return check(shared, f"set {ENV} to a folder holding the pinned files")
    return fetch(cache, base_url, log)


@lru_cache(maxsize=None)
def folder() -> Path:
    """For tests: the reference folder (tools/test resolves it once and exports it as $ML_TRAINING_REFERENCE)."""
    return ensure()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=GITHUB,
                        help="where to download from: raw.githubusercontent.com or a mirror of its paths (tests)")
    args = parser.parse_args(argv)
    try:
        found = ensure(base_url=args.base_url)
    except ReferenceDataError as error:
        print(f"Reference data: {error}", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
