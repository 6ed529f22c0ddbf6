"""Exchange Online through the admin REST `InvokeCommand` endpoint.

This endpoint is the EXO V3 PowerShell module's own REST backend. It is **not documented or
supported by Microsoft** and may change; it is also the only REST route to the restricted-senders
list. Everything that knows about it lives in this module.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bot.core.m365 import Delegate, InboxRule, MailboxForwarding, RestrictedSender
from bot.errors import TenantForbidden, TenantNotFound, TenantRequestFailed
from bot.tenant import parse
from bot.tenant.http import Failure, JsonObject, RetryPolicy, collect, json_object, send, translate

SERVICE = "Exchange Online"
SYSTEM_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"


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
        return [parse.restricted_sender(row) for row in rows if row.get("SenderAddress")]

    async def restricted_sender(self, upn: str) -> RestrictedSender | None:
        """The restricted-list entry for `upn`, or None when the sender is not restricted."""
        rows = await self.invoke("Get-BlockedSenderAddress", {"SenderAddress": upn})
        return parse.restricted_sender(rows[0]) if rows else None

    async def release_sender(self, upn: str) -> None:
        """Take `upn` off the restricted list (`Remove-BlockedSenderAddress`)."""
        await self.invoke("Remove-BlockedSenderAddress", {"SenderAddress": upn}, safe=False)

    async def mailbox_forwarding(self, upn: str) -> MailboxForwarding:
        """The mailbox's forwarding settings (`Get-Mailbox`)."""
        rows = await self.invoke("Get-Mailbox", {"Identity": upn}, mailbox=upn)
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
            mailbox=upn,
        )

    async def set_forwarding(
        self, upn: str, smtp_address: str | None, forwarding_address: str | None, *, keep_copy: bool
    ) -> None:
        """Set mailbox-level forwarding (`Set-Mailbox`), as an undo puts it back."""
        await self.invoke(
            "Set-Mailbox",
            {
                "Identity": upn,
                "ForwardingSmtpAddress": f"smtp:{smtp_address}" if smtp_address else None,
                "ForwardingAddress": forwarding_address,
                "DeliverToMailboxAndForward": keep_copy,
            },
            mailbox=upn,
        )

    async def inbox_rules(self, upn: str) -> list[InboxRule]:
        """Every inbox rule, hidden ones included and marked (`Get-InboxRule -IncludeHidden`)."""
        visible, every = await asyncio.gather(
            self.invoke("Get-InboxRule", {"Mailbox": upn}, mailbox=upn),
            self.invoke("Get-InboxRule", {"Mailbox": upn, "IncludeHidden": True}, mailbox=upn),
        )
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
            "Disable-InboxRule",
            {"Mailbox": upn, "Identity": rule_id, "Confirm": False},
            mailbox=upn,
        )

    async def enable_inbox_rule(self, upn: str, rule_id: str) -> None:
        """Turn one rule back on (`Enable-InboxRule`), hidden rules too."""
        await self.invoke(
            "Enable-InboxRule",
            {"Mailbox": upn, "Identity": rule_id, "Confirm": False},
            mailbox=upn,
        )

    async def delegates(self, upn: str) -> list[Delegate]:
        """Who else has FullAccess or SendAs on the mailbox (two Exchange cmdlets)."""
        full_access, send_as = await asyncio.gather(
            self.invoke("Get-MailboxPermission", {"Identity": upn}, mailbox=upn),
            self.invoke("Get-RecipientPermission", {"Identity": upn}, mailbox=upn),
        )
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
        self,
        cmdlet: str,
        parameters: dict[str, Any] | None = None,
        *,
        safe: bool = True,
        mailbox: str | None = None,
    ) -> list[JsonObject]:
        """Run `cmdlet` and return every result row, re-POSTing to `@odata.nextLink`. A cmdlet
        about one mailbox is routed to it (`X-AnchorMailbox: UPN:…`): Exchange answers
        mailbox cmdlets like Get-InboxRule anchored elsewhere with CmdletProxyNotAvailable."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}
        anchor = f"UPN:{mailbox}" if mailbox else self._anchor

        async def page(url: str) -> JsonObject:
            return await self._request(cmdlet, url, body, safe=safe, anchor=anchor)

        return await collect(self._url, page)

    async def _request(
        self, cmdlet: str, url: str, body: JsonObject, *, safe: bool, anchor: str
    ) -> JsonObject:
        headers = {
            "Prefer": "odata.maxpagesize=1000",
            "X-AnchorMailbox": anchor,
            "X-CmdletName": cmdlet,
            "Accept": "application/json",
        }

        async def once() -> httpx.Response:
            return await self._http.post(url, json=body, headers=headers, auth=self._auth)

        response = await send(SERVICE, cmdlet, once, policy=self._policy, safe=safe)
        if response.is_success:
            return json_object(SERVICE, cmdlet, response)
        raise translate(
            SERVICE,
            cmdlet,
            Failure.of(response),
            permission="Exchange.ManageAsApp (an application permission, with admin consent)",
            role=f"an Exchange role that includes {cmdlet}",
        )
