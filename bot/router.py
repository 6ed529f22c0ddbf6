"""Routes a neutral message or card click to its command or verb, and errors to error cards."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot import errors
from bot.access import COMMAND_ROLES, VERB_ROLES, Role, Roles
from bot.case_actions import show_case
from bot.cases.model import Case
from bot.cases.service import SYSTEM
from bot.commands import Context, InvalidAction, Services
from bot.conversation import Actor, CardClick, Message, Reply, Where
from bot.i18n import LANGUAGES, Texts, language_of, time_zone
from bot.logs import correlation_id
from bot.registry import COMMANDS, VERBS, help_lines, match
from bot.store.audit import AuditEvent
from bot.throttle import CommandLimit
from cards.common import Card
from cards.messages import error_card, help_card

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

MAX_COMMAND_CHARS = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


class Router:
    """The bot's brain, minus Teams: text → command, verb → handler, error → error card."""

    def __init__(
        self,
        services: Services,
        roles: Roles,
        *,
        clock: Clock = utcnow,
        limit: CommandLimit | None = None,
    ) -> None:
        self._services = services
        self._roles = roles
        self._clock = clock
        self._limit = limit or CommandLimit()

    async def on_message(self, message: Message) -> Reply:
        """Answer a chat message."""
        locale_lang = language_of(message.locale)
        t = Texts(locale_lang, time_zone(message.timezone))
        if (throttled := await self._throttled(message.actor, "message", t)) is not None:
            return throttled
        if len(message.text) > MAX_COMMAND_CHARS:
            log.warning("command too long", extra={"chars": len(message.text)})
            text = t("error.too_long", limit=MAX_COMMAND_CHARS)
            return _error(text, t)
        found = match(message.text)
        if found is None:
            return Reply(card=help_card(help_lines(t), t=t, unknown=message.text.strip()))
        command, asked_in, argument = found
        # Dutch words get a Dutch answer whatever the client's locale says; English words
        # follow the locale (an nl-NL admin typing "who is blocked" gets Dutch).
        lang = asked_in if asked_in != "en" else locale_lang
        t = Texts(lang, time_zone(message.timezone))
        log.info("command", extra={"command": command.name, "lang": lang})
        refusal = await self._refuse(
            message.actor,
            message.where,
            COMMAND_ROLES.get(command.name, Role.APPROVER),
            command.name,
            t,
        )
        if refusal is not None:
            return refusal
        ctx = Context(
            self._services,
            t,
            self._clock(),
            args=argument,
            actor=message.actor,
            where=message.where,
        )
        return await self._guarded(lambda: command.handler(ctx), t)

    async def on_card_click(self, click: CardClick) -> Reply:
        """Answer a card button."""
        wanted = click.data.get("lang")
        lang = wanted if isinstance(wanted, str) and wanted in LANGUAGES else None
        t = Texts(lang or language_of(click.locale), time_zone(click.timezone))
        if (throttled := await self._throttled(click.actor, click.verb, t)) is not None:
            return throttled
        handler = VERBS.get(click.verb)
        if handler is None:
            log.warning("unknown card verb", extra={"verb": click.verb[:64]})
            await self._audit_refusal(click.actor, click.verb, "unknown action")
            return _error(t("error.bad_action"), t)
        log.info("card action", extra={"verb": click.verb, "lang": t.lang})
        refusal = await self._refuse(
            click.actor, click.where, VERB_ROLES.get(click.verb, Role.APPROVER), click.verb, t
        )
        if refusal is not None:
            return refusal
        ctx = Context(
            self._services, t, self._clock(), data=click.data, actor=click.actor, where=click.where
        )
        return await self._guarded(lambda: handler(ctx), t, click)

    async def _refuse(
        self, actor: Actor, where: Where, needed: Role, action: str, t: Texts
    ) -> Reply | None:
        """A polite refusal (audited) when the tenant or the actor's role does not allow it."""
        if not self._roles.policy.tenant_allowed(where.tenant_id):
            log.warning(
                "activity from a foreign tenant refused",
                extra={"tenant": where.tenant_id[:64], "action": action[:64]},
            )
            reason = "foreign tenant"
        elif await self._roles.role_of(actor.aad_object_id) >= needed:
            return None
        else:
            reason = f"needs role {needed.name.lower()}"
        await self._audit_refusal(actor, action, reason)
        return _error(t("error.not_allowed"), t)

    async def _throttled(self, actor: Actor, action: str, t: Texts) -> Reply | None:
        """A friendly refusal when `actor` is over the per-user command rate limit. It runs
        before anything else: refusals write to the audit trail, and a flood of commands must
        not become a flood of audit rows (only the first refusal of a streak is audited)."""
        verdict = self._limit.check(actor.aad_object_id or actor.id)
        if verdict.allowed:
            return None
        log.warning("command rate limit", extra={"action": action[:64]})
        if verdict.first_refusal:
            await self._audit_refusal(actor, action, f"over {self._limit.limit} a minute")
        seconds = max(1, round(verdict.retry_after))
        text = t("error.rate_limited", limit=self._limit.limit, seconds=seconds)
        return _error(text, t)

    async def _audit_refusal(self, actor: Actor, action: str, reason: str) -> None:
        await self._services.cases.audit.record(
            AuditEvent(
                actor_id=actor.aad_object_id or actor.id,
                actor_name=actor.name,
                action=f"refused:{action}",  # the audit trail cuts it to its column
                target="",
                result="refused",
                detail=reason,
            )
        )

    def tenant_allowed(self, tenant_id: str) -> bool:
        """Whether activities from this tenant are served at all."""
        return self._roles.policy.tenant_allowed(tenant_id)

    async def render_case(self, case: Case, locale: str | None) -> Card:
        """The case card as someone with `locale` sees it now (for proactive updates)."""
        t = Texts(language_of(locale))
        ctx = Context(self._services, t, self._clock(), SYSTEM, Where(""))
        reply = await show_case(ctx, case)
        assert reply.card is not None
        return reply.card

    async def _guarded(
        self, run: Callable[[], Awaitable[Reply]], t: Texts, click: CardClick | None = None
    ) -> Reply:
        try:
            return await run()
        except (InvalidAction, errors.UnknownCase) as err:
            log.warning("invalid card action", extra={"reason": str(err)})
            if click is not None:  # forged or stale card data: refused, so audited
                await self._audit_refusal(click.actor, click.verb, f"invalid action: {err}")
            return _error(t("error.bad_action"), t)
        except errors.BlockWatchError as err:
            log.warning("request failed: %s", err, extra={"error": type(err).__name__})
            return _error(explain(err, t), t)
        except Exception:
            log.exception("unexpected error")
            return _error(t("error.generic"), t)


def _error(text: str, t: Texts) -> Reply:
    """An error card quoting the request's correlation id (an admin can find it in the log)."""
    return Reply(card=error_card(text, t=t, correlation_id=correlation_id.get()))


def explain(err: errors.BlockWatchError, t: Texts) -> str:
    """An admin-readable sentence for a known error."""
    key, values = errors.describe(err)
    return t(key, **values)


__all__ = ["COMMANDS", "Router"]
