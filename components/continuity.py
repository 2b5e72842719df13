"""Settings changes that would replace what holds the trainees' data are refused before anything changes.

Each deployment exports the identity of where its data lives (DATA_IDENTITY). The next run reads it back
through a reference to this same stack and compares: a change of any part would make Pulumi replace the
protected disk or Filestore instance, move the export, or re-create the NFS Service whose cluster IP every
volume holds. Such a change stops the program with one line saying what to do instead (README, "Moving the
data"); growing storage.size is fine, shrinking it is not.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
from pulumi.runtime.sync_await import _sync_await

from components.settings import ConfigError, Settings, quantity_bytes

DATA_IDENTITY = "dataIdentity"
MOVING_THE_DATA = 'README, "Moving the data"'


def identity(settings: Settings) -> dict[str, str]:
    """The settings that fix where the data lives, by key, as configured."""
    storage = settings.storage
    fixed = {"namespace": settings.namespace, "storage.mode": storage.mode, "storage.size": storage.size}
    if storage.mode == "in-cluster" and settings.cluster.gke is not None:
        fixed.update({"cluster.name": settings.cluster.name, "storage.zone": storage.zone,
                      "storage.diskType": storage.disk_type})
    elif storage.mode == "in-cluster":
        fixed.update({"storage.storageClass": storage.storage_class, "storage.hostPath": storage.host_path,
                      "storage.node": storage.node})
    elif storage.mode == "filestore":
        fixed.update({"cluster.name": settings.cluster.name, "storage.zone": storage.zone,
                      "storage.filestoreTier": storage.filestore_tier})
    else:
        fixed.update({"storage.server": storage.server, "storage.path": storage.path})
    return fixed


def check(settings: Settings, deployed: Optional[dict[str, Any]]) -> None:
    """Refuse a change of where the data lives against the last deployment's identity (None: first deployment)."""
    if not deployed:
        return
    current = identity(settings)
    for key, value in current.items():
        before = deployed.get(key)
        if key not in deployed or before == value:
            continue
        if key == "storage.size":
            if quantity_bytes(value) < quantity_bytes(before):
                raise ConfigError(f"{settings.project}:{key}", value, f"at least {before}, the size deployed: a disk, "
                                  f"a Filestore instance or a claim cannot shrink ({MOVING_THE_DATA})")
            continue
        raise ConfigError(f"{settings.project}:{key}", value, f"{json.dumps(before)} as deployed: a change would "
                          f"replace or move what holds the trainees' data; copy the data first ({MOVING_THE_DATA})")


def deployed_identity() -> Optional[dict[str, Any]]:
    """The identity the last deployment of this stack exported, read through a reference to the stack itself."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    reference = pulumi.StackReference("last-deployment", stack_name=name)
    # Read synchronously, as settings are, so that a refusal comes before any resource is declared.
    return _sync_await(reference.get_output_details(DATA_IDENTITY)).value
