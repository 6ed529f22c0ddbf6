"""`python app.py doctor`: can BlockWatch do its job in this tenant, and if not, what to grant.

For every capability it checks the permission in the app's token (the `roles` claim) and makes
one harmless call. The exit code is non-zero when anything required is missing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.cases.sections import SECTIONS, Need, SectionSpec, Subject
from bot.cases.steps import STEPS
from bot.core.m365 import DirectoryUser
from bot.errors import BlockWatchError, NotAvailableInTenant, TenantForbidden, TenantNotFound
from bot.tenant.auth import TokenProvider
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.port import M365Tenant

GRANT_GRAPH = (
    "Entra admin center > App registrations > your app > API permissions > Add a "
    "permission > Microsoft Graph > Application permissions > {permission}, then "
    "'Grant admin consent'"
)
GRANT_EXCHANGE = (
    "add the app's service principal to the BlockWatch role group with a role "
    "that includes {cmdlet} (docs/permissions.md)"
)


class Status(StrEnum):
    """The verdict for one capability."""

    OK = "OK"
    MISSING_PERMISSION = "missing permission"
    MISSING_EXCHANGE_ROLE = "missing Exchange role"
    LICENCE_MISSING = "licence missing"
    FAILED = "check failed"
    STALLED = "stalled"
    WARNING = "warning"  # works, but an admin should look (never fails doctor by itself)


@dataclass(frozen=True)
class Finding:
    """What doctor found for one capability."""

    capability: str
    required: bool
    status: Status
    detail: str


@dataclass(frozen=True)
class Probe:
    """Everything doctor needs to know about the tenant it checks."""

    graph: GraphClient
    exchange: ExchangeClient
    user: DirectoryUser | None


Check = Callable[[Probe], Awaitable[Any]]


@dataclass(frozen=True)
class Capability:
    """A thing BlockWatch does, the permission(s) that allow it, and how to check it."""

    name: str
    required: bool
    service: str  # graph | exchange
    permissions: tuple[str, ...]  # any one of these Graph roles (Graph only)
    check: Check | None = None  # a harmless call; None: the token's roles decide
    cmdlet: str = ""  # Exchange only: the cmdlet that must be in the app's role group


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def _uid(p: Probe) -> str:
    if p.user is None:
        raise TenantNotFound("no user to probe with (needs User.Read.All)")
    return p.user.id


def _upn(p: Probe) -> str:
    if p.user is None:
        raise TenantNotFound("no user to probe with (needs User.Read.All)")
    return p.user.upn


async def _cmdlet(p: Probe, cmdlet: str) -> None:
    if not await p.exchange.cmdlet_available(cmdlet):
        raise TenantForbidden(cmdlet, permission=cmdlet)


_OWN: tuple[Capability, ...] = (
    Capability(
        "List restricted senders",
        True,
        "exchange",
        ("Exchange.ManageAsApp",),
        lambda p: p.exchange.restricted_sender("doctor-probe@invalid.example"),
        "Get-BlockedSenderAddress",
    ),
    Capability(
        "Release restricted senders",
        True,
        "exchange",
        ("Exchange.ManageAsApp",),
        lambda p: _cmdlet(p, "Remove-BlockedSenderAddress"),
        "Remove-BlockedSenderAddress",
    ),
    Capability(
        "Read users (names, ids)",
        True,
        "graph",
        ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All"),
        lambda p: p.graph.users.any_user(),
    ),
    Capability(
        "Read group memberships (roles from Entra groups)",
        False,
        "graph",
        ("User.Read.All", "GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"),
        lambda p: p.graph.users.group_ids(_uid(p)),
    ),
    Capability(
        "Defender alerts",
        False,
        "graph",
        ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"),
        lambda p: p.graph.alerts.security_alerts(since=_since()),
    ),
)


def _section_check(section: SectionSpec, need: Need) -> Check | None:
    """doctor's check of what a section needs: read the section for the probe user, or ask
    Exchange whether the cmdlet is in the app's role."""
    if need.probe == "cmdlet":
        return _cmdlet_check(need.cmdlet)
    if need.probe == "token":
        return None

    async def read(p: Probe) -> Any:
        who = Subject(_upn(p), _uid(p), frozenset())
        return await section.gather(who, M365Tenant(p.exchange, p.graph), _since())

    return read


def section_capabilities() -> tuple[Capability, ...]:
    """One capability for everything each evidence section needs (bot/cases/sections/)."""
    return tuple(
        Capability(
            need.label,
            section.required,
            need.service,
            need.permissions,
            _section_check(section, need),
            need.cmdlet,
        )
        for section in SECTIONS
        for need in section.needs
    )


def _cmdlet_check(cmdlet: str) -> Check:
    """Ask Exchange whether `cmdlet` is in the app's role."""
    return lambda p: _cmdlet(p, cmdlet)


def step_capabilities() -> tuple[Capability, ...]:
    """One capability for everything each checklist step needs (bot/cases/steps/); the
    recommended steps 1-4 are required. An action is never tried: the token's roles and, for
    Exchange, the cmdlet in the app's role decide."""
    return tuple(
        Capability(
            need.label,
            step.recommended and not need.optional,
            need.service,
            need.permissions,
            _cmdlet_check(need.cmdlet) if need.probe == "cmdlet" else None,
            need.cmdlet,
        )
        for step in STEPS
        for need in step.needs
    )


CAPABILITIES = _OWN + section_capabilities() + step_capabilities()


def token_roles(token: str) -> set[str]:
    """The application roles in an access token (its payload is not verified here)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return set()
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return {str(r) for r in roles} if isinstance(roles, list) else set()


async def run_doctor(
    graph: GraphClient,
    exchange: ExchangeClient,
    tokens: TokenProvider,
    *,
    graph_resource: str,
    exchange_resource: str,
) -> list[Finding]:
    """Check every capability; one Finding each (token failures become findings too)."""
    roles: dict[str, set[str]] = {}
    for service, resource in (("graph", graph_resource), ("exchange", exchange_resource)):
        try:
            roles[service] = token_roles(await tokens.token(resource))
        except BlockWatchError as err:
            return [Finding(f"Token for {resource}", True, Status.FAILED, str(err))]
    try:
        user = await graph.users.any_user()
    except BlockWatchError:
        user = None
    probe = Probe(graph, exchange, user)
    return [await _examine(c, roles[c.service], probe) for c in CAPABILITIES]


async def _examine(capability: Capability, roles: set[str], probe: Probe) -> Finding:
    def finding(status: Status, detail: str) -> Finding:
        return Finding(capability.name, capability.required, status, detail)

    if not roles & set(capability.permissions):
        wanted = capability.permissions[0]
        how = (
            GRANT_GRAPH.format(permission=wanted)
            if capability.service == "graph"
            else (
                "API permissions > Add a permission > APIs my organization uses > Office 365 "
                "Exchange Online > Application permissions > Exchange.ManageAsApp, then 'Grant "
                "admin consent'"
            )
        )
        return finding(Status.MISSING_PERMISSION, f"{wanted}: {how}")
    if capability.check is None:
        return finding(
            Status.OK, "granted (" + ", ".join(sorted(roles & set(capability.permissions))) + ")"
        )
    try:
        await capability.check(probe)
    except NotAvailableInTenant as err:
        return finding(Status.LICENCE_MISSING, f"not available in this tenant: {err.licence}")
    except TenantForbidden as err:
        if capability.service == "exchange":
            return finding(
                Status.MISSING_EXCHANGE_ROLE, GRANT_EXCHANGE.format(cmdlet=capability.cmdlet)
            )
        if set(capability.permissions) & roles and "P" in capability.name:
            return finding(
                Status.LICENCE_MISSING,
                "permission granted but refused: the tenant probably lacks the licence named above",
            )
        return finding(Status.MISSING_PERMISSION, err.permission or str(err))
    except TenantNotFound as err:
        if "no user to probe" in str(err):
            return finding(Status.FAILED, str(err))
    except BlockWatchError as err:
        return finding(Status.FAILED, str(err)[:200])
    return finding(Status.OK, "works")


async def containment_findings(
    graph: GraphClient,
    *,
    mode: str,
    switched: bool,
    exclude_ids: frozenset[str],
    exclude_groups: frozenset[str],
) -> list[Finding]:
    """The automatic containment policy: its mode (as switched from Teams, else AUTO_CONTAIN),
    a warning when it is on with nothing excluded, and one per excluded id that does not
    exist (the policy cannot spare someone it cannot find)."""
    name = "Automatic containment"
    where = "switched from Teams" if switched else "AUTO_CONTAIN"
    spared = f"never touches {len(exclude_ids)} user(s), {len(exclude_groups)} group(s)"
    found = [Finding(name, False, Status.OK, f"{mode} ({where}); {spared}")]
    if mode == "on" and not (exclude_ids or exclude_groups):
        found[0] = Finding(
            name,
            False,
            Status.WARNING,
            f"on ({where}) and nothing is excluded: add break-glass accounts to "
            "AUTO_CONTAIN_EXCLUDE_IDS (or a group to AUTO_CONTAIN_EXCLUDE_GROUPS)",
        )
    for kind, ids, look_up in (
        ("user", exclude_ids, graph.users.user),
        ("group", exclude_groups, graph.users.group_name),
    ):
        for each in sorted(ids):
            try:
                await look_up(each)
            except TenantNotFound:
                detail = f"{each} does not exist in this tenant: the policy cannot spare it"
                found.append(Finding(f"Excluded {kind}", False, Status.WARNING, detail))
            except BlockWatchError as err:
                detail = f"{each} could not be looked up: {str(err)[:150]}"
                found.append(Finding(f"Excluded {kind}", False, Status.FAILED, detail))
    return found


def render(findings: list[Finding]) -> str:
    """The findings as a plain-text table, then a verdict line."""
    width = max(len(f.capability) for f in findings) + 2
    lines = [f"{'Capability':<{width}}{'Needed':<10}{'Status':<24}Detail", "-" * (width + 34 + 40)]
    for f in findings:
        lines.append(
            f"{f.capability:<{width}}{'required' if f.required else 'optional':<10}"
            f"{f.status.value:<24}{f.detail}"
        )
    missing = [f for f in findings if f.required and f.status is not Status.OK]
    lines.append("")
    lines.append(
        "Everything required is in place."
        if not missing
        else f"{len(missing)} required capability(ies) missing: BlockWatch cannot work yet."
    )
    return "\n".join(lines)


def healthy(findings: list[Finding]) -> bool:
    """True when every required capability is OK."""
    return all(f.status is Status.OK for f in findings if f.required)


def section_permissions_table() -> str:
    """The evidence sections' permissions as the Markdown table in docs/permissions.md."""
    rows = [
        "| Section | Service | Permission (any one) | Exchange cmdlet | Used for | Required? |",
        "|---|---|---|---|---|---|",
    ]
    for section in SECTIONS:
        for need in section.needs:
            permissions = " or ".join(f"`{p}`" for p in need.permissions)
            cmdlet = f"`{need.cmdlet}`" if need.cmdlet else ""
            required = "required" if section.required else "optional"
            service = "Exchange Online" if need.service == "exchange" else "Microsoft Graph"
            rows.append(
                f"| {section.name} | {service} | {permissions} | {cmdlet} | {need.used_for} "
                f"| {required} |"
            )
    return "\n".join(rows) + "\n"
