"""The per-user command limit: a sliding window, one audit-worthy refusal per streak."""

from __future__ import annotations

from bot.chat.limits import CommandLimit
from tests.helpers import FakeClock


def test_sliding_window_per_user() -> None:
    clock = FakeClock(1000.0)
    limit = CommandLimit(2, 60, clock=clock)
    assert limit.check("a").allowed
    assert limit.check("a").allowed
    refused = limit.check("a")
    assert (refused.allowed, refused.retry_after, refused.first_refusal) == (False, 60, True)
    assert limit.check("b").allowed  # other users are not affected
    clock.now += 30
    again = limit.check("a")
    assert (again.allowed, again.retry_after, again.first_refusal) == (False, 30, False)
    clock.now += 30  # the first two commands leave the window
    assert limit.check("a").allowed
    assert limit.check("a").allowed
    assert limit.check("a").first_refusal  # a new streak is audited again


def test_idle_users_are_forgotten() -> None:
    clock = FakeClock(1000.0)
    limit = CommandLimit(5, 60, clock=clock)
    for n in range(999):
        limit.check(f"user-{n}")
    clock.now += 61
    limit.check("last")  # the 1000th check sweeps everyone idle for a window
    assert limit.tracked == 1
