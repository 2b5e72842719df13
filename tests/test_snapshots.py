"""The committed preview snapshots and architecture diagram match what the program declares now."""

import json
import os
import subprocess
import sys

import pytest

from tools import preview as offline
from tools import snapshots

STALE = "\n\nThe preview of the program differs from the committed snapshot. If the change is intended, run\n\n" \
        f"    {snapshots.REGENERATE}\n\nand commit the result, so that reviewers see the change as this diff."


@pytest.fixture(scope="module")
def previews(gke, baremetal):
    return {"gke": gke, "baremetal": baremetal}


@pytest.mark.parametrize("stack", snapshots.STACKS)
def test_snapshot_matches_the_preview(stack, previews):
    current = snapshots.render(previews[stack])
    if not (snapshots.SNAPSHOTS / stack).exists():
        pytest.fail(f"tests/snapshots/{stack} is missing.{STALE}", pytrace=False)
    changes = snapshots.diff(snapshots.committed(stack), current, f"tests/snapshots/{stack}")
    if changes:
        pytest.fail(changes + STALE, pytrace=False)


def test_readme_shows_the_current_architecture(gke):
    readme = snapshots.README.read_text()
    expected = snapshots.replace_section(readme, snapshots.readme_section(gke))
    if readme != expected:
        changes = snapshots.diff({"README.md": readme}, {"README.md": expected}, ".")
        pytest.fail(changes + STALE, pytrace=False)


def test_architecture_document_shows_both_stacks(previews):
    expected = snapshots.architecture_document(previews)
    current = snapshots.ARCHITECTURE.read_text() if snapshots.ARCHITECTURE.exists() else ""
    if current != expected:
        changes = snapshots.diff({"architecture.md": current}, {"architecture.md": expected}, "docs")
        pytest.fail(changes + STALE, pytrace=False)


def test_a_changed_program_shows_as_a_readable_diff(gke):
    changed = offline.run("gke", {"cluster.userPool.maxNodes": 27})
    changes = snapshots.diff(snapshots.render(gke), snapshots.render(changed), "tests/snapshots/gke")
    assert changes.startswith("--- a/tests/snapshots/gke/resources.json\n+++ b/tests/snapshots/gke/resources.json\n")
    assert '-        "maxNodeCount": 20,\n' in changes
    assert '+        "maxNodeCount": 27,\n' in changes
    assert len([line for line in changes.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]) == 2


def test_an_added_or_removed_file_shows_against_dev_null():
    changes = snapshots.diff({"values/old.yaml": "a: 1\n"}, {"values/new.yaml": "b: 2\n"}, "s")
    assert "--- /dev/null\n+++ b/s/values/new.yaml\n" in changes and "+b: 2\n" in changes
    assert "--- a/s/values/old.yaml\n+++ /dev/null\n" in changes and "-a: 1\n" in changes
    assert snapshots.diff({"x": "same\n"}, {"x": "same\n"}, "s") == ""


def test_secrets_are_redacted_in_the_snapshot():
    preview = offline.run("gke", {"auth.type": "github", "auth.clientId": "abc", "auth.allowedUsers": ["ann"],
                                  "hub.host": "hub.example.com", "hub.letsencryptEmail": "ops@example.com",
                                  "auth.clientSecret": {"secure": "v1:encrypted"}})
    files = snapshots.render(preview)
    everything = "".join(files.values())
    assert snapshots.SECRET_STAND_IN not in everything
    assert json.loads(files["outputs.json"])["kubeconfig"] == "[secret]"


def test_render_refuses_a_leaked_secret(gke):
    leaked = offline.Preview("gke", gke.resources, {"token": snapshots.SECRET_STAND_IN + "x"})
    with pytest.raises(ValueError, match="unredacted"):
        snapshots.render(leaked)


def test_snapshots_do_not_depend_on_hash_seeds_or_machines(previews):
    """The preview in a fresh interpreter with another hash seed, and in another directory, writes the same files."""
    script = (
        "import json, sys\n"
        "from tools import preview, snapshots\n"
        "json.dump({s: snapshots.render(preview.run(s)) for s in snapshots.STACKS}, sys.stdout)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=offline.ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONHASHSEED": "4242"}, timeout=600)
    assert result.returncode == 0, result.stderr
    fresh = json.loads(result.stdout)
    for stack, preview in previews.items():
        assert snapshots.diff(snapshots.render(preview), fresh[stack], stack) == ""
        assert str(offline.ROOT) not in "".join(fresh[stack].values()), "a snapshot names this checkout's path"


def test_the_diagram_draws_components_and_their_wiring(gke):
    diagram = snapshots.mermaid(gke)
    assert diagram.startswith("flowchart TB\n")
    assert '    subgraph c_gke["gke<br/>GkeCluster"]\n' in diagram
    assert '        r_gke_cluster["gke-cluster<br/>Cluster"]\n' in diagram
    # The pools need the cluster, the provider needs the pools, the namespace needs the provider.
    for edge in ("r_gke_cluster --> r_gke_user_pool", "r_gke_user_pool --> r_gke_provider",
                 "r_gke_provider --> r_gke_namespace"):
        assert f"    {edge}\n" in diagram
    # Implied arrows are left out: the provider reaches the namespace's dependents through it.
    assert "    r_gke_cluster --> r_gke_provider\n" not in diagram
    for release in gke.of_type(offline.HELM_RELEASE):
        assert f"r_{release.name.replace('-', '_')}[[" in diagram


def test_every_arrow_is_a_dependency_of_the_preview(gke):
    diagram = snapshots.mermaid(gke)
    by_id = {}
    for resource in gke.resources:
        by_id["r_" + resource.name.replace("-", "_")] = resource
    for line in diagram.splitlines():
        if " --> " in line:
            source, target = line.strip().split(" --> ")
            if source in by_id and target in by_id:
                assert gke.depends_on(by_id[target], by_id[source]) or \
                    by_id[target].provider.startswith(by_id[source].urn + "::"), line


def test_regenerating_writes_exactly_the_rendered_files(gke, tmp_path, monkeypatch):
    monkeypatch.setattr(snapshots, "SNAPSHOTS", tmp_path)
    files = snapshots.render(gke)
    stale = tmp_path / "gke" / "values" / "removed-release.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("old: true\n")
    snapshots.write_snapshot("gke", files)
    assert snapshots.committed("gke") == files
    assert not stale.exists()


def test_the_readme_section_is_replaced_between_its_markers_only():
    readme = f"intro\n{snapshots.BEGIN}\nold diagram\n{snapshots.END}\nrest\n"
    assert snapshots.replace_section(readme, "NEW") == "intro\nNEW\nrest\n"
    with pytest.raises(ValueError, match="markers"):
        snapshots.replace_section("no markers here", "NEW")
