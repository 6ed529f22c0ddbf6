"""Fault injection per route: latency (slow, then the call runs), hang (slow, then 504 and the
call never ran), 429 with Retry-After, 503, licence 403s and the unblock-limit error. Routes are
Exchange cmdlet names or Graph route names, or `*` for all of them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["latency", "throttle", "unavailable", "hang", "licence", "unblock_limit"]
KINDS: tuple[str, ...] = ("latency", "throttle", "unavailable", "hang", "licence", "unblock_limit")


@dataclass
class Fault:
    """One kind of misbehaviour, for the next `times` calls (-1: until cleared)."""

    kind: FaultKind
    times: int = 1
    seconds: float = 0.0
    retry_after: str | None = None
    upto: float = 0.0  # latency: a delay drawn between `seconds` and this (0: always `seconds`)

    def delay(self) -> float:
        """How long this call waits."""
        if self.upto > self.seconds:
            return random.uniform(self.seconds, self.upto)  # noqa: S311 - jitter, not security
        return self.seconds


@dataclass
class Faults:
    """The faults waiting per route."""

    rules: dict[str, list[Fault]] = field(default_factory=dict)

    def add(self, route: str, fault: Fault) -> None:
        """Queue `fault` for `route`."""
        self.rules.setdefault(route, []).append(fault)

    def take(self, route: str) -> Fault | None:
        """The fault to apply to this call of `route`, if any (consumes one use); faults queued
        for the route `*` apply to every route without one of its own."""
        queue = self.rules.get(route) or self.rules.get("*") or []
        if not queue:
            return None
        fault = queue[0]
        if fault.times > 0:
            fault.times -= 1
            if fault.times == 0:
                queue.pop(0)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self.rules.clear()
