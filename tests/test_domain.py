"""Parsing Exchange's restricted-sender fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.m365 import LimitType, parse_reason
from bot.tenant.http import error_message
from bot.tenant.parse import parse_time


def test_reason_is_parsed_into_limit_and_counts() -> None:
    reason = parse_reason(
        "ExceedingLimitType=External;InternalRecipientCountToday=12;ExternalRecipientCountToday=1842"
    )
    assert reason.limit_type is LimitType.EXTERNAL
    assert reason.internal_recipients == 12
    assert reason.external_recipients == 1842


@pytest.mark.parametrize(
    ("raw", "limit", "internal", "external"),
    [
        (
            "exceedinglimittype=internal; InternalRecipientCountToday = 7",
            LimitType.INTERNAL,
            7,
            None,
        ),
        ("ExceedingLimitType=Total", LimitType.TOTAL, None, None),
        (
            "ExceedingLimitType=Galactic;ExternalRecipientCountToday=x",
            LimitType.UNKNOWN,
            None,
            None,
        ),
        ("", LimitType.UNKNOWN, None, None),
        (None, LimitType.UNKNOWN, None, None),
        ("garbage without equals", LimitType.UNKNOWN, None, None),
    ],
)
def test_odd_reasons_degrade_gracefully(
    raw: str | None, limit: LimitType, internal: int | None, external: int | None
) -> None:
    reason = parse_reason(raw)
    assert (reason.limit_type, reason.internal_recipients, reason.external_recipients) == (
        limit,
        internal,
        external,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T20:41:13.4330000Z", datetime(2026, 11, 26, 20, 41, 13, 433000, tzinfo=UTC)),
        ("2026-11-26T20:41:13", datetime(2026, 11, 26, 20, 41, 13, tzinfo=UTC)),
        ("/Date(1764189673000)/", datetime(2025, 11, 26, 20, 41, 13, tzinfo=UTC)),
        ("/Date(1764189673000+0100)/", datetime(2025, 11, 26, 20, 41, 13, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
        (12, None),
    ],
)
def test_exchange_times(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_error_message_prefers_details_then_inner_then_top() -> None:
    assert (
        error_message({"error": {"message": "top", "details": [{"message": "detail"}]}}) == "detail"
    )
    assert (
        error_message(
            {"error": {"message": "top", "innererror": {"internalException": {"message": "inner"}}}}
        )
        == "inner"
    )
    assert error_message({"error": {"message": "top"}}) == "top"
    assert error_message({"nothing": 1}) == ""
    assert error_message("text") == ""
