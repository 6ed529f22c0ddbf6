"""Domain objects ⇄ the JSON the database keeps: evidence, step details, undo records, problems
and conversation addresses. This is the only place that knows their stored shape.

The shapes are declared by the domain types themselves and read and written by pydantic
`TypeAdapter`s: a finding, an undo record and a problem are stored as their fields, with a
`kind` where several types share a place (each section's findings, the undo records). What is
stored is domain codes (`Note`, `ProblemKind`, `Why`), never catalogue keys: the cards own the
words. Migration 0011 converted the rows of earlier versions; a stored value this version cannot
read (a newer version's) reads as absent, logged, instead of failing a card.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Annotated, Any, TypeVar, Union

from pydantic import Field, TypeAdapter, ValidationError

from bot.cases.contained import Containment
from bot.cases.evidence import Evidence, Finding, Section, SectionName, SectionStatus, Why
from bot.cases.outcomes import StepDetail, Undo
from bot.cases.sections import NAMES, spec
from bot.cases.steps import UNDO_KINDS
from bot.cases.waves import BulkAction
from bot.core.people import Address
from bot.errors import Problem, ProblemKind

log = logging.getLogger(__name__)

T = TypeVar("T")
Json = dict[str, Any]  # the stored form, never seen outside this module and the store


def _tagged(kinds: tuple[type, ...]) -> Any:
    """One of `kinds` (registered by the section and step modules), told apart by `kind`."""
    if len(kinds) == 1:
        return kinds[0]
    return Annotated[Union[kinds], Field(discriminator="kind")]  # noqa: UP007 - built at run time


_PROBLEM: TypeAdapter[Problem | None] = TypeAdapter(Problem | None)
_DETAIL: TypeAdapter[StepDetail] = TypeAdapter(StepDetail)
_UNDO: TypeAdapter[Any] = TypeAdapter(_tagged(UNDO_KINDS))
_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_CONTAINMENT: TypeAdapter[Containment] = TypeAdapter(Containment)
_BULK: TypeAdapter[BulkAction] = TypeAdapter(BulkAction)
_WHYS = frozenset(w.value for w in Why)


@cache
def _findings(name: SectionName) -> TypeAdapter[tuple[Any, ...]]:
    """The stored form of one section's findings: its kinds, told apart by `kind`."""
    stored: Any = tuple[_tagged(spec(name).kinds), ...]  # type: ignore[misc]
    return TypeAdapter(stored)


# ---- problems --------------------------------------------------------------------------------


def problem_json(problem: Problem | None) -> Json | None:
    """A problem as stored (its kind and facts)."""
    stored: Json | None = _PROBLEM.dump_python(problem, mode="json")
    return stored


def problem_from_json(raw: Any) -> Problem | None:
    """The problem stored by `problem_json` (None when there is none or it cannot be read)."""
    return _read(_PROBLEM, raw, "problem")


# ---- evidence -------------------------------------------------------------------------------


def _section_json(section: Section) -> Json:
    return {
        "name": section.name,
        "status": section.status.value,
        "problem": problem_json(section.problem),
        "findings": _findings(section.name).dump_python(section.findings, mode="json"),
    }


def evidence_json(evidence: Evidence) -> Json:
    """Evidence in its stored form."""
    return {
        "at": evidence.at.isoformat(),
        "failure": problem_json(evidence.failure),
        "sections": [_section_json(s) for s in evidence.sections],
    }


def _known_whys(finding: Any) -> Any:
    """A stored finding with the reasons this version does not know left out (a newer
    version's, during a rolling update), as earlier versions read them."""
    if isinstance(finding, dict) and isinstance(finding.get("why"), list):
        known = [w for w in finding["why"] if w in _WHYS]
        if len(known) != len(finding["why"]):
            log.warning("unknown reasons in stored evidence left out")
        return {**finding, "why": known}
    return finding


def _section(raw: Any) -> Section | None:
    if not isinstance(raw, dict) or raw.get("name") not in NAMES:
        return None  # a section this version does not have
    name = SectionName(str(raw["name"]))
    try:
        stored = [_known_whys(f) for f in raw.get("findings") or []]
        findings: tuple[Finding, ...] = _findings(name).validate_python(stored)
        return Section(
            name,
            SectionStatus(str(raw.get("status"))),
            findings,
            _PROBLEM.validate_python(raw.get("problem")),
        )
    except (ValidationError, ValueError, TypeError) as err:
        # Not "nothing found": unreadable, and read again (BUSY passes by itself).
        log.warning("a stored evidence section could not be read", extra={"error": str(err)[:300]})
        problem = Problem(ProblemKind.BUSY, "BlockWatch")
        return Section(name, SectionStatus.UNREADABLE, problem=problem)


def evidence_from_json(raw: Any) -> Evidence | None:
    """Evidence as stored (None when there is none or it cannot be read)."""
    if not isinstance(raw, dict):
        return None
    try:
        at = _TIME.validate_python(raw.get("at"))
        failure = _PROBLEM.validate_python(raw.get("failure"))
        sections = [_section(s) for s in raw.get("sections") or []]
    except (ValidationError, ValueError, TypeError) as err:
        log.warning("stored evidence could not be read", extra={"error": str(err)[:300]})
        return None
    return Evidence(at, tuple(s for s in sections if s is not None), failure)


# ---- step details and undo records ----------------------------------------------------------


def detail_json(detail: StepDetail) -> str:
    """A step detail as the text the `case_steps.detail` column keeps."""
    return json.dumps(_DETAIL.dump_python(detail, mode="json"))


def detail_from_json(text: str | None) -> StepDetail | None:
    """The stored step detail (None when there is none or it cannot be read)."""
    if not text:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        log.warning("stored step detail is not JSON")
        return None
    return _read(_DETAIL, raw, "step detail")


def undo_json(undo: Undo | None) -> Json | None:
    """How to undo a step, as stored."""
    return None if undo is None else _UNDO.dump_python(undo, mode="json")


def undo_from_json(raw: Any) -> Undo | None:
    """The stored undo record (None when there is none or it cannot be read)."""
    return None if raw is None else _read(_UNDO, raw, "undo record")


# ---- the containment policy's record --------------------------------------------------------


def containment_json(record: Containment | None) -> Json | None:
    """What the containment policy decided and did, as stored."""
    return None if record is None else _CONTAINMENT.dump_python(record, mode="json")


def containment_from_json(raw: Any) -> Containment | None:
    """The stored containment record (None when there is none or it cannot be read)."""
    return None if raw is None else _read(_CONTAINMENT, raw, "containment record")


def bulk_json(bulk: BulkAction | None) -> Json | None:
    """A wave's bulk action, as stored."""
    return None if bulk is None else _BULK.dump_python(bulk, mode="json")


def bulk_from_json(raw: Any) -> BulkAction | None:
    """The stored bulk action (None when there is none or it cannot be read)."""
    return None if raw is None else _read(_BULK, raw, "bulk action")


def _read(adapter: TypeAdapter[T], raw: Any, what: str) -> T | None:
    try:
        return adapter.validate_python(raw)
    except ValidationError as err:
        log.warning(f"stored {what} could not be read", extra={"error": str(err)[:300]})
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


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
