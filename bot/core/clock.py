"""The time every decision is made at: one clock, injected, so tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]  # the current time, timezone-aware, in UTC


def utcnow() -> datetime:
    """The computer's clock, in UTC."""
    return datetime.now(UTC)
