"""Feature: the automatic containment policy. `containment` (its mode, steps and exclusions),
`containment on|off|dry-run` (approvers; stored for every replica and audited), and the case
card's ways back: Undo containment (approvers) and Give the account back (responders)."""

from __future__ import annotations

from bot.cases.contained import Mode
from bot.chat.context import Command, Context, Feature, Verb
from bot.chat.messages import Reply
from bot.core.audit import AuditEvent
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


MODES = {"on": Mode.ON, "off": Mode.OFF, "aan": Mode.ON, "uit": Mode.OFF}


def _mode_asked(arg: str) -> Mode | None:
    """The mode `containment <arg>` asks for (None: show the policy); dry-run in any spelling."""
    word = arg.strip().lower()
    if not word or word == "status":
        return None
    return MODES.get(word, Mode.DRY_RUN)


async def containment(ctx: Context) -> Reply:
    """`containment`: the policy's mode, steps and exclusions; `containment on|off|dry-run`
    (approvers; the kill switch is `off`) switches it for every replica, audited."""
    mode = _mode_asked(ctx.args)
    if mode is None:
        return await _policy_card(ctx)
    if ctx.role < Role.APPROVER:  # viewers may look; switching is for approvers (audited)
        refused = AuditEvent(
            actor_id=ctx.actor.key,
            actor_name=ctx.actor.name,
            action="refused:containment",
            target="",
            result="refused",
            detail="needs role approver",
        )
        await ctx.services.audit.record(refused)
        return Reply(card=adaptive_card([ours(ctx.t("error.not_allowed"))]))
    await ctx.services.cases.containment.switch(mode, ctx.actor)
    said = ctx.t("containment.switched", mode=ctx.t("mode." + mode.value))
    return await _policy_card(ctx, said)


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
    commands=(Command("containment", containment, Role.VIEWER, with_argument=True),),
    verbs=(
        Verb("undo_containment", undo_containment, Role.APPROVER),
        Verb("give_back", give_back, Role.RESPONDER),
    ),
)
