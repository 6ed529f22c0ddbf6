"""Never clean up or release on evidence that could not be read (issue: could not read is
never nothing found). Through /api/messages, against the simulated tenant failing a section."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.cases.model import CaseState
from bot.cases.outcomes import StepName, StepStatus
from bot.errors import ProblemKind
from bot.sim.evidence import SimRule
from bot.sim.exchange import CMDLETS
from bot.sim.faults import Fault
from bot.sim.server import SimulatedTenant
from bot.store.watched import WatchedSenders
from tests.flow import ALEX, JOOST, MEGAN, action, click, compromised_bot, open_joost
from tests.helpers import Recorder, actions_of, activity, texts_of

# No background re-read during these tests unless a test asks for one.
LATER = {"EVIDENCE_RETRY_SECONDS": "600"}


def _throttled(sim: SimulatedTenant, cmdlet: str) -> None:
    """Exchange answers 429 asking for a wait far past BlockWatch's retry deadline."""
    sim.faults.add(cmdlet, Fault("throttle", times=-1, retry_after="120"))


def _no_permission(sim: SimulatedTenant, cmdlet: str) -> None:
    """The app's Exchange role group lacks the cmdlet."""
    sim.state.exchange_cmdlets = set(CMDLETS) - {cmdlet}


def _outage(sim: SimulatedTenant, cmdlet: str) -> None:
    """Exchange answers 503 to every try."""
    sim.faults.add(cmdlet, Fault("unavailable", times=-1))


def _restore(sim: SimulatedTenant) -> None:
    sim.faults.clear()
    sim.state.exchange_cmdlets = None


FAILURES: dict[str, tuple[Callable[[SimulatedTenant, str], None], ProblemKind]] = {
    "throttled": (_throttled, ProblemKind.THROTTLED),
    "no permission": (_no_permission, ProblemKind.FORBIDDEN),
    "outage": (_outage, ProblemKind.UNAVAILABLE),
}
SECTIONS = {
    "rules": ("Get-InboxRule", StepName.DISABLE_RULES, "Inbox rules"),
    "forwarding": ("Get-Mailbox", StepName.REMOVE_FORWARDING, "Mailbox forwarding"),
}


def _after(lines: list[str], title: str) -> str:
    return lines[lines.index(title) + 1]


def _unchanged(sim: SimulatedTenant, section: str) -> bool:
    evidence = sim.state.evidence_of(JOOST)
    if section == "rules":
        return {r.name: r.enabled for r in evidence.rules}["."] is True
    return evidence.forwarding_smtp is not None


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("section", list(SECTIONS))
async def test_a_step_fails_on_a_section_it_cannot_read_and_retry_completes_it(
    start_bot: Any, recorder: Recorder, section: str, failure: str
) -> None:
    bot = await compromised_bot(start_bot, **LATER)
    cmdlet, step, title = SECTIONS[section]
    fail, kind = FAILURES[failure]
    fail(bot.sim, cmdlet)
    card = await open_joost(bot, recorder)
    assert _after(texts_of(card), title).startswith("Could not be read")

    card = await click(bot, recorder, "run_step", action(card, "run_step", step.value))
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert case.step(step).status is StepStatus.FAILED
    detail = case.step(step).detail
    assert detail is not None
    assert detail.problem is not None
    assert detail.problem.kind is kind
    assert _unchanged(bot.sim, section)  # nothing was done on evidence nobody read

    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    release = next(a for a in actions_of(card) if a["title"] == "Release sender")
    assert release["isEnabled"] is False
    lines = texts_of(card)
    waiting = next(line for line in lines if line.startswith("Release waits for evidence"))
    assert f"{title}: " in waiting
    retry = next(a for a in actions_of(card, any_kind=True) if a.get("title") == "Retry")
    assert retry["data"]["step"] == step.value

    _restore(bot.sim)
    await click(bot, recorder, "run_step", retry["data"])
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.get(case.id)
    assert case is not None
    assert case.step(step).status is StepStatus.DONE
    assert case.step(step).attempt == 2
    assert not _unchanged(bot.sim, section)
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    assert not _after(texts_of(card), title).startswith("Could not be read")


async def test_only_a_written_override_releases_without_the_evidence_and_it_is_audited(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot, **LATER)
    _throttled(bot.sim, "Get-InboxRule")
    card = await open_joost(bot, recorder)
    await click(bot, recorder, "run_recommended", action(card, "run_recommended"))
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    statuses = [case.step(s).status for s in StepName][:4]
    assert statuses == [StepStatus.DONE] * 3 + [StepStatus.FAILED]
    assert case.state is not CaseState.READY

    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    refused = await click(bot, recorder, "release", action(card, "release"))
    assert "Finish steps 1–4 first, or give an override reason." in texts_of(refused)
    assert bot.sim.state.block(JOOST) is not None

    override = dict(action(refused, "release"), override_reason="rules checked by hand in OWA")
    released = await click(bot, recorder, "release", override)
    assert "Releasing: BlockWatch is asking Exchange Online to lift the block." in " ".join(
        texts_of(released)
    )
    await bot.runtime.cases.idle()
    assert bot.sim.state.block(JOOST) is None
    events = await bot.runtime.audit.events(case_id=case.id)
    audited = next(e for e in events if e.action == "release_override")
    assert audited.parameters == {
        "reason": "rules checked by hand in OWA",
        "missing_evidence": "rules (throttled)",
    }
    assert audited.actor_id == ALEX[1]


async def test_skipping_the_step_does_not_unlock_the_release(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot, **LATER)
    _no_permission(bot.sim, "Get-InboxRule")
    card = await open_joost(bot, recorder)
    await click(bot, recorder, "run_recommended", action(card, "run_recommended"))
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    skipped = await click(
        bot,
        recorder,
        "skip_step",
        dict(action(card, "skip_step"), step="disable_rules", reason="no rules, I looked"),
    )
    case = await bot.runtime.cases.get(case.id)
    assert case is not None
    assert case.checklist_done
    assert case.state is CaseState.REMEDIATING
    release = next(a for a in actions_of(skipped) if a["title"] == "Release sender")
    assert release["isEnabled"] is False
    assert any(
        line.startswith("Release waits for evidence that could not be read — Inbox rules: ")
        for line in texts_of(skipped)
    )
    refused = await click(bot, recorder, "release", action(skipped, "release"), user=MEGAN)
    assert "Finish steps 1–4 first, or give an override reason." in texts_of(refused)
    assert bot.sim.state.block(JOOST) is not None


async def test_a_rule_created_after_the_investigation_is_disabled_by_step_4(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot, **LATER)
    card = await open_joost(bot, recorder)
    late = SimRule("Late forward", forward_to=["payroll-copy@evil.example"])
    bot.sim.state.evidence_of(JOOST).rules.append(late)
    picker = next(a for a in actions_of(card, any_kind=True) if a.get("title") == "Choose rules…")
    shown = [c["title"] for c in picker["card"]["body"][0]["choices"]]
    assert "Late forward" not in shown  # the admin never saw it
    await click(bot, recorder, "run_recommended", action(card, "run_recommended"))
    await bot.runtime.cases.idle()
    rules = {r.name: r.enabled for r in bot.sim.state.evidence_of(JOOST).rules}
    assert rules["Late forward"] is False
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    detail = case.step(StepName.DISABLE_RULES).detail
    assert detail is not None
    assert "Late forward" in detail.names
    assert case.state is CaseState.READY


async def test_picked_rules_are_disabled_and_a_rule_the_admin_kept_stays(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot, **LATER)
    card = await open_joost(bot, recorder)
    picker = next(a for a in actions_of(card, any_kind=True) if a.get("title") == "Choose rules…")
    choices = {c["title"]: c["value"] for c in picker["card"]["body"][0]["choices"]}
    data = dict(picker["card"]["actions"][0]["data"], rules=choices["Archive updates"])
    await click(bot, recorder, "run_step", data)
    await bot.runtime.cases.idle()
    rules = {r.name: r.enabled for r in bot.sim.state.evidence_of(JOOST).rules}
    assert rules == {
        ".": True,
        "Archive updates": False,
        "Sync [Verify your admin account](https://evil.example/login) **now**": True,
        "Newsletter": True,
    }


async def test_review_mfa_stops_when_a_method_appeared_that_the_admin_was_not_shown(
    start_bot: Any, recorder: Recorder
) -> None:
    from datetime import UTC, datetime

    from bot.sim.evidence import SimMethod

    bot = await compromised_bot(start_bot, **LATER)
    card = await open_joost(bot, recorder)
    methods = bot.sim.state.evidence_of(JOOST).methods
    methods.append(SimMethod("phone", "+1 555 0100", datetime.now(UTC)))
    review = next(
        a for a in actions_of(card, any_kind=True) if a.get("title") == "Review sign-in methods…"
    )
    await click(bot, recorder, "run_step", review["card"]["actions"][0]["data"])
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    step = case.step(StepName.REVIEW_MFA)
    assert step.status is StepStatus.FAILED
    assert step.detail is not None
    assert step.detail.names == ("+1 555 0100",)
    assert len(bot.sim.state.evidence_of(JOOST).methods) == 4  # nothing removed
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    review = next(
        a for a in actions_of(card, any_kind=True) if a.get("title") == "Review sign-in methods…"
    )
    assert "+1 555 0100" in [c["title"] for c in review["card"]["body"][0]["choices"]]


async def test_an_alert_card_says_what_could_not_be_read_and_fills_in_later(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(
        start_bot,
        EVIDENCE_RETRY_SECONDS="0.2",
        ALERT_POLL_SECONDS="3600",
        DEMO_RESTRICT_AFTER_SECONDS="0",
    )
    watched = WatchedSenders(bot.runtime.engine)
    deadline = time.monotonic() + 10
    while not await watched.baseline_taken():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    channel = activity("alerts on", service_url=recorder.url, scope="channel")
    await bot.post(channel)
    _throttled(bot.sim, "Get-InboxRule")
    bot.sim.state.restrict("megan.bowen@contoso.onmicrosoft.com", "ExceedingLimitType=External")
    await bot.runtime.watcher.poll_once()
    await bot.runtime.delivery.deliver_pending()

    async def rules_line() -> str:
        updates = [c for c in recorder.calls if c.method == "PUT" and c.body.get("attachments")]
        if not updates:
            return ""
        card = updates[-1].body["attachments"][0]["content"]
        return _after(texts_of(card), "Inbox rules")

    deadline = time.monotonic() + 20
    while not (await rules_line()).startswith("Could not be read yet"):
        assert time.monotonic() < deadline, await rules_line()
        await asyncio.sleep(0.05)
    assert "BlockWatch reads it again by itself" in await rules_line()
    _restore(bot.sim)
    deadline = time.monotonic() + 20
    while await rules_line() != "none":
        assert time.monotonic() < deadline, await rules_line()
        await asyncio.sleep(0.05)
