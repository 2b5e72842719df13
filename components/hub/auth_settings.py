"""The login: GitHub, any OAuth2/OIDC provider, or the dummy login of development; who may log in, who is an admin."""

import re
from typing import Any, Literal

import pulumi
from pydantic import field_validator, model_validator
from pydantic.alias_generators import to_snake

from components.settings.types import (Boolean, Invalid, Matching, Model, OneOf, Secret, Strings, Text, is_https_url,
                                       modes, setting)

# The allow rules each login type understands; a rule of another type would silently restrict nobody.
_ALLOW_RULES = {
    "github": ("allowedUsers", "allowedOrganizations"),
    "generic-oauth": ("allowedUsers", "allowedGroups"),
    "dummy": ("allowedUsers",),
}
# A GitHub organization, or a team as org:team-slug.
_GITHUB_ORGANIZATION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?::[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
# JupyterHub's shared-password login (the dummy login with a password) refuses shorter passwords.
SHARED_PASSWORD_MINIMUM, ADMIN_PASSWORD_MINIMUM = 8, 32
Url = Matching(is_https_url, "an https:// URL")


class AuthSettings(Model):
    type: OneOf("github", "generic-oauth", "dummy") = setting(
        "dummy", "github, generic-oauth (any OAuth2/OIDC provider) or dummy (development only).")
    client_id: Text = setting("", "OAuth client id.")
    client_secret: Secret = None
    callback_url: Url = setting("", "OAuth callback URL. Empty derives it from hub.host.")
    authorize_url: Url = setting("", "generic-oauth: the provider's authorization endpoint.")
    token_url: Url = setting("", "generic-oauth: the provider's token endpoint.")
    userdata_url: Url = setting("", "generic-oauth: the provider's userinfo endpoint.")
    username_claim: Text = setting("preferred_username", "generic-oauth: the claim that holds the user name.")
    groups_claim: Text = setting(
        "groups", "generic-oauth: the claim that holds the user's groups (for auth.allowedGroups).")
    scopes: Strings = setting(["openid", "profile", "email"], "generic-oauth: OAuth scopes to request.")
    allowed_users: Strings = setting([], "User names allowed to log in.")
    allowed_organizations: Strings = setting(
        [], "github: organizations (org) or teams (org:team) whose members may log in.")
    allowed_groups: Strings = setting([], "generic-oauth: groups whose members may log in.")
    admin_users: Strings = setting([], "User names with admin rights on the hub.")
    dummy_password: Secret = None  # dummy: one shared password (unset: any password)
    dummy_admin_password: Secret = None  # dummy with a shared password: the admins' password
    allow_insecure_dummy: Boolean = setting(
        False, "Allow dummy login on a publicly exposed hub. Only for throwaway demos.")
    groups_from_login: Boolean = setting(False, (
        "The login sets each user's hub groups at every login: github their teams (org:team-slug), generic-oauth the "
        "auth.groupsClaim claim (always so with auth.allowedGroups). A hub group named in hub.groups gives its members "
        "the team's folder."))

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, url: str, info) -> str:
        host = info.context["hub"].host if info.context else ""
        return url or (f"https://{host}/hub/oauth_callback" if host else "")

    @model_validator(mode="after")
    def _admits(self, info) -> "AuthSettings":
        if info.context is None:
            return self
        for rule in ("allowedOrganizations", "allowedGroups"):
            if self._rule(rule) and rule not in _ALLOW_RULES[self.type]:
                raise Invalid(list(self._rule(rule)), f"no value with auth.type {self.type}, which does not use it (its "
                              f"allow rules: {', '.join('auth.' + r for r in _ALLOW_RULES[self.type])})", field=rule)
        organizations = self.allowed_organizations
        for organization in organizations:
            if not _GITHUB_ORGANIZATION.match(organization):
                raise Invalid(organization, "a GitHub organization (org) or team (org:team-slug)",
                              field="allowedOrganizations")
            org, _, team = organization.partition(":")
            # Any one entry lets a user in (OAuthenticator 17.4.0, oauthenticator/github.py, check_allowed).
            if team and org in organizations:
                raise Invalid(list(organizations), f"either {org} or its team {organization}: every member of {org} gets "
                              "in, so the team restricts nobody", field="allowedOrganizations")
        self._login_rules(info.context)
        self._members_log_in(info.context["hub"])
        return self

    def _rule(self, alias: str) -> Any:
        return getattr(self, to_snake(alias))

    def _login_rules(self, context: dict) -> None:
        """An OAuth login: its client, its endpoints, and an allow rule."""
        if not self.client_id:
            raise Invalid(None, f"the OAuth client id for auth.type {self.type}", field="clientId")
        if self.client_secret is None:
            raise Invalid(None, f"the OAuth client secret of the {self.type} login", field="clientSecret", missing=True)
        if not self.callback_url:
            raise Invalid(None, "an https:// callback URL, or set hub.host to derive it", field="callbackUrl")
        self._endpoints()
        rules = _ALLOW_RULES[self.type]
        if not any(self._rule(rule) for rule in rules):
            raise Invalid([], f"at least one allow rule ({' or '.join('auth.' + r for r in rules)}): JupyterHub 5 lets "
                          "nobody in without one", field=rules[1])

    def _endpoints(self) -> None:
        pass

    def _members_log_in(self, hub: Any) -> None:
        """Where the login lets in only users it names, every member of a team is one of them: another name could
        never log in, so it is a typo."""
        rules_by_group = {"github": self.allowed_organizations, "generic-oauth": self.allowed_groups}.get(self.type, ())
        if rules_by_group or (self.type == "dummy" and not self.allowed_users):
            return
        admitted = {name.lower() for name in (*self.allowed_users, *self.admin_users)}
        for group in hub.groups:
            for user in group.users:
                if user.lower() not in admitted:
                    raise Invalid(user, "a user who can log in: one of auth.allowedUsers or auth.adminUsers",
                                  key=f"hub.groups.{group.name}")

    @property
    def login_groups(self) -> bool:
        """Whether the login sets each user's hub groups at every login (OAuthenticator's manage_groups)."""
        return self.groups_from_login or (self.type == "generic-oauth" and bool(self.allowed_groups))


class GitHubLogin(AuthSettings):
    type: Literal["github"]


class GenericOAuthLogin(AuthSettings):
    type: Literal["generic-oauth"]

    def _endpoints(self) -> None:
        for field in ("authorizeUrl", "tokenUrl", "userdataUrl"):
            if not self._rule(field):
                raise Invalid(None, "the provider's https:// endpoint for auth.type generic-oauth", field=field)
        if not self.username_claim:
            raise Invalid("", "the claim that holds the user name, such as preferred_username", field="usernameClaim")


class DummyLogin(AuthSettings):
    """The dummy login of development: any user name, with one shared password or none; never on a public hub."""

    type: Literal["dummy"] = "dummy"

    def _login_rules(self, context: dict) -> None:
        hub = context["hub"]
        if self.groups_from_login:
            raise Invalid(True, "false with auth.type dummy, whose login has no groups (list the members in hub.groups)",
                          field="groupsFromLogin")
        if hub.public and not self.allow_insecure_dummy:
            exposure = "an Ingress" if hub.ingress else f"a {hub.service_type} Service"
            raise Invalid(self.type, f"github or generic-oauth: the hub is public through {exposure} (set "
                          "auth.allowInsecureDummy true only for a throwaway demo)", field="type")
        if hub.public:
            pulumi.log.warn("auth.type dummy on a public hub: anyone who reaches it can log in (auth.allowInsecureDummy "
                            "is true)")
        # Long enough for JupyterHub, and one for the admins, who may not use the trainees' password.
        password, admin_password = (context["plaintext"](f"auth.{key}") for key in ("dummyPassword", "dummyAdminPassword"))
        if password and len(password) < SHARED_PASSWORD_MINIMUM:
            raise Invalid(password, f"at least {SHARED_PASSWORD_MINIMUM} characters", field="dummyPassword")
        if password and self.admin_users and not admin_password:
            raise Invalid(None, "the admins' password, as the trainees' password does not make an admin",
                          field="dummyAdminPassword", missing=True)
        if admin_password and len(admin_password) < ADMIN_PASSWORD_MINIMUM:
            raise Invalid(admin_password, f"at least {ADMIN_PASSWORD_MINIMUM} characters", field="dummyAdminPassword")
        if admin_password and admin_password == password:
            raise Invalid(admin_password, "a password other than auth.dummyPassword", field="dummyAdminPassword")


Auth = modes("type", "dummy", GitHubLogin, GenericOAuthLogin, DummyLogin)
