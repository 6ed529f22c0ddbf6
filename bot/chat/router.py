"""Routes a neutral message or card click to its command or verb, and errors to error cards.

In order, for every message and click: the per-user rate limit, the length limit, the tenant
and the actor's role (refusals audited), then the conversation is remembered (for alerts and
private replies) and the command or verb runs. Nothing here knows Teams or SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot import errors
from bot.cases.model import Role
from bot.chat.access import Roles
from bot.chat.context import Context, InvalidAction, Services
from bot.chat.limits import CommandLimit
from bot.chat.messages import Actor, Address, CardClick, Message, Reply, Where
from bot.chat.registry import VERBS as VERB_TABLE
from bot.chat.registry import help_lines, match
from bot.i18n import LANGUAGES, Texts, language_of, time_zone
from bot.logs import correlation_id
from bot.store.audit import AuditEvent
from cards.common import problem_text
from cards.messages import error_card, help_card

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

MAX_COMMAND_CHARS = 1000


def utcnow() -> datetime:
    """The current time (UTC)."""
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
        auto_subscribe: bool = False,
    ) -> None:
        self._services = services
        self._roles = roles
        self._clock = clock
        self._limit = limit or CommandLimit()
        self._auto_subscribe = auto_subscribe  # demo: personal chats with the bot get alerts

    async def on_message(self, message: Message) -> Reply:
        """Answer a chat message."""
        locale_lang = language_of(message.locale)
        t = Texts(locale_lang, time_zone(message.timezone))
        if (throttled := await self._throttled(message.actor, "message", t)) is not None:
            return throttled
        if len(message.text) > MAX_COMMAND_CHARS:
            log.warning("command too long", extra={"chars": len(message.text)})
            return _error(t("error.too_long", limit=MAX_COMMAND_CHARS), t)
        found = match(message.text)
        if found is None:
            return Reply(card=help_card(help_lines(t), t=t, unknown=message.text.strip()))
        command, asked_in, argument = found
        # Dutch words get a Dutch answer whatever the client's locale says; English words
        # follow the locale (an nl-NL admin typing "who is blocked" gets Dutch).
        lang = asked_in if asked_in != "en" else locale_lang
        t = Texts(lang, time_zone(message.timezone))
        log.info("command", extra={"command": command.name, "lang": lang})
        refusal = await self._admit(
            message.actor, message.where, message.address, command.role, command.name, t
        )
        if refusal is not None:
            return refusal
        ctx = Context(
            self._services,
            t,
            self._clock(),
            message.actor,
            message.where,
            message.address,
            args=argument,
        )
        return await self._guarded(lambda: command.handler(ctx), t)

    async def on_card_click(self, click: CardClick) -> Reply:
        """Answer a card button."""
        wanted = click.data.get("lang")
        lang = wanted if isinstance(wanted, str) and wanted in LANGUAGES else None
        t = Texts(lang or language_of(click.locale), time_zone(click.timezone))
        if (throttled := await self._throttled(click.actor, click.verb, t)) is not None:
            return throttled
        verb = VERB_TABLE.get(click.verb)
        if verb is None:
            log.warning("unknown card verb", extra={"verb": click.verb[:64]})
            await self._audit_refusal(click.actor, click.verb, "unknown action")
            return _error(t("error.bad_action"), t)
        log.info("card action", extra={"verb": click.verb, "lang": t.lang})
        refusal = await self._admit(
            click.actor, click.where, click.address, verb.role, click.verb, t
        )
        if refusal is not None:
            return refusal
        ctx = Context(
            self._services,
            t,
            self._clock(),
            click.actor,
            click.where,
            click.address,
            data=click.data,
        )
        return await self._guarded(lambda: verb.handler(ctx), t, click)

    async def delivered(self, reply: Reply, where: Where, message_id: str | None) -> None:
        """The shell sent `reply` as message `message_id`: remember it if it shows a case."""
        if reply.shows is not None and message_id:
            await self._services.views.shown(reply.shows, where, message_id)

    async def installed(self, message: Message) -> Reply:
        """BlockWatch was added to a chat or team: introduce it with the help card."""
        return await self.on_message(message)

    async def uninstalled(self, where: Where) -> None:
        """BlockWatch was removed: forget the conversation and its alert subscription."""
        await self._services.conversations.forget(where.conversation_id)

    async def _admit(
        self, actor: Actor, where: Where, address: Address, needed: Role, action: str, t: Texts
    ) -> Reply | None:
        """None when the tenant and the actor's role allow `action` (and the conversation is
        then remembered); else a polite refusal, audited."""
        if not self._roles.policy.tenant_allowed(where.tenant_id):
            log.warning(
                "activity from a foreign tenant refused",
                extra={"tenant": where.tenant_id[:64], "action": action[:64]},
            )
            reason = "foreign tenant"
        elif await self._roles.role_of(actor.aad_object_id) >= needed:
            await self._remember(where, address)
            return None
        else:
            reason = f"needs role {needed.name.lower()}"
        await self._audit_refusal(actor, action, reason)
        return _error(t("error.not_allowed"), t)

    async def _remember(self, where: Where, address: Address) -> None:
        """Keep how to reach this conversation again (alerts, card updates, private notes)."""
        if len(where.tenant_id) > 64:
            log.warning("not remembering a conversation with an oversized tenant id")
            return
        await self._services.conversations.remember(
            address,
            kind=where.conversation_type,
            subscribe_new=self._auto_subscribe and where.conversation_type == "personal",
        )

    async def _throttled(self, actor: Actor, action: str, t: Texts) -> Reply | None:
        """A friendly refusal when `actor` is over the per-user command rate limit. It runs
        before anything else: refusals write to the audit trail, and a flood of commands must
        not become a flood of audit rows (only the first refusal of a streak is audited)."""
        verdict = self._limit.check(actor.key)
        if verdict.allowed:
            return None
        log.warning("command rate limit", extra={"action": action[:64]})
        if verdict.first_refusal:
            await self._audit_refusal(actor, action, f"over {self._limit.limit} a minute")
        seconds = max(1, round(verdict.retry_after))
        return _error(t("error.rate_limited", limit=self._limit.limit, seconds=seconds), t)

    async def _audit_refusal(self, actor: Actor, action: str, reason: str) -> None:
        await self._services.audit.record(
            AuditEvent(
                actor_id=actor.key,
                actor_name=actor.name,
                action=f"refused:{action}",  # the audit trail cuts it to its column
                target="",
                result="refused",
                detail=reason,
            )
        )

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
            return _error(problem_text(errors.problem_of(err), t), t)
        except Exception:
            log.exception("unexpected error")
            return _error(t("error.generic"), t)


def _error(text: str, t: Texts) -> Reply:
    """An error card quoting the request's correlation id (an admin can find it in the log)."""
    return Reply(card=error_card(text, t=t, correlation_id=correlation_id.get()))
