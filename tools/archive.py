"""Course end: pack every trainee's personal folder into one archive per trainee.

    ./tools/archive STACK

Reads the stack's outputs (`pulumi stack output --stack STACK --json`), then runs a Job in the stack's namespace
with kubectl (the kubeconfig output of a gke stack; on an existing cluster the stack's cluster.kubeconfig and
cluster.context, else kubectl's defaults) that runs components/storage/files/archive-homes.sh on the export's personal
folders, mounted read-only, and prints where each archive is:

- gke: gs://<archiveBucket>/<run>/<trainee>.tar.gz, in the bucket of storage.archives (components/storage/archives.py);
- existing clusters: archives/<run>/<trainee>.tar.gz at the top of the NFS export, beside public/, shared/ and the
  personal folders, readable by root only and mounted into no trainee's server.

<run> is the UTC time of the run (YYYYMMDD-HHMMSS), so no run replaces an earlier one's archives. A trainee is known
by the claim of their folder (KubeSpawner's annotation hub.jupyter.org/username); a folder whose claim is gone is
named after its directory. Nothing is deleted or changed: neither a personal folder nor an earlier archive.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from components.storage.archives import ARCHIVER
from components.storage.datasets import CLOUD_CLI_IMAGE
from components.storage.folders import LABELS
from tools import stack_access
from tools.stack_access import ToolError, run

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE_SCRIPT = (ROOT / "components" / "storage" / "files" / "archive-homes.sh").read_text()
# The archives' folder at the top of the export, beside public/, shared/ and home/ (components/storage/files/prepare-folders.sh).
EXPORT_FOLDER = "archives"
# KubeSpawner 7.0.0 (the hub image's, z2jh 4.4.0 images/hub/requirements.txt) annotates each claim with its user's
# name as it is (kubespawner/spawner.py, _build_common_annotations, used by get_pvc_manifest), and labels each server
# pod component=singleuser-server (component_label, _build_pod_labels).
USERNAME_ANNOTATION = "hub.jupyter.org/username"
SERVER_SELECTOR = "component=singleuser-server"
# How long the Job's pod may take to start (an image pull, a node scaling up), and how often to look.
POD_START_SECONDS = 600
POLL_SECONDS = 5
# The label of the run's pod, to find it without relying on the labels the Job controller adds.
RUN_LABEL = "ml-training/archive-run"
# A finished Job (and its log) stays a week, then Kubernetes deletes it; the archives stay.
JOB_KEPT_SECONDS = 7 * 24 * 3600


def stacks() -> list[str]:
    return sorted(path.name[len("Pulumi."):-len(".yaml")] for path in ROOT.glob("Pulumi.*.yaml"))


def outputs(stack: str) -> dict:
    """The stack's outputs, those this tool needs checked."""
    found = stack_access.outputs(stack, ("namespace", "nfsServer", "nfsPath", "personalStorageClass"))
    if "kubeconfig" in found and not found.get("archiveBucket"):
        raise ToolError(f"stack {stack} has no output archiveBucket: set storage.archives true "
                        f"(pulumi config set --stack {stack} --path storage.archives true) and run ./tools/up {stack}")
    return found


def trainees(claims: dict, storage_class: str) -> str:
    """The script's TRAINEES: "DIRECTORY<tab>NAME" for each personal folder's claim. The provisioner names a folder
    after its claim (components/storage/provisioner.py: subDir ${pvc.metadata.name}, which csi-driver-nfs v4.13.4 replaces
    by the claim's name, pkg/nfs/controllerserver.go newNFSVolume), and KubeSpawner names the claim
    claim-{user_server}: the user name itself when it is a valid Kubernetes name, else a lossy slug with a hash
    (slug_scheme "safe"), or, for a claim made before KubeSpawner 7, the legacy escaped name (kubespawner 7.0.0,
    spawner.py pvc_name_template, _expand_user_properties, slugs.py). So the name comes from the claim's annotation."""
    lines = []
    for claim in claims.get("items", []):
        if claim.get("spec", {}).get("storageClassName") != storage_class:
            continue
        name = (claim["metadata"].get("annotations") or {}).get(USERNAME_ANNOTATION, "")
        if name and name.isprintable():  # a tab or a line break would break the list
            lines.append(f"{claim['metadata']['name']}\t{name}")
    return "\n".join(sorted(lines))


def job_manifest(*, job: str, namespace: str, server: str, export_path: str, homes_path: str, run_id: str,
                 bucket: str, trainee_lines: str) -> dict:
    """The Job that runs archive-homes.sh: the personal folders read-only at /homes, and the archives written to the
    export's archives/ folder (existing clusters) or uploaded to the bucket from a scratch folder (gke)."""
    environment = [{"name": "HOMES_DIR", "value": "/homes"}, {"name": "TRAINEES", "value": trainee_lines}]
    homes = {"name": "homes", "nfs": {"server": server, "path": homes_path, "readOnly": True}}
    mounts = [{"name": "homes", "mountPath": "/homes", "readOnly": True}]
    # Root, so that every file a trainee wrote is read whatever its mode: an NFS server decides a client's access
    # itself, and the export lets root act as root (README, Storage: no_root_squash). No capability is needed.
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    resources = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    pod: dict = {"restartPolicy": "Never", "automountServiceAccountToken": False,
                 "securityContext": {"runAsUser": 0, "runAsGroup": 0, "seccompProfile": {"type": "RuntimeDefault"}}}
    if bucket:
        environment += [
            {"name": "ARCHIVE_DIR", "value": f"/scratch/{run_id}"},
            {"name": "UPLOAD_TO", "value": f"gs://{bucket}/{run_id}"},
            {"name": "CLOUDSDK_CORE_DISABLE_PROMPTS", "value": "1"},
            # gcloud storage cp splits large files into temporary objects and deletes them once composed (Cloud
            # Storage documentation, "Parallel composite uploads": storage/parallel_composite_upload_enabled, unset
            # means on); the bucket's retention policy forbids that deletion, and the archiver may not delete.
            {"name": "CLOUDSDK_STORAGE_PARALLEL_COMPOSITE_UPLOAD_ENABLED", "value": "False"},
        ]
        volumes = [homes, {"name": "scratch", "emptyDir": {}}]
        mounts.append({"name": "scratch", "mountPath": "/scratch"})
        # Workload Identity: the bucket lets this service account create objects (components/storage/archives.py).
        pod["serviceAccountName"] = ARCHIVER
    else:
        environment += [{"name": "ARCHIVE_DIR", "value": f"/archives/{run_id}"},
                        {"name": "ARCHIVE_LOCATION", "value": f"{EXPORT_FOLDER}/{run_id}"}]
        volumes = [homes, {"name": "export", "nfs": {"server": server, "path": export_path}}]
        # The archives' folder, root's alone; the packing container sees only it, not the rest of the export.
        mounts.append({"name": "export", "mountPath": "/archives", "subPath": EXPORT_FOLDER})
        pod["initContainers"] = [{
            "name": "archives-folder",
            "image": CLOUD_CLI_IMAGE,
            "command": ["sh", "-c", f"mkdir -p /export/{EXPORT_FOLDER} && chmod 700 /export/{EXPORT_FOLDER}"],
            "securityContext": security,
            "resources": resources,
            "volumeMounts": [{"name": "export", "mountPath": "/export"}],
        }]
    pod["containers"] = [{
        "name": "archive-homes",
        # GNU tar 1.34 (--sort, --transform), gzip, coreutils and sed: Debian 12's, Essential packages of the image's
        # Debian 12 base (components/storage/datasets.py); gcloud for the upload.
        "image": CLOUD_CLI_IMAGE,
        "command": ["sh", "-c", ARCHIVE_SCRIPT],
        "env": environment,
        "securityContext": security,
        "resources": resources,
        "volumeMounts": mounts,
    }]
    pod["volumes"] = volumes
    labels = {**LABELS, "app.kubernetes.io/name": "archive-homes"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "namespace": namespace, "labels": labels},
        "spec": {
            # A second try would upload again into a bucket that keeps every object: it is the admin's to run again.
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": JOB_KEPT_SECONDS,
            "template": {"metadata": {"labels": {**labels, RUN_LABEL: run_id}}, "spec": pod},
        },
    }


def service_account(namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": False,
            "metadata": {"name": ARCHIVER, "namespace": namespace, "labels": dict(LABELS)}}


def started_pod(kubectl: list[str], run_id: str) -> str:
    """The name of the run's pod once it runs or has ended: `kubectl logs --follow` of a pod still pending fails
    rather than waits (kubernetes/kubectl v0.31.0, pkg/polymorphichelpers/helpers.go: GetPodList waits only for a
    pod to exist)."""
    deadline = time.monotonic() + POD_START_SECONDS
    while True:
        listed = run([*kubectl, "get", "pods", "-l", f"{RUN_LABEL}={run_id}", "-o",
                      "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}"],
                     "could not look for the Job's pod").split()
        pods = dict(zip(listed[::2], listed[1::2]))
        started = [name for name, phase in pods.items() if phase != "Pending"]
        if started:
            return started[0]
        if time.monotonic() > deadline:
            raise ToolError(f"the Job's pod has not started in {POD_START_SECONDS // 60} minutes: "
                          f"kubectl --namespace {kubectl[-1]} describe pods -l {RUN_LABEL}={run_id}")
        time.sleep(POLL_SECONDS)


def follow(kubectl: list[str], pod: str) -> list[str]:
    """Print the packing container's output as it comes; its lines."""
    process = subprocess.Popen([*kubectl, "logs", "--follow", f"pod/{pod}", "--container", "archive-homes"],
                               stdout=subprocess.PIPE, text=True)
    lines = []
    for line in process.stdout:
        print(f"  {line.rstrip()}", flush=True)
        lines.append(line.rstrip("\n"))
    if process.wait() != 0:
        raise ToolError(f"could not follow the Job's output: kubectl --namespace {kubectl[-1]} describe pod {pod}")
    return lines


def outcome(kubectl: list[str], job: str) -> bool:
    """Whether the Job succeeded, once the Job controller has noted how its pod ended."""
    while True:
        status = run([*kubectl, "get", "job", job, "-o", "jsonpath={.status.succeeded}/{.status.failed}"],
                     f"could not read the state of the Job {job}").strip()
        succeeded, _, failed = status.partition("/")
        if succeeded or failed:
            return bool(succeeded) and succeeded != "0"
        time.sleep(POLL_SECONDS)


def archive(stack: str) -> int:
    stack_access.require("pulumi", "kubectl")
    print(f"Reading the outputs of stack {stack} ...", flush=True)
    found = outputs(stack)
    namespace, server, export_path = found["namespace"], found["nfsServer"], found["nfsPath"]
    bucket = found.get("archiveBucket", "") if "kubeconfig" in found else ""
    with tempfile.TemporaryDirectory(prefix="archive-") as folder:
        kubectl = ["kubectl", *stack_access.kubectl_arguments(stack, found, Path(folder)), "--namespace", namespace]
        homes_path = run([*kubectl, "get", "storageclass", found["personalStorageClass"],
                          "-o", "jsonpath={.parameters.share}"], "could not read the class of the personal folders").strip()
        if not homes_path:
            raise ToolError(f"the StorageClass {found['personalStorageClass']} names no share of personal folders")
        claims = json.loads(run([*kubectl, "get", "persistentvolumeclaims", "-o", "json"],
                                "could not list the claims of the personal folders"))
        running = run([*kubectl, "get", "pods", "-l", SERVER_SELECTOR, "-o", "name"],
                      "could not list the trainees' servers").split()
        if running:
            print(f"note: {len(running)} trainee server(s) still running: a file one changes while it is packed fails "
                  "that folder (stop the servers first, on the hub's admin page, for a consistent archive)")
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        job = f"archive-homes-{run_id}"
        where = f"gs://{bucket}/{run_id}/" if bucket else f"{EXPORT_FOLDER}/{run_id}/ on the export {server}:{export_path}"
        objects = ([service_account(namespace)] if bucket else []) + [job_manifest(
            job=job, namespace=namespace, server=server, export_path=export_path, homes_path=homes_path,
            run_id=run_id, bucket=bucket, trainee_lines=trainees(claims, found["personalStorageClass"]))]
        print(f"Packing the personal folders in {server}:{homes_path} into {where} (Job {job}) ...", flush=True)
        run([*kubectl, "apply", "-f", "-"], f"could not create the Job {job}",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        lines = follow(kubectl, started_pod(kubectl, run_id))
        succeeded = outcome(kubectl, job)
    archived = sum(1 for line in lines if line.endswith(" bytes)"))
    if not succeeded:
        failed = next((line for line in reversed(lines) if line.startswith("error: could not archive:")), "")
        raise ToolError(f"the Job {job} failed{': ' + failed.removeprefix('error: ') if failed else ''}; "
                      f"{archived} archive(s) are in {where}; no personal folder was changed")
    print(f"Archived {archived} personal folder(s) of stack {stack} into {where}; no personal folder was changed.")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    known = stacks()
    if len(argv) != 1 or argv[0].startswith("-"):
        print(f"usage: ./tools/archive STACK, where STACK is one of: {', '.join(known)}", file=sys.stderr)
        return 2
    stack = argv[0]
    if stack not in known:
        print(f"error: no stack file Pulumi.{stack}.yaml: the stacks are {', '.join(known)}", file=sys.stderr)
        return 1
    try:
        return archive(stack)
    except ToolError as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
