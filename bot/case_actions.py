"""Case verbs (card buttons) and the status / history / audit commands.

Card data is untrusted: it is validated here (a case id, a version, a known step) and the case
is always loaded from the store; the action is then checked against the case's current state.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from bot.cases.model import Case, StepName
from bot.cases.service import Answer
from bot.commands import Context, InvalidAction
from bot.conversation import Reply
from cards.case import case_card
from cards.common import adaptive_card, heading, text
from cards.senders import sender_gone_card

UPN = re.compile(r"^[^@\s]{1,113}@[A-Za-z0-9.-]{1,200}\.[A-Za-z]{2,63}$")


def _case_id(data: dict[str, Any]) -> str:
    value = data.get("case")
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError) as err:
        raise InvalidAction("case must be a case id") from err


def _version(data: dict[str, Any]) -> int:
    value = data.get("version")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**9:
        raise InvalidAction("version must be a positive number")
    return value


def _step(data: dict[str, Any]) -> StepName:
    try:
        return StepName(str(data.get("step")))
    except ValueError as err:
        raise InvalidAction("unknown step") from err


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise InvalidAction(f"{key} must be text")
    return value.strip()[:limit]


async def show_case(ctx: Context, case: Case, notice: str | None = None) -> Reply:
    """The case card, marked so the shell remembers which message shows it."""
    previous = None
    if case.previous_case_id:
        earlier = await ctx.services.cases.store.get(case.previous_case_id)
        previous = earlier.opened_at if earlier else None
    card = case_card(case, t=ctx.t, now=ctx.now, notice=notice, previous_opened=previous)
    return Reply(card=card, extras={"case": case.id, "version": case.version})


async def _answer(ctx: Context, answer: Answer) -> Reply:
    return await show_case(ctx, answer.case, answer.notice)


async def open_case(ctx: Context) -> Reply:
    """Open (or show) the case of a sender from the list card."""
    data = ctx.data or {}
    if "case" in data:
        case = await ctx.services.cases.store.get(_case_id(data))
        if case is None:
            raise InvalidAction("no such case")
        return await show_case(ctx, await ctx.services.cases.ensure_investigation(case, ctx.actor))
    upn = data.get("upn")
    if not isinstance(upn, str) or not UPN.match(upn):
        raise InvalidAction("open_case needs a valid upn")
    return await _open_upn(ctx, upn)


async def _open_upn(ctx: Context, upn: str) -> Reply:
    sender, _ = await ctx.services.senders.one(upn)
    if sender is None:
        existing = await ctx.services.cases.store.open_for(upn)
        if existing is not None:
            return await show_case(ctx, existing)
        return Reply(card=sender_gone_card(upn, t=ctx.t))
    return await show_case(ctx, await ctx.services.cases.open(sender, ctx.actor))


def _private_text(ctx: Context) -> str:
    return ctx.t.template("private.password")


async def run_step(ctx: Context) -> Reply:
    """Run one checklist step."""
    data = ctx.data or {}
    options: dict[str, Any] = {}
    for key in ("rules", "remove"):
        if key in data:
            options[key] = [r for r in _text(data, key, 2000).split(",") if r]
    answer = await ctx.services.cases.run_step(
        _case_id(data),
        _version(data),
        _step(data),
        ctx.actor,
        ctx.where,
        private_text=_private_text(ctx),
        options=options,
    )
    return await _answer(ctx, answer)


async def run_recommended(ctx: Context) -> Reply:
    """Run steps 1-4 in order."""
    data = ctx.data or {}
    answer = await ctx.services.cases.run_recommended(
        _case_id(data), _version(data), ctx.actor, ctx.where, private_text=_private_text(ctx)
    )
    return await _answer(ctx, answer)


async def skip_step(ctx: Context) -> Reply:
    """Skip a step with a reason."""
    data = ctx.data or {}
    answer = await ctx.services.cases.skip_step(
        _case_id(data), _version(data), _step(data), _text(data, "reason", 500), ctx.actor
    )
    return await _answer(ctx, answer)


async def release(ctx: Context) -> Reply:
    """Release the sender (or request it / override with a reason)."""
    data = ctx.data or {}
    answer = await ctx.services.cases.release(
        _case_id(data),
        _version(data),
        ctx.actor,
        override_reason=_text(data, "override_reason", 1000) or None,
    )
    return await _answer(ctx, answer)


async def approve_release(ctx: Context) -> Reply:
    """Approve another admin's release request."""
    data = ctx.data or {}
    answer = await ctx.services.cases.approve(_case_id(data), _version(data), ctx.actor)
    return await _answer(ctx, answer)


async def refresh_case(ctx: Context) -> Reply:
    """Show the case as it is now."""
    case = await ctx.services.cases.store.get(_case_id(ctx.data or {}))
    if case is None:
        raise InvalidAction("no such case")
    return await show_case(ctx, case)


CASE_VERBS = {
    "open_case": open_case,
    "run_step": run_step,
    "run_recommended": run_recommended,
    "skip_step": skip_step,
    "release": release,
    "approve_release": approve_release,
    "refresh_case": refresh_case,
}


# ---- commands with an argument ---------------------------------------------------------------


def _upn_arg(ctx: Context, usage: str) -> str | None:
    upn = ctx.args.strip()
    return upn if UPN.match(upn) else None


async def status(ctx: Context) -> Reply:
    """status <upn> — the case card of a sender"""
    upn = _upn_arg(ctx, "usage.status")
    if upn is None:
        return Reply(card=adaptive_card([text(ctx.t("usage.status"))]))
    existing = await ctx.services.cases.store.open_for(upn)
    if existing is not None:
        return await show_case(ctx, existing)
    sender, _ = await ctx.services.senders.one(upn)
    if sender is None:
        return Reply(card=adaptive_card([text(ctx.t("status.none", upn=upn))]))
    return await show_case(ctx, await ctx.services.cases.open(sender, ctx.actor))


async def history(ctx: Context) -> Reply:
    """history <upn> — past cases and actions for a sender"""
    upn = _upn_arg(ctx, "usage.history")
    if upn is None:
        return Reply(card=adaptive_card([text(ctx.t("usage.history"))]))
    cases = await ctx.services.cases.store.history(upn)
    body = [heading(ctx.t("history.title", upn=upn))]
    if not cases:
        body.append(text(ctx.t("history.none", upn=upn)))
    for case in cases[:10]:
        body.append(
            text(
                ctx.t(
                    "history.case",
                    opened=ctx.t.when(case.opened_at),
                    state=ctx.t("case.state." + case.state.value),
                ),
                weight="Bolder",
                separator=True,
            )
        )
        events = await ctx.services.cases.audit.events(case_id=case.id, limit=30)
        body.extend(
            text(
                f"{ctx.t.when(e.at)} · {e.actor_name or e.actor_id} · {e.action} · {e.result}",
                size="Small",
                spacing="None",
            )
            for e in events
            if e.at
        )
    return Reply(card=adaptive_card(body))


async def audit(ctx: Context) -> Reply:
    """audit [days] — recent actions by everyone (default 7 days)"""
    days = int(ctx.args) if ctx.args.strip().isdigit() else 7
    days = max(1, min(days, 400))
    events = await ctx.services.cases.audit.events(since=ctx.now - timedelta(days=days), limit=5000)
    body = [heading(ctx.t("audit.title", days=days))]
    if not events:
        body.append(text(ctx.t("audit.none", days=days)))
    shown = events[-40:]
    body.extend(
        text(
            f"{ctx.t.when(e.at)} · {e.actor_name or e.actor_id} · {e.action} · "
            f"{e.target} · {e.result}",
            size="Small",
            spacing="None",
        )
        for e in reversed(shown)
        if e.at
    )
    if len(events) > len(shown):
        body.append(text(ctx.t("audit.more", shown=len(shown), total=len(events)), isSubtle=True))
    return Reply(card=adaptive_card(body))
