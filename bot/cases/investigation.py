"""Investigation: gather the evidence of a compromise and mark what is suspicious, and why.

The result is plain JSON (stored on the case): sections of findings, each finding with its
facts, `suspicious` and reason codes the cards translate. A section that cannot be read says
why (`unavailable`: a missing permission or licence) instead of failing the whole card.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.errors import BlockWatchError, NotAvailableInTenant, TenantForbidden
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.models import InboxRule, SignIn

log = logging.getLogger(__name__)

SECTIONS = (
    "rules",
    "forwarding",
    "delegates",
    "mfa",
    "roles",
    "risk",
    "sign_ins",
    "consents",
    "sent",
)
HIDING_FOLDERS = {
    "rss subscriptions",
    "rss feeds",
    "notes",
    "junk email",
    "junk e-mail",
    "archive",
    "conversation history",
    "deleted items",
}
BAIT_WORDS = {
    "invoice",
    "payment",
    "password",
    "bank",
    "wire",
    "transfer",
    "hacked",
    "phishing",
    "spam",
    "suspicious",
    "urgent",
    "compromised",
}
RISKY_SCOPES = {
    "mail.read",
    "mail.readwrite",
    "mail.send",
    "mailboxsettings.readwrite",
    "files.readwrite.all",
    "full_access_as_user",
    "offline_access",
}
RECENT = timedelta(days=7)

Finding = dict[str, Any]
Section = dict[str, Any]


def _finding(text: str, reasons: list[str], **facts: Any) -> Finding:
    return {"text": text, "suspicious": bool(reasons), "why": reasons, **facts}


def _external(address: str, domains: set[str]) -> bool:
    return address.rsplit("@", 1)[-1].lower() not in domains


def rule_findings(rules: list[InboxRule], domains: set[str]) -> list[Finding]:
    """Inbox rules with reasons: external forwarding, deleting, hiding mail, bait words."""
    found = []
    for rule in rules:
        why: list[str] = []
        external = [r for r in rule.recipients if _external(r, domains)]
        if external:
            why.append("forwards_external")
        if rule.delete or rule.permanent_delete:
            why.append("deletes")
        if rule.move_to_folder and rule.move_to_folder.lower() in HIDING_FOLDERS:
            why.append("hides_mail")
        if {w.lower() for w in rule.words} & BAIT_WORDS:
            why.append("bait_words")
        if rule.hidden:
            why.append("hidden")
        found.append(
            _finding(
                rule.name or "(no name)",
                why,
                id=rule.id,
                enabled=rule.enabled,
                hidden=rule.hidden,
                recipients=list(rule.recipients),
                folder=rule.move_to_folder,
                words=list(rule.words),
            )
        )
    return found


def sign_in_summary(sign_ins: list[SignIn]) -> list[Finding]:
    """Countries, IPs and failures of the last week, and impossible travel."""
    if not sign_ins:
        return []
    ordered = sorted(sign_ins, key=lambda s: s.at)
    countries = sorted({s.country for s in ordered if s.country})
    failures = sum(not s.succeeded for s in ordered)
    travel = [
        (a, b)
        for a, b in itertools.pairwise(ordered)
        if a.country and b.country and a.country != b.country and b.at - a.at <= timedelta(hours=1)
    ]
    found = [
        _finding(
            ", ".join(countries),
            ["several_countries"] if len(countries) > 1 else [],
            kind="countries",
            count=len(ordered),
            failures=failures,
            ips=sorted({s.ip for s in ordered})[:10],
        )
    ]
    if travel:
        a, b = travel[-1]
        minutes = int((b.at - a.at).total_seconds() // 60)
        found.append(
            _finding(
                f"{a.city or a.country} → {b.city or b.country}",
                ["impossible_travel"],
                kind="travel",
                minutes=minutes,
            )
        )
    if failures:
        found.append(
            _finding(str(failures), ["failed_sign_ins"] if failures >= 3 else [], kind="failures")
        )
    return found


async def investigate(
    upn: str,
    user_id: str,
    *,
    exchange: ExchangeClient,
    graph: GraphClient,
    domains: set[str],
    now: datetime,
) -> dict[str, Any]:
    """Every section of evidence for one user, gathered concurrently."""

    async def rules() -> list[Finding]:
        return rule_findings(await exchange.inbox_rules(upn), domains)

    async def forwarding() -> list[Finding]:
        fwd = await exchange.mailbox_forwarding(upn)
        found = []
        if fwd.smtp_address:
            why = ["forwards_external"] if _external(fwd.smtp_address, domains) else []
            found.append(_finding(fwd.smtp_address, why, keep_copy=fwd.deliver_and_forward))
        if fwd.forwarding_address:
            found.append(_finding(fwd.forwarding_address, [], keep_copy=fwd.deliver_and_forward))
        return found

    async def delegates() -> list[Finding]:
        return [
            _finding(d.user, ["delegate"], rights=d.rights) for d in await exchange.delegates(upn)
        ]

    async def mfa() -> list[Finding]:
        methods = await graph.authentication_methods(user_id)
        try:
            registered = await graph.registered_method_kinds(user_id, since=now - RECENT)
        except BlockWatchError:
            registered = set()  # no audit log access: creation dates still flag most methods
        found = []
        for m in methods:
            recent = (m.created is not None and now - m.created <= RECENT) or (
                m.created is None and m.kind in registered
            )
            found.append(
                _finding(
                    m.detail or m.kind,
                    ["recent_method"] if recent else [],
                    kind=m.kind,
                    id=m.id,
                    created=m.created.isoformat() if m.created else None,
                )
            )
        return found

    async def roles() -> list[Finding]:
        return [
            _finding(r.role_name, ["admin_role"], id=r.id)
            for r in await graph.role_assignments(user_id)
        ]

    async def risk() -> list[Finding]:
        state = await graph.risky_user(user_id)
        if state is None:
            return []
        why = ["risky"] if state.state in ("atRisk", "confirmedCompromised") else []
        return [_finding(state.level, why, state=state.state)]

    async def sign_ins() -> list[Finding]:
        return sign_in_summary(await graph.sign_ins(user_id, since=now - RECENT))

    async def consents() -> list[Finding]:
        found = []
        for g in await graph.consent_grants(user_id):
            scopes = {s.lower() for s in g.scope.split()}
            why = []
            if scopes & RISKY_SCOPES:
                why.append("mail_access")
            if not g.verified_publisher:
                why.append("unverified_app")
            found.append(_finding(g.client_name, why, scope=g.scope))
        return found

    async def sent() -> list[Finding]:
        messages = await graph.sent_messages(upn, since=now - timedelta(hours=24))
        external = {m.recipient for m in messages if _external(m.recipient, domains)}
        why = ["high_volume"] if len(messages) >= 200 else []
        return [
            _finding(
                str(len(messages)),
                why,
                recipients=len({m.recipient for m in messages}),
                external=len(external),
            )
        ]

    gatherers: dict[str, Callable[[], Awaitable[list[Finding]]]] = {
        "rules": rules,
        "forwarding": forwarding,
        "delegates": delegates,
        "mfa": mfa,
        "roles": roles,
        "risk": risk,
        "sign_ins": sign_ins,
        "consents": consents,
        "sent": sent,
    }
    results = await asyncio.gather(*[_section(name, fn) for name, fn in gatherers.items()])
    return {"at": now.isoformat(), "sections": dict(zip(gatherers, results, strict=True))}


async def _section(name: str, gather: Callable[[], Awaitable[list[Finding]]]) -> Section:
    try:
        return {"status": "ok", "items": await gather()}
    except NotAvailableInTenant as err:
        return {"status": "unavailable", "reason": "licence", "missing": err.licence, "items": []}
    except TenantForbidden as err:
        return {
            "status": "unavailable",
            "reason": "permission",
            "missing": err.permission or err.code,
            "items": [],
        }
    except BlockWatchError as err:
        log.warning("investigation section failed", extra={"section": name, "error": str(err)})
        return {"status": "error", "reason": type(err).__name__, "items": []}


def suspicious_methods(evidence: dict[str, Any] | None) -> list[Finding]:
    """The sign-in methods the investigation flagged (the choices for 'review MFA')."""
    section = ((evidence or {}).get("sections") or {}).get("mfa") or {}
    return [m for m in section.get("items") or [] if m.get("suspicious") and m.get("id")]


def suspicious_rules(evidence: dict[str, Any] | None) -> list[Finding]:
    """The inbox rules the investigation flagged (the choices for 'disable rules')."""
    section = ((evidence or {}).get("sections") or {}).get("rules") or {}
    return [r for r in section.get("items") or [] if r.get("suspicious") and r.get("enabled")]
