"""Building blocks shared by every card, and the size measure Teams applies."""

from __future__ import annotations

import json
from typing import Any

from bot.errors import Problem
from bot.i18n import Texts

Card = dict[str, Any]
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"


def adaptive_card(body: list[Card], actions: list[Card] | None = None) -> Card:
    """An Adaptive Card 1.5 with `body` and optional card-level `actions`."""
    card: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        card["actions"] = actions
    card["msteams"] = {"width": "Full"}
    return card


def text(value: str, **style: Any) -> Card:
    """A wrapping TextBlock."""
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def heading(value: str) -> Card:
    """The card's title."""
    return text(value, size="Medium", weight="Bolder", style="heading")


def facts(pairs: list[tuple[str, str]]) -> Card:
    """A FactSet of (title, value) pairs."""
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in pairs]}


def execute(title: str, verb: str, data: dict[str, Any], *, style: str | None = None) -> Card:
    """`Action.Execute` carrying `verb`, falling back to `Action.Submit` on older clients."""
    # The invoke carries the verb; only the Action.Submit fallback needs it inside its data.
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
        missing=problem.missing or "?",
        message=problem.message,
        reference=problem.reference or "?",
    )
