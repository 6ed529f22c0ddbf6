"""What an attacker with one mailbox, one Teams account or one web page can do, closed: formula
injection in the audit export, DNS rebinding of the loopback trial, a foreign-tenant audit flood,
a refused click on a shared card, a password in a conversation that is not provably private, a
time zone that is a directory, and investigations without bound."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bot.chat.foreign import ForeignRefusals
from bot.core.audit import AuditEvent
from bot.core.people import Actor
from bot.i18n import Texts, texts_for
from bot.store.audit import AuditTrail, to_csv
from bot.store.db import migrate, open_engine
from bot.teams.activities import where_of
from bot.teams.endpoint import loopback_host, loopback_url
from cards.history import audit_card
from tests.flow import ALEX, action, compromised_bot, open_joost
from tests.helpers import (
    TENANT,
    Recorder,
    activity,
    invoke,
    run_app,
    serve_demo,
    stop_processes,
    texts_of,
)
from tests.test_access import APPROVER, NOBODY, NOT_ALLOWED, ROLES, VIEWER

FORMULAS = (
    '=HYPERLINK("https://evil.example/x","Open the incident")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
    'Mail sync;=HYPERLINK("https://evil.example");more',
    'Rule, "=1+1", x',
    " =1+1",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _starts_a_formula(value: str) -> bool:
    return value.lstrip(' "')[:1] in FORMULA_START  # a neutralised cell starts with "'"


def test_the_audit_export_runs_in_no_spreadsheet_whatever_it_splits_on(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/audit.db"

    async def record() -> None:
        engine = open_engine(url)
        await migrate(engine)
        trail = AuditTrail(engine)
        for words in FORMULAS:
            await trail.record(
                AuditEvent(
                    actor_id=words,
                    actor_name=words,
                    action="refused",
                    target=words,
                    result=words,
                    parameters={"rule": words},
                    detail=words,
                    at=datetime.now(UTC),
                )
            )
        await engine.dispose()

    asyncio.run(record())
    export = run_app(tmp_path, {"DATABASE_URL": url}, "export-audit", check=True).stdout
    assert export.startswith("time,actor_id,actor,action,target,case,result,")
    for separator in (",", ";"):
        rows = list(csv.reader(io.StringIO(export, newline=""), delimiter=separator))
        cells = [c for row in rows for c in row]
        assert not [c for c in cells if _starts_a_formula(c)], separator
    rows = list(csv.DictReader(io.StringIO(export, newline="")))
    assert len(rows) == len(FORMULAS)
    actors = {r["actor"] for r in rows}
    assert "'" + FORMULAS[0] in actors  # still readable: shown, not run
    assert "'\t=1+1" in actors
    assert "'\n'=1+1" in actors  # (the \r, read back through text-mode stdout)
    assert 'Mail sync;\'=HYPERLINK("https://evil.example");more' in actors
    assert 'Rule, "\'=1+1", x' in actors
    assert "rule=" + FORMULAS[0] in {r["parameters"] for r in rows}


# --- 2. DNS rebinding and foreign serviceUrls with inbound authentication off ------------------


async def test_with_auth_off_only_loopback_hosts_and_service_urls_are_served(
    tmp_path: Path, recorder: Recorder
) -> None:
    proc, url = serve_demo(tmp_path)
    port = url.rsplit(":", 1)[1]
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def post(host: str, service_url: str = recorder.url) -> httpx.Response:
                body = activity("help", service_url=service_url)
                return await client.post(f"{url}/api/messages", json=body, headers={"Host": host})

            for host in (f"evil.example:{port}", "evil.example", f"10.0.0.5:{port}", ""):
                refused = await post(host)
                assert refused.status_code == 403, host
                assert "loopback" in refused.json()["error"]
            for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
                assert (await post(host)).status_code == 201, host
            sent = len(recorder.calls)
            for service_url in (
                "https://evil.example/",
                "http://10.0.0.5/",
                "https://127.0.0.1.evil.example/",
            ):
                refused = await post(f"127.0.0.1:{port}", service_url)
                assert refused.status_code == 403, service_url
                assert "serviceUrl" in refused.json()["error"]
            assert len(recorder.calls) == sent  # nothing was sent anywhere
    finally:
        stop_processes([proc], grace=10)


def test_loopback_names() -> None:
    for host in ("127.0.0.1:3978", "LOCALHOST", "[::1]", "127.0.0.2"):
        assert loopback_host(host), host
    for host in ("127.0.0.1.evil.example", "localhost.evil.example:80", "[::2]:1", "0.0.0.0"):
        assert not loopback_host(host), host
    for url in ("http://127.0.0.1:56150/_connector", "http://[::1]:9/", "https://localhost/"):
        assert loopback_url(url), url
    for url in ("https://smba.trafficmanager.net/emea/", "http://127.0.0.1:99999/", "ftp://[::1]/"):
        assert not loopback_url(url), url


async def test_a_user_without_a_role_cannot_redirect_where_alerts_go(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**ROLES)
    subscribed = activity("alerts on", service_url=recorder.url, aad=APPROVER, scope="channel")
    assert (await bot.post(subscribed)).status_code == 201
    where = subscribed["conversation"]["id"]
    stored = await bot.runtime.conversations.get(where)
    assert stored is not None
    hijack = activity("help", service_url=recorder.url + "hijacked/", aad=NOBODY, scope="channel")
    assert (await bot.post(hijack)).status_code == 201  # help is for anyone …
    after = await bot.runtime.conversations.get(where)
    assert after == stored  # … but where alerts go is not changed by them


# --- 3. Foreign-tenant refusals ----------------------------------------------------------------

FOREIGN = "99999999-9999-9999-9999-999999999999"


async def test_a_foreign_tenant_flood_leaves_one_counted_row(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**ROLES)
    gate = asyncio.Semaphore(40)

    async def send(user: int, n: int) -> None:
        body = activity(
            "who is blocked",
            service_url=recorder.url,
            aad=f"00000000-0000-0000-0000-{user:012d}",
            user=f"29:outsider-{user}",
            tenant=FOREIGN,
        )
        body["from"]["name"] = f"Outsider {user}"
        async with gate:
            assert (await bot.post(body)).status_code == 201

    await asyncio.gather(*(send(u, n) for u in range(40) for n in range(30)))
    assert bot.runtime.foreign.pending == 1200
    await bot.runtime.foreign.flush(everything=True)
    events = await bot.runtime.audit.events()
    assert len(events) == 1
    row = events[0]
    assert (row.action, row.target, row.result) == (
        "refused:foreign-tenant",
        FOREIGN,
        "refused x1200",
    )
    assert row.parameters["count"] == 1200
    assert row.parameters["first_sender_name"].startswith("Outsider ")
    assert row.parameters["last_sender_name"].startswith("Outsider ")
    assert row.parameters["actions"] == "list"
    shown = texts_of(audit_card(events, days=1, t=Texts("en"), budget=30_000))
    assert any("refused:foreign-tenant" in s and "refused x1200" in s for s in shown)
    export = to_csv(events)
    assert '"refused x1200"' in export


async def test_foreign_tallies_are_written_when_their_window_ends() -> None:
    written: list[AuditEvent] = []

    class Trail:
        async def record(self, event: AuditEvent) -> None:
            written.append(event)

    ticks = [0.0]
    tally = ForeignRefusals(Trail(), window=600, ticks=lambda: ticks[0])  # type: ignore[arg-type]
    for i in range(5):
        await tally.add("t1", Actor(f"29:{i}", f"aad-{i}", f"User {i}"), "list")
    await tally.add("t2", Actor("29:x", "aad-x", "X"), "open_case")
    await tally.flush()
    assert written == []
    ticks[0] = 601
    await tally.add("t1", Actor("29:late", "aad-late", "Late"), "list")  # a new window
    assert [(e.target, e.result) for e in written] == [("t1", "refused x5"), ("t2", "refused x1")]
    assert written[0].parameters["first_sender"] == "aad-0"
    assert written[0].parameters["last_sender"] == "aad-4"
    assert tally.pending == 1


# --- 4. A refused click on a shared card ------------------------------------------------------


async def test_a_refused_submit_leaves_the_shared_card_as_it_was(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await start_bot(**ROLES)
    value = {"verb": "list_page", "page": 1, "lang": "en"}
    body = activity("", service_url=recorder.url, aad=NOBODY, scope="channel", value=value)
    body["replyToId"] = "act-shared-card"
    body["text"] = ""
    assert (await bot.post(body)).status_code == 201
    assert not [c for c in recorder.calls if c.method == "PUT"]  # the shared card is unchanged
    channel = body["conversation"]["id"].split(";")[0]
    assert not [c for c in recorder.calls if channel in c.path]  # nothing said in the channel
    created = [c for c in recorder.calls if c.path == "/v3/conversations"]
    assert [c.body["members"] for c in created] == [[{"id": body["from"]["id"]}]]
    told = [
        c for c in recorder.calls if c.path.startswith(f"/v3/conversations/{created[0].answered}/")
    ]
    assert [c.method for c in told] == ["POST"]
    assert NOT_ALLOWED in texts_of(told[0].body["attachments"][0]["content"])


# --- 5. "Private" only on positive evidence ---------------------------------------------------


async def test_a_group_conversation_without_a_type_never_gets_the_password(
    start_bot: Any, recorder: Recorder
) -> None:
    bot = await compromised_bot(start_bot)
    group = {"id": "19:untyped@thread.v2", "isGroup": True, "tenantId": TENANT}
    card = await open_joost(bot, recorder)
    body = invoke("run_step", action(card, "run_step", "reset_password"), service_url=recorder.url)
    body["conversation"] = group
    body["from"] = {"id": ALEX[0], "name": "Alex", "aadObjectId": ALEX[1]}
    assert (await bot.post(body)).status_code == 200
    await bot.runtime.cases.idle()
    told = [c for c in recorder.calls if "Temporary password for" in str(c.body.get("text"))]
    assert len(told) == 1
    assert "19:untyped" not in told[0].path
    secret = told[0].body["text"].split(": ", 1)[1].split()[0]
    assert not [c for c in recorder.calls if "19:untyped" in c.path and secret in str(c.body)]
    created = [c for c in recorder.calls if c.path == "/v3/conversations"]
    assert [c.body["members"] for c in created] == [[{"id": ALEX[0]}]]


def test_personal_is_believed_only_when_nothing_says_group() -> None:
    def where(**conversation: Any) -> str:
        talk = SimpleNamespace(id="a", tenant_id="t", **conversation)
        activity = SimpleNamespace(conversation=talk, channel_data=None)
        return where_of(activity).conversation_type  # type: ignore[arg-type]

    assert where(conversation_type="personal") == "personal"
    assert where(conversation_type="personal", is_group=True) == "groupChat"
    assert where(is_group=True) == "groupChat"
    assert where() == "groupChat"
    assert where(conversation_type="meeting") == "groupChat"


# --- 6. Time zones and locales that are not --------------------------------------------------


@pytest.mark.parametrize("zone", ["Europe", "America", "../../etc/passwd", "x" * 300, "Europe/"])
async def test_a_time_zone_that_is_not_one_answers_normally(
    start_bot: Any, recorder: Recorder, zone: str
) -> None:
    bot = await start_bot(**ROLES)
    body = activity("who is blocked", service_url=recorder.url, aad=VIEWER, timezone=zone)
    assert (await bot.post(body)).status_code == 201
    lines = texts_of(recorder.cards()[-1])
    assert lines[0].startswith("Restricted senders"), lines[:2]
    clicked = invoke("list_page", {"page": 1, "lang": "en"}, service_url=recorder.url)
    clicked["from"]["aadObjectId"] = VIEWER
    clicked["entities"] = [{"type": "clientInfo", "locale": zone, "timezone": zone}]
    answer = await bot.post(clicked)
    assert answer.status_code == 200
    assert texts_of(answer.json()["value"])[0].startswith("Restricted senders")


def test_time_zone_and_language_never_raise() -> None:
    for value in ("Europe", "Europe/Amsterdam", "", None, 7, ["x"], {"a": 1}, "\x00", "é" * 9):
        t = texts_for(value, value)
        assert t.lang in ("en", "nl")
        assert t.when(datetime(2026, 1, 1, tzinfo=UTC))
    assert str(texts_for("nl-NL", "Europe/Amsterdam").zone) == "Europe/Amsterdam"


# --- 7. Investigations take turns -------------------------------------------------------------


FABRIKAM = "0c6f1e7a-9b8d-4f3e-a2c1-7d6e5f4a3b21"  # the large scenario's tenant


async def test_a_crowd_of_open_clicks_investigates_a_few_at_a_time(
    start_bot: Any, recorder: Recorder
) -> None:
    viewers = [f"00000000-0000-0000-0000-0000000{v:05d}" for v in range(20)]
    bot = await start_bot(
        DEMO_SCENARIO="large", VIEWER_IDS=",".join(viewers), **{"APPROVER_IDS": APPROVER}
    )
    senders = sorted(s.upn for s in await bot.runtime.exchange.restricted_senders())[:5]
    gate = asyncio.Semaphore(50)

    async def open_case(viewer: str, n: int) -> int:
        upn = senders[n % len(senders)]
        body = invoke("open_case", {"upn": upn}, service_url=recorder.url, tenant=FABRIKAM)
        body["from"] = {"id": f"29:{viewer}", "name": "Viewer", "aadObjectId": viewer}
        async with gate:
            return (await bot.post(body)).status_code

    clicks = [open_case(v, n) for v in viewers for n in range(20)]
    statuses = await asyncio.gather(*clicks)
    assert set(statuses) == {200}
    assert not [c for c in recorder.cards() if "That didn't work" in texts_of(c)]
    load = bot.runtime.cases.investigations
    assert load.running + load.waiting <= len(senders)  # a click on a running one joined it
    listed = activity("who is blocked", service_url=recorder.url, aad=APPROVER, tenant=FABRIKAM)
    assert (await bot.post(listed)).status_code == 201  # answered while they run
    # The reply to that message, not the last card: investigations finishing redraw cases.
    reply = next(
        c.body["attachments"][0]["content"]
        for c in reversed(recorder.calls)
        if c.method == "POST" and c.path.endswith(f"/activities/{listed['id']}")
    )
    assert texts_of(reply)[0].startswith("Restricted senders"), texts_of(reply)
    await bot.runtime.cases.idle()
    assert load.peak == load.at_once == 4
    started = [e for e in await bot.runtime.audit.events() if e.action == "investigation_started"]
    assert sorted(e.target for e in started) == senders  # each investigated once
