"""Folders beyond the three that only some servers mount: the trainers' view and the teams' folders.

    admins, with hub.trainerView     /home/jovyan/trainees          every personal folder     <export>/home
                                     /home/jovyan/trainee-groups    every team's folder       <export>/groups
    a team's members (hub.groups)    /home/jovyan/groups/<team>     its folder                <export>/groups/<team>

All servers run as the same user (uid 1000), so file permissions cannot keep a team's folder from other trainees:
a folder is theirs because only their servers mount it. The hub decides at each server start, in a pre_spawn_hook
(components/hub/files/folder_mounts.py, run by the chart as hub.extraConfig) that reads the rules below from the release
values (custom.folderMounts): admins by JupyterHub's admin flag, members by name (hub.groups, as configured now) or
by the hub group of the team's name (set by the login at each login with auth.groupsFromLogin).

Not JupyterHub's group_overrides (jupyterhub/jupyterhub 5.5.4, jupyterhub/spawner.py, Spawner.group_overrides, which
KubeSpawner 7.0.0 inherits and has no trait of its own for): admins are no group, and configured members would have to
be loaded as hub groups with JupyterHub.load_groups, which only ever adds members (a trainee taken out of a team would
keep its folder) and which JupyterHub refuses beside a login that manages groups (jupyterhub/app.py, init_groups).
"""

from __future__ import annotations

from pathlib import Path
from components.settings import AuthSettings, HubSettings
from components.storage.storage import StorageResult

# Where in the notebook user's home (components/hub/hub.py, HOME) the folders are mounted.
TRAINEES_FOLDER = "trainees"
TRAINEE_GROUPS_FOLDER = "trainee-groups"
GROUPS_FOLDER = "groups"
# Pod volume names beside the chart's (volume-<user>, files) and the program's (public, shared).
TRAINEES_VOLUME = "trainees"
GROUPS_VOLUME = "groups"

FILES = Path(__file__).parent / "files"
FOLDER_MOUNTS_CONFIG = (FILES / "folder_mounts.py").read_text()
GITHUB_TEAMS_CONFIG = (FILES / "github_teams.py").read_text()
# hub.extraConfig keys: the chart runs the entries in the order of their keys.
FOLDER_MOUNTS_KEY = "mltraining-folder-mounts"
GITHUB_TEAMS_KEY = "mltraining-github-teams"


def _rule(volume: dict, mount: dict, *, admins: bool = False, users: tuple[str, ...] = (),
          groups: tuple[str, ...] = ()) -> dict:
    return {"admins": admins, "users": list(users), "groups": list(groups), "volume": volume, "volumeMount": mount}


def folder_mounts(hub: HubSettings, storage: StorageResult, home: str) -> list[dict]:
    """The rules of folder_mounts.py: who mounts which folder, where in home."""
    rules = []
    groups_volume = {"name": GROUPS_VOLUME, "persistentVolumeClaim": {"claimName": storage.groups_claim}}
    if hub.trainer_view:
        rules.append(_rule({"name": TRAINEES_VOLUME, "persistentVolumeClaim": {"claimName": storage.trainees_claim}},
                           {"name": TRAINEES_VOLUME, "mountPath": f"{home}/{TRAINEES_FOLDER}"}, admins=True))
        if hub.groups:
            rules.append(_rule(groups_volume, {"name": GROUPS_VOLUME, "mountPath": f"{home}/{TRAINEE_GROUPS_FOLDER}"},
                               admins=True))
    for group in hub.groups:
        # A subPath: the member's server sees its team's folder and nothing above it.
        rules.append(_rule(groups_volume, {"name": GROUPS_VOLUME, "mountPath": f"{home}/{GROUPS_FOLDER}/{group.folder}",
                                           "subPath": group.folder}, users=group.users, groups=(group.name,)))
    return rules


def extra_hub_values(hub: HubSettings, auth: AuthSettings, storage: StorageResult, home: str) -> tuple[dict, dict]:
    """hub.extraConfig and custom values for the folders and, with GitHub teams as groups, the login (empty: none)."""
    extra_config, custom = {}, {}
    rules = folder_mounts(hub, storage, home)
    if rules:
        extra_config[FOLDER_MOUNTS_KEY] = FOLDER_MOUNTS_CONFIG
        custom["folderMounts"] = rules
    if auth.type == "github" and auth.groups_from_login:
        extra_config[GITHUB_TEAMS_KEY] = GITHUB_TEAMS_CONFIG
    return extra_config, custom
