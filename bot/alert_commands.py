"""`alerts on`, `alerts off` and `alerts`: where new restrictions are posted."""

from __future__ import annotations

from bot.commands import Context
from bot.conversation import Reply
from cards.alerts import subscriptions_card


async def _where_lines(ctx: Context) -> list[str]:
    found = await ctx.services.conversations.subscriptions()
    lines = []
    for conversation in found:
        name = (conversation.reference.get("conversation") or {}).get("name") or conversation.id
        here = " " + ctx.t("alerts.here") if conversation.id == ctx.where.conversation_id else ""
        lines.append(f"{ctx.t('alerts.kind.' + conversation.kind)}: {name}{here}")
    return lines


async def alerts_on(ctx: Context) -> Reply:
    """alerts on — post new restrictions in this chat or channel"""
    await ctx.services.conversations.subscribe(ctx.where.conversation_id, True)
    return Reply(
        card=subscriptions_card(await _where_lines(ctx), t=ctx.t, notice=ctx.t("alerts.on"))
    )


async def alerts_off(ctx: Context) -> Reply:
    """alerts off — stop posting new restrictions here"""
    await ctx.services.conversations.subscribe(ctx.where.conversation_id, False)
    return Reply(
        card=subscriptions_card(await _where_lines(ctx), t=ctx.t, notice=ctx.t("alerts.off"))
    )


async def alerts_list(ctx: Context) -> Reply:
    """alerts — where alerts go"""
    return Reply(card=subscriptions_card(await _where_lines(ctx), t=ctx.t))
