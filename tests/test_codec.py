"""The codec (bot/store/codec.py): every stored shape reads back as what was written, for every
kind of finding of every registered section, step detail, problem, undo record and the
containment policy's record; and
migration 0011 turns the rows earlier versions wrote into them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cases.contained import Containment, Hold, InFlight, Mode, Work
from bot.cases.evidence import Evidence, Section, SectionStatus, Why
from bot.cases.outcomes import Note, StepDetail, StepName
from bot.cases.sections import NAMES, SECTIONS, spec
from bot.cases.sections.mfa import MethodFinding
from bot.cases.steps.block_sign_in import SignInUndo
from bot.cases.steps.disable_rules import RulesUndo
from bot.cases.steps.remove_forwarding import ForwardingUndo
from bot.cases.steps.remove_roles import RoleRef, RolesUndo
from bot.cases.steps.review_mfa import MethodRef, MethodsUndo
from bot.cases.strength import Sign, Verdict
from bot.errors import Problem, ProblemKind
from bot.store import codec

times = st.datetimes(timezones=st.just(UTC))
problems = st.builds(Problem, kind=st.sampled_from(ProblemKind))


def _finding(kind: type) -> st.SearchStrategy[Any]:
    if kind is MethodFinding:
        return st.builds(MethodFinding, created=st.none() | times)
    return st.from_type(kind)


def _sections() -> st.SearchStrategy[Section]:
    def of(name: str) -> st.SearchStrategy[Section]:
        kinds = st.one_of(*[_finding(k) for k in spec(name).kinds])  # type: ignore[arg-type]
        read = st.builds(
            Section, st.just(name), st.just(SectionStatus.READ), st.tuples(kinds, kinds)
        )
        unread = st.builds(
            Section,
            st.just(name),
            st.sampled_from([SectionStatus.UNREADABLE, SectionStatus.NOT_APPLICABLE]),
            st.just(()),
            problems,
        )
        return read | unread

    return st.one_of(*[of(n) for n in NAMES])


def _stored(value: Any) -> Any:
    """What the database gives back for a JSON column."""
    return json.loads(json.dumps(value))


@settings(max_examples=60, deadline=None)
@given(at=times, sections=st.lists(_sections(), max_size=4), failure=st.none() | problems)
def test_evidence_reads_back_as_written(
    at: datetime, sections: list[Section], failure: Problem | None
) -> None:
    unique = tuple({s.name: s for s in sections}.values())
    evidence = Evidence(at, unique, failure)
    assert codec.evidence_from_json(_stored(codec.evidence_json(evidence))) == evidence


@settings(max_examples=60, deadline=None)
@given(
    detail=st.builds(
        StepDetail,
        note=st.sampled_from(Note),
        names=st.lists(st.text(), max_size=3).map(tuple),
        problem=st.none() | problems,
    )
)
def test_a_step_detail_reads_back_as_written(detail: StepDetail) -> None:
    assert codec.detail_from_json(codec.detail_json(detail)) == detail


@settings(max_examples=60, deadline=None)
@given(
    undo=st.one_of(
        st.from_type(ForwardingUndo),
        st.from_type(RulesUndo),
        st.just(SignInUndo()),
        st.builds(RolesUndo, st.lists(st.from_type(RoleRef), max_size=3).map(tuple)),
        st.builds(MethodsUndo, st.lists(st.from_type(MethodRef), max_size=3).map(tuple)),
    )
)
def test_an_undo_record_reads_back_as_written(undo: Any) -> None:
    assert codec.undo_from_json(_stored(codec.undo_json(undo))) == undo


@settings(max_examples=60, deadline=None)
@given(
    record=st.builds(
        Containment,
        mode=st.sampled_from(Mode),
        verdict=st.sampled_from(Verdict),
        decided_at=times,
        signs=st.lists(st.sampled_from(Sign), max_size=6, unique=True).map(tuple),
        unread=st.lists(st.sampled_from(NAMES), max_size=3, unique=True).map(tuple),
        hold=st.none() | st.sampled_from(Hold),
        steps=st.lists(st.sampled_from(StepName), max_size=4, unique=True).map(tuple),
        in_flight=st.none()
        | st.builds(InFlight, work=st.sampled_from(Work), runner=st.text(max_size=20), since=times),
        contained_at=st.none() | times,
        undone_at=st.none() | times,
        given_back_at=st.none() | times,
        problem=st.none() | problems,
    )
)
def test_a_containment_record_reads_back_as_written(record: Containment) -> None:
    assert codec.containment_from_json(_stored(codec.containment_json(record))) == record


@settings(max_examples=60, deadline=None)
@given(problem=problems)
def test_a_problem_reads_back_as_written(problem: Problem) -> None:
    assert codec.problem_from_json(_stored(codec.problem_json(problem))) == problem


def test_every_registered_kind_of_finding_is_told_apart_by_its_kind() -> None:
    kinds = [k.__dataclass_fields__["kind"].default for s in SECTIONS for k in s.kinds]
    assert len(kinds) == len(set(kinds))


def test_what_is_stored_is_domain_codes_never_catalogue_keys() -> None:
    detail = StepDetail(Note.PASSWORD_RESET, problem=Problem(ProblemKind.THROTTLED, "Graph"))
    stored = json.loads(codec.detail_json(detail))
    assert stored["note"] == "password_reset"
    assert stored["problem"]["kind"] == "throttled"
    assert "step." not in json.dumps(stored)
    assert "error." not in json.dumps(stored)


def test_what_this_version_cannot_read_reads_as_absent() -> None:
    assert codec.detail_from_json('{"note": "from_a_newer_version"}') is None
    assert codec.undo_from_json({"kind": "from_a_newer_version"}) is None
    assert codec.evidence_from_json({"at": "not a time", "sections": []}) is None
    unknown = {"at": "2026-12-07T03:10:00+00:00", "failure": None, "sections": [{"name": "x"}]}
    assert codec.evidence_from_json(unknown) == Evidence(datetime(2026, 12, 7, 3, 10, tzinfo=UTC))


# ---- migration 0011 ---------------------------------------------------------------------------

OLD_EVIDENCE = {
    "at": "2026-12-01T08:00:00+00:00",
    "sections": {
        "rules": {
            "status": "read",
            "items": [
                {
                    "why": ["forwards_external", "hidden", "no_longer_a_reason"],
                    "text": "..",
                    "id": "r1",
                    "enabled": True,
                    "hidden": True,
                    "recipients": ["x@evil.example"],
                    "folder": None,
                    "words": ["invoice"],
                }
            ],
        },
        "forwarding": {"status": "ok", "items": [{"why": [], "text": "a@b.example"}]},
        "mfa": {
            "status": "read",
            "items": [
                {
                    "why": ["recent_method"],
                    "text": "+1 555",
                    "id": "m1",
                    "kind": "phone",
                    "created": "2026-11-30T08:00:00+00:00",
                }
            ],
        },
        "sign_ins": {
            "status": "read",
            "items": [
                {"kind": "travel", "why": ["impossible_travel"], "text": "Oslo → Lagos"},
                {"kind": "failures", "why": [], "text": "2"},
            ],
        },
        "risk": {"status": "unavailable", "reason": "licence", "missing": "Entra ID P2"},
        "delegates": {"status": "error", "reason": "TenantThrottled"},
        "sent": {"status": "read", "items": [{"why": [], "text": "12", "recipients": 3}]},
        "consents": {
            "status": "unreadable",
            "problem": {"key": "error.forbidden", "values": {"missing": "Directory.Read.All"}},
        },
    },
}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_migration_0011_converts_what_earlier_versions_stored(
    kind: str, tmp_path: Any
) -> None:
    from bot.cases.sections.forwarding import ForwardingFinding
    from bot.cases.sections.rules import RuleFinding
    from bot.cases.sections.sign_ins import FailuresFinding, TravelFinding
    from bot.store.cases import CaseStore
    from bot.store.db import migrate, open_engine
    from tests.conftest import _drop_schema, _postgres_schema

    if kind == "sqlite":
        db, schema = open_engine(f"sqlite+aiosqlite:///{tmp_path}/old.db"), None
    else:
        db, schema = await _postgres_schema()
    try:
        await migrate(db, "0010")
        now = datetime(2026, 12, 1, 8, tzinfo=UTC)
        stamp = now.replace(tzinfo=None) if kind == "sqlite" else now
        case_id = "8f1d9c8e-0000-4000-8000-0000000000bb"
        async with db.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO cases (id, upn, state, version, reason, opened_at, updated_at,"
                    " evidence, release_problem) VALUES (:id, 'j@contoso.example', 'ready', 4,"
                    " '', :at, :at, :evidence, :problem)"
                ),
                {
                    "id": case_id,
                    "at": stamp,
                    "evidence": json.dumps(OLD_EVIDENCE),
                    "problem": json.dumps({"key": "error.throttled", "values": {"service": "EXO"}}),
                },
            )
            old_steps = [
                ("reset_password", {"note": "step.reset_password.done"}, None),
                ("revoke_sessions", {"key": "error.unavailable", "values": {}}, None),
                ("disable_rules", {"key": "step.disable_rules.done", "values": {"names": "r"}},
                 {"rules": ["r1"]}),
                ("remove_forwarding", {"note": "step.remove_forwarding.done", "old": "a@b"},
                 {"ForwardingSmtpAddress": "smtp:a@b", "DeliverToMailboxAndForward": True}),
                ("remove_roles", {"note": "step.remove_roles.done"},
                 {"roles": [{"id": "role", "name": "Global Administrator", "scope": "/"}]}),
                ("review_mfa", {"note": "step.review_mfa.removed"},
                 {"removed": [{"kind": "phone", "detail": "+1 555"}]}),
                ("block_sign_in", {"note": "step.block_sign_in.done"}, {"accountEnabled": True}),
            ]  # fmt: skip
            for step, detail, undo in old_steps:
                await conn.execute(
                    sa.text(
                        "INSERT INTO case_steps (case_id, step, status, detail, undo, attempt)"
                        " VALUES (:case, :step, 'done', :detail, :undo, 1)"
                    ),
                    {
                        "case": case_id,
                        "step": step,
                        "detail": json.dumps(detail),
                        "undo": None if undo is None else json.dumps(undo),
                    },
                )
        await migrate(db)
        case = await CaseStore(db).get(case_id)
        assert case is not None
        assert case.release_problem == Problem(ProblemKind.THROTTLED, "EXO")
        evidence = case.evidence
        assert evidence is not None
        by_name = {s.name: s for s in evidence.sections}
        assert list(by_name) == [
            "rules", "forwarding", "delegates", "mfa", "risk", "sign_ins", "consents", "sent"
        ]  # fmt: skip
        rule = by_name["rules"].findings[0]
        assert rule == RuleFinding(
            "r1",
            "..",
            True,
            True,
            ("x@evil.example",),
            None,
            ("invoice",),
            (Why.FORWARDS_EXTERNAL, Why.HIDDEN),
        )
        assert by_name["forwarding"].findings == (ForwardingFinding("a@b.example"),)
        assert by_name["sign_ins"].findings == (
            TravelFinding("Oslo", "Lagos", 0, (Why.IMPOSSIBLE_TRAVEL,)),
            FailuresFinding(2),
        )
        method = by_name["mfa"].findings[0]
        assert isinstance(method, MethodFinding)
        assert (method.method, method.label, method.created) == (
            "phone",
            "+1 555",
            datetime(2026, 11, 30, 8, tzinfo=UTC),
        )
        assert by_name["risk"].status is SectionStatus.NOT_APPLICABLE
        assert by_name["risk"].problem == Problem(ProblemKind.NOT_AVAILABLE, missing="Entra ID P2")
        assert by_name["delegates"].problem == Problem(ProblemKind.THROTTLED)
        assert by_name["consents"].problem == Problem(
            ProblemKind.FORBIDDEN, missing="Directory.Read.All"
        )
        assert by_name["sent"].findings[0].words().key == "fact.sent"
        steps = {name: s for name, s in case.steps.items()}
        details = {name.value: s.detail for name, s in steps.items()}
        assert details["reset_password"] == StepDetail(Note.PASSWORD_RESET)
        assert details["revoke_sessions"] == StepDetail.failed(Problem(ProblemKind.UNAVAILABLE))
        assert details["disable_rules"] == StepDetail(Note.RULES_DISABLED, names=("r",))
        undos = {name.value: s.undo for name, s in steps.items()}
        assert undos["disable_rules"] == RulesUndo(("r1",))
        assert undos["remove_forwarding"] == ForwardingUndo("smtp:a@b", None, True)
        assert undos["remove_roles"] == RolesUndo((RoleRef("role", "Global Administrator", "/"),))
        assert undos["review_mfa"] == MethodsUndo((MethodRef("phone", "+1 555"),))
        assert undos["block_sign_in"] == SignInUndo()
    finally:
        await db.dispose()
        if schema:
            await _drop_schema(schema)


def test_a_newer_versions_reason_is_left_out_and_an_unreadable_section_is_read_again() -> None:
    stored = {
        "at": "2026-12-07T03:10:00+00:00",
        "failure": None,
        "sections": [
            {
                "name": "risk",
                "status": "read",
                "problem": None,
                "findings": [
                    {"kind": "risk", "level": "high", "state": "atRisk", "why": ["risky", "new"]}
                ],
            },
            {"name": "roles", "status": "read", "problem": None, "findings": [{"kind": "?"}]},
        ],
    }
    evidence = codec.evidence_from_json(stored)
    assert evidence is not None
    risk, roles = evidence.sections
    assert risk.findings[0].why == (Why.RISKY,)
    assert roles.status is SectionStatus.UNREADABLE  # not "no roles": read again by itself
    assert roles.retryable
