"""A settings change that would replace or move what holds the data is refused, in one line, before anything
is declared; the program reads the identity it exported at its last deployment."""

from __future__ import annotations

import pytest

from components.settings import ConfigError
from tools import preview as offline

P = "Invalid configuration mltraining"
COPY_FIRST = ("as deployed: a change would replace or move what holds the trainees' data; copy the data first "
              '(README, "Moving the data")')


def deployed(stack: str) -> dict:
    """The outputs of the stack's last deployment, with the identity of its data as configured now."""
    return {"dataIdentity": offline.run(stack).outputs["dataIdentity"]}


def refusal(stack: str, overrides: dict, monitors: list) -> str:
    with pytest.raises(ConfigError) as caught:
        offline.run(stack, overrides, deployed=deployed(stack))
    assert monitors[-1].registrations == []  # nothing declared
    return str(caught.value)


def test_each_stack_exports_where_its_data_lives(gke, baremetal):
    assert gke.outputs["dataIdentity"] == {
        "namespace": "jupyterhub", "storage.mode": "in-cluster", "storage.size": "100Gi", "cluster.name": "ml-training",
        "storage.zone": "europe-west3-a", "storage.diskType": "pd-balanced"}
    assert baremetal.outputs["dataIdentity"] == {
        "namespace": "jupyterhub", "storage.mode": "external", "storage.size": "500Gi",
        "storage.server": "192.168.10.20", "storage.path": "/srv/nfs/ml-training"}


@pytest.mark.parametrize(("stack", "overrides", "message"), [
    ("gke", {"storage.diskType": "pd-ssd"}, f'{P}:storage.diskType = "pd-ssd": expected "pd-balanced" {COPY_FIRST}'),
    ("gke", {"namespace": "class-2"}, f'{P}:namespace = "class-2": expected "jupyterhub" {COPY_FIRST}'),
    ("gke", {"storage.mode": "filestore", "storage.size": "1Ti"},
     f'{P}:storage.mode = "filestore": expected "in-cluster" {COPY_FIRST}'),
    ("gke", {"cluster.name": "ml-training-2"}, f'{P}:cluster.name = "ml-training-2": expected "ml-training" {COPY_FIRST}'),
    ("baremetal", {"storage.server": "192.168.10.21"},
     f'{P}:storage.server = "192.168.10.21": expected "192.168.10.20" {COPY_FIRST}'),
    ("gke", {"storage.size": "50Gi"},
     f'{P}:storage.size = "50Gi": expected at least 100Gi, the size deployed: a disk, a Filestore instance or a '
     'claim cannot shrink (README, "Moving the data")'),
], ids=["disk-type", "namespace", "mode", "disk-name", "server", "shrink"])
def test_a_change_of_where_the_data_lives_is_refused_in_one_line(stack, overrides, message, monitors):
    assert refusal(stack, overrides, monitors) == message


def test_growing_the_storage_and_other_changes_go_through():
    preview = offline.run("gke", {"storage.size": "200Gi", "hub.placeholders": 4}, deployed=deployed("gke"))
    assert preview.outputs["dataIdentity"]["storage.size"] == "200Gi"


def test_a_first_deployment_has_nothing_to_compare():
    assert offline.run("gke", {"storage.diskType": "pd-ssd"}, deployed={}).resources
