"""Building blocks shared by every card, and the size measure Teams applies."""

from __future__ import annotations

import json
from typing import Any

from bot.errors import Problem
from bot.i18n import Texts
from cards.literal import MAX_VALUE, address, literal, shown
from cards.verbs import CardVerb

__all__ = ["MAX_VALUE", "address", "literal", "shown"]

Card = dict[str, Any]
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

MAX_LINE = 600  # any one text on a card
# Room left for the activity around the card (ids, conversation, attachment wrapper).
ENVELOPE_ALLOWANCE = 2_500
_BLOCK_STYLE = frozenset({"spacing", "separator", "horizontalAlignment", "isVisible", "id"})


def adaptive_card(body: list[Card], actions: list[Card] | None = None) -> Card:
    """An Adaptive Card 1.5 with `body` and optional card-level `actions`."""
    card: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        card["actions"] = actions
    card["msteams"] = {"width": "Full"}
    return card


def text(value: str, **style: Any) -> Card:
    """Text that carries anything BlockWatch did not write (a name, an address, Microsoft's
    words), shown exactly as written: a RichTextBlock of one TextRun, which Adaptive Cards never
    read as markdown, neutralised and capped by `literal`. The default: when in doubt, `text`."""
    block = {k: v for k, v in style.items() if k in _BLOCK_STYLE}
    run = {k: v for k, v in style.items() if k not in _BLOCK_STYLE}
    inline = {"type": "TextRun", "text": literal(value, MAX_LINE), **run}
    return {"type": "RichTextBlock", "inlines": [inline], **block}


def ours(value: str, **style: Any) -> Card:
    """BlockWatch's own words only (a catalogue text with nothing from the tenant or a user in
    it): a plain TextBlock, which is smaller. Anything else goes through `text`."""
    return {"type": "TextBlock", "text": literal(value, MAX_LINE), "wrap": True, **style}


def title(value: str) -> Card:
    """A card's title in BlockWatch's own words."""
    return ours(value, size="Medium", weight="Bolder", style="heading")


def heading(value: str) -> Card:
    """A card's title that names a user or address (shown through `text`)."""
    return text(value, size="Medium", weight="Bolder")


def execute(title: str, click: CardVerb, *, style: str | None = None) -> Card:
    """`Action.Execute` carrying the verb and its data, falling back to `Action.Submit` on older
    clients."""
    # The invoke carries the verb; only the Action.Submit fallback needs it inside its data.
    verb, data = click.verb, click.data()
    action: Card = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": data,
        "fallback": {"type": "Action.Submit", "title": title, "data": {"verb": verb, **data}},
    }
    if style:
        action["style"] = style
    return action


def utf16_size(payload: Any) -> int:
    """Bytes of `payload` as JSON encoded in UTF-16, the measure of Teams' message size limit."""
    return len(json.dumps(payload).encode("utf-16-le"))


def problem_text(problem: Problem | None, t: Texts) -> str:
    """A stored problem as a sentence in the admin's language."""
    if problem is None:
        return t("error.generic")
    return t(
        problem.key,
        service=problem.service or "Microsoft 365",
        missing=shown(problem.missing or "?"),
        message=shown(problem.message, MAX_LINE // 2),  # Microsoft's words, which may quote ours
        reference=problem.reference or "?",
    )


def titled(title: Card, note: Card | None = None, *actions: Card) -> Card:
    """A part's title in a row, with a note beside it and its buttons at the right."""
    columns = [column([title, *([note] if note else [])], "stretch")]
    if actions:
        columns.append(column([{"type": "ActionSet", "actions": list(actions)}], "auto"))
    return {"type": "ColumnSet", "columns": columns, "separator": True, "spacing": "Medium"}


def column(items: list[Card], width: str) -> Card:
    return {"type": "Column", "width": width, "items": items}
