"""Feature: cases. The case card's buttons (open, run, skip, release, approve, refresh, take,
note, close reason) and the `status` and `history` commands.

Card data is untrusted: it is validated here (a case id, a version, a known step — never a UPN
to act on) and the case is always loaded fresh; the action is then checked against the case's
current state by the case service.
"""

from __future__ import annotations

import re

from bot.cases.model import CLOSE_COMMENT_LIMIT, NOTE_LIMIT, CloseReason
from bot.cases.service import Answer
from bot.cases.steps import StepOptions
from bot.chat.context import (
    UPN,
    Command,
    Context,
    Feature,
    InvalidAction,
    Verb,
    case_id,
    int_field,
    step,
    text_field,
    upn_arg,
    version,
)
from bot.chat.messages import Reply
from bot.chat.senders import list_card
from bot.core.m365 import LISTED_SECONDS
from bot.core.people import Role
from bot.errors import BlockWatchError
from cards.common import adaptive_card, text
from cards.history import history_card
from cards.messages import pick_sender_card
from cards.senders import sender_gone_card


async def _answer(ctx: Context, answer: Answer) -> Reply:
    return await ctx.services.views.reply(
        answer.case, ctx.t, viewer=ctx.viewer, notice=answer.notice
    )


async def open_case(ctx: Context) -> Reply:
    """Open (or show) the case of a sender from the list card: the case card is posted as a
    message of its own (in a channel, in the list's thread), and the list stays where it was,
    its row marked as opened."""
    cases = ctx.services.cases
    if "case" in ctx.data:
        case = await cases.get(case_id(ctx.data))
        if case is None:
            raise InvalidAction("no such case")
        return await ctx.services.views.reply(
            await cases.ensure_investigation(case, ctx.actor), ctx.t, viewer=ctx.viewer
        )
    upn = ctx.data.get("upn")
    if not isinstance(upn, str) or not UPN.match(upn):
        raise InvalidAction("open_case needs a valid upn")
    page = int_field(ctx.data, "page", low=1, high=10_000)
    # From the database and the list the admin clicked in when they have it: the click
    # answers at once, and the investigation reads the tenant in the background.
    case = await cases.open_for(upn)
    if case is not None:
        case = await cases.ensure_investigation(case, ctx.actor)
    else:
        sender = ctx.services.senders.listed(upn)
        if sender is None:
            sender, _ = await ctx.services.senders.one(upn)
        if sender is None:
            return Reply(card=sender_gone_card(upn, t=ctx.t))
        case = await cases.open(sender, ctx.actor)
    views = ctx.services.views
    posted = None
    if await views.claim_post(case.id, ctx.where):
        posted = await views.reply(case, ctx.t, viewer=ctx.post_viewer)
    try:
        view = await ctx.services.senders.view(LISTED_SECONDS)
    except BlockWatchError:  # the list cannot be drawn again now: the case card answers
        answer = await views.reply(case, ctx.t, viewer=ctx.viewer)
        return Reply(card=answer.card, posted=posted)
    listed = list_card(ctx, view, page, opened=frozenset({upn.lower()}))
    return Reply(card=listed, posted=posted)


def _private_text(ctx: Context) -> str:
    return ctx.t.template("private.password")


def _options(ctx: Context) -> StepOptions:
    def ids(key: str) -> tuple[str, ...]:
        return tuple(i for i in text_field(ctx.data, key, 2000).split(",") if i)

    return StepOptions(
        rules=ids("rules") if "rules" in ctx.data else None,
        remove=ids("remove") if "remove" in ctx.data else (),
    )


async def run_step(ctx: Context) -> Reply:
    """Run one checklist step."""
    answer = await ctx.services.cases.run_step(
        case_id(ctx.data),
        version(ctx.data),
        step(ctx.data),
        ctx.actor,
        ctx.address,
        private_text=_private_text(ctx),
        options=_options(ctx),
    )
    return await _answer(ctx, answer)


async def run_recommended(ctx: Context) -> Reply:
    """Run steps 1-4 in order."""
    answer = await ctx.services.cases.run_recommended(
        case_id(ctx.data),
        version(ctx.data),
        ctx.actor,
        ctx.address,
        private_text=_private_text(ctx),
    )
    return await _answer(ctx, answer)


async def skip_step(ctx: Context) -> Reply:
    """Skip a step with a reason."""
    answer = await ctx.services.cases.skip_step(
        case_id(ctx.data),
        version(ctx.data),
        step(ctx.data),
        text_field(ctx.data, "reason", 500),
        ctx.actor,
    )
    return await _answer(ctx, answer)


async def release(ctx: Context) -> Reply:
    """Release the sender (or request it / override with a reason)."""
    answer = await ctx.services.cases.release(
        case_id(ctx.data),
        version(ctx.data),
        ctx.actor,
        override_reason=text_field(ctx.data, "override_reason", 1000) or None,
    )
    return await _answer(ctx, answer)


async def approve_release(ctx: Context) -> Reply:
    """Approve another admin's release request."""
    answer = await ctx.services.cases.approve(case_id(ctx.data), version(ctx.data), ctx.actor)
    return await _answer(ctx, answer)


async def refresh_case(ctx: Context) -> Reply:
    """Show the case as it is now."""
    case = await ctx.services.cases.get(case_id(ctx.data))
    if case is None:
        raise InvalidAction("no such case")
    return await ctx.services.views.reply(case, ctx.t, viewer=ctx.viewer)


async def take_case(ctx: Context) -> Reply:
    """Take the case (assign it to me). Taking over another admin's case is for approvers."""
    answer = await ctx.services.cases.take(
        case_id(ctx.data), ctx.actor, reassign=ctx.role >= Role.APPROVER
    )
    return await _answer(ctx, answer)


async def add_note(ctx: Context) -> Reply:
    """Add a note to the case."""
    note = text_field(ctx.data, "note", NOTE_LIMIT + 1)  # one more: too long is refused
    answer = await ctx.services.cases.add_note(case_id(ctx.data), note, ctx.actor)
    return await _answer(ctx, answer)


async def close_reason(ctx: Context) -> Reply:
    """Say why a case ended without a release. Changing a reason given is for approvers."""
    try:
        reason = CloseReason(str(ctx.data.get("close_reason")))
    except ValueError as err:
        raise InvalidAction("unknown close reason") from err
    answer = await ctx.services.cases.give_close_reason(
        case_id(ctx.data),
        reason,
        text_field(ctx.data, "close_comment", CLOSE_COMMENT_LIMIT),
        ctx.actor,
        change=ctx.role >= Role.APPROVER,
    )
    return await _answer(ctx, answer)


EXAMPLE_UPN = "megan@contoso.com"  # help and pickers show a real address: Teams eats <upn>


async def _picker(ctx: Context, kind: str) -> Reply:
    """`status` / `history` without an address: a picker of the senders with a case."""
    senders = await ctx.services.cases.senders(open_only=kind == "status")
    example = f"{ctx.t(f'pick.{kind}.command')} {senders[0][0] if senders else EXAMPLE_UPN}"
    return Reply(card=pick_sender_card(kind, senders, t=ctx.t, typed_example=example))


def _picked(ctx: Context) -> str:
    upn = ctx.data.get("upn")
    if not isinstance(upn, str) or not UPN.match(upn.strip()):
        raise InvalidAction("pick a sender")
    return upn.strip()


async def status(ctx: Context) -> Reply:
    """The case card of a sender (opening a case if the sender is restricted)."""
    upn = upn_arg(ctx)
    return await _picker(ctx, "status") if upn is None else await _status_of(ctx, upn)


async def pick_status(ctx: Context) -> Reply:
    """The sender picked in the `status` picker."""
    return await _status_of(ctx, _picked(ctx))


async def _status_of(ctx: Context, upn: str) -> Reply:
    existing = await ctx.services.cases.open_for(upn)
    if existing is not None:
        return await ctx.services.views.reply(existing, ctx.t, viewer=ctx.viewer)
    sender, _ = await ctx.services.senders.one(upn)
    if sender is not None:
        case = await ctx.services.cases.open(sender, ctx.actor)
        return await ctx.services.views.reply(case, ctx.t, viewer=ctx.viewer)
    earlier = await ctx.services.cases.history(upn)
    if earlier:  # not restricted now: the last case, closed
        return await ctx.services.views.reply(earlier[0], ctx.t, viewer=ctx.viewer)
    return Reply(card=adaptive_card([text(ctx.t("status.none", upn=upn))]))


async def history(ctx: Context) -> Reply:
    """Past cases of a sender and what happened in each."""
    upn = upn_arg(ctx)
    return await _picker(ctx, "history") if upn is None else await _history_of(ctx, upn)


async def pick_history(ctx: Context) -> Reply:
    """The sender picked in the `history` picker."""
    return await _history_of(ctx, _picked(ctx))


async def _history_of(ctx: Context, upn: str) -> Reply:
    cases = await ctx.services.cases.history(upn)
    entries = [
        (case, await ctx.services.audit.events(case_id=case.id, limit=30)) for case in cases[:10]
    ]
    return Reply(card=history_card(upn, entries, t=ctx.t, budget=ctx.services.card_budget))


FEATURE = Feature(
    commands=(
        Command(
            "status",
            {
                "en": re.compile(r"status(?:\s+(?P<arg>\S+))?", re.I),
                "nl": re.compile(r"toestand(?:\s+(?P<arg>\S+))?", re.I),
            },
            status,
            Role.VIEWER,
            {
                "en": f"status {EXAMPLE_UPN} — the case card of a sender (status alone: pick one)",
                "nl": f"toestand {EXAMPLE_UPN} — de zaakkaart van een afzender (toestand alleen: "
                "kies er een)",
            },
            with_argument=True,
        ),
        Command(
            "history",
            {
                "en": re.compile(r"history(?:\s+(?P<arg>\S+))?", re.I),
                "nl": re.compile(r"geschiedenis(?:\s+(?P<arg>\S+))?", re.I),
            },
            history,
            Role.VIEWER,
            {
                "en": f"history {EXAMPLE_UPN} — past cases and actions for a sender",
                "nl": f"geschiedenis {EXAMPLE_UPN} — eerdere zaken en acties van een afzender",
            },
            with_argument=True,
        ),
    ),
    verbs=(
        Verb("open_case", open_case, Role.VIEWER),
        Verb("refresh_case", refresh_case, Role.VIEWER),
        Verb("run_step", run_step, Role.RESPONDER),
        Verb("run_recommended", run_recommended, Role.RESPONDER),
        Verb("skip_step", skip_step, Role.RESPONDER),
        Verb("release", release, Role.APPROVER),
        Verb("approve_release", approve_release, Role.APPROVER),
        Verb("take_case", take_case, Role.RESPONDER),
        Verb("add_note", add_note, Role.RESPONDER),
        Verb("close_reason", close_reason, Role.RESPONDER),
        Verb("pick_status", pick_status, Role.VIEWER),
        Verb("pick_history", pick_history, Role.VIEWER),
    ),
)
