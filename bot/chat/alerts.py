"""Feature: where new restrictions are posted. `alerts on`, `alerts off` and `alerts`."""

from __future__ import annotations

from bot.chat.context import Command, Context, Feature
from bot.chat.messages import Reply
from bot.core.people import Role
from cards.alerts import subscriptions_card


async def _where_lines(ctx: Context) -> list[str]:
    found = await ctx.services.conversations.subscriptions()
    lines = []
    for conversation in found:
        name = conversation.address.conversation_name or conversation.id
        here = " " + ctx.t("alerts.here") if conversation.id == ctx.where.conversation_id else ""
        lines.append(f"{ctx.t('alerts.kind.' + conversation.kind)}: {name}{here}")
    return lines


async def alerts_on(ctx: Context) -> Reply:
    """Subscribe this conversation to alerts."""
    await ctx.services.conversations.subscribe(ctx.where.conversation_id, True, ctx.t.lang)
    lines = await _where_lines(ctx)
    return Reply(card=subscriptions_card(lines, t=ctx.t, notice=ctx.t("alerts.on")))


async def alerts_off(ctx: Context) -> Reply:
    """Unsubscribe this conversation from alerts."""
    await ctx.services.conversations.subscribe(ctx.where.conversation_id, False)
    lines = await _where_lines(ctx)
    return Reply(card=subscriptions_card(lines, t=ctx.t, notice=ctx.t("alerts.off")))


async def alerts_list(ctx: Context) -> Reply:
    """List the conversations that get alerts."""
    return Reply(card=subscriptions_card(await _where_lines(ctx), t=ctx.t))


FEATURE = Feature(
    commands=(
        Command("alerts_on", alerts_on, Role.APPROVER),
        Command("alerts_off", alerts_off, Role.APPROVER),
        Command("alerts", alerts_list, Role.VIEWER),
    ),
)
