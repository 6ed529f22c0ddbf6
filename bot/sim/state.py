"""The simulated tenant's state, seeded from a scenario file and changed by the bot's calls."""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from bot.sim.evidence import SimTrace, UserEvidence, evidence_from_dict
from bot.sim.identity import AppRegistration

# Every Graph application permission the simulated app can be granted (a full grant by default).
ALL_GRAPH_ROLES = frozenset(
    {
        "User.Read.All",
        "UserAuthenticationMethod.ReadWrite.All",
        "MailboxSettings.ReadWrite",
        "RoleManagement.ReadWrite.Directory",
        "IdentityRiskyUser.Read.All",
        "AuditLog.Read.All",
        "Directory.Read.All",
        "ExchangeMessageTrace.Read.All",
        "SecurityAlert.Read.All",
        "User-PasswordProfile.ReadWrite.All",
        "User.RevokeSessions.All",
        "User.EnableDisableAccount.All",
        "GroupMember.Read.All",
    }
)
DEMO_CLIENT_ID = "b1f3c5d7-0000-4000-8000-00000000b10c"


@dataclass
class SimUser:
    """A directory user with a mailbox."""

    id: str
    upn: str
    display_name: str
    mail: str
    account_enabled: bool = True
    job_title: str | None = None
    country: str | None = None
    password_changed: datetime | None = None
    on_premises_sync: bool = False  # Entra refuses to change accountEnabled for these

    def graph(self) -> dict[str, Any]:
        """The user as Graph's `user` resource."""
        return {
            "id": self.id,
            "userPrincipalName": self.upn,
            "displayName": self.display_name,
            "mail": self.mail,
            "accountEnabled": self.account_enabled,
            "jobTitle": self.job_title,
            "usageLocation": self.country,
            "onPremisesSyncEnabled": True if self.on_premises_sync else None,
            "lastPasswordChangeDateTime": (
                self.password_changed.isoformat().replace("+00:00", "Z")
                if self.password_changed
                else None
            ),
        }


@dataclass
class SimGroup:
    """An Entra security group; `members` are user ids or UPNs and (nested) group ids."""

    id: str
    display_name: str
    members: list[str] = field(default_factory=list)


@dataclass
class SimBlock:
    """An entry of Exchange's restricted-senders list (`Get-BlockedSenderAddress`)."""

    sender: str
    reason: str
    created: datetime
    changed: datetime
    temporary: bool = False

    def exchange(self) -> dict[str, Any]:
        """The entry as the InvokeCommand backend returns it."""
        return {
            "SenderAddress": self.sender,
            "Reason": self.reason,
            "CreatedDatetime": _dotnet_time(self.created),
            "ChangedDatetime": _dotnet_time(self.changed),
            "TemporaryBlock": self.temporary,
            "Identity": self.sender,
            "IsValid": True,
            "ObjectState": "Unchanged",
        }


@dataclass
class TenantState:
    """Everything the simulated tenant knows; mutated by the bot's calls."""

    tenant_id: str
    domain: str
    users: list[SimUser]
    blocks: list[SimBlock]
    page_size: int = 100
    graph_page_size: int = 100
    removed: list[str] = field(default_factory=list)
    app: AppRegistration = field(
        default_factory=lambda: AppRegistration(DEMO_CLIENT_ID, graph_roles=set(ALL_GRAPH_ROLES))
    )
    licences: set[str] = field(default_factory=lambda: {"AAD_PREMIUM_P1", "AAD_PREMIUM_P2"})
    exchange_cmdlets: set[str] | None = None  # None: the app's role group has every cmdlet
    restrict_later: str = "megan.bowen@"  # whom the demo's Exchange restricts after start-up
    hidden_cmdlet_answer: str = "nul"  # or "not-recognized": how a cmdlet outside the role fails
    enforce_budgets: bool = True  # Graph's per-API rate budgets (bot/sim/graph.py)
    budget_windows: dict[str, deque[float]] = field(default_factory=dict)
    evidence: dict[str, UserEvidence] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    unblock_limit: set[str] = field(default_factory=set)  # senders past the unblock limit
    unblock_limit_message: str = ""  # Microsoft's words for it (unpublished): any text
    groups: list[SimGroup] = field(default_factory=list)

    def evidence_of(self, upn: str) -> UserEvidence:
        """The mailbox and security facts of `upn` (empty ones for a clean user)."""
        return self.evidence.setdefault(upn.lower(), UserEvidence())

    def user(self, key: str) -> SimUser | None:
        """The user with this object id or UPN (case-insensitive)."""
        wanted = key.lower()
        return next(
            (u for u in self.users if u.id.lower() == wanted or u.upn.lower() == wanted), None
        )

    def groups_of(self, user: SimUser) -> list[SimGroup]:
        """Every group `user` belongs to, directly or through nested groups."""
        found: dict[str, SimGroup] = {}
        wanted = {user.id.lower(), user.upn.lower()}
        while True:
            more = [
                g
                for g in self.groups
                if g.id not in found and any(m.lower() in wanted for m in g.members)
            ]
            if not more:
                return list(found.values())
            for group in more:
                found[group.id] = group
                wanted.add(group.id.lower())

    def block(self, sender: str) -> SimBlock | None:
        """The restricted-list entry for this address, if any."""
        wanted = sender.lower()
        return next((b for b in self.blocks if b.sender.lower() == wanted), None)

    def alert_for(self, block: SimBlock) -> dict[str, Any]:
        """The Defender alert "User restricted from sending email" for a restriction."""
        user = self.user(block.sender)
        when = block.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        account = {
            "userPrincipalName": block.sender,
            "azureAdUserId": user.id if user else None,
            "displayName": user.display_name if user else None,
        }
        return {
            "id": f"fa{uuid.uuid4().hex[:30]}",
            "title": "User restricted from sending email",
            "serviceSource": "microsoftDefenderForOffice365",
            "detectionSource": "microsoftDefenderForOffice365",
            "severity": "high",
            "status": "new",
            "category": "ThreatManagement",
            "createdDateTime": when,
            "lastUpdateDateTime": when,
            "evidence": [
                {"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": account}
            ],
        }

    def restrict(self, upn: str, reason: str, *, now: datetime | None = None) -> SimBlock:
        """Put `upn` on the restricted list (as Exchange does when a limit is hit)."""
        when = now or datetime.now(UTC)
        existing = self.block(upn)
        if existing:
            existing.reason, existing.changed = reason, when
            return existing
        entry = SimBlock(sender=upn, reason=reason, created=when, changed=when)
        self.blocks.append(entry)
        self.alerts.append(self.alert_for(entry))
        self.sent_to_match(entry)
        return entry

    def sent_to_match(self, block: SimBlock) -> None:
        """A restricted user without a message trace gets one that matches the recipient
        counts in the Reason (in the two hours before the block), as in a real tenant."""
        evidence = self.evidence_of(block.sender)
        if evidence.sent:
            return
        counts = dict(re.findall(r"(\w+)RecipientCountToday=(\d+)", block.reason))
        recipients = [f"colleague{i}@{self.domain}" for i in range(int(counts.get("Internal", 0)))]
        recipients += [
            f"buyer{i}@customer{i % 40}.example" for i in range(int(counts.get("External", 0)))
        ]
        step = timedelta(hours=2) / max(1, len(recipients))
        for i, recipient in enumerate(recipients):
            at = block.created - step * (len(recipients) - i)
            evidence.sent.append(SimTrace(at, recipient, "Invoice overdue — please review"))


def _dotnet_time(moment: datetime) -> str:
    """ISO 8601 with seven fractional digits and Z, as .NET serialises DateTime."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def reason_text(limit: str, internal: int, external: int) -> str:
    """Exchange's `Reason` text for a sender over a recipient limit, in the shape Microsoft
    support shows it [C]: a kind token without "=", a key with a space, a trailing ";"."""
    trace = uuid.uuid4()
    return (
        f"EmailSendingLimitExceeded;InternalRecipientCountToday={internal};"
        f"ExternalRecipientCountToday={external};ExceedingLimitType={limit};"
        f"Last MessagetraceId={trace};LastMessageRcptCount=1;"
    )


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message is one line for the admin."""


def bundled_scenarios() -> list[str]:
    """The names of the scenarios shipped with BlockWatch."""
    folder = resources.files("bot.sim").joinpath("scenarios")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def load_scenario(name_or_path: str, *, now: datetime | None = None) -> TenantState:
    """Build a tenant from a bundled scenario name (`contoso`) or a JSON file path; raises
    `ScenarioError` saying what is wrong."""
    path = Path(name_or_path)
    if path.suffix == ".json" or "/" in name_or_path or "\\" in name_or_path:
        if not path.is_file():
            raise ScenarioError(f"no scenario file at {name_or_path!r}")
        text, where = path.read_text(encoding="utf-8", errors="replace"), name_or_path
    else:
        source = resources.files("bot.sim").joinpath("scenarios", f"{name_or_path}.json")
        if not source.is_file():
            known = ", ".join(bundled_scenarios())
            raise ScenarioError(
                f"no scenario called {name_or_path!r} (built in: {known}; or a path to a "
                ".json file)"
            )
        text, where = source.read_text(encoding="utf-8"), f"{name_or_path}.json"
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ScenarioError(f"{where} is not valid JSON: {err}") from None
    try:
        return scenario_from_dict(data, now=now)
    except KeyError as err:
        raise ScenarioError(f"{where} is not a scenario: {err} is missing") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise ScenarioError(f"{where} is not a scenario: {err}") from None


def scenario_from_dict(data: dict[str, Any], *, now: datetime | None = None) -> TenantState:
    """Build a tenant from a parsed scenario; times are given as minutes before `now`."""
    moment = now or datetime.now(UTC)
    domain = data["tenant"]["domain"]
    users = [
        SimUser(
            id=u.get("id") or str(uuid.uuid5(uuid.NAMESPACE_DNS, u["upn"])),
            upn=u["upn"],
            display_name=u["displayName"],
            mail=u.get("mail", u["upn"]),
            account_enabled=u.get("accountEnabled", True),
            job_title=u.get("jobTitle"),
            country=u.get("usageLocation"),
            on_premises_sync=u.get(
                "onPremisesSyncEnabled", u.get("evidence", {}).get("federated", False)
            ),
        )
        for u in data["users"]
    ]
    blocks = []
    for b in data.get("restricted", []):
        created = moment - timedelta(minutes=b["blocked_minutes_ago"])
        changed = moment - timedelta(minutes=b.get("changed_minutes_ago", b["blocked_minutes_ago"]))
        blocks.append(SimBlock(b["upn"], b["reason"], created, changed, b.get("temporary", False)))
    extra = data.get("generate_restricted", 0)
    app_data = data.get("app", {})
    app = AppRegistration(
        app_data.get("clientId", DEMO_CLIENT_ID),
        secret=app_data.get("secret"),
        graph_roles=set(app_data.get("graphRoles", ALL_GRAPH_ROLES)),
        exchange_roles=set(app_data.get("exchangeRoles", ["Exchange.ManageAsApp"])),
    )
    cmdlets = data.get("exchangeCmdlets")
    state = TenantState(
        tenant_id=data["tenant"]["id"],
        domain=domain,
        users=users,
        blocks=blocks,
        page_size=data.get("page_size", 100),
        graph_page_size=data.get("graph_page_size", 100),
        app=app,
        licences=set(data.get("licences", ["AAD_PREMIUM_P1", "AAD_PREMIUM_P2"])),
        exchange_cmdlets=set(cmdlets) if cmdlets is not None else None,
        hidden_cmdlet_answer=data.get("hiddenCmdletAnswer", "nul"),
        restrict_later=data.get("restrictLater", "megan.bowen@"),
    )
    state.groups = [
        SimGroup(g["id"], g["displayName"], list(g.get("members", [])))
        for g in data.get("groups", [])
    ]
    state.alerts.extend(state.alert_for(b) for b in blocks)
    for u in data["users"]:
        if "evidence" in u:
            state.evidence[u["upn"].lower()] = evidence_from_dict(u["evidence"], moment)
    for block in blocks:
        state.sent_to_match(block)
    if extra:
        add_generated(state, extra, now=moment)
    if wave := data.get("generate_wave", 0):
        add_wave(state, wave, now=moment)
    return state


_FIRST = ["Anna", "Bram", "Chloé", "Daan", "Émile", "Fleur", "Gijs", "Hanna", "Ïris", "Jörg"]
_LAST = ["de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Müller"]


def add_wave(state: TenantState, count: int, *, now: datetime) -> None:
    """Add `count` users for a wave (none restricted yet): every even one compromised (its mail
    forwarded outside, a hidden rule deleting the replies), every odd one not."""
    for i in range(count):
        upn = f"wave{i:02d}@{state.domain}"
        state.users.append(
            SimUser(str(uuid.uuid5(uuid.NAMESPACE_DNS, upn)), upn, f"Wave User {i:02d}", upn)
        )
        if i % 2 == 0:
            state.evidence[upn] = evidence_from_dict(
                {
                    "forwardingSmtpAddress": f"w{i:02d}@collector.example",
                    "rules": [{"name": ".", "hidden": True, "delete": True, "id": f"9{i:018d}"}],
                },
                now,
            )


def add_generated(state: TenantState, count: int, *, now: datetime) -> None:
    """Add `count` generated users, each restricted, for paging and load tests."""
    for i in range(count):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        upn = f"user{i:04d}@{state.domain}"
        state.users.append(
            SimUser(str(uuid.uuid5(uuid.NAMESPACE_DNS, upn)), upn, f"{first} {last} {i}", upn)
        )
        limit = ("External", "Internal", "Total")[i % 3]
        when = now - timedelta(minutes=7 * i + 3)
        state.blocks.append(
            SimBlock(upn, reason_text(limit, i % 50, 400 + i), when, when, i % 4 == 0)
        )
