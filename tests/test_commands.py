"""Which phrasings reach which command, in which language."""

from __future__ import annotations

import pytest

from bot.chat.context import normalise
from bot.chat.registry import COMMANDS, help_lines, match
from bot.i18n import Texts, catalogue


@pytest.mark.parametrize(
    "text",
    [
        "who is blocked",
        "Who is blocked?",
        "who's blocked?",
        "Who’s blocked",
        "WHO IS BLOCKED!!",
        "blocked users",
        "list restricted",
        "restricted senders",
        "who is restricted",
        "show blocked users",
        "please, who is blocked?",
        "  who   are blocked  ",
    ],
)
def test_english_list_phrasings(text: str) -> None:
    found = match(text)
    assert found is not None
    assert (found[0].name, found[1]) == ("list", "en")


@pytest.mark.parametrize(
    "text",
    [
        "wie is geblokkeerd",
        "Wie is geblokkeerd?",
        "geblokkeerde gebruikers",
        "wie zijn er geblokkeerd",
        "toon geblokkeerde afzenders",
    ],
)
def test_dutch_list_phrasings(text: str) -> None:
    found = match(text)
    assert found is not None
    assert (found[0].name, found[1]) == ("list", "nl")


@pytest.mark.parametrize(
    ("text", "lang"),
    [("help", "en"), ("?", "en"), ("hulp", "nl"), ("Help!", "en"), ("wat kun je?", "nl")],
)
def test_help_phrasings(text: str, lang: str) -> None:
    found = match(text)
    assert found is not None
    assert (found[0].name, found[1]) == ("help", lang)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "who is blocked and why not",
        "unblock everyone",
        "blocked; drop table",
        "x" * 2000,
    ],
)
def test_other_text_matches_nothing(text: str) -> None:
    assert match(text) is None


def test_normalise_expands_contractions_and_drops_punctuation() -> None:
    assert normalise("Who’s  BLOCKED?!") == "who is blocked"


def test_every_command_has_help_in_both_languages() -> None:
    english = help_lines(Texts("en"))
    dutch = help_lines(Texts("nl"))
    assert len(english) == len(dutch) == len(COMMANDS)
    assert (
        english[0] == "who is blocked — list the users Exchange Online restricted from "
        "sending email"
    )
    assert dutch[0].startswith("wie is geblokkeerd — ")


def test_catalogues_have_the_same_keys() -> None:
    assert set(catalogue("en")) == set(catalogue("nl"))
