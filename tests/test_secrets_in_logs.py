"""The whole demo flow with production logging at DEBUG: no password or token in the output.

Logging is configured exactly as `app.py` does (JSON lines, redaction filter), but at DEBUG for
every logger, including the chatty libraries (httpx, msal, aiohttp, botbuilder) that production
keeps at WARNING. The flow lists senders, opens and investigates a case, runs the checklist
(which resets the password and sends it 1:1), releases, verifies, turns alerts on and reads
status, history and audit. Then the output is searched for every secret the flow handled.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.logs import configure_logging
from tests.conftest import BotUnderTest
from tests.helpers import Recorder, activity
from tests.test_case_flow import ALEX, JOOST, action, click, open_joost

_CHATTY = ("aiohttp.access", "msal", "urllib3", "httpx", "httpcore", "alembic", "botbuilder")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")


@pytest.fixture
def production_log() -> Iterator[io.StringIO]:
    """The production log handler, writing to memory, at DEBUG for everything."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.raiseExceptions)
    levels = {name: logging.getLogger(name).level for name in _CHATTY}
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.handlers[:], root.level, logging.raiseExceptions = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def test_full_demo_flow_logs_no_password_or_token(
    start_bot: Any, recorder: Recorder, production_log: io.StringIO
) -> None:
    bot: BotUnderTest = await start_bot(DEMO_SCENARIO="compromised", FOLLOW_UP_SECONDS="0.1")
    minted: list[str] = []
    mint = bot.sim.identity.mint

    def recording_mint(resource: str, roles: set[str]) -> str:
        token = mint(resource, roles)
        minted.append(token)
        return token

    bot.sim.identity.mint = recording_mint  # type: ignore[method-assign]

    await bot.post(activity("who is blocked", service_url=recorder.url))
    card = await open_joost(bot, recorder)
    card = await click(bot, recorder, "run_recommended", action(card, "run_recommended"))
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    card = await click(bot, recorder, "refresh_case", {"case": case.id, "version": case.version})
    await click(bot, recorder, "release", action(card, "release"))
    await bot.runtime.cases.idle()
    for text in (f"status {JOOST}", f"history {JOOST}", "audit", "alerts on"):
        response = await bot.post(activity(text, service_url=recorder.url, aad=ALEX[1]))
        assert response.status_code == 201

    private = [c for c in recorder.calls if "Temporary password for" in c.body.get("text", "")]
    assert len(private) == 1
    found = re.search(r": (\S+)\n", private[0].body["text"])
    assert found is not None
    password = found[1]
    assert minted, "the flow called Graph and Exchange, so tokens were minted"

    output = production_log.getvalue()
    lines = output.splitlines()
    assert len(lines) > 50, "logging was captured"  # proves the handler saw the flow
    assert any('"logger": "httpx"' in line for line in lines)  # chatty libraries included
    assert password not in output
    for token in minted:
        assert token not in output
        assert token.split(".")[1] not in output  # not even the claims part
    assert not _JWT.search(output)
    assert not re.search(r"(?i)bearer\s+(?!\[redacted\])\S", output)
