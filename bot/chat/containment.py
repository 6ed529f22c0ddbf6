"""Feature: the automatic containment policy. `containment` (its mode, steps and exclusions),
`containment on|off|dry-run` (approvers; stored for every replica and audited), and the case
card's ways back: Undo containment (approvers) and Give the account back (responders)."""

from __future__ import annotations

from bot.cases.contained import Mode
from bot.chat.context import Command, Context, Feature, Verb
from bot.chat.messages import Reply
from bot.core.people import Role
from cards.common import adaptive_card, heading, ours
from cards.verbs import GiveBack, UndoContainment


async def _policy_card(ctx: Context, notice: str = "") -> Reply:
    service = ctx.services.cases
    mode = await service.containment_mode()
    policy = service.policy.containment
    steps = ", ".join(ctx.t(f"step.{s.value}") for s in policy.steps)
    lines = [
        heading(ctx.t("containment.title")),
        ours(ctx.t("containment.mode." + mode.value), weight="Bolder"),
        ours(ctx.t("containment.steps", steps=steps), size="Small"),
        ours(
            ctx.t(
                "containment.excluded",
                users=ctx.t.number(len(policy.exclude_ids)),
                groups=ctx.t.number(len(policy.exclude_groups)),
            ),
            size="Small",
        ),
    ]
    if notice:
        lines.insert(1, ours(notice, color="Accent", weight="Bolder"))
    return Reply(card=adaptive_card(lines))


async def _switch(ctx: Context, mode: Mode) -> Reply:
    await ctx.services.cases.containment.switch(mode, ctx.actor)
    return await _policy_card(ctx, ctx.t("containment.switched", mode=ctx.t("mode." + mode.value)))


async def containment(ctx: Context) -> Reply:
    """The policy's mode, its steps and how many users and groups it never touches."""
    return await _policy_card(ctx)


async def containment_on(ctx: Context) -> Reply:
    """Turn automatic containment on for every replica."""
    return await _switch(ctx, Mode.ON)


async def containment_off(ctx: Context) -> Reply:
    """Turn automatic containment off for every replica (the kill switch)."""
    return await _switch(ctx, Mode.OFF)


async def containment_dry_run(ctx: Context) -> Reply:
    """Decide and say so on the cards, but change nothing in the tenant."""
    return await _switch(ctx, Mode.DRY_RUN)


async def undo_containment(ctx: Context) -> Reply:
    """Put back what the policy changed on this case."""
    click = UndoContainment.parse(ctx.data)
    answer = await ctx.services.cases.undo_containment(click.case, click.version, ctx.actor)
    return await ctx.services.views.reply(
        answer.case, ctx.t, viewer=ctx.viewer, notice=answer.notice
    )


async def give_back(ctx: Context) -> Reply:
    """A new temporary password to the clicker privately, and sign-in allowed again."""
    click = GiveBack.parse(ctx.data)
    answer = await ctx.services.cases.give_back(
        click.case,
        click.version,
        ctx.actor,
        ctx.address,
        private_text=ctx.t.template("private.password"),
    )
    return await ctx.services.views.reply(
        answer.case, ctx.t, viewer=ctx.viewer, notice=answer.notice
    )


FEATURE = Feature(
    commands=(
        Command("containment_on", containment_on, Role.APPROVER),
        Command("containment_off", containment_off, Role.APPROVER),
        Command("containment_dry_run", containment_dry_run, Role.APPROVER),
        Command("containment", containment, Role.VIEWER),
    ),
    verbs=(
        Verb("undo_containment", undo_containment, Role.APPROVER),
        Verb("give_back", give_back, Role.RESPONDER),
    ),
)
