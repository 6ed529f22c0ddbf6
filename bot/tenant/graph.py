"""Microsoft Graph v1.0, app-only: one client, one `_request`, domain objects out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.domain import DirectoryUser
from bot.errors import (
    DeadlineExceeded,
    NotAvailableInTenant,
    TenantError,
    TenantForbidden,
    TenantNotFound,
    TenantRequestFailed,
    TenantThrottled,
    TenantUnavailable,
)
from bot.tenant import parse
from bot.tenant.models import (
    AuthMethod,
    ConsentGrant,
    InboxRule,
    RiskState,
    RoleAssignment,
    SecurityAlert,
    SentMessage,
    SignIn,
)
from bot.tenant.transport import RETRYABLE_STATUS, RetryPolicy, backoff, retry_after_seconds, send

SERVICE = "Microsoft Graph"
BATCH_LIMIT = 20
BATCH_CONCURRENCY = 4  # $batch requests in flight at once (Graph throttles per app and tenant)
P1, P2 = "Microsoft Entra ID P1", "Microsoft Entra ID P2"
DEFENDER_FOR_OFFICE = "microsoftDefenderForOffice365"
_USER_FIELDS = "id,userPrincipalName,displayName,mail,accountEnabled"
_REGISTRATION_WORDS = {
    "phone": ("phone", "sms"),
    "microsoftAuthenticator": ("authenticator",),
    "email": ("email",),
    "fido2": ("fido",),
}
_LICENCE_CODES = {"Authentication_RequestFromNonPremiumTenantOrB2CTenant": P1, "NoLicense": ""}

Answer = tuple[int, int, Any]  # (index, status, body) of one $batch request


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphClient:
    """Calls Graph for one tenant; URL building, paging and JSON stay in here."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        auth: httpx.Auth,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/v1.0"
        self._auth = auth
        self._policy = policy or RetryPolicy()

    # ---- directory ----------------------------------------------------------------------

    async def user(self, id_or_upn: str) -> DirectoryUser:
        """One user by object id or UPN."""
        data = await self._request(
            "GET", f"/users/{quote(id_or_upn)}?$select={_USER_FIELDS}", permission="User.Read.All"
        )
        return _user(data)

    async def any_user(self) -> DirectoryUser | None:
        """Some user of the tenant (the first listed), for harmless probes."""
        data = await self._request(
            "GET", f"/users?$top=1&$select={_USER_FIELDS}", permission="User.Read.All"
        )
        rows = data.get("value") or []
        return _user(rows[0]) if rows else None

    async def group_ids(self, user_id: str) -> set[str]:
        """The ids of every group the user is in, directly or through nested groups (empty
        for an unknown user). Directory roles and administrative units are left out."""
        try:
            rows = await self._collect(
                f"/users/{quote(user_id)}/transitiveMemberOf?$select=id&$top=999",
                permission="User.Read.All",
            )
        except TenantNotFound:
            return set()
        return {
            str(r["id"]).lower()
            for r in rows
            if r.get("@odata.type") == "#microsoft.graph.group" and r.get("id")
        }

    async def users_by_upn(self, upns: Iterable[str]) -> dict[str, DirectoryUser]:
        """Look up many users at once (`$batch`, 20 per request); unknown UPNs are left out."""
        wanted = list(dict.fromkeys(u.lower() for u in upns))
        paths = [f"/users/{quote(upn)}?$select={_USER_FIELDS}" for upn in wanted]
        found: dict[str, DirectoryUser] = {}
        for index, status, body in await self._get_many(paths):
            if status == 200 and isinstance(body, dict):
                found[wanted[index]] = _user(body)
            elif status != 404:
                raise _translate(
                    status, body, {}, f"GET /users/{wanted[index]}", permission="User.Read.All"
                )
        return found

    async def role_assignments(self, user_id: str) -> list[RoleAssignment]:
        """The directory roles assigned directly to the user."""
        rows = await self._collect(
            f"/roleManagement/directory/roleAssignments?$filter=principalId eq '{user_id}'"
            "&$expand=roleDefinition",
            permission="RoleManagement.Read.Directory",
        )
        return [parse.role_assignment(r) for r in rows]

    async def remove_role_assignment(self, assignment_id: str) -> None:
        """Take a directory role away (the assignment id, as listed)."""
        await self._request(
            "DELETE",
            f"/roleManagement/directory/roleAssignments/{quote(assignment_id)}",
            permission="RoleManagement.ReadWrite.Directory",
        )

    async def consent_grants(self, user_id: str) -> list[ConsentGrant]:
        """Delegated permission grants the user gave apps, with the apps' names."""
        rows = await self._collect(
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
            for index, status, body in await self._get_many(paths)
            if status == 200 and isinstance(body, dict)
        }
        return [parse.consent_grant(r, names.get(str(r.get("clientId")))) for r in rows]

    # ---- sign-in security ---------------------------------------------------------------

    async def authentication_methods(self, user_id: str) -> list[AuthMethod]:
        """The user's registered sign-in methods."""
        rows = await self._collect(
            f"/users/{quote(user_id)}/authentication/methods",
            permission="UserAuthenticationMethod.Read.All",
        )
        return [parse.auth_method(r) for r in rows]

    async def remove_authentication_method(self, user_id: str, kind: str, method_id: str) -> None:
        """Delete a sign-in method (phone, microsoftAuthenticator, email, fido2, …)."""
        if not kind.isalnum() or kind == "password":
            raise ValueError(f"cannot remove a {kind!r} method")
        await self._request(
            "DELETE",
            f"/users/{quote(user_id)}/authentication/{kind}Methods/{quote(method_id)}",
            permission="UserAuthenticationMethod.ReadWrite.All",
        )

    async def registered_method_kinds(self, user_id: str, *, since: datetime) -> set[str]:
        """Kinds of sign-in methods the user registered since `since` (directory audit log),
        for methods Graph gives no creation date (phone numbers)."""
        rows = await self._collect(
            "/auditLogs/directoryAudits?$filter=activityDisplayName eq 'User registered "
            f"security info' and activityDateTime ge {_iso(since)}",
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
            data = await self._request(
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
        rows = await self._collect(
            f"/auditLogs/signIns?$filter=userId eq '{user_id}' and createdDateTime ge "
            f"{_iso(since)}&$top=1000",
            permission="AuditLog.Read.All",
            licence=P1,
        )
        return [parse.sign_in(r) for r in rows]

    async def reset_password(self, user_id: str, password: str) -> None:
        """Set a new password that must be changed at next sign-in."""
        body = {"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": True}}
        await self._request(
            "PATCH",
            f"/users/{quote(user_id)}",
            body,
            permission="User-PasswordProfile.ReadWrite.All",
        )

    async def revoke_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies."""
        await self._request(
            "POST",
            f"/users/{quote(user_id)}/revokeSignInSessions",
            permission="User.RevokeSessions.All",
        )

    async def set_sign_in_blocked(self, user_id: str, blocked: bool) -> None:
        """Block (or allow again) sign-in to the account."""
        await self._request(
            "PATCH",
            f"/users/{quote(user_id)}",
            {"accountEnabled": not blocked},
            permission="User.EnableDisableAccount.All",
        )

    # ---- mailbox ------------------------------------------------------------------------

    async def message_rules(self, user_id: str) -> list[InboxRule]:
        """Inbox rules visible to Graph (hidden rules need Exchange's Get-InboxRule)."""
        rows = await self._collect(
            f"/users/{quote(user_id)}/mailFolders/inbox/messageRules",
            permission="MailboxSettings.Read",
        )
        return [parse.graph_rule(r) for r in rows]

    async def disable_message_rule(self, user_id: str, rule_id: str) -> None:
        """Turn an inbox rule off."""
        await self._request(
            "PATCH",
            f"/users/{quote(user_id)}/mailFolders/inbox/messageRules/{quote(rule_id)}",
            {"isEnabled": False},
            permission="MailboxSettings.ReadWrite",
        )

    async def delete_message_rule(self, user_id: str, rule_id: str) -> None:
        """Delete an inbox rule."""
        await self._request(
            "DELETE",
            f"/users/{quote(user_id)}/mailFolders/inbox/messageRules/{quote(rule_id)}",
            permission="MailboxSettings.ReadWrite",
        )

    async def sent_messages(self, upn: str, *, since: datetime) -> list[SentMessage]:
        """Messages the user sent since `since` (message trace, last 90 days at most)."""
        rows = await self._collect(
            f"/admin/exchange/tracing/messageTraces?$filter=senderAddress eq '{upn}' and "
            f"receivedDateTime ge {_iso(since)}&$top=1000",
            permission="ExchangeMessageTrace.Read.All",
        )
        return [parse.sent_message(r) for r in rows]

    async def security_alerts(self, *, since: datetime) -> list[SecurityAlert]:
        """Defender for Office 365 alerts created since `since` (titles matched by callers)."""
        rows = await self._collect(
            f"/security/alerts_v2?$filter=serviceSource eq '{DEFENDER_FOR_OFFICE}' and "
            f"createdDateTime ge {_iso(since)}",
            permission="SecurityAlert.Read.All",
        )
        return [parse.security_alert(r) for r in rows]

    # ---- plumbing -----------------------------------------------------------------------

    async def batch(self, requests: list[dict[str, Any]]) -> list[Answer]:
        """Send up to 20 GETs as one `$batch`, re-sending inner requests that were throttled."""
        if len(requests) > BATCH_LIMIT:
            raise ValueError(f"a Graph $batch holds at most {BATCH_LIMIT} requests")
        answers: dict[int, tuple[int, Any]] = {}
        pending = {str(r["id"]): r for r in requests}
        started = time.monotonic()
        for attempt in range(1, self._policy.attempts + 1):
            data = await self._request("POST", "/$batch", {"requests": list(pending.values())})
            waits: list[float] = []
            for response in data.get("responses") or []:
                status = int(response["status"])
                key = str(response["id"])
                answers[int(key)] = (status, response.get("body"))
                if status in RETRYABLE_STATUS and pending[key]["method"] == "GET":
                    hint = retry_after_seconds((response.get("headers") or {}).get("Retry-After"))
                    waits.append(hint if hint is not None else backoff(attempt, self._policy))
                else:
                    pending.pop(key, None)
            if not waits or attempt == self._policy.attempts:
                break
            delay = max(waits)
            if time.monotonic() - started + delay > self._policy.deadline:
                raise DeadlineExceeded(f"{SERVICE} $batch: throttled past the deadline")
            await asyncio.sleep(delay)
        return sorted((i, status, body) for i, (status, body) in answers.items())

    async def _get_many(self, paths: list[str]) -> list[Answer]:
        """GET every path through `$batch`, 20 per request and up to BATCH_CONCURRENCY
        requests at a time (250 senders: 13 batches, about 4 round trips instead of 13);
        (position in `paths`, status, body) for each, in order."""
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(start: int) -> list[Answer]:
            chunk = paths[start : start + BATCH_LIMIT]
            requests = [
                {"id": str(i), "method": "GET", "url": path} for i, path in enumerate(chunk)
            ]
            async with gate:
                answered = await self.batch(requests)
            return [(start + i, status, body) for i, status, body in answered]

        chunks = await asyncio.gather(*(one(s) for s in range(0, len(paths), BATCH_LIMIT)))
        return [answer for chunk in chunks for answer in chunk]

    async def _collect(
        self, path: str, *, permission: str, licence: str = ""
    ) -> list[dict[str, Any]]:
        """Every row of a collection, following `@odata.nextLink`."""
        rows: list[dict[str, Any]] = []
        url: str | None = path
        while url:
            data = await self._request("GET", url, permission=permission, licence=licence)
            rows.extend(data.get("value") or [])
            url = data.get("@odata.nextLink")
        return rows

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        permission: str = "",
        licence: str = "",
    ) -> dict[str, Any]:
        url = path if path.startswith("http") else self._root + path
        operation = f"{method} {path.split('?')[0]}"

        async def once() -> httpx.Response:
            return await self._http.request(method, url, json=body, auth=self._auth)

        # Every Graph call BlockWatch makes is safe to repeat: GETs, idempotent PATCHes,
        # revokeSignInSessions, DELETE (a second one answers 404).
        response = await send(SERVICE, operation, once, policy=self._policy)
        if response.is_success:
            data = response.json() if response.content else {}
            return data if isinstance(data, dict) else {}
        try:
            error_body = response.json()
        except ValueError:
            error_body = None
        raise _translate(
            response.status_code,
            error_body,
            response.headers,
            operation,
            permission=permission,
            licence=licence,
        )


def _translate(
    status: int, body: Any, headers: Any, operation: str, *, permission: str = "", licence: str = ""
) -> TenantError:
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    text = f"{operation}: {message or status}"
    if code in _LICENCE_CODES:
        return NotAvailableInTenant(
            text, service=SERVICE, code=code, licence=_LICENCE_CODES[code] or licence or "a licence"
        )
    if status in (401, 403):
        return TenantForbidden(text, service=SERVICE, code=code, permission=permission)
    if status == 404:
        return TenantNotFound(text, service=SERVICE, code=code)
    if status == 429:
        retry = retry_after_seconds(headers.get("Retry-After") if headers else None)
        return TenantThrottled(text, service=SERVICE, code=code, retry_after=retry)
    if status >= 500:
        return TenantUnavailable(text, service=SERVICE, code=code)
    return TenantRequestFailed(text, service=SERVICE, code=code)


def _user(data: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(
        id=str(data["id"]),
        upn=str(data.get("userPrincipalName") or ""),
        display_name=str(data.get("displayName") or data.get("userPrincipalName") or ""),
        mail=data.get("mail"),
        account_enabled=bool(data.get("accountEnabled", True)),
    )


__all__ = ["GraphClient"]
