"""Stored evidence, step details, undo records and problems hold domain codes in the shapes the
domain types declare (bot/store/codec.py), no catalogue keys: this converts the rows earlier
versions wrote. The conversion is frozen here, so later changes of the domain cannot change it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Json = dict[str, Any]
SECTIONS = (
    "rules",
    "forwarding",
    "delegates",
    "mfa",
    "roles",
    "risk",
    "sign_ins",
    "consents",
    "sent",
)
WHYS = {
    "forwards_external", "deletes", "hides_mail", "bait_words", "hidden", "delegate",
    "recent_method", "added_unknown", "admin_role", "risky", "several_countries",
    "impossible_travel", "failed_sign_ins", "mail_access", "unverified_app", "high_volume",
}  # fmt: skip
KINDS = {
    "not_available", "forbidden", "throttled", "unavailable", "not_found", "deadline", "busy",
    "failed", "not_delivered", "interrupted", "unexpected",
}  # fmt: skip
NOTES = {
    "step.reset_password.done": "password_reset",
    "step.revoke_sessions.done": "sessions_revoked",
    "step.remove_forwarding.done": "forwarding_removed",
    "step.remove_forwarding.none": "no_forwarding",
    "step.disable_rules.done": "rules_disabled",
    "step.disable_rules.none": "no_rules",
    "step.block_sign_in.done": "sign_in_blocked",
    "step.remove_roles.done": "roles_removed",
    "step.remove_roles.none": "no_roles",
    "step.review_mfa.done": "mfa_confirmed",
    "step.review_mfa.removed": "mfa_removed",
    "step.review_mfa.new": "new_methods",
    "step.federated": "federated",
    "step.reset_password.not_delivered": "password_not_delivered",
    "step.skipped": "skipped",
    "step.interrupted": "interrupted",
    "step.failed": "failed",
}
LEGACY_ERRORS = {
    "TenantThrottled": "throttled",
    "TenantUnavailable": "unavailable",
    "DeadlineExceeded": "deadline",
    "TenantNotFound": "not_found",
}

cases = sa.table(
    "cases",
    sa.column("id", sa.String),
    sa.column("evidence", sa.JSON),
    sa.column("release_problem", sa.JSON),
)
steps = sa.table(
    "case_steps",
    sa.column("case_id", sa.String),
    sa.column("step", sa.String),
    sa.column("detail", sa.Text),
    sa.column("undo", sa.JSON),
)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _i(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _time(value: Any) -> str | None:
    """An ISO time as earlier versions read it (None when it is not one)."""
    if not isinstance(value, str):
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strs(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def problem(raw: Any) -> Json | None:
    """{"key": "error.<kind>", "values": {...}} → {"kind": ..., facts}."""
    if isinstance(raw, dict) and "kind" in raw:
        return raw  # already converted
    if not isinstance(raw, dict) or not _s(raw.get("key")).startswith("error."):
        return None
    kind = _s(raw["key"]).removeprefix("error.")
    values = _dict(raw.get("values"))
    return {
        "kind": kind if kind in KINDS else "failed",
        **{k: _s(values.get(k)) for k in ("service", "missing", "message", "reference")},
    }


def _problem(kind: str, missing: str = "") -> Json:
    return {"kind": kind, "service": "", "missing": missing, "message": "", "reference": ""}


def finding(section: str, raw: Json) -> Json | None:
    """One stored finding of a section, in the shape of its domain type."""
    why = [w for w in _strs(raw.get("why")) if w in WHYS]
    text = _s(raw.get("text"))
    if section == "rules":
        return {
            "kind": "rule",
            "rule_id": _s(raw.get("id")),
            "name": text,
            "enabled": bool(raw.get("enabled", True)),
            "hidden": bool(raw.get("hidden")) or "hidden" in why,
            "recipients": _strs(raw.get("recipients")),
            "folder": raw.get("folder") if isinstance(raw.get("folder"), str) else None,
            "words_matched": _strs(raw.get("words")),
            "why": why,
        }
    if section == "forwarding":
        smtp = bool(raw.get("smtp", True))
        keep = bool(raw.get("keep_copy"))
        return {"kind": "forwarding", "address": text, "keep_copy": keep, "smtp": smtp, "why": why}
    if section == "delegates":
        return {"kind": "delegate", "user": text, "rights": _s(raw.get("rights")), "why": why}
    if section == "mfa":
        created = _time(raw.get("created"))
        return {
            "kind": "method",
            "method_id": _s(raw.get("id")),
            "method": _s(raw.get("kind")),
            "label": text,
            "created": created,
            "why": why,
        }
    if section == "roles":
        return {
            "kind": "role",
            "assignment_id": _s(raw.get("id")),
            "role_name": text,
            "role_id": _s(raw.get("role_id")),
            "scope": _s(raw.get("scope")) or "/",
            "why": why,
        }
    if section == "risk":
        return {"kind": "risk", "level": text, "state": _s(raw.get("state")), "why": why}
    if section == "consents":
        publisher = raw.get("publisher") if isinstance(raw.get("publisher"), str) else None
        scope = _s(raw.get("scope"))
        return {"kind": "consent", "app": text, "scope": scope, "publisher": publisher, "why": why}
    if section == "sent":
        return {
            "kind": "sent",
            "messages": _i(text),
            "recipients": _i(raw.get("recipients")),
            "external": _i(raw.get("external")),
            "why": why,
        }
    kind = raw.get("kind")
    if kind == "countries":
        countries = _strs(raw.get("countries")) or [c for c in text.split(", ") if c]
        return {
            "kind": "countries",
            "countries": countries,
            "sign_ins": _i(raw.get("count")),
            "failures": _i(raw.get("failures")),
            "ips": _strs(raw.get("ips")),
            "why": why,
        }
    if kind == "travel":
        origin, _, destination = text.partition(" → ")
        return {
            "kind": "travel",
            "origin": _s(raw.get("origin")) or origin,
            "destination": _s(raw.get("destination")) or destination,
            "minutes": _i(raw.get("minutes")),
            "why": why,
        }
    if kind == "failures":
        return {"kind": "failures", "failures": _i(text), "why": why}
    return None


def section(name: str, raw: Json) -> Json:
    """A stored section (also the shapes of the first versions: ok / unavailable / error)."""
    status = _s(raw.get("status"))
    found = problem(raw.get("problem"))
    if status in ("read", "ok"):
        findings = [finding(name, i) for i in _list(raw.get("items")) if isinstance(i, dict)]
        kept = [f for f in findings if f is not None]
        return {"name": name, "status": "read", "problem": None, "findings": kept}
    if status == "not_applicable" or (status == "unavailable" and raw.get("reason") == "licence"):
        found = found or _problem("not_available", _s(raw.get("missing")))
        return {"name": name, "status": "not_applicable", "problem": found, "findings": []}
    if found is None and status == "unavailable":
        found = _problem("forbidden", _s(raw.get("missing")))
    if found is None:
        found = _problem(LEGACY_ERRORS.get(_s(raw.get("reason")), "failed"))
    return {"name": name, "status": "unreadable", "problem": found, "findings": []}


def evidence(raw: Any) -> Json | None:
    """{"at", "sections": {name: {...}}, "error"} → {"at", "failure", "sections": [...]}."""
    if not isinstance(raw, dict) or not isinstance(raw.get("at"), str):
        return None
    if isinstance(raw.get("sections"), list):
        return raw  # already converted
    stored = _dict(raw.get("sections"))
    return {
        "at": raw["at"],
        "failure": problem(raw.get("error")),
        "sections": [section(n, stored[n]) for n in SECTIONS if isinstance(stored.get(n), dict)],
    }


def detail(text: str | None) -> str:
    """A stored step detail; "" (none) when it cannot be read, as earlier versions read it."""
    try:
        raw = json.loads(text) if text else None
    except ValueError:
        return ""
    if not isinstance(raw, dict):
        return ""
    if "note" in raw:
        note, values, found = _s(raw["note"]), raw, problem(raw.get("problem"))
    else:
        key = _s(raw.get("key"))
        values = _dict(raw.get("values"))
        note, found = ("step.failed", problem(raw)) if key.startswith("error.") else (key, None)
        if key.startswith("error.") and found is None:
            found = _problem("failed")
    if note in NOTES.values():
        return text or ""  # already converted
    if note not in NOTES:
        return ""
    names = values.get("names")
    converted = {
        "note": NOTES[note],
        "names": [names] if isinstance(names, str) else _strs(names),
        "old": _s(values.get("old")),
        "reason": _s(values.get("reason")),
        "problem": found,
    }
    return json.dumps(converted, ensure_ascii=False)


def undo(raw: Any) -> Json | None:
    """A stored undo record, told apart by its keys → tagged with its kind."""
    if not isinstance(raw, dict) or "kind" in raw:
        return raw if isinstance(raw, dict) else None
    if "ForwardingSmtpAddress" in raw or "ForwardingAddress" in raw:
        return {
            "kind": "forwarding",
            "smtp_address": raw.get("ForwardingSmtpAddress") or None,
            "forwarding_address": raw.get("ForwardingAddress") or None,
            "keep_copy": bool(raw.get("DeliverToMailboxAndForward")),
        }
    if "rules" in raw:
        return {"kind": "rules", "rule_ids": _strs(raw["rules"])}
    if "accountEnabled" in raw:
        return {"kind": "sign_in"}
    if "roles" in raw:
        roles = [r for r in raw["roles"] or [] if isinstance(r, dict)]
        return {
            "kind": "roles",
            "roles": [
                {"role_id": _s(r.get("id")), "name": _s(r.get("name")), "scope": _s(r.get("scope"))}
                for r in roles
            ],
        }
    if "removed" in raw:
        methods = [m for m in raw["removed"] or [] if isinstance(m, dict)]
        return {
            "kind": "methods",
            "removed": [{"kind": _s(m.get("kind")), "label": _s(m.get("detail"))} for m in methods],
        }
    return None


def upgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(sa.select(cases.c.id, cases.c.evidence, cases.c.release_problem)):
        conn.execute(
            cases.update()
            .where(cases.c.id == row.id)
            .values(evidence=evidence(row.evidence), release_problem=problem(row.release_problem))
        )
    query = sa.select(steps.c.case_id, steps.c.step, steps.c.detail, steps.c.undo)
    for step in conn.execute(query):
        conn.execute(
            steps.update()
            .where(steps.c.case_id == step.case_id, steps.c.step == step.step)
            .values(detail=detail(step.detail), undo=undo(step.undo))
        )


def downgrade() -> None:
    raise NotImplementedError(
        "0011 converted stored evidence and step details to domain codes and cannot be undone: "
        "restore the database backup taken before the upgrade"
    )
