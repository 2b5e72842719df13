"""The pull-request workflow: the README's test command, and previews only where credentials exist."""

import re

import yaml

from tools import preview as offline

WORKFLOW = offline.ROOT / ".github" / "workflows" / "pull-request.yml"


def load() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as true
    return workflow


def uses(job: dict) -> list[str]:
    return [step["uses"] for step in job["steps"] if "uses" in step]


def test_pull_requests_run_the_readme_test_command():
    workflow = load()
    assert "pull_request" in workflow["on"]
    readme = (offline.ROOT / "README.md").read_text()
    command = re.search(r"```sh\n(\./tools/test)\b", readme).group(1)
    test = workflow["jobs"]["test"]
    assert [step["run"] for step in test["steps"] if "run" in step][-1] == command
    python = next(step for step in test["steps"] if step.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    assert any(u.startswith("actions/setup-node@") for u in uses(test))


def test_every_action_is_pinned_to_a_major_version():
    for name, job in load()["jobs"].items():
        for action in uses(job):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", action), (name, action)


def test_previews_run_for_both_stacks_only_with_credentials():
    jobs = load()["jobs"]
    check = next(step for step in jobs["credentials"]["steps"] if step.get("id") == "check")
    for secret in ("GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_PREVIEW_SERVICE_ACCOUNT", "PULUMI_ACCESS_TOKEN",
                   "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "BAREMETAL_KUBECONFIG"):
        assert f"secrets.{secret} != ''" in str(check["env"])
    assert '"gke"' in check["run"] and '"baremetal"' in check["run"]
    preview = jobs["preview"]
    assert preview["if"] == "needs.credentials.outputs.stacks != '[]'"
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.credentials.outputs.stacks) }}"
    assert preview["permissions"]["id-token"] == "write"
    auth = next(step for step in preview["steps"] if step.get("uses", "").startswith("google-github-actions/auth@"))
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    pulumi = next(step for step in preview["steps"] if step.get("uses", "").startswith("pulumi/actions@")
                  and "command" in step["with"])
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["diff"] is True and pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["pulumi-version"] == "3.272.0"


def test_the_preview_sets_the_stacks_secrets_before_it_runs():
    steps = load()["jobs"]["preview"]["steps"]
    [secrets] = [i for i, step in enumerate(steps) if "tools.secrets" in step.get("run", "")]
    [preview] = [i for i, step in enumerate(steps) if step.get("with", {}).get("command") == "preview"]
    install = next(i for i, step in enumerate(steps) if step.get("uses", "").startswith("pulumi/actions@"))
    assert install < secrets < preview
    assert "--set-from-env STACK_SECRETS" in steps[secrets]["run"]
    assert "secrets.STACK_SECRETS_GKE" in steps[secrets]["env"]["STACK_SECRETS"]
    assert "$STACK_NAME" in steps[secrets]["run"] and steps[preview]["with"]["stack-name"] == "${{ env.STACK_NAME }}"


def test_every_workflow_validates_against_githubs_schema():
    """check-jsonschema's vendored GitHub workflow schema (pinned in requirements-test.txt)."""
    import subprocess
    import sys
    from pathlib import Path

    workflows = sorted(str(path) for path in WORKFLOW.parent.glob("*.yml"))
    assert len(workflows) >= 2
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", *workflows],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
