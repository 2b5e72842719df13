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


# --- the end-to-end workflow ----------------------------------------------------------------------------------------

E2E = WORKFLOW.with_name("e2e.yml")


def e2e_steps() -> list[dict]:
    workflow = yaml.safe_load(E2E.read_text())
    workflow["on"] = workflow.pop(True)
    assert set(workflow["on"]) == {"workflow_dispatch", "schedule"}
    assert workflow["defaults"]["run"]["shell"] == "bash"  # pipefail: ./tools/smoke | tee fails with the smoke test
    [job] = workflow["jobs"].values()
    return job["steps"]


def run_index(steps: list[dict], text: str) -> int:
    [index] = [i for i, step in enumerate(steps) if text in step.get("run", "")]
    return index


def test_end_to_end_deploys_dev_on_k3s_smoke_tests_it_and_always_destroys_it():
    steps = e2e_steps()
    k3s = steps[run_index(steps, "get.k3s.io")]["run"]
    assert re.search(r"INSTALL_K3S_VERSION=v\d+\.\d+\.\d+\+k3s\d+ ", k3s), k3s
    assert "apt-get install -y -qq nfs-common" in k3s
    secrets = run_index(steps, "pulumi stack init dev")
    up = run_index(steps, "./tools/up dev --yes")
    smoke_test = run_index(steps, "./tools/smoke dev | tee smoke.txt")
    summary = run_index(steps, "GITHUB_STEP_SUMMARY")
    destroy = run_index(steps, "pulumi destroy --stack dev --exclude-protected --yes")
    assert run_index(steps, "get.k3s.io") < secrets < up < smoke_test < summary < destroy == len(steps) - 1
    assert steps[summary]["if"] == steps[destroy]["if"] == "always()"
    assert "cat smoke.txt" in steps[summary]["run"]
    [artifact] = [step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert artifact["with"]["path"] == "smoke-timings.jsonl" and artifact["if"] == "always()"
    [pulumi] = [step for step in steps if step.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["pulumi-version"] == load()["jobs"]["preview"]["steps"][-1]["with"]["pulumi-version"]


def test_end_to_end_makes_up_the_passwords_of_the_readmes_laptop_steps_and_masks_them():
    run = e2e_steps()[run_index(e2e_steps(), "pulumi stack init dev")]["run"]
    readme = (offline.ROOT / "README.md").read_text()
    laptop = readme[readme.index("### Try it on a laptop"):]
    keys = re.findall(r"pulumi config set --stack dev --path --secret (\S+)", run)
    assert keys == ["auth.dummyPassword", "auth.dummyAdminPassword"]
    assert "pulumi config set --stack dev --path --secret auth.dummyPassword" in laptop
    assert offline.run("dev", {"auth.dummyPassword": {"secure": "x"}}).stand_ins == ["auth.dummyAdminPassword"]
    assert run.count("::add-mask::") == 2
    assert all(f"| pulumi config set --stack dev --path --secret {key}" in run for key in keys)  # on standard input
