"""The worker's health: what is wrong now, each with its reason, for ``/healthz`` and for on-call.

A condition is on from the moment the worker sees it until it clears; ``/healthz`` answers 503 with the
reasons while any is on, and each condition raises its alarm (rule ``pipeline``) once when it starts,
repeats while it lasts and resolves when it clears:

===================== ==========================================================================
``redis_unreachable`` Redis refuses the connection (or errs): the state is not being written
``redis_hung``        a write to Redis is not answered within ``health.redis_hung_after_s``
``redis_state_lost``  Redis no longer holds what this worker wrote: its marker key is gone, or a
                      partition's stored offset is behind the one this worker wrote (a restart
                      without persistence, a flush). The worker writes its partitions' whole state
                      again from memory; the condition clears once Redis holds it
``consumer_stuck``    events wait in a partition and none has been applied for
                      ``health.consumer_stuck_after_s``
``offset_regression`` a partition's offsets went backwards (its topic was deleted and created
                      again): the partition was started over; reported for
                      ``health.offset_regression_hold_s``
===================== ==========================================================================

:class:`Health` holds the conditions and makes their alarms; :class:`Probe` looks, once a
``health.interval_s``: a write to Redis bounded by the hung time (the worker's marker key, refreshed only
if present), the stored offsets of the partitions it holds, and each partition's progress. Nothing here
holds the monitor's lock while it waits for Redis: the alarms and the timer never wait for the probe.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from callwatch.alarm import Alarm, Unit
from callwatch.settings import Settings
from streams.partition import PartitionRunner
from streams.state_store import StateStore

log = logging.getLogger("callwatch.worker")

REDIS_UNREACHABLE = "redis_unreachable"
REDIS_HUNG = "redis_hung"
REDIS_STATE_LOST = "redis_state_lost"
CONSUMER_STUCK = "consumer_stuck"
OFFSET_REGRESSION = "offset_regression"


@dataclass
class Condition:
    """One thing wrong: its reason (the alarm's name), subject, one sentence and its figure."""

    reason: str
    subject: str
    detail: str
    #: wall clock (epoch seconds) when it started, and when its alarm was last sent
    since: float
    sent_at: float
    value: float
    threshold: float
    unit: Unit
    metric: str
    #: wall clock when it clears by itself (offset regression); None: when its cause is gone
    until: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "subject": self.subject, "detail": self.detail, "since": self.since}


class Health:
    """The conditions on now, and the alarms they owe on-call."""

    def __init__(self, settings: Settings, wall: Callable[[], float] = time.time) -> None:
        self.worker = settings.worker_name or "worker"  # always set by the settings' validator
        self.rule = settings.monitor.alarms.pipeline
        self.wall = wall
        self.conditions: dict[tuple[str, str], Condition] = {}
        self.outbox: list[Alarm] = []

    @property
    def ok(self) -> bool:
        return not self.conditions

    def on(self, reason: str, detail: str, value: float, threshold: float, unit: Unit = "seconds",
           subject: str | None = None, metric: str | None = None, until: float | None = None) -> None:
        """The condition is on (again): a start alarm the first time, else its figures and sentence move on."""
        subject = subject or self.worker
        now = self.wall()
        found = self.conditions.get((reason, subject))
        if found is not None:
            found.detail, found.value = detail, value
            if until is not None:
                found.until = max(found.until or until, until)
            return
        cond = self.conditions[(reason, subject)] = Condition(reason, subject, detail, now, now, value, threshold,
                                                             unit, metric or reason, until)
        log.error("health: %s (%s): %s", reason, subject, detail)
        self._send(cond, "started", now)

    def off(self, reason: str, detail: str, subject: str | None = None) -> None:
        """The condition cleared: its resolve alarm, saying how (``detail``)."""
        cond = self.conditions.pop((reason, subject or self.worker), None)
        if cond is None:
            return
        cond.detail = detail
        log.warning("health: %s (%s) cleared: %s", reason, cond.subject, detail)
        self._send(cond, "resolved", self.wall())

    def is_on(self, reason: str, subject: str | None = None) -> bool:
        return (reason, subject or self.worker) in self.conditions

    def tick(self) -> None:
        """Conditions that clear by themselves, and repeats due."""
        now = self.wall()
        for cond in list(self.conditions.values()):
            if cond.until is not None and now >= cond.until:
                self.off(cond.reason, f"{cond.detail.rstrip('.')}; reported for its hold time, now over",
                         cond.subject)
            elif now - cond.sent_at >= self.rule.repeat_s:
                self._send(cond, "repeated", now)

    def take_alarms(self) -> list[Alarm]:
        alarms, self.outbox = self.outbox, []
        return alarms

    def report(self) -> dict[str, Any]:
        """``/healthz``'s body: ``ok``, the reasons and each condition."""
        conds = sorted(self.conditions.values(), key=lambda c: (c.reason, c.subject))
        return {"ok": not conds, "worker": self.worker, "reasons": sorted({c.reason for c in conds}),
                "conditions": [c.as_json() for c in conds]}

    def _send(self, cond: Condition, status: str, now: float) -> None:
        cond.sent_at = now
        if not self.rule.enabled:
            return
        self.outbox.append(Alarm(
            alarm=cond.reason, status=status, queue=cond.subject, at=now, started_at=cond.since,
            severity=self.rule.severity, value=cond.value, threshold=cond.threshold, unit=cond.unit,
            metric=cond.metric, waiting=0, agents_available=0, service_level=None, detail=cond.detail))


class Probe:
    """Looks at Redis and the consumer once per call to :meth:`check` (the worker: every ``interval_s``)."""

    def __init__(self, settings: Settings, health: Health, store: StateStore,
                 runners: Callable[[], dict[int, PartitionRunner]], lag: Callable[[int, int], int | None],
                 rewrite: Callable[[Iterable[int]], Awaitable[None]],
                 wall: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.health = health
        self.store = store
        self.runners = runners
        self.lag = lag
        #: writes the whole state of these partitions again (the store lost it)
        self.rewrite = rewrite
        self.wall = wall
        self.topic = settings.events_topic
        self.boot = uuid.uuid4().hex
        self._marked = False
        self._answered_at = wall()
        self._rewriting: asyncio.Task[None] | None = None

    async def check(self) -> None:
        await self._check_redis()
        self._check_consumer()
        self.health.tick()

    async def _check_redis(self) -> None:
        h, cfg = self.health, self.settings.health
        runners = self.runners()
        # what Redis must hold, taken before asking it: a write acknowledged meanwhile only raises it
        expected = {p: r.written_offset for p, r in runners.items() if r.written_offset >= 0}
        try:
            present, stored = await asyncio.wait_for(self._ask(expected), timeout=cfg.redis_hung_after_s)
        except (asyncio.TimeoutError, TimeoutError):  # redis-py's own timeout too: the socket's
            waited = self.wall() - self._answered_at
            h.on(REDIS_HUNG, f"a write to Redis has not been answered for {waited:.1f} s (limit "
                 f"{cfg.redis_hung_after_s:g} s): alarms and the timer go on, the state waits to be written",
                 round(waited, 3), cfg.redis_hung_after_s)
            return
        except (OSError, RedisError) as exc:
            waited = self.wall() - self._answered_at
            h.on(REDIS_UNREACHABLE, f"Redis does not accept the worker's writes ({type(exc).__name__}: "
                 f"{str(exc).splitlines()[0][:200] if str(exc) else '-'}) for {waited:.1f} s: alarms and the "
                 f"timer go on, the state waits to be written", round(waited, 3), 0.0)
            return
        down_for = self.wall() - self._answered_at
        self._answered_at = self.wall()
        h.off(REDIS_HUNG, f"Redis answers again (after {down_for:.1f} s)")
        h.off(REDIS_UNREACHABLE, f"Redis answers again (after {down_for:.1f} s)")
        lost = sorted(p for p, offset in expected.items() if stored.get(p, -1) < offset)
        if (self._marked and not present) or lost:
            self._state_lost(present, lost, runners)
        elif self._marked and h.is_on(REDIS_STATE_LOST) and not self._rewrite_running():
            h.off(REDIS_STATE_LOST, "Redis holds the partitions' state again, written from the worker's memory; "
                  "what only Redis held (goals, the dispatcher's delivered ids) is not restored")
        self._marked = True

    async def _ask(self, expected: dict[int, int]) -> tuple[bool, dict[int, int]]:
        present = await self.store.mark_alive(self.health.worker, self.boot, create=not self._marked)
        stored = {p: await self.store.load_meta_offset(self.topic, p) for p in expected}
        return present, stored

    def _state_lost(self, present: bool, lost: list[int], runners: dict[int, PartitionRunner]) -> None:
        reasons = ["the worker's marker key is gone"] if not present else []
        if lost:
            reasons.append(f"partition {lost[0]} holds less than the worker wrote" if len(lost) == 1 else
                           f"partitions {', '.join(map(str, lost))} hold less than the worker wrote")
        why = " and ".join(reasons)
        held = sorted(runners)
        self.health.on(REDIS_STATE_LOST, f"Redis lost the stored state ({why}): restarted without persistence, "
                       f"or flushed; writing the whole state of partitions {', '.join(map(str, held)) or '-'} "
                       f"again from memory", float(len(lost)), 0.0, unit="events", metric="partitions_lost")
        if not self._rewrite_running():
            self._rewriting = asyncio.create_task(self._rewrite_all(held))

    def _rewrite_running(self) -> bool:
        return self._rewriting is not None and not self._rewriting.done()

    async def _rewrite_all(self, partitions: list[int]) -> None:
        try:
            await self.rewrite(partitions)
            await self.store.mark_alive(self.health.worker, self.boot, create=True)
        except Exception:  # the next check sees what is still missing and starts again
            log.exception("writing the state again failed")

    def _check_consumer(self) -> None:
        cfg = self.settings.health
        now = time.monotonic()
        stuck = []
        for p, r in sorted(self.runners().items()):
            behind = self.lag(p, r.offset)
            if behind and now - r.advanced_at > cfg.consumer_stuck_after_s:
                stuck.append((p, behind, now - r.advanced_at))
        if stuck:
            worst = max(s for _, _, s in stuck)
            self.health.on(CONSUMER_STUCK, "; ".join(
                f"partition {p}: {n} events wait, none applied for {s:.0f} s" for p, n, s in stuck),
                round(worst, 3), cfg.consumer_stuck_after_s)
        else:
            self.health.off(CONSUMER_STUCK, "every partition's events are being applied")
