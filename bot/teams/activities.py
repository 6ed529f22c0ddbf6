"""Bot Framework activities ⇄ the chat layer's neutral types (bot/chat/messages.py).

Activities are untrusted input: `shape_problem` refuses what cannot be answered safely (checked
on the raw JSON, because msrest turns an object where a string belongs into its repr), and
every reader here tolerates missing or odd fields.
"""

from __future__ import annotations

import re
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
)
from botbuilder.schema.teams import TeamsChannelData

from bot.chat.messages import CONVERSATION_TYPES, CardClick, CardData, Message, Origin, Reply, Where
from bot.core.people import Actor, Address
from cards.common import Card

_AT_TAG = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_ID = re.compile(r"[\x21-\x7e]{1,512}")  # Teams ids and URLs: printable ASCII, no spaces


def shape_problem(body: dict[str, Any], activity: Activity) -> str | None:
    """What makes this activity impossible to answer safely, if anything."""
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


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (activities are untrusted input)."""
    return value if isinstance(value, dict) else {}


def strip_mentions(activity: Activity) -> str:
    """The message text without the @mention of the bot (channels and group chats)."""
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


def actor_of(activity: Activity) -> Actor:
    """Who sent the activity."""
    sender = activity.from_property
    return Actor(
        id=str(getattr(sender, "id", "") or ""),
        aad_object_id=str(getattr(sender, "aad_object_id", "") or ""),
        name=str(getattr(sender, "name", "") or ""),
    )


def _tenant_of(activity: Activity) -> str:
    tenant = getattr(activity.conversation, "tenant_id", None)
    channel_data = as_dict(activity.channel_data)
    if not tenant and isinstance(channel_data.get("tenant"), dict):
        tenant = channel_data["tenant"].get("id")  # the Agents Playground sends it only here
    return str(tenant or "")


def where_of(activity: Activity) -> Where:
    """The conversation the activity came from."""
    conversation = activity.conversation
    kind = getattr(conversation, "conversation_type", None)
    if getattr(conversation, "is_group", None) and kind == "personal":
        kind = "groupChat"
    return Where(
        conversation_id=str(getattr(conversation, "id", "") or ""),
        # Private only on positive evidence; anything missing or unexpected counts as shared,
        # and private things are never sent there.
        conversation_type=kind if kind in CONVERSATION_TYPES else "groupChat",
        tenant_id=_tenant_of(activity),
    )


def address_of(activity: Activity) -> Address:
    """How to reach the activity's conversation again."""
    reference = TurnContext.get_conversation_reference(activity)
    conversation, bot, user = reference.conversation, reference.bot, reference.user
    return Address(
        channel_id=str(reference.channel_id or ""),
        service_url=str(reference.service_url or ""),
        conversation_id=str(getattr(conversation, "id", "") or ""),
        conversation_type=str(getattr(conversation, "conversation_type", "") or ""),
        is_group=bool(getattr(conversation, "is_group", False)),
        tenant_id=_tenant_of(activity),
        conversation_name=str(getattr(conversation, "name", "") or ""),
        bot_id=str(getattr(bot, "id", "") or ""),
        bot_name=str(getattr(bot, "name", "") or ""),
        user_id=str(getattr(user, "id", "") or ""),
        user_name=str(getattr(user, "name", "") or ""),
        locale=reference.locale if isinstance(reference.locale, str) else None,
        user_aad_id=str(getattr(user, "aad_object_id", "") or ""),
    )


def reference_of(address: Address) -> ConversationReference:
    """The Bot Framework conversation reference for an address."""
    conversation = ConversationAccount(
        id=address.conversation_id,
        tenant_id=address.tenant_id or None,
        conversation_type=address.conversation_type or None,
        is_group=address.is_group,
        name=address.conversation_name or None,
    )
    user = ChannelAccount(id=address.user_id, name=address.user_name) if address.user_id else None
    return ConversationReference(
        channel_id=address.channel_id,
        service_url=address.service_url,
        locale=address.locale,
        bot=ChannelAccount(id=address.bot_id, name=address.bot_name),
        user=user,
        conversation=conversation,
    )


def timezone_of(activity: Activity) -> str | None:
    """The admin's time zone, from Teams' clientInfo entity."""
    for entity in activity.entities or []:
        props = getattr(entity, "additional_properties", None) or {}
        if entity.type == "clientInfo" and isinstance(props.get("timezone"), str):
            return str(props["timezone"])
    return None


def origin_of(activity: Activity) -> Origin:
    """Who sent the activity, from where, in which language and time zone."""
    locale = activity.locale if isinstance(activity.locale, str) else None
    return Origin(
        actor_of(activity), where_of(activity), address_of(activity), locale, timezone_of(activity)
    )


def message_of(activity: Activity, text: str) -> Message:
    """A chat message for the router."""
    return Message(text, origin_of(activity))


def click_of(
    activity: Activity, data: CardData, *, verb: str | None = None, in_place: bool = False
) -> CardClick:
    """A card button press for the router."""
    verb = verb if verb is not None else str(data.get("verb", ""))
    return CardClick(verb, data, origin_of(activity), in_place=in_place)


def card_activity(card: Card) -> Activity:
    """A message carrying one Adaptive Card."""
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


def reply_activity(reply: Reply) -> Activity:
    """The message that shows a reply."""
    if reply.card is not None:
        activity = card_activity(reply.card)
        if reply.text:
            activity.text = reply.text
        return activity
    message = MessageFactory.text(reply.text or "")
    message.text_format = "plain"  # shown as written, never as markdown
    return message
