"""The Teams shell: translates activities into router calls and replies back into activities.
It decides nothing and stores nothing; bot/chat/router.py does both."""

from __future__ import annotations

import logging

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import AdaptiveCardInvokeResponse as CardInvokeResponse
from botbuilder.schema import InvokeResponse

from bot.chat.messages import Origin, Reply
from bot.chat.router import Router
from bot.teams.activities import (
    as_dict,
    click_of,
    message_of,
    reply_activity,
    strip_mentions,
    where_of,
)
from bot.teams.outbox import TeamsOutbox

log = logging.getLogger(__name__)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


class TeamsShell(TeamsActivityHandler):  # type: ignore[misc]
    """botbuilder's activity handler, translating each kind of activity."""

    def __init__(self, router: Router, outbox: TeamsOutbox) -> None:
        super().__init__()
        self._router = router
        self._outbox = outbox

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        """A typed message, or an `Action.Submit` click (a message carrying `value`)."""
        activity = turn_context.activity
        where = where_of(activity)
        if isinstance(activity.value, dict) and isinstance(activity.value.get("verb"), str):
            click = click_of(activity, activity.value)
            reply = await self._router.on_card_click(click)
            if reply.for_asker_only:  # never replaces the card everyone else sees
                await self._answer_asker(turn_context, click.origin, reply)
                return
            if reply.posted is not None:
                await self._post(turn_context, reply.posted)
            updated = reply_activity(reply)
            if activity.reply_to_id:
                updated.id = activity.reply_to_id
                await turn_context.update_activity(updated)
                await self._router.delivered(reply, where, activity.reply_to_id)
            else:
                sent = await turn_context.send_activity(updated)
                await self._router.delivered(reply, where, getattr(sent, "id", None))
            return
        text = strip_mentions(activity)
        if not text:
            return
        reply = await self._router.on_message(message_of(activity, text))
        sent = await turn_context.send_activity(reply_activity(reply))
        await self._router.delivered(reply, where, getattr(sent, "id", None))

    async def _post(self, turn_context: TurnContext, reply: Reply) -> None:
        """Post a reply as a message of its own in the conversation (a channel's thread)."""
        sent = await turn_context.send_activity(reply_activity(reply))
        where = where_of(turn_context.activity)
        await self._router.delivered(reply, where, getattr(sent, "id", None))

    async def _answer_asker(self, turn_context: TurnContext, origin: Origin, reply: Reply) -> None:
        """An `Action.Submit` click has no answer of its own: a refusal or error goes as a new
        message in a 1:1 chat, or privately to the clicker from a shared one (a 1:1 chat that
        cannot be opened is logged; the shared card stays as it was)."""
        try:
            await self._outbox.privately(origin.actor, origin.address, reply_activity(reply))
        except Exception as err:
            log.warning(
                "could not answer a refused click privately",
                extra={"error": f"{type(err).__name__}: {str(err)[:200]}"},
            )

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """`adaptiveCard/action` (Action.Execute) answers with the replacement card."""
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            # Nothing else is implemented: a polite empty 200 rather than botbuilder's 501.
            log.info("ignored invoke", extra={"invoke": str(activity.name or "")[:64]})
            return InvokeResponse(status=200)
        action = as_dict(as_dict(activity.value).get("action"))
        data = as_dict(action.get("data"))
        verb = action.get("verb")
        if not isinstance(verb, str):
            verb = str(data.get("verb", ""))
        reply = await self._router.on_card_click(click_of(activity, data, verb=verb, in_place=True))
        if reply.posted is not None:
            await self._post(turn_context, reply.posted)
        # The answer replaces the card for the clicking user only: the message everyone sees
        # is unchanged (the case's redraw updates it), so it is not recorded as showing the
        # answer's version.
        # botbuilder 4.17 serialises a dict body a second time and fails (HTTP 500); the msrest
        # model is what its serializer expects (botbuilder-python PR #2226, teams-sdk #2547).
        body = CardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=reply.card)
        return InvokeResponse(status=200, body=body)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        """Ignored: installationUpdate tells us when we are added or removed. botbuilder's
        default would look up every added member through the connector, one call each."""

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        """Uninstalled: forget the conversation and its alert subscription."""
        await self._router.uninstalled(where_of(turn_context.activity))

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        """Installed in a chat or team: introduce ourselves with the help card."""
        reply = await self._router.installed(message_of(turn_context.activity, "help"))
        await turn_context.send_activity(reply_activity(reply))
