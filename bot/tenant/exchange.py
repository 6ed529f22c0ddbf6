"""Exchange Online through the admin REST `InvokeCommand` endpoint.

This endpoint is the EXO V3 PowerShell module's own REST backend. It is **not documented or
supported by Microsoft** and may change; it is also the only REST route to the restricted-senders
list. Everything that knows about it lives in this module.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from bot.domain import RestrictedSender, parse_reason
from bot.errors import (
    TenantError,
    TenantForbidden,
    TenantNotFound,
    TenantRequestFailed,
    TenantThrottled,
    TenantUnavailable,
    UnblockLimitReached,
)
from bot.tenant import parse
from bot.tenant.models import Delegate, InboxRule, MailboxForwarding
from bot.tenant.parse import parse_time
from bot.tenant.transport import RetryPolicy, retry_after_seconds, send

SERVICE = "Exchange Online"
RESOURCE = "https://outlook.office365.com"
SYSTEM_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
_UNBLOCK_LIMIT = re.compile(r"(?i)(unblock\w*\s+limit|limit.*unblock|number of times.*unblock)")


class ExchangeClient:
    """Runs Exchange Online cmdlets for one tenant and returns domain objects."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        tenant_id: str,
        auth: httpx.Auth,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/adminapi/beta/{tenant_id}/InvokeCommand"
        self._anchor = f"APP:{SYSTEM_MAILBOX}@{tenant_id}"
        self._auth = auth
        self._policy = policy or RetryPolicy()

    async def restricted_senders(self) -> list[RestrictedSender]:
        """Every sender on the restricted list (`Get-BlockedSenderAddress`), all pages."""
        rows = await self.invoke("Get-BlockedSenderAddress")
        return [_sender(row) for row in rows if row.get("SenderAddress")]

    async def restricted_sender(self, upn: str) -> RestrictedSender | None:
        """The restricted-list entry for `upn`, or None when the sender is not restricted."""
        rows = await self.invoke("Get-BlockedSenderAddress", {"SenderAddress": upn})
        return _sender(rows[0]) if rows else None

    async def release_sender(self, upn: str) -> None:
        """Take `upn` off the restricted list (`Remove-BlockedSenderAddress`)."""
        await self.invoke("Remove-BlockedSenderAddress", {"SenderAddress": upn}, safe=False)

    async def mailbox_forwarding(self, upn: str) -> MailboxForwarding:
        """The mailbox's forwarding settings (`Get-Mailbox`)."""
        rows = await self.invoke("Get-Mailbox", {"Identity": upn})
        if not rows:
            raise TenantNotFound(f"Get-Mailbox: no mailbox for {upn}", service=SERVICE)
        return parse.forwarding(rows[0])

    async def clear_forwarding(self, upn: str) -> None:
        """Stop mailbox-level forwarding (`Set-Mailbox`); repeating it is harmless."""
        await self.invoke(
            "Set-Mailbox",
            {
                "Identity": upn,
                "ForwardingSmtpAddress": None,
                "ForwardingAddress": None,
                "DeliverToMailboxAndForward": False,
            },
        )

    async def inbox_rules(self, upn: str) -> list[InboxRule]:
        """Every inbox rule, hidden ones included and marked (`Get-InboxRule -IncludeHidden`)."""
        visible = await self.invoke("Get-InboxRule", {"Mailbox": upn})
        every = await self.invoke("Get-InboxRule", {"Mailbox": upn, "IncludeHidden": True})
        shown = {str(r.get("RuleIdentity") or r.get("Identity")) for r in visible}
        return [
            parse.exchange_rule(
                r, hidden=str(r.get("RuleIdentity") or r.get("Identity")) not in shown
            )
            for r in every
        ]

    async def disable_inbox_rule(self, upn: str, rule_id: str) -> None:
        """Turn one rule off (`Disable-InboxRule`), hidden rules too."""
        await self.invoke(
            "Disable-InboxRule", {"Mailbox": upn, "Identity": rule_id, "Confirm": False}
        )

    async def delegates(self, upn: str) -> list[Delegate]:
        """Who else has FullAccess or SendAs on the mailbox (two Exchange cmdlets)."""
        full_access = await self.invoke("Get-MailboxPermission", {"Identity": upn})
        send_as = await self.invoke("Get-RecipientPermission", {"Identity": upn})
        return parse.delegates(full_access, send_as)

    async def cmdlet_available(self, cmdlet: str) -> bool:
        """Whether the app's Exchange role group includes `cmdlet`, without running it.

        The cmdlet is invoked without its mandatory parameters: a parameter-binding error
        proves it is available and changes nothing; "not recognized" means the role is missing.
        """
        try:
            await self.invoke(cmdlet, safe=False)
        except TenantForbidden:
            return False
        except TenantRequestFailed:
            return True
        return True

    async def invoke(
        self, cmdlet: str, parameters: dict[str, Any] | None = None, *, safe: bool = True
    ) -> list[dict[str, Any]]:
        """Run `cmdlet` and return every result row, re-POSTing to `@odata.nextLink`."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}
        rows: list[dict[str, Any]] = []
        url: str | None = self._url
        while url:
            data = await self._request(cmdlet, url, body, safe=safe)
            rows.extend(data.get("value") or [])
            url = data.get("@odata.nextLink")
        return rows

    async def _request(
        self, cmdlet: str, url: str, body: dict[str, Any], *, safe: bool
    ) -> dict[str, Any]:
        headers = {
            "Prefer": "odata.maxpagesize=1000",
            "X-AnchorMailbox": self._anchor,
            "X-CmdletName": cmdlet,
            "Accept": "application/json",
        }

        async def once() -> httpx.Response:
            return await self._http.post(url, json=body, headers=headers, auth=self._auth)

        response = await send(SERVICE, cmdlet, once, policy=self._policy, safe=safe)
        if response.is_success:
            data = response.json() if response.content else {}
            return data if isinstance(data, dict) else {}
        raise _translate(cmdlet, response)


def error_message(body: Any) -> str:
    """The most specific message in an Exchange error body (details, inner, then top level)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("message"):
            return str(detail["message"])
    inner = error.get("innererror") or {}
    internal = inner.get("internalException") if isinstance(inner, dict) else None
    if isinstance(internal, dict) and internal.get("message"):
        return str(internal["message"])
    return str(error.get("message") or "")


def _translate(cmdlet: str, response: httpx.Response) -> TenantError:
    try:
        body = response.json()
    except ValueError:
        body = None
    message = error_message(body) or response.reason_phrase
    message = re.sub(r"^\|[\w.]+\|", "", message)
    code = str(((body or {}).get("error") or {}).get("code", "")) if isinstance(body, dict) else ""
    status = response.status_code
    text = f"{cmdlet}: {message}"
    if _UNBLOCK_LIMIT.search(message):
        return UnblockLimitReached(text, service=SERVICE, code=code)
    if status in (401, 403):
        return TenantForbidden(
            text,
            service=SERVICE,
            code=code,
            permission="Exchange.ManageAsApp and an Exchange role that includes " + cmdlet,
        )
    if "is not recognized as the name of a cmdlet" in message:
        # Remote PowerShell hides cmdlets the app's Exchange role group does not include.
        return TenantForbidden(
            text, service=SERVICE, code=code, permission=f"an Exchange role that includes {cmdlet}"
        )
    if status == 404 or "NotFound" in code or "ObjectNotFound" in message:
        return TenantNotFound(text, service=SERVICE, code=code)
    if status == 429:
        retry = retry_after_seconds(response.headers.get("Retry-After"))
        return TenantThrottled(text, service=SERVICE, code=code, retry_after=retry)
    if status >= 500:
        return TenantUnavailable(text, service=SERVICE, code=code)
    return TenantRequestFailed(text, service=SERVICE, code=code)


def _sender(row: dict[str, Any]) -> RestrictedSender:
    return RestrictedSender(
        upn=str(row["SenderAddress"]),
        display_name=None,
        reason=parse_reason(row.get("Reason")),
        created=parse_time(row.get("CreatedDatetime")),
        changed=parse_time(row.get("ChangedDatetime")),
        temporary=bool(row.get("TemporaryBlock")),
    )
