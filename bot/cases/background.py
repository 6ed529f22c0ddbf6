"""Background work (investigations, steps, follow-ups) that outlives the click that started it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    """Keeps track of running tasks so shutdown can wait for them (or cancel them)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._daemons: set[asyncio.Task[Any]] = set()
        self.accepting = True

    def spawn(self, work: Coroutine[Any, Any, Any], name: str, *, daemon: bool = False) -> bool:
        """Run `work` in the background; failures are logged, never lost silently. A daemon
        (a read-only loop such as reading evidence again) is not waited for by `idle`. False
        when shutting down: the work was not started."""
        if not self.accepting:
            work.close()
            log.warning("shutting down: background work not started", extra={"task": name})
            return False
        task = asyncio.create_task(work, name=name)
        (self._daemons if daemon else self._tasks).add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._daemons.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "background task failed", exc_info=task.exception(), extra={"task": task.get_name()}
            )

    async def idle(self) -> None:
        """Wait until nothing runs (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self, grace: float) -> None:
        """Stop accepting work, give running tasks `grace` seconds, then cancel the rest (and
        every daemon)."""
        self.accepting = False
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        every = list(self._tasks | self._daemons)
        for task in every:
            task.cancel()
        await asyncio.gather(*every, return_exceptions=True)
