"""Speak Microsoft as it really answers: error shapes, licence answers, the Reason format, the
mailbox anchor and per-API rate budgets (microsoft-365-apis.md §6), against the simulated tenant
and through the production clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.cases.evidence import SectionStatus
from bot.cases.sections import NAMES, risk, sign_ins
from bot.doctor import Status, run_doctor
from bot.errors import NotAvailableInTenant, ProblemKind, TenantBusy, TenantForbidden
from bot.sim.exchange import CMDLETS
from bot.sim.server import SimulatedTenant
from bot.tenant.budgets import REPORTS, Budget, LocalBudgets, Pacer
from bot.tenant.http import Failure, translate
from bot.tenant.parse import parse_reason
from tests.conftest import BotUnderTest, bearer, exchange_client, graph_client
from tests.helpers import Recorder, invoke, texts_of

JOOST = "joost.vandenbergh@contoso.onmicrosoft.com"


def _invoke_url(sim: SimulatedTenant) -> str:
    return f"{sim.exchange_url}/adminapi/beta/{sim.state.tenant_id}/InvokeCommand"


async def test_an_exchange_role_problem_is_a_403_with_a_nul_body_and_reads_as_such(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.state.exchange_cmdlets = {"Get-BlockedSenderAddress"}
    body = {"CmdletInput": {"CmdletName": "Remove-BlockedSenderAddress", "Parameters": {}}}
    raw = await http.post(_invoke_url(sim), json=body, headers=await bearer(sim, "exchange"))
    assert raw.status_code == 403
    assert raw.content
    assert set(raw.content) == {0}
    with pytest.raises(TenantForbidden) as refused:
        await exchange_client(sim, http).release_sender(JOOST)
    assert refused.value.permission == "an Exchange role that includes Remove-BlockedSenderAddress"
    found = await run_doctor(
        graph_client(sim, http),
        exchange_client(sim, http),
        sim.tokens(),
        graph_resource=sim.graph_url,
        exchange_resource=sim.exchange_url,
    )
    verdict = {f.capability: f.status for f in found}
    assert verdict["Release restricted senders"] is Status.MISSING_EXCHANGE_ROLE
    assert verdict["List restricted senders"] is Status.OK


async def test_an_unknown_cmdlet_is_a_403_with_a_nul_body_too(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    body = {"CmdletInput": {"CmdletName": "Get-Everything", "Parameters": {}}}
    raw = await http.post(_invoke_url(sim), json=body, headers=await bearer(sim, "exchange"))
    assert (raw.status_code, set(raw.content)) == (403, {0})


async def test_the_older_not_recognized_answer_also_reads_as_a_missing_role(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.state.exchange_cmdlets = set(CMDLETS) - {"Set-Mailbox"}
    sim.state.hidden_cmdlet_answer = "not-recognized"
    with pytest.raises(TenantForbidden) as refused:
        await exchange_client(sim, http).clear_forwarding(JOOST)
    assert refused.value.permission == "an Exchange role that includes Set-Mailbox"


@pytest.mark.parametrize("body", [b"", b"\x00\x00\x00", b"<html>denied</html>"])
@pytest.mark.parametrize("status", [401, 403])
def test_an_empty_or_unreadable_refusal_is_a_permission_problem(status: int, body: bytes) -> None:
    response = httpx.Response(status, content=body)
    error = translate(
        "Exchange Online",
        "Remove-BlockedSenderAddress",
        Failure.of(response),
        permission="Exchange.ManageAsApp",
        role="an Exchange role that includes Remove-BlockedSenderAddress",
    )
    assert isinstance(error, TenantForbidden)
    assert error.permission == (
        "Exchange.ManageAsApp"
        if status == 401
        else "an Exchange role that includes Remove-BlockedSenderAddress"
    )


def test_exchange_errors_are_read_from_their_details() -> None:
    body = {
        "error": {
            "code": "BadRequest",
            "message": "Error executing cmdlet",
            "details": [
                {"code": "Context", "message": "|Microsoft.Exchange.Foo|The sender is on hold."}
            ],
            "innererror": {"internalexception": {"message": "ignored when details exist"}},
        }
    }
    error = translate("Exchange Online", "Remove-X", Failure(400, body, {}))
    assert error.said == "The sender is on hold."
    only_inner = {
        "error": {
            "message": "Invalid Operation",
            "innererror": {"internalexception": {"message": "Inner words"}},
        }
    }
    assert translate("Exchange Online", "Get-X", Failure(400, only_inner, {})).said == "Inner words"


async def test_licence_answers_name_the_licence_not_a_permission(
    start_bot: Any, recorder: Recorder
) -> None:
    bot: BotUnderTest = await start_bot(DEMO_SCENARIO="compromised")
    bot.sim.state.licences = set()  # neither Entra ID P1 nor P2
    await bot.post(invoke("open_case", {"upn": JOOST}, service_url=recorder.url))
    await bot.runtime.cases.idle()
    case = await bot.runtime.cases.open_for(JOOST)
    assert case is not None
    assert case.evidence is not None
    risky = case.evidence.section(risk.NAME)
    signed_in = case.evidence.section(sign_ins.NAME)
    assert risky is not None
    assert signed_in is not None
    assert risky.status is signed_in.status is SectionStatus.NOT_APPLICABLE
    answer = await bot.post(
        invoke("refresh_case", {"case": case.id, "version": case.version}, service_url=recorder.url)
    )
    lines = texts_of(answer.json()["value"])
    assert "Not available in this tenant: needs Microsoft Entra ID P2" in lines
    assert "Not available in this tenant: needs Microsoft Entra ID P1" in lines
    assert not any("lacks" in line for line in lines)


async def test_risky_users_without_p2_answer_as_graph_does(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.state.licences.discard("AAD_PREMIUM_P2")
    user = sim.state.user(JOOST)
    assert user is not None
    raw = await http.get(
        f"{sim.graph_url}/v1.0/identityProtection/riskyUsers/{user.id}",
        headers=await bearer(sim, "graph"),
    )
    assert raw.status_code == 403
    assert raw.json()["error"]["message"] == "Your tenant is not licensed for this feature."
    with pytest.raises(NotAvailableInTenant) as missing:
        await graph_client(sim, http).signins.risky_user(user.id)
    assert missing.value.licence == "Microsoft Entra ID P2"


def test_reason_as_microsoft_support_shows_it() -> None:
    raw = (
        "EmailSendingLimitExceeded;InternalRecipientCountToday=3;ExternalRecipientCountToday=812;"
        "ExceedingLimitType=External;Last MessagetraceId=5a8d9c2e-1111-4222-8333-944455566677;"
        "LastMessageRcptCount=12;"
    )
    reason = parse_reason(raw)
    assert (reason.kind, reason.limit_type.value) == ("EmailSendingLimitExceeded", "External")
    assert (reason.internal_recipients, reason.external_recipients) == (3, 812)
    assert reason.raw == raw
    other = parse_reason("SomeOtherBlock;Opaque Key=1;")
    assert (other.kind, other.limit_type.value, other.external_recipients) == (
        "SomeOtherBlock",
        "Unknown",
        None,
    )


async def test_the_simulated_list_has_the_real_shape(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    rows = await exchange_client(sim, http).invoke("Get-BlockedSenderAddress")
    assert {
        "SenderAddress",
        "Reason",
        "CreatedDatetime",
        "ChangedDatetime",
        "TemporaryBlock",
    } <= set(rows[0])
    assert rows[0]["Reason"].startswith("EmailSendingLimitExceeded;")
    assert rows[0]["Reason"].endswith(";")


async def test_inbox_rules_need_the_mailbox_as_anchor(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    body = {"CmdletInput": {"CmdletName": "Get-InboxRule", "Parameters": {"Mailbox": JOOST}}}
    headers = await bearer(sim, "exchange")
    system = f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{sim.state.tenant_id}"
    wrong = await http.post(
        _invoke_url(sim), json=body, headers=headers | {"X-AnchorMailbox": system}
    )
    assert "CmdletProxyNotAvailableException" in wrong.json()["error"]["details"][0]["message"]
    right = await http.post(
        _invoke_url(sim), json=body, headers=headers | {"X-AnchorMailbox": f"UPN:{JOOST}"}
    )
    assert right.status_code == 200
    assert len(await exchange_client(sim, http).inbox_rules(JOOST)) >= 0  # the client anchors


async def test_identity_protection_allows_one_call_a_second_and_says_not_when_to_retry(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    user = sim.state.user(JOOST)
    assert user is not None
    url = f"{sim.graph_url}/v1.0/identityProtection/riskyUsers/{user.id}"
    headers = await bearer(sim, "graph")
    first, second = [await http.get(url, headers=headers) for _ in range(2)]
    assert first.status_code in (200, 404)
    assert second.status_code == 429
    assert "Retry-After" not in second.headers


async def test_reports_allow_five_calls_in_ten_seconds(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    user = sim.state.user(JOOST)
    assert user is not None
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"$filter=userId eq '{user.id}' and createdDateTime ge {since}"
    url = f"{sim.graph_url}/v1.0/auditLogs/signIns?{query}"
    headers = await bearer(sim, "graph")
    statuses = [(await http.get(url, headers=headers)) for _ in range(6)]
    assert [r.status_code for r in statuses] == [200] * 5 + [429]
    assert 1 <= int(statuses[-1].headers["Retry-After"]) <= 10


async def test_budgets_keep_every_window_and_say_busy_rather_than_wait_too_long() -> None:
    clock = [1000.0]
    budgets = LocalBudgets(clock=lambda: clock[0])
    waits = [await budgets.reserve(REPORTS, max_wait=30) for _ in range(11)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:10] == [pytest.approx(10.75)] * 5  # 10 s, kept 5% and 0.25 s longer
    assert waits[10] == pytest.approx(21.5)
    assert await budgets.reserve(REPORTS, max_wait=5) is None  # nothing reserved
    one = Budget("one", 1, 1.0)
    assert [await budgets.reserve(one) for _ in range(3)] == pytest.approx([0.0, 1.3, 2.6])


async def test_a_late_call_still_arrives_a_whole_window_after_the_one_before() -> None:
    """A call can leave long after its slot (a busy loop, a connection to open): the Pacer
    holds each turn until `seconds` after the answer, so arrivals stay a window apart."""
    pacer = Pacer()
    budget = Budget("pace", 2, 0.3)
    arrivals: list[float] = []

    async def call(late: float) -> None:
        async with pacer.turn(budget):
            await asyncio.sleep(late)  # the send is delayed, then the server counts it
            arrivals.append(time.monotonic())

    await asyncio.gather(*(call(0.2 if i % 3 == 0 else 0.0) for i in range(9)))
    assert len(arrivals) == 9
    assert _max_in_any_window(arrivals, budget.seconds) <= budget.calls


async def test_a_call_that_would_wait_too_long_is_busy_and_its_section_reads_again(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    budgets = LocalBudgets()
    while await budgets.reserve(REPORTS) is not None:
        pass  # the reports budget is taken for the next 20 seconds
    graph = graph_client(sim, http, budgets=budgets)
    user = sim.state.user(JOOST)
    assert user is not None
    with pytest.raises(TenantBusy):
        await graph.signins.sign_ins(user.id, since=datetime.now(UTC) - timedelta(days=1))
    from bot.cases.sections import Subject, read_section
    from bot.tenant.port import M365Tenant

    section = await read_section(
        sign_ins.NAME,
        Subject(JOOST, user.id, frozenset({"contoso.onmicrosoft.com"})),
        M365Tenant(exchange_client(sim, http), graph),
        datetime.now(UTC),
    )
    assert section.status is SectionStatus.UNREADABLE
    assert section.problem is not None
    assert section.problem.kind is ProblemKind.BUSY
    assert section.retryable


def _max_in_any_window(times: Iterable[float], seconds: float) -> int:
    ordered = sorted(times)
    return max((sum(1 for u in ordered if t <= u < t + seconds) for t in ordered), default=0)


async def test_ten_cases_opened_at_once_stay_within_microsofts_budgets(
    start_bot: Any, recorder: Recorder
) -> None:
    bot: BotUnderTest = await start_bot(DEMO_SCENARIO="compromised", EVIDENCE_RETRY_SECONDS="1")
    state = bot.sim.state
    users = [u.upn for u in state.users if u.upn != JOOST and "svc-" not in u.upn][:10]
    for upn in users:
        if state.block(upn) is None:
            state.restrict(upn, "ExceedingLimitType=External")
    started = time.monotonic()
    answers = await asyncio.gather(
        *[bot.post(invoke("open_case", {"upn": u}, service_url=recorder.url)) for u in users]
    )
    assert {a.status_code for a in answers} == {200}

    async def investigated() -> bool:
        cases = [await bot.runtime.cases.open_for(u) for u in users]
        return all(
            c is not None
            and c.evidence is not None
            and len(c.evidence.sections) == len(NAMES)
            and all(s.status is not SectionStatus.UNREADABLE for s in c.evidence.sections)
            for c in cases
        )

    while not await investigated():
        assert time.monotonic() - started < 120, "the ten investigations did not finish"
        await asyncio.sleep(0.2)
    requests = [r for r in bot.sim.requests if r.service == "graph"]
    assert [r for r in requests if r.status == 429] == []  # never over Microsoft's rate
    risky = [r.at for r in requests if "/identityProtection/" in r.path]
    reports = [r.at for r in requests if "/auditLogs/" in r.path]
    methods = [r.at for r in requests if "/authentication/" in r.path]
    assert len(risky) >= 10
    assert len(reports) >= 10
    assert len(methods) >= 10
    assert _max_in_any_window(risky, 1.0) == 1
    # Sign-ins, directory audits and methods count against one budget (auditLogRoot and
    # authenticationMethod are resources of the same limit).
    assert _max_in_any_window(sorted(reports + methods), 10.0) <= 5
