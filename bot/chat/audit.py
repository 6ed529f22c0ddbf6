"""Feature: the audit trail in Teams. `audit [days]`."""

from __future__ import annotations

from datetime import timedelta

from bot.chat.context import Command, Context, Feature
from bot.chat.messages import Reply
from bot.core.people import Role
from cards.history import audit_card


async def audit(ctx: Context) -> Reply:
    """Recent audit events of everyone (default: the last 7 days)."""
    days = int(ctx.args) if ctx.args.strip().isdigit() else 7
    days = max(1, min(days, 400))
    since = ctx.now - timedelta(days=days)
    events = await ctx.services.audit.events(since=since, limit=5000)
    return Reply(card=audit_card(events, days=days, t=ctx.t, budget=ctx.services.card_budget))


FEATURE = Feature(
    commands=(Command("audit", audit, Role.VIEWER, with_argument=True),),
)
