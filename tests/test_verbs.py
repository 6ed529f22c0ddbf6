"""Card verbs (cards/verbs.py): the data every button carries is what its handler parses, and a
click that does not fit is refused with a message naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from bot.chat.registry import FEATURES
from bot.i18n import Texts
from cards.verbs import VERBS, InvalidAction, OpenCase, RunStep, SkipStep
from tests.gallery import every_card
from tests.helpers import actions_of, nodes_of

CASE = "8f1d9c8e-0000-4000-8000-0000000000aa"


def _inputs(card: Any) -> dict[str, Any]:
    """What Teams adds to a click's data: every input's id and its value."""
    return {
        node["id"]: node.get("value", "")
        for node in nodes_of(card)
        if str(node.get("type", "")).startswith("Input.") and "id" in node
    }


def test_every_chat_verb_has_a_model_and_every_model_a_handler() -> None:
    handled = {verb.name for feature in FEATURES for verb in feature.verbs}
    assert handled == set(VERBS)


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_every_button_on_every_card_parses_with_its_verb(lang: str) -> None:
    pressed = 0
    for name, card in every_card(Texts(lang)).items():
        inputs = _inputs(card)
        for action in actions_of(card):
            model = VERBS[action["verb"]]
            sent = action["data"]
            click = model.parse({**inputs, **sent})
            assert {k: v for k, v in click.data().items() if k in sent} == sent, name
            if "fallback" in action:  # Action.Submit carries the verb in its data
                assert action["fallback"]["data"] == {"verb": action["verb"], **sent}, name
            pressed += 1
    assert pressed > 50


@pytest.mark.parametrize(
    ("model", "data", "said"),
    [
        (RunStep, {"case": "not-a-case", "version": 3, "step": "reset_password"}, "case must"),
        (RunStep, {"case": CASE, "version": True, "step": "reset_password"}, "version must"),
        (RunStep, {"case": CASE, "version": "3", "step": "reset_password"}, "version must"),
        (RunStep, {"case": CASE, "version": 3, "step": "format_disk"}, "unknown step"),
        (RunStep, {"case": CASE, "version": 3, "step": "reset_password", "rules": 7}, "rules"),
        (SkipStep, {"case": CASE, "version": 3, "reason": "no"}, "unknown step"),
        (
            SkipStep,
            {"case": CASE, "version": 3, "step": "disable_rules", "reason": ["x"]},
            "reason",
        ),
        (OpenCase, {"upn": "not an address"}, "open_case needs a valid upn"),
        (OpenCase, {"upn": "a@contoso.example", "page": 0}, "page must"),
        (OpenCase, {"upn": "a@contoso.example", "page": True}, "page must"),
    ],
)
def test_a_click_that_does_not_fit_is_refused_naming_the_key(
    model: type[Any], data: dict[str, Any], said: str
) -> None:
    with pytest.raises(InvalidAction, match=said):
        model.parse(data)


def test_keys_a_verb_does_not_know_are_ignored_and_known_ones_kept() -> None:
    click = RunStep.parse(
        {"case": CASE.upper(), "version": 3, "step": "disable_rules", "rules": "r1,r2", "x": 1}
    )
    assert (click.case, click.version, click.rules) == (CASE, 3, "r1,r2")
