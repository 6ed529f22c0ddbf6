"""Graph: what the account can reach, directory roles and the apps it consented to."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.core.m365 import ConsentGrant, RoleAssignment
from bot.tenant import parse
from bot.tenant.graph.api import GraphApi


class Access:
    """Directory roles (read, remove) and OAuth consent grants."""

    def __init__(self, api: GraphApi) -> None:
        self._api = api

    async def role_assignments(self, user_id: str) -> list[RoleAssignment]:
        """The directory roles assigned directly to the user."""
        rows = await self._api.collect(
            f"/roleManagement/directory/roleAssignments?$filter=principalId eq '{user_id}'"
            "&$expand=roleDefinition",
            permission="RoleManagement.Read.Directory",
        )
        return [parse.role_assignment(r) for r in rows]

    async def remove_role_assignment(self, assignment_id: str) -> None:
        """Take a directory role away (the assignment id, as listed)."""
        await self._api.request(
            "DELETE",
            f"/roleManagement/directory/roleAssignments/{quote(assignment_id)}",
            permission="RoleManagement.ReadWrite.Directory",
        )

    async def consent_grants(self, user_id: str) -> list[ConsentGrant]:
        """Delegated permission grants the user gave apps, with the apps' names."""
        rows = await self._api.collect(
            f"/oauth2PermissionGrants?$filter=principalId eq '{user_id}'",
            permission="Directory.Read.All",
        )
        clients = list(dict.fromkeys(str(r.get("clientId")) for r in rows))
        paths = [
            f"/servicePrincipals/{c}?$select=id,displayName,appId,verifiedPublisher"
            for c in clients
        ]
        names: dict[str, dict[str, Any]] = {
            clients[index]: body
            for index, status, body in await self._api.get_many(paths)
            if status == 200 and isinstance(body, dict)
        }
        return [parse.consent_grant(r, names.get(str(r.get("clientId")))) for r in rows]
