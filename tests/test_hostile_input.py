"""Hostile and mistaken input at the HTTP boundary: one clear answer for each, never a 5xx or a
traceback, and nothing lost (a refusal is audited even when what the caller sent is not valid
Unicode). Raw bodies are fuzzed here; activity fields are fuzzed in test_fuzz.py."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot import untrusted
from bot.core.audit import AuditEvent
from bot.errors import TenantUnavailable
from bot.sim.server import SimulatedTenant
from bot.store.audit import AuditTrail
from bot.store.db import open_engine
from bot.store.schema import audit_events
from bot.tenant.http import json_object
from tests.conftest import BotUnderTest, graph_client
from tests.helpers import Recorder, activity, invoke, texts_of

STRANGER = "00000000-0000-0000-0000-0000000000ff"  # in the tenant, but no BlockWatch role
LONE = "\ud800"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """The ERROR records logged while the test ran (a traceback is always one)."""
    caplog.set_level(logging.ERROR)
    found: list[logging.LogRecord] = []
    yield found
    found.extend(r for r in caplog.records if r.levelno >= logging.ERROR)
    assert found == [], [r.getMessage() for r in found]


async def _raw(bot: BotUnderTest, content: bytes, headers: dict[str, str] = JSON) -> Any:
    return await bot.client.post("/api/messages", content=content, headers=headers)


async def _escaped(bot: BotUnderTest, body: dict[str, Any]) -> Any:
    """POST `body` as JSON with every non-ASCII character escaped (`\\ud800` stays a lone
    surrogate on the wire, as a hostile client would send it)."""
    return await _raw(bot, json.dumps(body, ensure_ascii=True).encode())


async def test_a_5000_digit_integer_is_400(
    bot: BotUnderTest, errors: list[logging.LogRecord]
) -> None:
    answer = await _raw(bot, b'{"type": "message", "text": ' + b"7" * 5000 + b"}")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "request body is not valid JSON: an integer with more than 64 characters"
    }


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
async def test_5000_deep_nesting_is_400(
    bot: BotUnderTest, opening: bytes, errors: list[logging.LogRecord]
) -> None:
    closing = b"]" if opening == b"[" else b"}"
    answer = await _raw(bot, opening * 5000 + b"1" + closing * 5000)
    assert answer.status_code == 400
    assert answer.json() == {"error": "request body is not valid JSON: nested deeper than 64"}
    shallow_enough = b'{"type": "message", "x": ' + b"[" * 60 + b"]" * 60 + b"}"
    assert (await _raw(bot, shallow_enough)).status_code == 400  # not an activity, but read


def _set(body: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    node = body
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "user name": ("from", "name"),
    "locale": ("locale",),
    "conversation name": ("conversation", "name"),
    "tenant": ("conversation", "tenantId"),
    "channel tenant": ("channelData", "tenant", "id"),
    "verb": ("value", "action", "verb"),
    "card value": ("value", "action", "data", "upn"),
    "extra field": ("value", "action", "data", "note"),
    "aad object id": ("from", "aadObjectId"),
}


@pytest.mark.parametrize("field", sorted(TEXT_FIELDS))
async def test_lone_surrogates_in_every_text_field_are_answered_and_audited(
    bot: BotUnderTest, recorder: Recorder, field: str, errors: list[logging.LogRecord]
) -> None:
    path = TEXT_FIELDS[field]
    if path[0] == "value":
        body = invoke("open_case", {"upn": "joost@contoso.onmicrosoft.com"}, service_url="")
    else:
        body = activity("who is blocked", service_url="")
    body["serviceUrl"] = recorder.url
    body["from"]["aadObjectId"] = STRANGER
    hostile = f"x{LONE}y\x00z"
    _set(body, path, f"status {hostile}@contoso.onmicrosoft.com" if field == "text" else hostile)
    answer = await _escaped(bot, body)
    assert answer.status_code in (200, 201), answer.text
    await bot.runtime.foreign.flush(everything=True)  # another tenant's refusals are tallied
    async with bot.runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(audit_events))).all()
    # (botbuilder 4.17 reads no conversation.tenantId: the tenant is channelData's)
    foreign = field == "channel tenant"
    assert [r.result for r in rows] == ["refused x1" if foreign else "refused"]  # not lost
    row = rows[0]
    for value in (row.actor_name, row.action, row.detail, row.actor_id):
        assert untrusted.clean(value) == value
    if field == "user name":
        assert row.actor_name == "x\ufffdyz"


async def test_history_of_an_address_with_a_lone_surrogate_answers(
    bot: BotUnderTest, recorder: Recorder, errors: list[logging.LogRecord]
) -> None:
    answer = await _escaped(
        bot, activity(f"history {LONE}@contoso.onmicrosoft.com", service_url=recorder.url)
    )
    assert answer.status_code == 201
    said = [texts_of(c.body) for c in recorder.calls if c.method == "POST"]
    assert said
    assert "\ufffd@contoso.onmicrosoft.com" in " ".join(map(" ".join, said))


async def test_a_failed_audit_write_is_logged_with_the_whole_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-tables.db'}")  # never migrated
    try:
        event = AuditEvent(
            "29:someone", f"Some{LONE}One", "refused:release", "", "refused", detail="why"
        )
        with pytest.raises(sa.exc.OperationalError):
            await AuditTrail(engine).record(event)
    finally:
        await engine.dispose()
    [logged] = [r for r in caplog.records if r.getMessage() == "audit write failed"]
    kept = logged.__dict__["audit_event"]
    assert (kept["actor_name"], kept["action"], kept["detail"]) == (
        "Some\ufffdOne",
        "refused:release",
        "why",
    )


# ---- raw bodies, fuzzed ---------------------------------------------------------------------

_CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "",
    ]
)
_FRAGMENTS = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b"\\",
        b"\\u",
        b"\\ud800",
        b"\\udfff\\ud800",
        b":",
        b",",
        b"1e999999",
        b"-0",
        b"NaN",
        b"Infinity",
        b"9" * 80,
        b"0." + b"1" * 80,
        b"null",
        b"true",
        b"\x00",
        b"\xff\xfe",
        b"\xef\xbb\xbf",
        b"\xc3\x28",
        b"\xed\xa0\x80",
        b'"type": "message"',
        b'"serviceUrl": "http://127.0.0.1:1/"',
        b'{"type": "invoke", "name": "adaptiveCard/action", "value": ',
    ]
)


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes near JSON: fragments, nesting of any depth, encodings, random bytes."""
    kind = draw(st.sampled_from(["fragments", "nesting", "encoded", "bytes", "valid"]))
    if kind == "fragments":
        return b"".join(draw(st.lists(_FRAGMENTS, max_size=30)))
    if kind == "nesting":
        depth = draw(st.integers(min_value=1, max_value=20_000))
        opening = draw(st.sampled_from([b"[", b'{"k":']))
        closing = b"]" if opening == b"[" else b"}"
        return opening * depth + b"0" + closing * draw(st.integers(0, depth))
    if kind == "encoded":
        text = '{"type": "message", "text": "who is blocked \u00e9\U0001f680"}'
        encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "utf-8"]))
        return text.encode(encoding, errors="replace")
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    value = draw(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
            max_leaves=10,
        )
    )
    return json.dumps(value).encode()


@pytest.fixture
async def raw_bot(start_bot: Any) -> BotUnderTest:
    bot: BotUnderTest = await start_bot(COMMANDS_PER_MINUTE="1000000", ALERT_POLL_SECONDS="3600")
    return bot


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(content=raw_bodies(), content_type=_CONTENT_TYPES)
async def test_raw_bodies_get_a_deliberate_answer(
    content: bytes,
    content_type: str,
    raw_bot: BotUnderTest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    caplog.clear()
    headers = {"Content-Type": content_type} if content_type else {}
    answer = await _raw(raw_bot, copy.copy(content), headers)
    event(f"HTTP {answer.status_code}")
    assert answer.status_code in (400, 413, 415), (answer.status_code, answer.text, content)
    assert "Traceback" not in answer.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_body_over_the_limit_without_a_length_is_413(raw_bot: BotUnderTest) -> None:
    async def chunks() -> Any:
        for _ in range(300):
            yield b" " * 1024

    answer = await raw_bot.client.post("/api/messages", content=chunks(), headers=JSON)
    assert answer.status_code == 413


# ---- what Microsoft sends back is untrusted too ---------------------------------------------


async def test_text_from_the_tenant_is_cleaned_too(sim: SimulatedTenant, http: Any) -> None:
    user = sim.state.user("joost.vandenbergh@contoso.onmicrosoft.com")
    assert user is not None
    user.display_name = f"Joost{LONE}\x00 van den Bergh"  # sent as "\ud800", "\u0000"
    seen = await graph_client(sim, http).users.user(user.upn)
    assert seen.display_name == "Joost\ufffd van den Bergh"


def test_an_answer_that_is_not_json_is_an_outage_not_an_empty_list() -> None:
    proxy_page = httpx.Response(200, content=b"<html>Sign in to the proxy</html>")
    with pytest.raises(TenantUnavailable) as failed:
        json_object("Microsoft Graph", "GET /users", proxy_page)
    assert str(failed.value) == "GET /users: the answer could not be read (not valid JSON)"
    assert json_object("Microsoft Graph", "GET /users", httpx.Response(204)) == {}


async def test_an_activity_type_that_is_not_a_string_is_answered(
    bot: BotUnderTest, recorder: Recorder
) -> None:
    # Found by the fuzzer: counting activities by type once failed on an unhashable type (500).
    for kind in ([], {}, 7, None):
        body = activity("help", service_url=recorder.url)
        body["type"] = kind
        answer = await bot.post(body)
        assert answer.status_code in (200, 201, 400), (kind, answer.text)
    body = activity("help", service_url=recorder.url)
    body["type"] = None
    assert (await bot.post(body)).status_code == 400  # no type: not an activity
