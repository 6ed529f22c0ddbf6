"""Hostile input: thousands of malformed activities through real HTTP never crash the bot.

Hypothesis builds activities from a valid Teams message or invoke and breaks them: wrong
types, missing or extra fields, huge strings, nested junk, unicode and control characters,
and unknown activity types and invoke names. The bot must answer each with a deliberate status
(never a 500 or a traceback), log no error, and still answer /healthz afterwards.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import BotUnderTest
from tests.helpers import Recorder, activity, invoke

SERVICE_URL = "http://recorder.invalid/"  # replaced by the recorder's address
EXPECTED = {200, 201, 400}  # processed, processed (no reply body), refused as not an activity

_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.sampled_from(
        [
            "",
            "who is blocked",
            "wie is geblokkeerd",
            "status joost.vandenbergh@contoso.onmicrosoft.com",
            "history ' OR 1=1 --",
            "audit 999999999999999999999",
            "alerts on",
            "\x00\x1b[31m\u202e\ufeff",
            "<at>BlockWatch</at>" * 50,
            "x" * 5000,
            "🚀" * 600,
            "${jndi:ldap://evil}",
            "{{7*7}}",
        ]
    ),
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_junk = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_types = st.sampled_from(
    [
        "message",
        "invoke",
        "conversationUpdate",
        "installationUpdate",
        "messageReaction",
        "event",
        "typing",
        "endOfConversation",
        "",
        "MESSAGE",
        "nonsense",
    ]
)
_invoke_names = st.one_of(
    st.sampled_from(
        ["adaptiveCard/action", "task/fetch", "composeExtension/query", "signin/verifyState"]
    ),
    _text,
)
_verbs = st.one_of(
    st.sampled_from(["list_page", "open_case", "refresh_case", "run_step", "skip_step", "release"]),
    _text,
)
_nested = st.sampled_from(
    ["id", "aadObjectId", "name", "tenantId", "tenant", "conversationType", "action", "verb"]
)
_FIELDS = [
    "type",
    "id",
    "from",
    "conversation",
    "recipient",
    "text",
    "value",
    "locale",
    "entities",
    "channelData",
    "name",
    "replyToId",
    "channelId",
    "membersAdded",
    "action",
    "attachments",
]


@st.composite
def hostile_activities(draw: st.DrawFn) -> dict[str, Any]:
    """A Teams activity with some of its parts replaced by junk."""
    if draw(st.booleans()):
        body = activity(draw(_text), service_url=SERVICE_URL)
    else:
        data = copy.deepcopy(
            draw(st.one_of(st.dictionaries(st.text(max_size=10), _junk, max_size=5), _junk))
        )
        body = invoke(
            draw(_verbs), data if isinstance(data, dict) else {"x": data}, service_url=SERVICE_URL
        )
        body["name"] = draw(_invoke_names)
    if draw(st.booleans()):  # half keep their type, so more of them reach the handlers
        body["type"] = draw(_types)
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            body.pop(name, None)
        else:
            body[name] = copy.deepcopy(draw(_junk))
    if draw(st.booleans()):  # junk inside the nested objects too
        for part in ("from", "conversation", "channelData", "value"):
            if isinstance(body.get(part), dict):
                body[part][draw(_nested)] = copy.deepcopy(draw(_junk))
    return body


@pytest.fixture
async def fuzz_bot(start_bot: Any) -> BotUnderTest:
    # A generous rate limit so the refusals do not hide deeper code paths.
    bot: BotUnderTest = await start_bot(COMMANDS_PER_MINUTE="1000000", ALERT_POLL_SECONDS="3600")
    return bot


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # big reprs
@settings(
    max_examples=2500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(body=hostile_activities())
async def test_hostile_activities_never_crash_the_bot(
    body: dict[str, Any],
    fuzz_bot: BotUnderTest,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    caplog.clear()  # examples share the fixture: start each with an empty log
    body = copy.deepcopy(body)
    if body.get("serviceUrl") == SERVICE_URL:
        body["serviceUrl"] = recorder.url
    response = await fuzz_bot.post(body)
    event(f"HTTP {response.status_code}")  # see --hypothesis-show-statistics
    assert response.status_code in EXPECTED, (response.status_code, response.text, body)
    assert "Traceback" not in response.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_still_healthy_after_junk(fuzz_bot: BotUnderTest, recorder: Recorder) -> None:
    junk: list[Any] = [[], "x", 1, None, {"type": 5}, {"type": "message", "from": "me"}]
    for body in junk:
        raw = json.dumps(body)
        response = await fuzz_bot.client.post(
            "/api/messages", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (raw, response.text)
    assert (await fuzz_bot.client.get("/healthz")).status_code == 200
