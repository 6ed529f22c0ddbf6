"""Feature: where new restrictions are posted. `alerts on`, `alerts off` and `alerts`."""

from __future__ import annotations

import re

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
        Command(
            "alerts_on",
            {"en": re.compile(r"alerts? on"), "nl": re.compile(r"meldingen aan")},
            alerts_on,
            Role.APPROVER,
            {
                "en": "alerts on — post new restrictions in this chat or channel",
                "nl": "meldingen aan — nieuwe blokkades in deze chat of dit kanaal plaatsen",
            },
        ),
        Command(
            "alerts_off",
            {"en": re.compile(r"alerts? off"), "nl": re.compile(r"meldingen uit")},
            alerts_off,
            Role.APPROVER,
            {
                "en": "alerts off — stop posting new restrictions here",
                "nl": "meldingen uit — geen nieuwe blokkades meer hier plaatsen",
            },
        ),
        Command(
            "alerts",
            {"en": re.compile(r"alerts?( list)?"), "nl": re.compile(r"meldingen")},
            alerts_list,
            Role.VIEWER,
            {
                "en": "alerts — where alerts go",
                "nl": "meldingen — waar meldingen naartoe gaan",
            },
        ),
    ),
)
