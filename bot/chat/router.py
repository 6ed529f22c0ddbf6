"""Routes a neutral message or card click to its command or verb, and errors to error cards.

In order, for every message and click: the per-user rate limit, the length limit, the command
or verb, the tenant and the actor's role (bot/chat/gate.py, refusals audited), then the command
or verb runs. Nothing here knows Teams or SQL, and nothing here writes to a store.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot import errors, metrics
from bot.chat.context import Command, Context, Services
from bot.chat.gate import Gate, Slowdown
from bot.chat.messages import CardClick, Message, Origin, Reply, Where
from bot.chat.registry import VERBS as VERB_TABLE
from bot.chat.registry import help_lines, match
from bot.core.clock import Clock, utcnow
from bot.i18n import LANGUAGES, Texts, texts_for
from bot.logs import correlation_id
from cards.common import problem_text
from cards.messages import error_card, help_card
from cards.verbs import InvalidAction

log = logging.getLogger(__name__)


MAX_COMMAND_CHARS = 1000


class Router:
    """The bot's brain, minus Teams: text → command, verb → handler, error → error card."""

    def __init__(self, services: Services, gate: Gate, *, clock: Clock = utcnow) -> None:
        self._services = services
        self._gate = gate
        self._clock = clock

    async def on_message(self, message: Message) -> Reply:
        """Answer a chat message; whatever fails, the answer is a card (never an exception)."""
        found = match(message.text) if len(message.text) <= MAX_COMMAND_CHARS else None
        name = found[0].name if found is not None else "unknown"
        with metrics.TURN_SECONDS.labels("command", name).time():
            return await self._answer(message.origin, lambda: self._on_message(message, found))

    async def on_card_click(self, click: CardClick) -> Reply:
        """Answer a card button; whatever fails, the answer is a card (never an exception)."""
        name = click.verb if click.verb in VERB_TABLE else "unknown"
        with metrics.TURN_SECONDS.labels("click", name).time():
            return await self._answer(click.origin, lambda: self._on_card_click(click))

    async def _answer(self, origin: Origin, run: Callable[[], Awaitable[Reply]]) -> Reply:
        try:
            return await run()
        except errors.BlockWatchError as err:  # the gate's store: the database did not answer
            log.warning("request failed before the command ran: %s", err)
            t = _texts(origin, None)
            return _error(problem_text(errors.problem_of(err), t), t)
        except Exception:  # the gate's store or audit trail; the trail logs what it could not keep
            log.exception("unexpected error before the command ran")
            t = _texts(origin, None)
            return _error(t("error.generic"), t)

    async def _on_message(self, message: Message, found: tuple[Command, str, str] | None) -> Reply:
        origin = message.origin
        t = _texts(origin, None)
        if (slow := await self._gate.slowdown(origin, "message")) is not None:
            return _slow_down(slow, t)
        if len(message.text) > MAX_COMMAND_CHARS:
            log.warning("command too long", extra={"chars": len(message.text)})
            return _error(t("error.too_long", limit=MAX_COMMAND_CHARS), t)
        if found is None:
            return Reply(card=help_card(help_lines(t), t=t, unknown=message.text.strip()))
        command, asked_in, argument = found
        # Dutch words get a Dutch answer whatever the client's locale says; English words
        # follow the locale (an nl-NL admin typing "who is blocked" gets Dutch).
        t = _texts(origin, asked_in if asked_in != "en" else None)
        log.info("command", extra={"command": command.name, "lang": t.lang})
        role = await self._gate.admit(origin, command.role, command.name)
        if role is None:
            return _error(t("error.not_allowed"), t)
        ctx = Context(self._services, t, self._clock(), origin, role=role, args=argument)
        return await self._guarded(lambda: command.handler(ctx), t)

    async def _on_card_click(self, click: CardClick) -> Reply:
        origin = click.origin
        wanted = click.data.get("lang")
        t = _texts(origin, wanted if isinstance(wanted, str) and wanted in LANGUAGES else None)
        if (slow := await self._gate.slowdown(origin, click.verb)) is not None:
            return _slow_down(slow, t)
        verb = VERB_TABLE.get(click.verb)
        if verb is None:
            log.warning("unknown card verb", extra={"verb": click.verb[:64]})
            await self._gate.refused(origin, click.verb, "unknown action")
            return _error(t("error.bad_action"), t)
        log.info("card action", extra={"verb": click.verb, "lang": t.lang})
        role = await self._gate.admit(origin, verb.role, verb.name)
        if role is None:
            return _error(t("error.not_allowed"), t)
        ctx = Context(
            self._services,
            t,
            self._clock(),
            origin,
            role=role,
            data=click.data,
            answered_in_place=click.in_place,
        )
        return await self._guarded(lambda: verb.handler(ctx), t, click)

    async def delivered(self, reply: Reply, where: Where, message_id: str | None) -> None:
        """The shell sent `reply` as message `message_id`: remember it if it shows a case. The
        admin already has the card; if it cannot be remembered, later redraws miss this copy
        (logged), and the answer still stands."""
        if reply.shows is None or not message_id:
            return
        try:
            await self._services.views.shown(reply.shows, where, message_id)
        except Exception:
            log.exception("could not remember the message showing a case")

    async def installed(self, message: Message) -> Reply:
        """BlockWatch was added to a chat or team: introduce it with the help card."""
        return await self.on_message(message)

    async def uninstalled(self, where: Where) -> None:
        """BlockWatch was removed: forget the conversation and its alert subscription."""
        await self._gate.forget(where)

    async def _guarded(
        self, run: Callable[[], Awaitable[Reply]], t: Texts, click: CardClick | None = None
    ) -> Reply:
        try:
            return await run()
        except (InvalidAction, errors.UnknownCase) as err:
            log.warning("invalid card action", extra={"reason": str(err)})
            if click is not None:  # forged or stale card data: refused, so audited
                await self._gate.refused(click.origin, click.verb, f"invalid action: {err}")
            return _error(t("error.bad_action"), t)
        except errors.BlockWatchError as err:
            log.warning("request failed: %s", err, extra={"error": type(err).__name__})
            return _error(problem_text(errors.problem_of(err), t), t)
        except Exception:
            log.exception("unexpected error")
            return _error(t("error.generic"), t)


def _texts(origin: Origin, lang: str | None) -> Texts:
    """The words for a reply: `lang` if given, else the client's locale; its time zone."""
    return texts_for(origin.locale, origin.timezone, lang)


def _slow_down(slow: Slowdown, t: Texts) -> Reply:
    return _error(t("error.rate_limited", limit=slow.limit, seconds=slow.seconds), t)


def _error(text: str, t: Texts) -> Reply:
    """An error card quoting the request's correlation id (an admin can find it in the log)."""
    card = error_card(text, t=t, correlation_id=correlation_id.get())
    return Reply(card=card, for_asker_only=True)
