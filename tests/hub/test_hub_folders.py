"""The trainers' view and the teams' folders: the servers the real KubeSpawner 7.0.0 makes from the program's values.

Each user's pod manifest comes from KubeSpawner configured the way Zero to JupyterHub 4.4.0's jupyterhub_config.py
configures it from the release values (the statements below, cited by line), with the program's hub.config and
hub.extraConfig applied as the chart applies them, and the steps JupyterHub 5.5.4 takes before a spawn
(jupyterhub/user.py, User.spawn: apply_group_overrides, the pre_spawn_hook; then KubeSpawner's start loads the
profile and builds the pod).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import yaml
from jupyterhub.app import JupyterHub
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from traitlets.config import Config

from components.settings import ConfigError
from tests.conftest import config_error, run_preview
from tests.hub.test_hub import DUMMY, values
from tests.hub.test_hub_traits import authenticator_class, run, with_passwords
from tests.hub.test_hub_values_schema import chart_file, merged, schema_errors

TRAINER = "trainer"
CLASS = {**DUMMY, "auth.allowedUsers": ["alice", "bob", "carol", "dave"], "auth.adminUsers": [TRAINER]}
TEAMS = {"team-a": ["Alice", "bob"], "team-b": ["carol"]}
BOTH = {**CLASS, "hub.trainerView": True, "hub.groups": TEAMS}

HOME = "/home/jovyan"
TRAINEES, TRAINEE_GROUPS = f"{HOME}/trainees", f"{HOME}/trainee-groups"


# --- the chart's configuration of KubeSpawner, from the release values -------------------------------------------


def chart_config(release_values: dict) -> Config:
    """What jupyterhub/files/hub/jupyterhub_config.py (z2jh 4.4.0, commit 5c5f5df751588a68a7781ead01d0f62e88e2e72f)
    makes of the values for KubeSpawner and the login; get_config as z2jh.py's, over the values Helm coalesced."""
    coalesced = merged(chart_file("values.yaml"), release_values)

    def get_config(key, default=None):  # z2jh.py, get_config
        value = coalesced
        for level in key.split("."):
            if not isinstance(value, dict) or level not in value:
                return default
            value = value[level]
        return value

    c = Config()
    # Lines 143-178: singleuser settings such as profileList (set_config_if_not_none).
    c.KubeSpawner.profile_list = get_config("singleuser.profileList")
    # Lines 255-362: the home volume of a dynamic claim, extraFiles, then extraVolumes and extraVolumeMounts, as dicts.
    template = get_config("singleuser.storage.dynamic.volumeNameTemplate")
    volumes = {template: {"name": template, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}}
    volume_mounts = {template: {"mountPath": get_config("singleuser.storage.homeMountPath"), "name": template,
                                "subPath": get_config("singleuser.storage.dynamic.subPath")}}
    extra_files = get_config("singleuser.extraFiles", {})
    volumes["files"] = {"name": "files", "secret": {"secretName": "singleuser",
                                                    "items": [{"key": k, "path": k} for k in extra_files]}}
    for index, (key, details) in enumerate(extra_files.items()):
        volume_mounts[f"{index}-files"] = {"mountPath": details["mountPath"], "subPath": key, "name": "files"}
    for volume in get_config("singleuser.storage.extraVolumes"):
        volumes[volume["name"]] = volume
    for index, mount in enumerate(get_config("singleuser.storage.extraVolumeMounts")):
        volume_mounts[f"{index}-{mount['name']}"] = mount
    c.KubeSpawner.volumes, c.KubeSpawner.volume_mounts = volumes, volume_mounts
    # Lines 499-526: each hub.config section merged into c.
    for section, settings in with_passwords(get_config("hub.config", {})).items():
        c[section].update(settings)
    # Lines 539-542: each hub.extraConfig entry, in the order of its key, exec'd where c and get_config are defined.
    for _, config_py in sorted(get_config("hub.extraConfig", {}).items()):
        exec(config_py, {"c": c, "get_config": get_config})
    return c


def user(name: str, admin: bool = False, groups: tuple[str, ...] = ()) -> SimpleNamespace:
    """A hub user as the spawner sees it (jupyterhub/user.py, User: name, admin, groups of orm Groups, url, id)."""
    return SimpleNamespace(name=name, admin=admin, groups=[SimpleNamespace(name=g) for g in groups], id=1,
                           url=f"/user/{name}/")


@pytest.fixture(scope="module", autouse=True)
def kubeconfig(tmp_path_factory):
    """KubeSpawner loads a Kubernetes client configuration when created (kubespawner/clients.py, load_config): one
    for an API server nobody calls, as building a pod manifest asks the cluster nothing."""
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "users": [{"name": "none", "user": {}}]}))
    with pytest.MonkeyPatch.context() as patch:
        # Read when loading, unlike $KUBECONFIG, which kubernetes_asyncio reads once, when imported.
        patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
        yield


def pod(config: Config, someone: SimpleNamespace) -> dict:
    """The pod KubeSpawner makes for the user's default server, as the Kubernetes API receives it."""
    async def spawn() -> dict:
        authenticator = authenticator_class(config)(config=config)
        spawner = KubeSpawner(_mock=True, config=config, user=someone, authenticator=authenticator)
        await spawner.apply_group_overrides()
        await spawner._run_apply_user_options(spawner.user_options)
        spawner.run_pre_spawn_hook()
        await spawner.load_user_options()
        manifest = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
        for task in asyncio.all_tasks() - {asyncio.current_task()}:  # the shared client's closer
            task.cancel()
        return manifest

    return run(spawn())


def mounts(manifest: dict) -> dict[str, tuple[str, str]]:
    """Mount path -> (claim, subPath) of the notebook container's volumes from claims."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in manifest["spec"]["volumes"]
              if "persistentVolumeClaim" in v}
    [container] = manifest["spec"]["containers"]
    return {m["mountPath"]: (claims[m["name"]], m.get("subPath", "")) for m in container["volumeMounts"]
            if m["name"] in claims}


def extra(manifest: dict) -> dict[str, tuple[str, str]]:
    """The mounts beyond the three folders every server has."""
    return {path: where for path, where in mounts(manifest).items()
            if path not in (HOME, f"{HOME}/public", f"{HOME}/shared")}


@pytest.fixture(scope="module")
def classroom() -> Config:
    return chart_config(values(run_preview("baremetal", BOTH)))


# --- who mounts what ----------------------------------------------------------------------------------------------


def test_every_server_keeps_its_three_folders(classroom):
    for someone in (user(TRAINER, admin=True), user("alice"), user("dave")):
        three = mounts(pod(classroom, someone))
        assert three[f"{HOME}/public"] == ("nfs-public", "") and three[f"{HOME}/shared"] == ("nfs-shared", "")
        assert three[HOME] == (f"claim-{someone.name}", "")


def test_admins_see_every_personal_and_team_folder(classroom):
    assert extra(pod(classroom, user(TRAINER, admin=True))) == {
        TRAINEES: ("nfs-trainees", ""), TRAINEE_GROUPS: ("nfs-groups", "")}


def test_a_member_mounts_only_the_team_folder(classroom):
    # Alice is configured as "Alice": the login's normalized name (lowercase) is what counts.
    assert extra(pod(classroom, user("alice"))) == {f"{HOME}/groups/team-a": ("nfs-groups", "team-a")}
    assert extra(pod(classroom, user("carol"))) == {f"{HOME}/groups/team-b": ("nfs-groups", "team-b")}


def test_a_trainee_in_no_team_gets_nothing_more(classroom):
    assert extra(pod(classroom, user("dave"))) == {}


def test_the_members_of_a_hub_group_of_the_teams_name_are_members(classroom):
    # Groups the login sets (auth.groupsFromLogin), or an admin in the admin panel, count beside the configuration.
    team_b = {f"{HOME}/groups/team-b": ("nfs-groups", "team-b")}
    assert extra(pod(classroom, user("dave", groups=("team-b",)))) == team_b
    assert extra(pod(classroom, user("dave", groups=("staff",)))) == {}


def test_an_admin_in_a_team_has_both(classroom):
    manifest = pod(classroom, user(TRAINER, admin=True, groups=("team-a",)))
    assert extra(manifest) == {TRAINEES: ("nfs-trainees", ""), TRAINEE_GROUPS: ("nfs-groups", ""),
                               f"{HOME}/groups/team-a": ("nfs-groups", "team-a")}
    assert [v["name"] for v in manifest["spec"]["volumes"]].count("groups") == 1


def test_nothing_leaks_from_one_users_server_into_the_next(classroom):
    pod(classroom, user(TRAINER, admin=True, groups=("team-a", "team-b")))
    assert extra(pod(classroom, user("dave"))) == {}
    assert not {"groups", "trainees"} & set(classroom.KubeSpawner.volumes)


def test_the_trainers_view_alone():
    config = chart_config(values(run_preview("baremetal", {**CLASS, "hub.trainerView": True})))
    assert extra(pod(config, user(TRAINER, admin=True))) == {TRAINEES: ("nfs-trainees", "")}
    assert extra(pod(config, user("alice"))) == {}


def test_teams_without_the_trainers_view():
    config = chart_config(values(run_preview("baremetal", {**CLASS, "hub.groups": TEAMS})))
    assert extra(pod(config, user(TRAINER, admin=True))) == {}
    assert extra(pod(config, user("bob"))) == {f"{HOME}/groups/team-a": ("nfs-groups", "team-a")}


def test_off_by_default_no_hook_and_no_extra_values(baremetal):
    release_values = values(baremetal)
    assert "extraConfig" not in release_values["hub"] and "custom" not in release_values
    config = chart_config(release_values)
    assert "pre_spawn_hook" not in config.KubeSpawner
    assert extra(pod(config, user("trainer@example.com", admin=True))) == {}


# --- the login's groups ---------------------------------------------------------------------------------------------

GITHUB_TEAMS = {"auth.groupsFromLogin": True, "hub.groups": {"ml-training-example:team-a": []}}


def team(org: str, slug: str) -> dict:
    """An item of GitHub's GET /user/teams (team-full): the fields the hub reads."""
    return {"name": slug.title(), "slug": slug, "organization": {"login": org}}


def test_github_teams_become_hub_groups_and_give_their_folder():
    release_values = values(run_preview("gke", GITHUB_TEAMS))
    section = release_values["hub"]["config"]["GitHubOAuthenticator"]
    assert section["populate_teams_in_auth_state"] is True and section["manage_groups"] is True
    assert section["scope"] == ["read:org"]
    config = chart_config(release_values)
    authenticator = authenticator_class(config)(config=config)
    teams = {"teams": [team("ML-Training-Example", "team-a"), team("other-org", "staff")]}
    groups = run(authenticator.get_user_groups(teams))
    assert groups == {"ml-training-example:team-a", "other-org:staff"}
    manifest = pod(config, user("ann", groups=tuple(groups)))
    folder = "ml-training-example-team-a"
    assert extra(manifest) == {f"{HOME}/groups/{folder}": ("nfs-groups", folder)}


def test_oidc_groups_claim_gives_the_folder():
    release_values = values(run_preview("baremetal", {"hub.groups": {"team-a": []}}))
    config = chart_config(release_values)
    authenticator = authenticator_class(config)(config=config)
    auth_state = {"oauth_user": {"email": "ann@example.com", "groups": ["ml-training-participants", "team-a"]}}
    groups = run(authenticator.get_user_groups(auth_state))
    assert extra(pod(config, user("ann@example.com", groups=tuple(groups)))) == {
        f"{HOME}/groups/team-a": ("nfs-groups", "team-a")}


def test_groups_from_the_login_without_allowed_groups():
    release_values = values(run_preview("baremetal", {"auth.allowedGroups": None, "auth.groupsFromLogin": True,
                                                      "auth.allowedUsers": ["ann@example.com"]}))
    section = release_values["hub"]["config"]["GenericOAuthenticator"]
    assert section["manage_groups"] is True and section["auth_state_groups_key"] == "oauth_user.groups"
    assert "allowed_groups" not in section


def test_the_login_sections_are_configurable_traits():
    for stack, overrides in (("gke", GITHUB_TEAMS), ("baremetal", {**BOTH, "auth.groupsFromLogin": False}),
                             ("baremetal", {"auth.groupsFromLogin": True, "hub.groups": {"team-a": []}})):
        config = values(run_preview(stack, overrides))["hub"]["config"]
        authenticator = authenticator_class(config)
        classes = {"JupyterHub": JupyterHub, authenticator.__name__: authenticator}
        for section, settings in config.items():
            assert set(settings) <= set(classes[section].class_traits(config=True)), section


# --- values, storage and wiring -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, overrides", [("baremetal", BOTH), ("gke", {**GITHUB_TEAMS, "hub.trainerView": True})])
def test_values_pass_the_chart_schema(stack, overrides):
    assert schema_errors(values(run_preview(stack, overrides))) == []


def test_claims_and_the_team_folders_job_in_the_preview():
    preview = run_preview("gke", {"hub.trainerView": True, "hub.groups": {"team-a": [], "team-b": []},
                                  "auth.groupsFromLogin": True})
    volumes = preview.releases()["nfs-volumes"].inputs["values"]
    assert volumes["trainees"] == {"folder": "home", "claimName": "nfs-trainees", "size": volumes["public"]["size"]}
    assert volumes["groups"] == {"folder": "groups", "claimName": "nfs-groups", "size": volumes["public"]["size"]}
    [job] = [r for r in preview.of_type("kubernetes:batch/v1:Job") if r.name == "storage-groups-job"]
    assert job.inputs["metadata"]["name"].startswith("prepare-group-folders-")
    [container] = job.inputs["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"EXPORT_DIR": "/export", "GROUPS_FOLDER": "groups", "GROUPS_OWNER": "0:0",
                   "TEAM_FOLDERS": "team-a team-b", "USER_UID": "1000", "USER_GID": "100"}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER", "FSETID"]}
    assert job.inputs["spec"]["template"]["spec"]["volumes"] == [
        {"name": "export", "nfs": {"server": preview.outputs["nfsServer"], "path": "/export"}}]
    # The folders exist before the export's server is left alone, and before the hub mounts them.
    server = preview.named("storage-server-deployment")
    hub = preview.releases()["jupyterhub"]
    assert preview.depends_on(job, server) and preview.depends_on(hub, job)
    # The NFS server is not restarted for a team: its pod template does not name them.
    assert "team-a" not in str(server.inputs)


def test_a_changed_list_of_teams_is_a_new_job():
    def job_name(groups):
        preview = run_preview("baremetal", {**CLASS, "hub.groups": groups})
        return preview.named("storage-groups-job").inputs["metadata"]["name"]

    # The folders, not the members, make the Job.
    assert job_name({"team-a": []}) != job_name({"team-a": [], "team-b": []}) == job_name(
        {"team-a": ["alice"], "team-b": []})


def test_off_by_default_nothing_is_declared(gke, baremetal):
    for preview in (gke, baremetal):
        assert not [r for r in preview.resources if "groups" in r.name]
        assert set(preview.releases()["nfs-volumes"].inputs["values"]) == {
            "server", "path", "mountOptions", "labels", "public", "shared"}


# --- bad settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    ({"hub.groups": ["team-a"]}, 'hub.groups = ["team-a"]: expected a map of team names to lists of user names'),
    ({"hub.groups": {"team a": []}}, 'hub.groups = "team a": expected team names of at most 63 letters'),
    ({"hub.groups": {"../etc": []}}, 'hub.groups = "../etc": expected team names'),
    ({"hub.groups": {"My-Org:Team": []}},
     'hub.groups = "My-Org:Team": expected a GitHub team in lowercase, my-org:team'),
    ({"hub.groups": {"team-a": "alice"}}, 'hub.groups.team-a = "alice": expected a list of user names'),
    ({"hub.groups": {"team-a": ["alice", "Alice"]}}, "expected a list of user names, each once"),
    ({"hub.groups": {"a-b": [], "a:b": []}},
     'hub.groups = "a:b": expected team names with different folders (a-b also'),
    ({"hub.groups": {"team-a": ["alice", "mallory"]}},
     'hub.groups.team-a = "mallory": expected a user who can log in: one of auth.allowedUsers or auth.adminUsers'),
    ({"auth.groupsFromLogin": True}, "auth.groupsFromLogin = true: expected false with auth.type dummy"),
    ({"storage.groupsFolder": "shared"}, 'storage.groupsFolder = "shared": expected a folder name, different from'),
    ({"hub.trainerView": "yes"}, 'hub.trainerView = "yes": expected true or false'),
])
def test_bad_settings_stop_with_one_line(overrides, message):
    assert message in config_error("baremetal", {**CLASS, **overrides})


def test_members_are_not_checked_where_the_login_admits_by_group():
    # Anyone in the tenant's group may log in: a member's name cannot be checked against a list.
    run_preview("baremetal", {"hub.groups": {"team-a": ["someone@example.com"]}})
    with pytest.raises(ConfigError):
        run_preview("baremetal", {"auth.allowedGroups": None, "auth.allowedUsers": ["ann@example.com"],
                                  "hub.groups": {"team-a": ["someone@example.com"]}})
