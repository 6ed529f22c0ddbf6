"""End to end through Microsoft 365 Agents Playground: Microsoft's own Teams emulation."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.playground import PLAYGROUND, PlaygroundClient, Stack, running_stack
from tests.helpers import actions_of, texts_of

pytestmark = pytest.mark.e2e

if not PLAYGROUND.exists() or shutil.which("node") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the Agents Playground tests: run ./scripts/node-tools")
    pytest.skip(
        "Agents Playground not installed (./scripts/node-tools needs Node.js)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("e2e")
    with running_stack(workdir) as running:
        yield running


@pytest.fixture
async def playground(stack: Stack) -> AsyncIterator[PlaygroundClient]:
    async with aiohttp.ClientSession() as session:
        client = PlaygroundClient(stack.playground_url, session)
        await client.connect()
        yield client


def _card(message: dict[str, object]) -> dict[str, object]:
    attachments = message["attachments"]
    assert isinstance(attachments, list)
    content = attachments[0]["content"]
    assert isinstance(content, dict)
    return content


async def test_personal_chat_list_then_open(playground: PlaygroundClient) -> None:
    chat = playground.config["personalChat"]["id"]
    await playground.say(chat, "who is blocked")
    message = await playground.next_card(chat)
    card = _card(message)
    lines = texts_of(card)
    assert "3 users are restricted from sending email." in lines
    assert "Zoë Ångström-Núñez" in lines
    zoe = next(a for a in actions_of(card) if a["data"].get("upn", "").startswith("zoe"))
    answer = await playground.click(chat, str(message["messageId"]), "open_case", zoe["data"])
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    # The list stays where it was, Zoë's row marked as opened ...
    still = answer["value"]
    assert texts_of(still)[0] == "Restricted senders"
    titles = {a["data"]["upn"]: a["title"] for a in actions_of(still) if a["verb"] == "open_case"}
    assert titles["zoe.angstrom@contoso.onmicrosoft.com"] == "Opened ✓"
    # ... and the case card arrives as a message of its own.
    posted = await playground.next_card(chat)
    assert posted["messageId"] != message["messageId"]
    details = texts_of(_card(posted))
    assert details[0] == "Zoë Ångström-Núñez"
    assert details[1] == "zoe.angstrom@contoso.onmicrosoft.com · Investigating…"
    # The investigation finishes in the background and the bot updates that message (every
    # change of the case reaches it: wait for the one that carries the evidence). A 1:1
    # chat's copy is drawn for its admin, so the Playground (no user-specific views) shows
    # the buttons too.
    for _ in range(5):
        updated = await playground.next_card(chat)
        assert updated["messageId"] == posted["messageId"]
        filled = texts_of(_card(updated))
        if "Inbox rules" in filled:
            break
    assert "Inbox rules" in filled
    assert "Gathering evidence… this card updates itself." not in filled
    verbs = {a["verb"] for a in actions_of(_card(updated))}
    assert {"run_recommended", "release"} <= verbs


async def test_group_chat_with_mention_in_dutch(playground: PlaygroundClient) -> None:
    group = playground.config["groupChats"][0]["id"]
    await playground.say(group, "wie is geblokkeerd?", mention=True)
    card = _card(await playground.next_card(group))
    assert "3 gebruikers zijn geblokkeerd voor het verzenden van e-mail." in texts_of(card)


async def test_channel_post_gets_reply_in_its_thread(playground: PlaygroundClient) -> None:
    channel = playground.config["teams"][0]["channels"][0]["id"]
    thread = await playground.say(channel, "restricted senders", mention=True)
    card = _card(await playground.next_card(thread))
    assert "Restricted senders" in texts_of(card)


async def test_help_for_unknown_text(playground: PlaygroundClient) -> None:
    chat = playground.config["personalChat"]["id"]
    await playground.say(chat, "good morning")
    card = _card(await playground.next_card(chat))
    assert texts_of(card)[0] == 'Sorry, I didn\'t understand "good morning".'
