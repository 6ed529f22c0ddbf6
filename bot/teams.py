"""The Teams shell: the only module that imports botbuilder (Bot Framework SDK 4.17.1).

It authenticates and parses activities, turns them into neutral `Message` / `CardClick` objects
for the Router, and renders the Router's `Reply` back into activities. Moving to the Microsoft 365
Agents SDK means rewriting this module only.

botbuilder 4.17 serialises invoke bodies twice under CloudAdapter and answers every invoke that
returns a body with HTTP 500 (teams-platform.md §3.3). We call `process_activity` ourselves and
serialise the InvokeResponse body once, here, which fixes `adaptiveCard/action` and every other
invoke in one place.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
    InvokeResponse,
)
from botbuilder.schema import AdaptiveCardInvokeResponse as CardInvokeResponse
from botbuilder.schema.teams import TeamsChannelData
from botframework.connector.auth import AuthenticationConstants, JwtTokenExtractor

from bot.alerts.delivery import SendFailed
from bot.cases.model import Case
from bot.conversation import Actor, CardClick, Message, Reply, Where
from bot.logs import correlation_id
from bot.router import Router
from bot.settings import Settings
from bot.signing_keys import SigningKeys
from bot.store.conversations import Conversation, ConversationStore
from cards.common import Card

log = logging.getLogger(__name__)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CONVERSATION_TYPES = frozenset({"personal", "groupChat", "channel"})
_AT_TAG = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class _BotFrameworkConfig:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


def _config(settings: Settings) -> _BotFrameworkConfig:
    if not settings.app_id:
        # Auth off: only allowed on a loopback bind (Settings refuses anything else).
        return _BotFrameworkConfig("", "", "MultiTenant", "")
    return _BotFrameworkConfig(
        settings.app_id,
        settings.app_password.get_secret_value(),
        str(settings.app_type),
        settings.app_tenant_id,
    )


def _install_signing_keys(http: httpx.AsyncClient, channel_metadata_url: str) -> SigningKeys:
    """Make botbuilder's token validation read keys through SigningKeys (async, cached) instead
    of its own blocking fetch: it looks metadata up by URL in a process-wide cache."""
    channel = SigningKeys(http, channel_metadata_url)
    cache = JwtTokenExtractor.metadataCache
    cache[AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL] = channel
    emulator_url = AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
    cache[emulator_url] = SigningKeys(http, emulator_url)
    return channel


def _plain(value: Any) -> Any:
    """A msrest model or plain value as JSON-ready data."""
    return value.serialize() if hasattr(value, "serialize") else value


def _card_activity(card: dict[str, Any]) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


def _reply_activity(reply: Reply) -> Activity:
    if reply.card is not None:
        activity = _card_activity(reply.card)
        if reply.text:
            activity.text = reply.text
        return activity
    return MessageFactory.text(reply.text or "")


class TeamsOutbox:
    """Messages the bot sends outside a reply: card updates for everyone, private notes."""

    def __init__(
        self, adapter: CloudAdapter, app_id: str, conversations: ConversationStore
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self.conversations = conversations
        self.render: Callable[[Case, str | None], Awaitable[Card]] | None = None
        self.auto_subscribe = False  # demo: personal chats with the bot get alerts

    async def remember(self, activity: Activity, where: Where) -> None:
        """Keep the conversation's reference (for proactive messages later). The ids were
        checked by `TeamsEndpoint.handle`; the conversation type is one of three."""
        if len(where.tenant_id) > 64:
            log.warning("not remembering a conversation with an oversized tenant id")
            return
        reference = TurnContext.get_conversation_reference(activity).serialize()
        reference.pop("activityId", None)
        await self.conversations.remember(
            where.conversation_id,
            tenant_id=where.tenant_id,
            kind=where.conversation_type,
            reference=reference,
            subscribe_new=self.auto_subscribe and where.conversation_type == "personal",
        )

    async def case_changed(self, case: Case) -> None:
        """Redraw the case's card in every message that shows it."""
        if self.render is None:
            return
        for conversation, activity_id in await self.conversations.cards_of(case.id):
            card = await self.render(case, conversation.reference.get("locale"))
            await self._continue(conversation.reference, _updater(card, activity_id))
            await self.conversations.show_case(case.id, conversation.id, activity_id, case.version)

    async def post(self, conversation: Conversation, card: Card) -> str:
        """Post `card` as a new message (alerts); returns its id, or raises SendFailed."""
        sent: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(_card_activity(card))
            sent.append(str(getattr(response, "id", "") or ""))

        try:
            await self._continue(conversation.reference, send)
        except SendFailed:
            raise
        except Exception as err:
            raise _send_failed(err) from err
        return sent[0] if sent else ""

    async def tell(self, actor: Actor, where: Where, text: str) -> None:
        """Send `text` to `actor` in a 1:1 chat, never into a group chat or channel."""
        known = await self.conversations.get(where.conversation_id)
        if known is None:
            raise RuntimeError("no reference for the conversation the click came from")

        async def send(turn_context: TurnContext) -> None:
            await turn_context.send_activity(MessageFactory.text(text))

        if where.conversation_type == "personal":
            await self._continue(known.reference, send)
            return
        reference = ConversationReference().deserialize(known.reference)
        parameters = ConversationParameters(
            is_group=False,
            bot=reference.bot,
            members=[ChannelAccount(id=actor.id)],
            tenant_id=where.tenant_id,
            channel_data={"tenant": {"id": where.tenant_id}},
        )
        guarded, failures = _guarded(send)
        await self._adapter.create_conversation(
            self._app_id, guarded, parameters, reference.channel_id, reference.service_url, None
        )
        if failures:
            raise failures[0]

    async def _continue(
        self, reference: dict[str, Any], callback: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        guarded, failures = _guarded(callback)
        await self._adapter.continue_conversation(
            ConversationReference().deserialize(reference), guarded, self._app_id
        )
        if failures:
            raise failures[0]


Callback = Callable[[TurnContext], Awaitable[None]]


def _guarded(callback: Callback) -> tuple[Callback, list[Exception]]:
    """botbuilder runs proactive callbacks through its turn pipeline, whose error handler
    swallows failures (and posts an apology into the conversation): keep them instead."""
    failures: list[Exception] = []

    async def guarded(turn_context: TurnContext) -> None:
        try:
            await callback(turn_context)
        except Exception as err:
            failures.append(err)

    return guarded, failures


def _send_failed(err: Exception) -> SendFailed:
    """Read the HTTP status, error code and Retry-After out of a connector exception."""
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    headers = getattr(response, "headers", None) or {}
    retry = headers.get("Retry-After") if hasattr(headers, "get") else None
    code = ""
    body = getattr(response, "text", "")
    if isinstance(body, str) and '"code"' in body:
        match = re.search(r'"code"\s*:\s*"([^"]+)"', body)
        code = match[1] if match else ""
    seconds = float(retry) if isinstance(retry, str) and retry.isdigit() else None
    return SendFailed(int(status), code=code, retry_after=seconds)


def _updater(card: Card, activity_id: str) -> Callable[[TurnContext], Awaitable[None]]:
    async def update(turn_context: TurnContext) -> None:
        activity = _card_activity(card)
        activity.id = activity_id
        await turn_context.update_activity(activity)

    return update


class TeamsShell(TeamsActivityHandler):  # type: ignore[misc]
    """Translates Teams activities to Router calls and back."""

    def __init__(self, router: Router, outbox: TeamsOutbox) -> None:
        super().__init__()
        self._router = router
        self._outbox = outbox

    async def on_turn(self, turn_context: TurnContext) -> None:
        """Remember where every activity from our tenant came from, then handle it."""
        where = _where(turn_context.activity)
        if self._router.tenant_allowed(where.tenant_id):
            await self._outbox.remember(turn_context.activity, where)
        await super().on_turn(turn_context)

    async def _shown(self, reply: Reply, activity: Activity, message_id: str | None) -> None:
        case_id = reply.extras.get("case")
        if case_id and message_id:
            await self._outbox.conversations.show_case(
                str(case_id),
                _where(activity).conversation_id,
                message_id,
                int(reply.extras.get("version", 0)),
            )

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        """A typed message, or an `Action.Submit` click (a message carrying `value`)."""
        activity = turn_context.activity
        if isinstance(activity.value, dict) and isinstance(activity.value.get("verb"), str):
            reply = await self._router.on_card_click(_click(activity, activity.value))
            updated = _reply_activity(reply)
            if activity.reply_to_id:
                updated.id = activity.reply_to_id
                await turn_context.update_activity(updated)
                await self._shown(reply, activity, activity.reply_to_id)
            else:
                sent = await turn_context.send_activity(updated)
                await self._shown(reply, activity, getattr(sent, "id", None))
            return
        text = _strip_mentions(activity)
        if not text:
            return
        reply = await self._router.on_message(_message(activity, text))
        sent = await turn_context.send_activity(_reply_activity(reply))
        await self._shown(reply, activity, getattr(sent, "id", None))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """`adaptiveCard/action` (Action.Execute) answers with the replacement card."""
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            # Nothing else is implemented: a polite empty 200 rather than botbuilder's 501.
            log.info("ignored invoke", extra={"invoke": str(activity.name or "")[:64]})
            return InvokeResponse(status=200)
        action = _dict(_dict(activity.value).get("action"))
        data = _dict(action.get("data"))
        verb = action.get("verb")
        if not isinstance(verb, str):
            verb = str(data.get("verb", ""))
        reply = await self._router.on_card_click(_click(activity, data, verb=verb))
        await self._shown(reply, activity, activity.reply_to_id)
        body = CardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=reply.card)
        return InvokeResponse(status=200, body=body)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        """Ignored: installationUpdate tells us when we are added or removed. botbuilder's
        default would look up every added member through the connector, one call each."""

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        """Uninstalled: forget the conversation and its alert subscription."""
        await self._outbox.conversations.forget(_where(turn_context.activity).conversation_id)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        """Installed in a chat or team: introduce ourselves with the help card."""
        activity = turn_context.activity
        reply = await self._router.on_message(_message(activity, "help"))
        await turn_context.send_activity(_reply_activity(reply))


_ID = re.compile(r"[\x21-\x7e]{1,512}")  # Teams ids and URLs: printable ASCII, no spaces


def _shape_problem(body: dict[str, Any], activity: Activity) -> str | None:
    """What makes this activity impossible to answer safely, if anything. Checked on the raw
    JSON: msrest turns an object where a string belongs into its repr."""
    conversation, sender = body.get("conversation"), body.get("from")
    if not isinstance(conversation, dict) or not _is_id(conversation.get("id")):
        return "conversation.id is missing or malformed"
    if not isinstance(sender, dict) or not _is_id(sender.get("id")):
        return "from.id is missing or malformed"
    url = body.get("serviceUrl")
    if not _is_id(url) or not str(url).startswith(("https://", "http://")):
        return "serviceUrl is missing or malformed"
    for name in ("id", "replyToId"):
        if body.get(name) is not None and not _is_id(body[name]):
            return f"{name} is malformed"
    if not isinstance(body.get("recipient", {}), dict):
        return "recipient must be an object"
    if activity.channel_data is not None:
        try:  # botbuilder's Teams handler parses it later, outside any error handling of ours
            TeamsChannelData().deserialize(activity.channel_data)
        except Exception:
            return "channelData is not Teams channel data"
    if activity.text is not None and not isinstance(activity.text, str):
        return "text must be a string"
    for name in ("entities", "members_added", "members_removed", "attachments"):
        items = getattr(activity, name)
        if items is not None and (
            not isinstance(items, list) or any(item is None for item in items)
        ):
            return f"{name} must be a list of objects"
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (activities are untrusted input)."""
    return value if isinstance(value, dict) else {}


def _strip_mentions(activity: Activity) -> str:
    text = activity.text or ""
    recipient = getattr(activity.recipient, "id", None)
    for entity in activity.entities or []:
        props = getattr(entity, "additional_properties", None) or {}
        mentioned = props.get("mentioned") if isinstance(props, dict) else None
        if (
            entity.type == "mention"
            and isinstance(mentioned, dict)
            and mentioned.get("id") == recipient
            and isinstance(props.get("text"), str)
        ):
            text = text.replace(props["text"], " ")
    return _AT_TAG.sub(" ", text).strip()


def _actor(activity: Activity) -> Actor:
    sender = activity.from_property
    return Actor(
        id=str(getattr(sender, "id", "") or ""),
        aad_object_id=str(getattr(sender, "aad_object_id", "") or ""),
        name=str(getattr(sender, "name", "") or ""),
    )


def _where(activity: Activity) -> Where:
    conversation = activity.conversation
    tenant = getattr(conversation, "tenant_id", None)
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    if not tenant and isinstance(channel_data.get("tenant"), dict):
        tenant = channel_data["tenant"].get("id")
    kind = getattr(conversation, "conversation_type", None) or "personal"
    return Where(
        conversation_id=str(getattr(conversation, "id", "") or ""),
        # Anything unexpected counts as shared: private things are never sent there.
        conversation_type=kind if kind in CONVERSATION_TYPES else "groupChat",
        tenant_id=str(tenant or ""),
    )


def _timezone(activity: Activity) -> str | None:
    for entity in activity.entities or []:
        props = getattr(entity, "additional_properties", None) or {}
        if entity.type == "clientInfo" and isinstance(props.get("timezone"), str):
            return str(props["timezone"])
    return None


def _message(activity: Activity, text: str) -> Message:
    return Message(text, _actor(activity), _where(activity), activity.locale, _timezone(activity))


def _click(activity: Activity, data: dict[str, Any], *, verb: str | None = None) -> CardClick:
    return CardClick(
        verb=verb if verb is not None else str(data.get("verb", "")),
        data=data,
        actor=_actor(activity),
        where=_where(activity),
        locale=activity.locale,
        timezone=_timezone(activity),
    )


class TeamsEndpoint:
    """Owns the CloudAdapter and the shell; `handle` serves one POST to /api/messages."""

    def __init__(
        self, settings: Settings, conversations: ConversationStore, http: httpx.AsyncClient
    ) -> None:
        self.keys = _install_signing_keys(http, settings.botframework_openid_url)
        self._auth = ConfigurationBotFrameworkAuthentication(_config(settings))
        self.adapter = CloudAdapter(self._auth)
        self.adapter.on_turn_error = self._on_turn_error
        self.outbox = TeamsOutbox(self.adapter, settings.app_id, conversations)
        self.shell: TeamsShell | None = None

    def attach(self, router: Router) -> None:
        """Connect the domain (built after the outbox, which it needs)."""
        self.shell = TeamsShell(router, self.outbox)
        self.outbox.render = router.render_case

    async def handle(self, body: dict[str, Any], auth_header: str) -> tuple[int, Any]:
        """Process one activity; returns the HTTP status and JSON body to answer with."""
        try:
            activity = Activity().deserialize(body)
        except Exception as err:  # msrest raises DeserializationError and friends on bad shapes
            log.warning("rejected a malformed activity", extra={"error": str(err)[:200]})
            return 400, {"error": "not a valid activity"}
        if not isinstance(activity.type, str) or not activity.type:
            return 400, {"error": "not an activity: 'type' is missing"}
        if problem := _shape_problem(body, activity):
            log.warning("rejected a malformed activity", extra={"error": problem})
            return 400, {"error": f"not a valid activity: {problem}"}
        correlation_id.set(str(activity.id or uuid.uuid4()))
        assert self.shell is not None, "attach() a router before handling activities"
        try:
            authenticated = await self._auth.authenticate_request(activity, auth_header)
        except Exception as err:  # botbuilder raises PermissionError, PyJWT errors, bare Exception
            log.warning(
                "rejected activity: authentication failed",
                extra={"reason": f"{type(err).__name__}: {str(err)[:200]}"},
            )
            return 401, {"error": "unauthorized"}
        response = await self.adapter.process_activity(authenticated, activity, self.shell.on_turn)
        if response is None:
            return 201 if activity.type != ActivityTypes.invoke else 200, None
        return int(response.status), _plain(response.body)

    async def _on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        cid = correlation_id.get()
        log.error("turn failed", exc_info=error)
        try:
            await turn_context.send_activity(
                MessageFactory.text(f"Sorry, something went wrong. Reference: {cid}")
            )
        except Exception:  # the connector itself may be what failed
            log.exception("could not tell the user about the failed turn")
