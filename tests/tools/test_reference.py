"""The reference data: found beside the checkout or named by the environment, else downloaded from the pinned
tags (here from a real HTTP server on 127.0.0.1 only), checked by sha256, and one line when that fails."""

from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tools import reference

NAMES = sorted(reference.SHA256)


def original(name: str) -> bytes:
    return (reference.folder() / name).read_bytes()


def copies(folder: Path) -> Path:
    for name in NAMES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(original(name))
    return folder


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A loopback HTTP server with the files at raw.githubusercontent.com's paths: (its folder, base URL)."""
    root = tmp_path / "mirror"
    for name in NAMES:
        path = root / urlsplit(reference.url(name)).path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(original(name))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_urls_are_the_pinned_release_tags():
    assert reference.url("z2jh-4.4.0/values.schema.yaml") == \
        "https://raw.githubusercontent.com/jupyterhub/zero-to-jupyterhub-k8s/4.4.0/jupyterhub/values.schema.yaml"
    assert reference.url("strimzi-1.2.0/045-Crd-kafkanodepool.yaml") == \
        "https://raw.githubusercontent.com/strimzi/strimzi-kafka-operator/1.2.0/install/cluster-operator/" \
        "045-Crd-kafkanodepool.yaml"
    assert NAMES == sorted(["z2jh-4.4.0/values.schema.yaml", "z2jh-4.4.0/values.yaml",
                            "strimzi-1.2.0/040-Crd-kafka.yaml", "strimzi-1.2.0/043-Crd-kafkatopic.yaml",
                            "strimzi-1.2.0/045-Crd-kafkanodepool.yaml"])


def test_without_shared_folder_the_files_are_downloaded_into_the_cache(tmp_path, mirror):
    _, base_url = mirror
    cache, log = tmp_path / "cache", io.StringIO()
    found = reference.ensure(environ={}, shared=tmp_path / "absent", cache=cache, base_url=base_url, log=log)
    assert found == cache
    assert files_in(cache) == NAMES  # and nothing else, no partial files
    for name in NAMES:
        assert (cache / name).read_bytes() == original(name)
    assert log.getvalue().startswith(f"Fetching reference data (5 files, pinned by sha256) from {base_url} into ")


def test_a_filled_cache_needs_no_network(tmp_path, mirror, closed_port):
    _, base_url = mirror
    cache = tmp_path / "cache"
    reference.ensure(environ={}, shared=tmp_path / "absent", cache=cache, base_url=base_url, log=io.StringIO())
    log = io.StringIO()
    again = reference.ensure(environ={}, shared=tmp_path / "absent", cache=cache,
                             base_url=f"http://127.0.0.1:{closed_port}", log=log)
    assert again == cache and log.getvalue() == ""


def test_a_damaged_cached_file_is_downloaded_again(tmp_path, mirror):
    _, base_url = mirror
    cache = copies(tmp_path / "cache")
    (cache / "z2jh-4.4.0/values.yaml").write_text("truncated")
    log = io.StringIO()
    reference.ensure(environ={}, shared=tmp_path / "absent", cache=cache, base_url=base_url, log=log)
    assert (cache / "z2jh-4.4.0/values.yaml").read_bytes() == original("z2jh-4.4.0/values.yaml")
    assert "(1 files" in log.getvalue()


def test_a_tampered_download_stops_with_one_line_and_saves_nothing(tmp_path, mirror):
    root, base_url = mirror
    name = "strimzi-1.2.0/043-Crd-kafkatopic.yaml"
    served = root / urlsplit(reference.url(name)).path.lstrip("/")
    served.write_bytes(served.read_bytes().replace(b"KafkaTopic", b"KafkaTopics", 1))
    cache = tmp_path / "cache"
    with pytest.raises(reference.ReferenceDataError) as caught:
        reference.ensure(environ={}, shared=tmp_path / "absent", cache=cache, base_url=base_url, log=io.StringIO())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name} downloaded from {reference.url(name, base_url)} has sha256 ")
    assert f"not the pinned {reference.SHA256[name]}: nothing was saved" in message
    assert "ML_TRAINING_REFERENCE" in message
    assert name not in files_in(cache)
    assert not any(n.endswith(".part") for n in files_in(cache))


def test_the_shared_folder_beside_the_checkout_is_used_when_it_holds_the_files(tmp_path, closed_port):
    shared, cache = copies(tmp_path / "shared"), tmp_path / "cache"
    assert reference.ensure(environ={}, shared=shared, cache=cache, base_url=f"http://127.0.0.1:{closed_port}") \
        == shared
    assert not cache.exists()


def test_an_incomplete_shared_folder_falls_back_to_the_cache(tmp_path, mirror):
    _, base_url = mirror
    shared = copies(tmp_path / "shared")
    (shared / "z2jh-4.4.0/values.yaml").unlink()
    found = reference.ensure(environ={}, shared=shared, cache=tmp_path / "cache", base_url=base_url,
                             log=io.StringIO())
    assert found == tmp_path / "cache" and files_in(found) == NAMES


def test_a_wrong_file_in_the_shared_folder_is_one_line(tmp_path):
    shared = copies(tmp_path / "shared")
    (shared / "z2jh-4.4.0/values.yaml").write_text("{}\n")
    with pytest.raises(reference.ReferenceDataError) as caught:
        reference.ensure(environ={}, shared=shared, cache=tmp_path / "cache")
    message = str(caught.value)
    assert "\n" not in message and "values.yaml is not the pinned upstream file" in message
    assert reference.url("z2jh-4.4.0/values.yaml") in message


def test_the_environment_variable_wins_and_is_checked(tmp_path):
    chosen = copies(tmp_path / "chosen")
    assert reference.ensure(environ={"ML_TRAINING_REFERENCE": str(chosen)}, shared=copies(tmp_path / "shared"),
                            cache=tmp_path / "cache") == chosen
    (chosen / "strimzi-1.2.0/040-Crd-kafka.yaml").unlink()
    with pytest.raises(reference.ReferenceDataError, match=r"040-Crd-kafka.yaml is missing: point "
                                                           r"ML_TRAINING_REFERENCE at a folder"):
        reference.ensure(environ={"ML_TRAINING_REFERENCE": str(chosen)}, shared=tmp_path / "shared")


@pytest.fixture
def plain_clone(tmp_path) -> Path:
    """A checkout with no ../shared/reference beside it: the module copied into <tmp>/clone/tools/."""
    clone = tmp_path / "clone"
    (clone / "tools").mkdir(parents=True)
    for module in ("__init__.py", "reference.py"):
        shutil.copy(Path(reference.__file__).with_name(module), clone / "tools" / module)
    return clone


def run_module(clone: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "ML_TRAINING_REFERENCE"} | env
    return subprocess.run([sys.executable, "-m", "tools.reference", *args], cwd=clone, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_offline_on_a_plain_clone_the_command_stops_with_one_line(plain_clone, closed_port):
    base_url = f"http://127.0.0.1:{closed_port}"
    result = run_module(plain_clone, "--base-url", base_url, ML_TRAINING_REFERENCE="")
    assert result.returncode == 1 and result.stdout == ""
    fetching, error = result.stderr.splitlines()
    assert fetching.startswith("Fetching reference data (5 files") and fetching.endswith(" into .tools/reference")
    first = next(iter(reference.SHA256))  # the first file it tries
    assert error.startswith(f"Reference data: cannot download {first} from {reference.url(first, base_url)} (")
    assert "connect to the network and retry, or set ML_TRAINING_REFERENCE" in error
    assert "../shared/reference" in error
    assert files_in(plain_clone / ".tools") == []


def test_on_a_plain_clone_the_command_fills_the_cache_and_prints_it(plain_clone, mirror, closed_port):
    _, base_url = mirror
    result = run_module(plain_clone, "--base-url", base_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{plain_clone / '.tools' / 'reference'}\n"
    assert files_in(plain_clone / ".tools" / "reference") == NAMES
    again = run_module(plain_clone, "--base-url", f"http://127.0.0.1:{closed_port}")
    assert again.returncode == 0 and again.stdout == result.stdout and again.stderr == ""


def test_a_wrong_environment_folder_exits_1_with_one_line(plain_clone, tmp_path):
    result = run_module(plain_clone, ML_TRAINING_REFERENCE=str(tmp_path / "nowhere"))
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "nowhere/" in result.stderr and "is missing: point ML_TRAINING_REFERENCE" in result.stderr
