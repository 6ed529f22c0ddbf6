"""An entry of the audit trail: who did what, to whom, when, with what result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

AuditValue = str | int | bool | None
Parameters = Mapping[str, AuditValue]


@dataclass(frozen=True)
class AuditEvent:
    """One recorded action."""

    actor_id: str
    actor_name: str
    action: str
    target: str
    result: str
    case_id: str | None = None
    parameters: Parameters = field(default_factory=dict)
    detail: str = ""
    at: datetime | None = None
    correlation: str = ""
