"""Graph: how the account signs in (methods, registrations, risk, the sign-in log)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from bot.core.m365 import AuthMethod, RiskState, SignIn
from bot.errors import TenantNotFound
from bot.tenant import parse
from bot.tenant.graph.api import GraphApi

P1, P2 = "Microsoft Entra ID P1", "Microsoft Entra ID P2"
_REGISTRATION_WORDS = {
    "phone": ("phone", "sms"),
    "microsoftAuthenticator": ("authenticator",),
    "email": ("email",),
    "fido2": ("fido",),
}


def iso(moment: datetime) -> str:
    """A time as OData filters take it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SignIns:
    """Sign-in methods, Identity Protection and the sign-in and directory audit logs."""

    def __init__(self, api: GraphApi) -> None:
        self._api = api

    async def authentication_methods(self, user_id: str) -> list[AuthMethod]:
        """The user's registered sign-in methods."""
        rows = await self._api.collect(
            f"/users/{quote(user_id)}/authentication/methods",
            permission="UserAuthenticationMethod.Read.All",
        )
        return [parse.auth_method(r) for r in rows]

    async def remove_authentication_method(self, user_id: str, kind: str, method_id: str) -> None:
        """Delete a sign-in method (phone, microsoftAuthenticator, email, fido2, …)."""
        if not kind.isalnum() or kind == "password":
            raise ValueError(f"cannot remove a {kind!r} method")
        await self._api.request(
            "DELETE",
            f"/users/{quote(user_id)}/authentication/{kind}Methods/{quote(method_id)}",
            permission="UserAuthenticationMethod.ReadWrite.All",
        )

    async def registered_method_kinds(self, user_id: str, *, since: datetime) -> set[str]:
        """Kinds of sign-in methods the user registered since `since` (directory audit log),
        for methods Graph gives no creation date (phone numbers)."""
        rows = await self._api.collect(
            "/auditLogs/directoryAudits?$filter=activityDisplayName eq 'User registered "
            f"security info' and activityDateTime ge {iso(since)}",
            permission="AuditLog.Read.All",
        )
        kinds: set[str] = set()
        for row in rows:
            if user_id not in {str(t.get("id")) for t in row.get("targetResources") or []}:
                continue
            reason = str(row.get("resultReason") or "").lower()
            kinds.update(
                kind
                for kind, words in _REGISTRATION_WORDS.items()
                if any(w in reason for w in words)
            )
        return kinds

    async def risky_user(self, user_id: str) -> RiskState | None:
        """Identity Protection's risk state; None if never risky. Needs Entra ID P2."""
        try:
            data = await self._api.request(
                "GET",
                f"/identityProtection/riskyUsers/{quote(user_id)}",
                permission="IdentityRiskyUser.Read.All",
                licence=P2,
            )
        except TenantNotFound:
            return None
        return parse.risk_state(data)

    async def sign_ins(self, user_id: str, *, since: datetime) -> list[SignIn]:
        """The user's sign-ins since `since`, newest first. Needs Entra ID P1."""
        rows = await self._api.collect(
            f"/auditLogs/signIns?$filter=userId eq '{user_id}' and createdDateTime ge "
            f"{iso(since)}&$top=1000",
            permission="AuditLog.Read.All",
            licence=P1,
        )
        return [parse.sign_in(r) for r in rows]
