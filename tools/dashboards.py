"""Render the pinned JupyterHub dashboards into components/services/files/grafana-dashboards/ (services.monitoring).

    python -m tools.dashboards CHECKOUT

CHECKOUT is a clone of jupyterhub/grafana-dashboards at the commit components/services/monitoring.py pins
(DASHBOARDS_COMMIT): `git clone https://github.com/jupyterhub/grafana-dashboards && git -C grafana-dashboards
checkout <commit>`. Each dashboard of DASHBOARDS is rendered as the project's deploy.py renders it, `jsonnet -J vendor
dashboards/<name>.jsonnet` with go-jsonnet (here its Python binding, gojsonnet, pinned in requirements-test.txt),
and given the uid deploy.py gives it (the first 16 hex digits of the sha256 of its path and the folder's uid), so
that links to a dashboard stay valid from one deployment to the next. The program ships the files it writes; run
this again after changing the pinned commit. A checkout at another commit, or a dashboard that renders to nothing,
stops it with one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from components.services.monitoring import DASHBOARDS, DASHBOARDS_COMMIT, DASHBOARDS_DIR, DASHBOARDS_FOLDER_UID


class DashboardError(Exception):
    """Why the dashboards could not be rendered, in one line."""


def dashboard_uid(source: str) -> str:
    """deploy.py's uid for a dashboard (jupyterhub/grafana-dashboards, deploy.py, deploy_dashboard): sha256 of the
    path it was given, dashboards/<name>.jsonnet, followed by the folder's uid."""
    return hashlib.sha256((source + DASHBOARDS_FOLDER_UID).encode()).hexdigest()[:16]


def render(checkout: Path, name: str) -> dict:
    import _gojsonnet  # gojsonnet: go-jsonnet, the jsonnet deploy.py asks for

    source = f"dashboards/{name}.jsonnet"
    try:
        dashboard = json.loads(_gojsonnet.evaluate_file(str(checkout / source), jpathdir=[str(checkout / "vendor")]))
    except RuntimeError as error:
        raise DashboardError(f"{source} does not render: {str(error).splitlines()[0]}") from None
    if not dashboard:
        raise DashboardError(f"{source} renders to an empty object")
    dashboard["uid"] = dashboard_uid(source)
    return dashboard


def write(checkout: Path, out: Path = DASHBOARDS_DIR) -> list[Path]:
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        raise DashboardError(f"{checkout} is not a git checkout of jupyterhub/grafana-dashboards")
    if head.stdout.strip() != DASHBOARDS_COMMIT:
        raise DashboardError(f"{checkout} is at {head.stdout.strip()}, not at the pinned {DASHBOARDS_COMMIT}: "
                             f"git -C {checkout} checkout {DASHBOARDS_COMMIT}")
    rendered = {name: render(checkout, name) for name in DASHBOARDS}  # all or nothing
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, dashboard in rendered.items():
        path = out / f"{name}.json"
        path.write_text(json.dumps(dashboard, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a clone of jupyterhub/grafana-dashboards at the pinned commit")
    args = parser.parse_args(argv)
    print(f"Rendering {len(DASHBOARDS)} dashboards of {args.checkout} at {DASHBOARDS_COMMIT[:12]} ...")
    try:
        written = write(args.checkout)
    except DashboardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"  {path.name}: {path.stat().st_size} bytes")
    print(f"Rendered {len(written)} dashboards into {DASHBOARDS_DIR}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
