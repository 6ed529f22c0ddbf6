"""Domain objects ⇄ the JSON the database keeps: evidence, step details, undo records, problems
and conversation addresses. This is the only place that knows their stored shape.

Parsing is tolerant: the shapes written by earlier versions (sections keyed `ok` /
`unavailable` / `error`, step details as `{"key", "values"}`) read back as the same objects,
and anything unrecognisable reads as absent rather than failing a card.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.cases.evidence import (
    ConsentFinding,
    CountriesFinding,
    DelegateFinding,
    Evidence,
    FailuresFinding,
    Finding,
    ForwardingFinding,
    MethodFinding,
    RiskFinding,
    RoleFinding,
    RuleFinding,
    Section,
    SectionName,
    SectionStatus,
    SentFinding,
    TravelFinding,
    Why,
)
from bot.cases.model import (
    ForwardingUndo,
    MethodRef,
    MethodsUndo,
    Note,
    RoleRef,
    RolesUndo,
    RulesUndo,
    SignInUndo,
    StepDetail,
    Undo,
)
from bot.core.people import Address
from bot.errors import Problem, ProblemKind

log = logging.getLogger(__name__)

Json = dict[str, Any]  # the stored form, never seen outside this module and the store


# ---- problems --------------------------------------------------------------------------------


def problem_json(problem: Problem) -> Json:
    """A problem as `{"key": "error.<kind>", "values": {...}}`."""
    values = {
        "service": problem.service,
        "missing": problem.missing,
        "message": problem.message,
        "reference": problem.reference,
    }
    return {"key": problem.key, "values": {k: v for k, v in values.items() if v}}


def problem_from_json(raw: Any) -> Problem | None:
    """The problem stored by `problem_json` (None if it is not one)."""
    if not isinstance(raw, dict) or not str(raw.get("key", "")).startswith("error."):
        return None
    try:
        kind = ProblemKind(str(raw["key"]).removeprefix("error."))
    except ValueError:
        kind = ProblemKind.FAILED
    values: Json = raw["values"] if isinstance(raw.get("values"), dict) else {}
    return Problem(
        kind,
        service=_str(values.get("service")),
        missing=_str(values.get("missing")),
        message=_str(values.get("message")),
        reference=_str(values.get("reference")),
    )


# ---- evidence -------------------------------------------------------------------------------


def _why(finding: Finding) -> list[str]:
    return [w.value for w in finding.why]


def _finding_json(finding: Finding) -> Json:
    base: Json = {"why": _why(finding)}
    match finding:
        case RuleFinding():
            return base | {
                "text": finding.name,
                "id": finding.rule_id,
                "enabled": finding.enabled,
                "hidden": finding.hidden,
                "recipients": list(finding.recipients),
                "folder": finding.folder,
                "words": list(finding.words),
            }
        case ForwardingFinding():
            return base | {
                "text": finding.address,
                "keep_copy": finding.keep_copy,
                "smtp": finding.smtp,
            }
        case DelegateFinding():
            return base | {"text": finding.user, "rights": finding.rights}
        case MethodFinding():
            created = finding.created.isoformat() if finding.created else None
            return base | {
                "text": finding.label,
                "id": finding.method_id,
                "kind": finding.kind,
                "created": created,
            }
        case RoleFinding():
            return base | {
                "text": finding.role_name,
                "id": finding.assignment_id,
                "role_id": finding.role_id,
                "scope": finding.scope,
            }
        case RiskFinding():
            return base | {"text": finding.level, "state": finding.state}
        case CountriesFinding():
            return base | {
                "kind": "countries",
                "text": ", ".join(finding.countries),
                "countries": list(finding.countries),
                "count": finding.sign_ins,
                "failures": finding.failures,
                "ips": list(finding.ips),
            }
        case TravelFinding():
            return base | {
                "kind": "travel",
                "text": f"{finding.origin} → {finding.destination}",
                "origin": finding.origin,
                "destination": finding.destination,
                "minutes": finding.minutes,
            }
        case FailuresFinding():
            return base | {"kind": "failures", "text": str(finding.failures)}
        case ConsentFinding():
            return base | {
                "text": finding.app,
                "scope": finding.scope,
                "publisher": finding.publisher,
            }
        case SentFinding():
            return base | {
                "text": str(finding.messages),
                "recipients": finding.recipients,
                "external": finding.external,
            }


def evidence_json(evidence: Evidence) -> Json:
    """Evidence in its stored form."""
    data: Json = {"at": evidence.at.isoformat(), "sections": {}}
    for section in evidence.sections:
        stored: Json = {
            "status": section.status.value,
            "items": [_finding_json(f) for f in section.findings],
        }
        if section.problem is not None:
            stored["problem"] = problem_json(section.problem)
        data["sections"][section.name.value] = stored
    if evidence.failure is not None:
        data["error"] = problem_json(evidence.failure)
    return data


def evidence_from_json(raw: Any) -> Evidence | None:
    """Evidence as stored (None when there is none or it cannot be read)."""
    if not isinstance(raw, dict):
        return None
    at = _time(raw.get("at"))
    if at is None:
        return None
    sections: list[Section] = []
    stored: Json = raw["sections"] if isinstance(raw.get("sections"), dict) else {}
    for name in SectionName:
        if isinstance(stored.get(name.value), dict):
            sections.append(_section(name, stored[name.value]))
    return Evidence(at, tuple(sections), problem_from_json(raw.get("error")))


_LEGACY_ERRORS = {
    "TenantThrottled": ProblemKind.THROTTLED,
    "TenantUnavailable": ProblemKind.UNAVAILABLE,
    "DeadlineExceeded": ProblemKind.DEADLINE,
    "TenantNotFound": ProblemKind.NOT_FOUND,
}


def _section(name: SectionName, raw: Json) -> Section:
    status = str(raw.get("status", ""))
    problem = problem_from_json(raw.get("problem"))
    if status in ("read", "ok"):
        items: list[Any] = raw["items"] if isinstance(raw.get("items"), list) else []
        findings = [_finding(name, item) for item in items if isinstance(item, dict)]
        return Section(name, SectionStatus.READ, tuple(f for f in findings if f is not None))
    if status == SectionStatus.NOT_APPLICABLE.value or (
        status == "unavailable" and raw.get("reason") == "licence"
    ):
        problem = problem or Problem(ProblemKind.NOT_AVAILABLE, missing=_str(raw.get("missing")))
        return Section(name, SectionStatus.NOT_APPLICABLE, problem=problem)
    if problem is None and status == "unavailable":
        problem = Problem(ProblemKind.FORBIDDEN, missing=_str(raw.get("missing")))
    if problem is None:
        kind = _LEGACY_ERRORS.get(_str(raw.get("reason")), ProblemKind.FAILED)
        problem = Problem(kind)
    return Section(name, SectionStatus.UNREADABLE, problem=problem)


def _whys(raw: Json) -> tuple[Why, ...]:
    found = []
    for code in raw.get("why") or []:
        try:
            found.append(Why(str(code)))
        except ValueError:
            log.warning("unknown reason in stored evidence", extra={"why": str(code)[:64]})
    return tuple(found)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _rule(raw: Json, why: tuple[Why, ...]) -> Finding:
    return RuleFinding(
        _str(raw.get("id")),
        _str(raw.get("text")),
        bool(raw.get("enabled", True)),
        bool(raw.get("hidden")) or Why.HIDDEN in why,
        _strs(raw.get("recipients")),
        raw.get("folder") if isinstance(raw.get("folder"), str) else None,
        _strs(raw.get("words")),
        why,
    )


def _sign_in(raw: Json, why: tuple[Why, ...]) -> Finding | None:
    kind, text = raw.get("kind"), _str(raw.get("text"))
    if kind == "countries":
        countries = _strs(raw.get("countries")) or tuple(c for c in text.split(", ") if c)
        return CountriesFinding(
            countries, _int(raw.get("count")), _int(raw.get("failures")), _strs(raw.get("ips")), why
        )
    if kind == "travel":
        origin, _, destination = text.partition(" → ")
        return TravelFinding(
            _str(raw.get("origin")) or origin,
            _str(raw.get("destination")) or destination,
            _int(raw.get("minutes")),
            why,
        )
    if kind == "failures":
        return FailuresFinding(_int(text), why)
    return None


_FINDINGS: dict[SectionName, Callable[[Json, tuple[Why, ...]], Finding | None]] = {
    SectionName.RULES: _rule,
    SectionName.FORWARDING: lambda r, w: ForwardingFinding(
        _str(r.get("text")), bool(r.get("keep_copy")), w, bool(r.get("smtp", True))
    ),
    SectionName.DELEGATES: lambda r, w: DelegateFinding(
        _str(r.get("text")), _str(r.get("rights")), w
    ),
    SectionName.MFA: lambda r, w: MethodFinding(
        _str(r.get("id")), _str(r.get("kind")), _str(r.get("text")), _time(r.get("created")), w
    ),
    SectionName.ROLES: lambda r, w: RoleFinding(
        _str(r.get("id")),
        _str(r.get("text")),
        w,
        _str(r.get("role_id")),
        _str(r.get("scope")) or "/",
    ),
    SectionName.RISK: lambda r, w: RiskFinding(_str(r.get("text")), _str(r.get("state")), w),
    SectionName.SIGN_INS: _sign_in,
    SectionName.CONSENTS: lambda r, w: ConsentFinding(
        _str(r.get("text")),
        _str(r.get("scope")),
        r.get("publisher") if isinstance(r.get("publisher"), str) else None,
        w,
    ),
    SectionName.SENT: lambda r, w: SentFinding(
        _int(r.get("text")), _int(r.get("recipients")), _int(r.get("external")), w
    ),
}


def _finding(name: SectionName, raw: Json) -> Finding | None:
    return _FINDINGS[name](raw, _whys(raw))


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# ---- step details and undo records ----------------------------------------------------------


def detail_json(detail: StepDetail) -> str:
    """A step detail as the text the `case_steps.detail` column keeps."""
    data: Json = {"note": detail.note.value}
    if detail.names:
        data["names"] = list(detail.names)
    if detail.old:
        data["old"] = detail.old
    if detail.reason:
        data["reason"] = detail.reason
    if detail.problem is not None:
        data["problem"] = problem_json(detail.problem)
    return json.dumps(data, ensure_ascii=False)


def detail_from_json(text: str | None) -> StepDetail | None:
    """The stored step detail (None when there is none or it cannot be read)."""
    try:
        raw = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    if "note" in raw:
        return _detail(str(raw["note"]), raw, problem_from_json(raw.get("problem")))
    key, values = str(raw.get("key", "")), raw.get("values")
    values = values if isinstance(values, dict) else {}
    if key.startswith("error."):  # earlier versions stored a failure as its error's key
        return StepDetail.failed(problem_from_json(raw) or Problem(ProblemKind.FAILED))
    return _detail(key, values, None)


def _detail(note: str, raw: Json, problem: Problem | None) -> StepDetail | None:
    try:
        kind = Note(note)
    except ValueError:
        return None
    names = raw.get("names")
    return StepDetail(
        kind,
        names=(names,) if isinstance(names, str) else _strs(names),
        old=_str(raw.get("old")),
        reason=_str(raw.get("reason")),
        problem=problem,
    )


def undo_json(undo: Undo | None) -> Json | None:
    """How to undo a step, as stored."""
    match undo:
        case ForwardingUndo():
            return {
                "ForwardingSmtpAddress": undo.smtp_address,
                "ForwardingAddress": undo.forwarding_address,
                "DeliverToMailboxAndForward": undo.keep_copy,
            }
        case RulesUndo():
            return {"rules": list(undo.rule_ids)}
        case SignInUndo():
            return {"accountEnabled": True}
        case RolesUndo():
            return {
                "roles": [{"id": r.role_id, "name": r.name, "scope": r.scope} for r in undo.roles]
            }
        case MethodsUndo():
            return {"removed": [{"kind": m.kind, "detail": m.label} for m in undo.removed]}
    return None


def undo_from_json(raw: Any) -> Undo | None:
    """The stored undo record (None when there is none)."""
    if not isinstance(raw, dict):
        return None
    if "ForwardingSmtpAddress" in raw or "ForwardingAddress" in raw:
        return ForwardingUndo(
            raw.get("ForwardingSmtpAddress") or None,
            raw.get("ForwardingAddress") or None,
            bool(raw.get("DeliverToMailboxAndForward")),
        )
    if "rules" in raw:
        return RulesUndo(_strs(raw["rules"]))
    if "accountEnabled" in raw:
        return SignInUndo()
    if "roles" in raw:
        roles = [r for r in raw["roles"] or [] if isinstance(r, dict)]
        return RolesUndo(
            tuple(
                RoleRef(_str(r.get("id")), _str(r.get("name")), _str(r.get("scope"))) for r in roles
            )
        )
    if "removed" in raw:
        methods = [m for m in raw["removed"] or [] if isinstance(m, dict)]
        return MethodsUndo(
            tuple(MethodRef(_str(m.get("kind")), _str(m.get("detail"))) for m in methods)
        )
    return None


# ---- conversation addresses -----------------------------------------------------------------


def address_json(address: Address) -> Json:
    """An address in the shape of a Bot Framework conversation reference (what earlier
    versions stored, and what Microsoft's samples persist)."""
    conversation: Json = {
        "id": address.conversation_id,
        "tenantId": address.tenant_id or None,
        "conversationType": address.conversation_type or None,
        "isGroup": address.is_group,
        "name": address.conversation_name or None,
    }
    return {
        "channelId": address.channel_id,
        "serviceUrl": address.service_url,
        "locale": address.locale,
        "bot": {"id": address.bot_id, "name": address.bot_name},
        "user": {
            "id": address.user_id,
            "name": address.user_name,
            **({"aadObjectId": address.user_aad_id} if address.user_aad_id else {}),
        },
        "conversation": {k: v for k, v in conversation.items() if v is not None},
    }


def address_from_json(raw: Any) -> Address:
    """The address stored by `address_json` (missing parts empty)."""
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    conversation = _mapping(data.get("conversation"))
    bot, user = _mapping(data.get("bot")), _mapping(data.get("user"))
    return Address(
        channel_id=_str(data.get("channelId")),
        service_url=_str(data.get("serviceUrl")),
        conversation_id=_str(conversation.get("id")),
        conversation_type=_str(conversation.get("conversationType")),
        is_group=bool(conversation.get("isGroup")),
        tenant_id=_str(conversation.get("tenantId")),
        conversation_name=_str(conversation.get("name")),
        bot_id=_str(bot.get("id")),
        bot_name=_str(bot.get("name")),
        user_id=_str(user.get("id")),
        user_name=_str(user.get("name")),
        user_aad_id=_str(user.get("aadObjectId")),
        locale=data.get("locale") if isinstance(data.get("locale"), str) else None,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
