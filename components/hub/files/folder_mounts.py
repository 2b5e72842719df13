# The hub's extra folders (components/hub/hub_folders.py), run by the chart's jupyterhub_config.py as hub.extraConfig,
# where `c` and `get_config` are defined (jupyterhub/zero-to-jupyterhub-k8s 4.4.0,
# jupyterhub/files/hub/jupyterhub_config.py: "from z2jh import get_config", and "exec(config_py)" for each entry).
# The rules are data, in the release values' custom.folderMounts (components/hub/hub_folders.py builds them).
# flake8: noqa: F821
import copy

FOLDER_MOUNTS = get_config("custom.folderMounts", [])


def mount_folders(spawner):
    """At each server start, add the volume and mount of every rule that names the server's user: as an admin, by
    name, or as a member of a hub group. The spawner's volumes and volume_mounts are the chart's dicts, copies of
    its own (traitlets deep-copies config values into each instance), so nothing reaches another user's server."""
    user = spawner.user
    groups = {group.name for group in user.groups}
    for rule in FOLDER_MOUNTS:
        users = {spawner.authenticator.normalize_username(name) for name in rule["users"]}
        if (rule["admins"] and user.admin) or user.name in users or groups & set(rule["groups"]):
            spawner.volumes[rule["volume"]["name"]] = copy.deepcopy(rule["volume"])
            spawner.volume_mounts[rule["volumeMount"]["mountPath"]] = copy.deepcopy(rule["volumeMount"])


c.KubeSpawner.pre_spawn_hook = mount_folders
