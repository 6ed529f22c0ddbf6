"""Feature: cases. The case card's buttons (open, run, skip, release, approve, refresh, take,
note, close reason) and the `status` and `history` commands.

Card data is untrusted: each verb's data is parsed by its model in cards/verbs.py (a case id, a
version, a known step — never a UPN to act on) and the case is always loaded fresh; the action
is then checked against the case's current state by the case service.
"""

from __future__ import annotations

from bot.cases.service import Answer
from bot.cases.steps import StepOptions
from bot.chat.context import EXAMPLE_UPN, Command, Context, Feature, Verb, upn_arg
from bot.chat.messages import Reply
from bot.chat.senders import list_card
from bot.core.m365 import LISTED_SECONDS
from bot.core.people import Role
from bot.errors import BlockWatchError
from cards.common import adaptive_card, text
from cards.history import history_card
from cards.messages import pick_sender_card
from cards.senders import sender_gone_card
from cards.verbs import (
    AddNote,
    ApproveRelease,
    GiveCloseReason,
    InvalidAction,
    OpenCase,
    PickHistory,
    PickStatus,
    RefreshCase,
    Release,
    RunRecommended,
    RunStep,
    SkipStep,
    TakeCase,
)


async def _answer(ctx: Context, answer: Answer) -> Reply:
    return await ctx.services.views.reply(
        answer.case, ctx.t, viewer=ctx.viewer, notice=answer.notice
    )


async def open_case(ctx: Context) -> Reply:
    """Open (or show) the case of a sender from the list card: the case card is posted as a
    message of its own (in a channel, in the list's thread), and the list stays where it was,
    its row marked as opened."""
    cases = ctx.services.cases
    click = OpenCase.parse(ctx.data)
    if click.case is not None:
        case = await cases.get(click.case)
        if case is None:
            raise InvalidAction("no such case")
        return await ctx.services.views.reply(
            await cases.ensure_investigation(case, ctx.actor), ctx.t, viewer=ctx.viewer
        )
    if click.upn is None:
        raise InvalidAction("open_case needs a valid upn")
    upn, page = click.upn, click.page
    # From the database and the list the admin clicked in when they have it: the click
    # answers at once, and the investigation reads the tenant in the background.
    case = await cases.open_sender(upn, ctx.actor)
    if case is None:
        return Reply(card=sender_gone_card(upn, t=ctx.t))
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


async def run_step(ctx: Context) -> Reply:
    """Run one checklist step."""
    click = RunStep.parse(ctx.data)
    answer = await ctx.services.cases.run_step(
        click.case,
        click.version,
        click.step,
        ctx.actor,
        ctx.address,
        private_text=_private_text(ctx),
        options=StepOptions.picked(rules=click.rules, remove=click.remove),
    )
    return await _answer(ctx, answer)


async def run_recommended(ctx: Context) -> Reply:
    """Run steps 1-4 in order."""
    click = RunRecommended.parse(ctx.data)
    answer = await ctx.services.cases.run_recommended(
        click.case,
        click.version,
        ctx.actor,
        ctx.address,
        private_text=_private_text(ctx),
    )
    return await _answer(ctx, answer)


async def skip_step(ctx: Context) -> Reply:
    """Skip a step with a reason."""
    click = SkipStep.parse(ctx.data)
    assert click.step is not None  # SkipStep.needs it
    answer = await ctx.services.cases.skip_step(
        click.case, click.version, click.step, click.reason, ctx.actor
    )
    return await _answer(ctx, answer)


async def release(ctx: Context) -> Reply:
    """Release the sender (or request it / override with a reason)."""
    click = Release.parse(ctx.data)
    answer = await ctx.services.cases.release(
        click.case, click.version, ctx.actor, override_reason=click.override_reason
    )
    return await _answer(ctx, answer)


async def approve_release(ctx: Context) -> Reply:
    """Approve another admin's release request."""
    click = ApproveRelease.parse(ctx.data)
    answer = await ctx.services.cases.approve(click.case, click.version, ctx.actor)
    return await _answer(ctx, answer)


async def refresh_case(ctx: Context) -> Reply:
    """Show the case as it is now."""
    case = await ctx.services.cases.get(RefreshCase.parse(ctx.data).case)
    if case is None:
        raise InvalidAction("no such case")
    return await ctx.services.views.reply(case, ctx.t, viewer=ctx.viewer)


async def take_case(ctx: Context) -> Reply:
    """Take the case (assign it to me). Taking over another admin's case is for approvers."""
    answer = await ctx.services.cases.take(
        TakeCase.parse(ctx.data).case, ctx.actor, reassign=ctx.role >= Role.APPROVER
    )
    return await _answer(ctx, answer)


async def add_note(ctx: Context) -> Reply:
    """Add a note to the case."""
    click = AddNote.parse(ctx.data)
    answer = await ctx.services.cases.add_note(click.case, click.note, ctx.actor)
    return await _answer(ctx, answer)


async def close_reason(ctx: Context) -> Reply:
    """Say why a case ended without a release. Changing a reason given is for approvers."""
    click = GiveCloseReason.parse(ctx.data)
    assert click.close_reason is not None  # GiveCloseReason.needs it
    answer = await ctx.services.cases.give_close_reason(
        click.case,
        click.close_reason,
        click.close_comment,
        ctx.actor,
        change=ctx.role >= Role.APPROVER,
    )
    return await _answer(ctx, answer)


async def _picker(ctx: Context, kind: str) -> Reply:
    """`status` / `history` without an address: a picker of the senders with a case."""
    senders = await ctx.services.cases.senders(open_only=kind == "status")
    example = f"{ctx.t(f'pick.{kind}.command')} {senders[0][0] if senders else EXAMPLE_UPN}"
    return Reply(card=pick_sender_card(kind, senders, t=ctx.t, typed_example=example))


async def status(ctx: Context) -> Reply:
    """The case card of a sender (opening a case if the sender is restricted)."""
    upn = upn_arg(ctx)
    return await _picker(ctx, "status") if upn is None else await _status_of(ctx, upn)


async def pick_status(ctx: Context) -> Reply:
    """The sender picked in the `status` picker."""
    upn = PickStatus.parse(ctx.data).upn
    assert upn is not None  # PickStatus.needs it
    return await _status_of(ctx, upn)


async def _status_of(ctx: Context, upn: str) -> Reply:
    case = await ctx.services.cases.status_of(upn, ctx.actor)
    if case is None:
        return Reply(card=adaptive_card([text(ctx.t("status.none", upn=upn))]))
    return await ctx.services.views.reply(case, ctx.t, viewer=ctx.viewer)


async def history(ctx: Context) -> Reply:
    """Past cases of a sender and what happened in each."""
    upn = upn_arg(ctx)
    return await _picker(ctx, "history") if upn is None else await _history_of(ctx, upn)


async def pick_history(ctx: Context) -> Reply:
    """The sender picked in the `history` picker."""
    upn = PickHistory.parse(ctx.data).upn
    assert upn is not None  # PickHistory.needs it
    return await _history_of(ctx, upn)


async def _history_of(ctx: Context, upn: str) -> Reply:
    cases = await ctx.services.cases.history(upn)
    entries = [
        (case, await ctx.services.audit.events(case_id=case.id, limit=30)) for case in cases[:10]
    ]
    return Reply(card=history_card(upn, entries, t=ctx.t, budget=ctx.services.card_budget))


FEATURE = Feature(
    commands=(
        Command("status", status, Role.VIEWER, with_argument=True),
        Command("history", history, Role.VIEWER, with_argument=True),
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
