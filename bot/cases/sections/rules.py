"""Inbox rules, hidden ones included: external forwarding, deleting, hiding mail, bait words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.cases.evidence import Addresses, Evidence, Phrase, SectionName, Untrusted, Why
from bot.cases.sections.spec import Findings, Need, SectionSpec, Subject
from bot.cases.tenant_ports import TenantReads
from bot.core.m365 import InboxRule

NAME = SectionName("rules")
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
# Exchange's own hidden rules, in every mailbox (`Get-InboxRule -IncludeHidden` lists them): the
# junk-mail rule and the automatic-replies (OOF) rules. Hidden, but no sign of an attacker.
SYSTEM_RULES = ("junk e-mail rule", "microsoft.exchange.oof.")


def system_rule(name: str) -> bool:
    """Named like one of Exchange's own rules (never flagged for being hidden or filing junk)."""
    lowered = name.strip().lower()
    return lowered == SYSTEM_RULES[0] or lowered.startswith(SYSTEM_RULES[1])


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


@dataclass(frozen=True)
class RuleFinding:
    """An inbox rule and what it does with mail."""

    rule_id: str
    name: str
    enabled: bool
    hidden: bool = False
    recipients: tuple[str, ...] = ()
    folder: str | None = None
    words_matched: tuple[str, ...] = ()
    why: tuple[Why, ...] = ()
    kind: Literal["rule"] = "rule"

    def words(self) -> Phrase:
        """ "name → where it sends or moves mail"."""
        if self.recipients:
            return Phrase(
                "fact.rule.to", {"name": Untrusted(self.name), "to": Addresses(self.recipients)}
            )
        if self.folder:
            return Phrase(
                "fact.rule.folder", {"name": Untrusted(self.name), "folder": Untrusted(self.folder)}
            )
        return Phrase("fact.text", {"text": Untrusted(self.name)})


def rule_findings(rules: list[InboxRule], who: Subject) -> Findings:
    """Inbox rules with reasons: external forwarding, deleting, hiding mail, bait words."""
    found = []
    for rule in rules:
        why: list[Why] = []
        if any(who.external(r) for r in rule.recipients):
            why.append(Why.FORWARDS_EXTERNAL)
        if rule.delete or rule.permanent_delete:
            why.append(Why.DELETES)
        if rule.move_to_folder and rule.move_to_folder.lower() in HIDING_FOLDERS:
            why.append(Why.HIDES_MAIL)
        if {w.lower() for w in rule.words} & BAIT_WORDS:
            why.append(Why.BAIT_WORDS)
        if rule.hidden:
            why.append(Why.HIDDEN)
        if system_rule(rule.name):  # Exchange's own rule is hidden and files junk: no sign
            # (a rule named like it that forwards or deletes is still flagged for that)
            why = [w for w in why if w not in (Why.HIDDEN, Why.HIDES_MAIL)]
        found.append(
            RuleFinding(
                rule_id=rule.id,
                name=rule.name or "(no name)",
                enabled=rule.enabled,
                hidden=rule.hidden,
                recipients=rule.recipients,
                folder=rule.move_to_folder,
                words_matched=rule.words,
                why=tuple(why),
            )
        )
    return tuple(found)


async def gather(who: Subject, tenant: TenantReads, now: datetime) -> Findings:
    """The mailbox's inbox rules, each with its reasons."""
    return rule_findings(await tenant.inbox_rules(who.upn), who)


def flagged(evidence: Evidence | None) -> list[RuleFinding]:
    """Enabled inbox rules the investigation flagged (the choices for 'disable rules')."""
    if evidence is None:
        return []
    return [
        f for f in evidence.findings(NAME) if isinstance(f, RuleFinding) and f.why and f.enabled
    ]


SECTION = SectionSpec(
    NAME,
    required=True,
    needs=(
        Need(
            "Read inbox rules (hidden too)",
            "exchange",
            ("Exchange.ManageAsApp",),
            cmdlet="Get-InboxRule",
            used_for="Inbox rules including hidden ones (`-IncludeHidden`)",
        ),
    ),
    gather=gather,
    kinds=(RuleFinding,),
)
