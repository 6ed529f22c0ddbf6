"""The watcher polls Exchange's restricted list (and Defender alerts) and reacts to changes.

Only the replica holding the `alert-poller` lease polls; the lease lasts two poll periods, so a
dead poller is replaced within two periods. What it has seen is stored, so a restart or a new
poller does not alert twice. The first poll ever only records the list (senders restricted
before BlockWatch watched are in "who is blocked", not alerts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import metrics
from bot.alerts.delivery import Delivery
from bot.cases.service import SYSTEM, CaseService
from bot.cases.waves import WAVE_WINDOW
from bot.core.clock import Clock, utcnow
from bot.core.m365 import RestrictedSender
from bot.errors import BlockWatchError, TenantForbidden
from bot.store.leases import Leases
from bot.store.watched import WatchedSenders
from bot.store.waves import WaveStore
from bot.tenant.exchange import ExchangeClient
from bot.tenant.graph import GraphClient
from bot.tenant.senders import RestrictedSenders

log = logging.getLogger(__name__)
ALERT_TITLE = "User restricted from sending email"
POLLER = "alert-poller"
STALLED_AFTER_POLLS = 3


@dataclass(frozen=True)
class AlertPolicy:
    """How often to poll, and when to send one digest instead of many cards."""

    poll_seconds: float = 60.0
    digest_threshold: int = 10


@dataclass(frozen=True)
class WatcherHealth:
    """Whether the deployment's alert watcher is polling (whichever replica holds the lease)."""

    last_poll: datetime | None
    age_seconds: float | None
    stalled: bool

    @staticmethod
    def of(last_poll: datetime | None, now: datetime, poll_seconds: float) -> WatcherHealth:
        """Stalled: no successful poll for STALLED_AFTER_POLLS periods (a dead poller's lease
        passes on within two)."""
        if last_poll is None:
            return WatcherHealth(None, None, stalled=False)
        age = max(0.0, (now - last_poll).total_seconds())
        return WatcherHealth(last_poll, age, stalled=age > STALLED_AFTER_POLLS * poll_seconds)

    def describe(self, poll_seconds: float) -> str:
        """One line for doctor."""
        if self.age_seconds is None:
            return "has not read the restricted list yet (BlockWatch has not run here)"
        when = f"last read the restricted list {self.age_seconds:.0f} s ago"
        if not self.stalled:
            return f"{when} (every {poll_seconds:.0f} s)"
        return (
            f"{when}, expected every {poll_seconds:.0f} s: no alerts are arriving. Look for "
            "'alert poll failed' or 'cannot read the restricted list' in the logs"
        )


@dataclass
class PollResult:
    """What one poll found."""

    new: list[str] = field(default_factory=list)
    re_restricted: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


class Watcher:
    """Turns changes of the restricted list into cases and alerts."""

    def __init__(
        self,
        senders: RestrictedSenders,
        exchange: ExchangeClient,
        graph: GraphClient,
        cases: CaseService,
        watched: WatchedSenders,
        leases: Leases,
        delivery: Delivery,
        waves: WaveStore,
        *,
        policy: AlertPolicy,
        holder: str,
        clock: Clock = utcnow,
        wave_changed: Callable[[str], None] = lambda _wave_id: None,
    ) -> None:
        self._waves = waves
        self._wave_changed = wave_changed
        # This poller's new restrictions of the last hour: more than the threshold make a wave.
        self._recent: list[tuple[datetime, str]] = []
        self._clock = clock
        self._last_seen: datetime | None = None  # the last poll the database told of
        self._senders = senders
        self._exchange = exchange
        self._graph = graph
        self._cases = cases
        self._watched = watched
        self._leases = leases
        self._delivery = delivery
        self.policy = policy
        self._holder = holder
        self._defender = True  # until Graph says the permission is missing
        self._last_poll: datetime | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll until `stopping` is set, while holding the lease; deliver queued alerts; then
        give the lease up."""
        while not stopping.is_set():
            try:
                if await self._leases.renew(POLLER, self._holder, 2 * self.policy.poll_seconds):
                    await self.poll_once()
                    await self._delivery.deliver_pending()
            except Exception:
                log.exception("alert poll failed; trying again next round")
            await self._publish_health()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.policy.poll_seconds)
        try:  # a graceful stop hands the poller on at once, not after the lease runs out
            await self._leases.give_up(POLLER, self._holder)
        except Exception:
            log.exception("could not give up the alert poller lease; it lapses by itself")

    async def health(self) -> WatcherHealth:
        """The deployment's watcher as the database tells it."""
        last = await self._watched.last_poll()
        return WatcherHealth.of(last, self._clock(), self.policy.poll_seconds)

    async def _publish_health(self) -> None:
        """Every replica shows in /metrics whether the deployment's watcher is stalled. While
        the database cannot be read, the age grows from the last poll this replica saw (nobody
        can poll without it either)."""
        try:
            health = await self.health()
        except Exception as err:
            log.warning("could not read when the restricted list was last polled: %r", err)
            health = WatcherHealth.of(self._last_seen, self._clock(), self.policy.poll_seconds)
        else:
            self._last_seen = health.last_poll
        metrics.watcher_health(health.age_seconds, stalled=health.stalled)

    async def poll_once(self) -> PollResult:
        """Compare the restricted list with the stored view and act on the differences."""
        result = PollResult()
        try:
            listed = {s.upn.lower(): s for s in await self._senders.current()}
        except BlockWatchError as err:
            log.warning("cannot read the restricted list", extra={"error": str(err)})
            return result
        metrics.alert_polled()
        await self._watched.record_poll(self._clock())
        for upn in await self._defender_upns(set(listed)):
            sender = await self._exchange.restricted_sender(upn)
            if sender is not None:
                listed[upn] = sender
        if not await self._watched.baseline_taken():
            await self._watched.take_baseline({u: s.created for u, s in listed.items()})
            log.info("watching the restricted list", extra={"already_restricted": len(listed)})
            return result
        seen = await self._watched.seen()
        alerts: list[RestrictedSender] = []
        for upn, sender in listed.items():
            if upn not in seen:
                if await self._watched.add(upn, sender.created):
                    result.new.append(upn)
                    alerts.append(sender)
            elif _newer(sender.created, seen[upn]):
                await self._watched.replace(upn, sender.created)
                await self._cases.re_restricted(upn)
                result.re_restricted.append(upn)
                alerts.append(sender)
        for upn in seen.keys() - listed.keys():
            await self._watched.remove(upn)
            await self._cases.released_elsewhere(upn)
            result.gone.append(upn)
        if alerts:
            await self._alert(alerts)
        return result

    async def _alert(self, senders: list[RestrictedSender]) -> None:
        """New restrictions: one alert card each, or — more than ALERT_DIGEST_THRESHOLD in one
        poll or within the hour, or any while a wave of the last hour is open — one wave."""
        cases = await self._cases.sync(senders)
        try:  # opt-in; a failure here must not lose the alerts (the senders are seen now)
            await self._cases.watch_for_containment(list(cases.values()))
        except Exception:
            log.exception("could not mark new restrictions for automatic containment")
        now = self._clock()
        ids = [case.id for case in cases.values()]
        self._recent = [(at, i) for at, i in self._recent if at > now - WAVE_WINDOW]
        self._recent += [(now, i) for i in ids]
        wave = await self._waves.open_wave(now - WAVE_WINDOW)
        if wave is not None:
            await self._waves.add(wave.id, ids, now)
            self._wave_changed(wave.id)
        elif (
            len(ids) > self.policy.digest_threshold
            or len(self._recent) > self.policy.digest_threshold
        ):
            members = (
                ids if len(ids) > self.policy.digest_threshold else [i for _, i in self._recent]
            )
            wave = await self._waves.create(members, now)
            await self._delivery.wave(wave)
        if wave is not None:
            self._recent = []  # in a wave now: they never count towards another
            # Investigate every account of the wave (in turns, within Microsoft's budgets):
            # the wave card counts what was read, and the bulk containment acts on it.
            for case in cases.values():
                await self._cases.ensure_investigation(case, SYSTEM, wave=True)
            return
        for case in cases.values():
            await self._cases.ensure_investigation(case, SYSTEM)
            await self._delivery.queue(case.id)

    async def _defender_upns(self, listed: set[str]) -> set[str]:
        """Senders Defender's alerts name that the list did not show (yet)."""
        if not self._defender:
            return set()
        since = (self._last_poll or self._clock()) - timedelta(minutes=10)
        self._last_poll = self._clock()
        try:
            alerts = await self._graph.alerts.security_alerts(since=since)
        except TenantForbidden:
            self._defender = False
            log.info(
                "Defender alerts not permitted (SecurityAlert.Read.All); polling Exchange only"
            )
            return set()
        except BlockWatchError as err:
            log.warning("cannot read Defender alerts", extra={"error": str(err)})
            return set()
        upns = {u for a in alerts if a.title == ALERT_TITLE for u in a.upns}
        return upns - listed


def _newer(current: datetime | None, seen: datetime | None) -> bool:
    return current is not None and seen is not None and current > seen
