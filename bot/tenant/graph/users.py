"""Graph: directory users and what BlockWatch does to an account (password, sessions, sign-in)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from bot.core.m365 import DirectoryUser
from bot.errors import TenantNotFound
from bot.tenant import parse
from bot.tenant.graph.api import GraphApi

_USER_FIELDS = (
    "id,userPrincipalName,displayName,mail,accountEnabled,lastPasswordChangeDateTime,"
    "onPremisesSyncEnabled"
)
_READ = "User.Read.All"


class Users:
    """Users, their groups, and the account changes of the checklist."""

    def __init__(self, api: GraphApi) -> None:
        self._api = api

    async def user(self, id_or_upn: str) -> DirectoryUser:
        """One user by object id or UPN."""
        path = f"/users/{quote(id_or_upn)}?$select={_USER_FIELDS}"
        return parse.directory_user(await self._api.request("GET", path, permission=_READ))

    async def any_user(self) -> DirectoryUser | None:
        """Some user of the tenant (the first listed), for harmless probes."""
        path = f"/users?$top=1&$select={_USER_FIELDS}"
        rows = (await self._api.request("GET", path, permission=_READ)).get("value") or []
        return parse.directory_user(rows[0]) if rows else None

    async def group_ids(self, user_id: str) -> set[str]:
        """The ids of every group the user is in, directly or through nested groups (empty
        for an unknown user). Directory roles and administrative units are left out."""
        try:
            rows = await self._api.collect(
                f"/users/{quote(user_id)}/transitiveMemberOf?$select=id&$top=999", permission=_READ
            )
        except TenantNotFound:
            return set()
        return {
            str(r["id"]).lower()
            for r in rows
            if r.get("@odata.type") == "#microsoft.graph.group" and r.get("id")
        }

    async def group_name(self, group_id: str) -> str:
        """The display name of a group (TenantNotFound when there is none)."""
        path = f"/groups/{quote(group_id)}?$select=id,displayName"
        found = await self._api.request("GET", path, permission="GroupMember.Read.All")
        return str(found.get("displayName") or group_id)

    async def users_by_upn(self, upns: Iterable[str]) -> dict[str, DirectoryUser]:
        """Look up many users at once (`$batch`, 20 per request); unknown UPNs are left out."""
        wanted = list(dict.fromkeys(u.lower() for u in upns))
        paths = [f"/users/{quote(upn)}?$select={_USER_FIELDS}" for upn in wanted]
        found: dict[str, DirectoryUser] = {}
        for index, status, body in await self._api.get_many(paths):
            if status == 200 and isinstance(body, dict):
                found[wanted[index]] = parse.directory_user(body)
            elif status != 404:
                raise self._api.failure(status, body, f"/users/{wanted[index]}", permission=_READ)
        return found

    async def reset_password(self, user_id: str, password: str) -> None:
        """Set a new password that must be changed at next sign-in."""
        body = {"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": True}}
        await self._api.request(
            "PATCH",
            f"/users/{quote(user_id)}",
            body,
            permission="User-PasswordProfile.ReadWrite.All",
        )

    async def revoke_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies."""
        await self._api.request(
            "POST",
            f"/users/{quote(user_id)}/revokeSignInSessions",
            permission="User.RevokeSessions.All",
        )

    async def set_sign_in_blocked(self, user_id: str, blocked: bool) -> None:
        """Block (or allow again) sign-in to the account."""
        await self._api.request(
            "PATCH",
            f"/users/{quote(user_id)}",
            {"accountEnabled": not blocked},
            permission="User.EnableDisableAccount.All",
        )
