# auth.groupsFromLogin with the github login (components/hub/hub.py), run by the chart as hub.extraConfig like
# folder_mounts.py. OAuthenticator keeps the user's teams in auth_state["teams"] as GitHub's GET /user/teams returns
# them (jupyterhub/oauthenticator 17.4.0, oauthenticator/github.py, populate_teams_in_auth_state), each a team-full
# object with its "slug" and its "organization" (a team-organization, with "login"): github/rest-api-docs-md
# user/teams/get.md and the team-full schema of github/rest-api-description. A string auth_state_groups_key cannot
# pick a field out of each, so a function names the groups.
# flake8: noqa: F821


def github_team_groups(auth_state):
    """Each team as org:team-slug, the form of auth.allowedOrganizations, in lowercase: GitHub's organization names
    are case-insensitive and slugs lowercase."""
    return [f"{team['organization']['login']}:{team['slug']}".lower() for team in auth_state["teams"]]


c.GitHubOAuthenticator.auth_state_groups_key = github_team_groups
