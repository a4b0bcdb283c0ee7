"""The call-center engine: a pure, deterministic coordinator of the rooms that hold one site's state
(:mod:`sites` runs one per site, an event's ``source``).

No I/O, no wall clock: time comes in with each event (its ``ts``) and with :meth:`Engine.advance`
(``now``: the wall clock live, the event-time watermark in a replay). The Faust worker and the offline
replay drive the same class, so the same events give the same figures either way.

Each kind of state has one owner, a room with a narrow interface: the contacts in their queues
(:mod:`queue_calls`), the wait alarm's timer (:mod:`wait_alarm`), the interval and minute buckets
(:mod:`buckets`) and the days they are rolled up into (:mod:`daily`), the alarms' running windows
(:mod:`rolling`), the alarms raised (:mod:`alarm_log`), the threshold alarms
(:mod:`thresholds`), the predicted waits and staffing advice (:mod:`forecast`), the early warning
(:mod:`early_warning`), agents (:mod:`agents`) and their days (:mod:`agent_days`), customers' recent
contacts (:mod:`customers`), events held for their prerequisite (:mod:`holding`) and the ids already
applied (:mod:`seen`). The event clock (:mod:`eventclock`) refuses times that cannot be believed
before they reach any of them; :mod:`contacts` routes a contact's events to the rooms; this class routes
agent events, moves the rooms' clocks and keeps the pipeline counters; :mod:`codec` writes and reads
their containers.

Out of order. An event whose prerequisite has not been seen yet (an answer before its ``call.queued``,
an end before its answer) is held, and applied the moment the prerequisite arrives; if the watermark
(latest ``ts`` less the allowed lateness) passes it first, it is applied as far as it makes sense and
counted as inconsistent. Agent state changes are accounted once the watermark has passed them. Both
make the figures of events within the allowed lateness the same as in order.

Persistence. Every room records the keys it changed; a driver writes exactly those (a key no longer in
its container is deleted), together with the offsets, in one transaction. :meth:`Engine.restore`
rebuilds the rest (indexes, timer heaps, running windows) from the containers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine import codec
from callwatch.engine.agent_days import AgentDays, FloorCalendar
from callwatch.engine.agents import Agents
from callwatch.engine.aggregates import INTERVAL_S, MINUTE_S, REPEAT_LONG_S, AgentDay, Agg
from callwatch.engine.alarm_log import AlarmLog
from callwatch.engine.buckets import MINUTE_RETENTION_S, Buckets
from callwatch.engine.contacts import CONTACT_EVENTS, ContactEvents
from callwatch.engine.customers import Customers
from callwatch.engine.daily import QueueDays, day_of_interval
from callwatch.engine.early_warning import EarlyWarning
from callwatch.engine.eventclock import ClockLimits, EventClock, Refusal
from callwatch.engine.forecast import Forecast
from callwatch.engine.holding import HeldEvents
from callwatch.engine.integrity import Signal
from callwatch.engine.integrity import evaluate as evaluate_integrity
from callwatch.engine.queue_calls import QueueCalls
from callwatch.engine.records import (
    ActiveAlarm,
    ActiveThreshold,
    AgentRecord,
    CustomerHistory,
    Leg,
)
from callwatch.engine.rolling import (
    ABANDONED,
    ABANDONED_AFTER_T,
    ANSWERED,
    DEQUEUED,
    WITHIN,
    RollingCounts,
    service_level,
)
from callwatch.engine.seen import SeenIds
from callwatch.engine.thresholds import EVAL_S, ThresholdAlarms
from callwatch.engine.wait_alarm import WAIT_ALARM, WaitAlarm
from callwatch.events import (
    AgentState,
    Event,
)

__all__ = ["CONTAINERS", "TUPLE_KEYED", "WAIT_ALARM", "Engine", "replay_events"]

CONTAINERS = codec.CONTAINERS
TUPLE_KEYED = codec.TUPLE_KEYED
#: how often (event time) old state is swept out
PURGE_EVERY_S = 60.0
#: inconsistency reasons that mean an order of events that cannot have happened (clock anomalies)
IMPOSSIBLE_ORDER = ("_out_of_sequence", "_without_history", "_before_answered", "_before_queued",
                    "_before_ended", "waiting_since_after_queued")
NEG_INF = float("-inf")
#: refusals kept for take_refusals(); the counters count them all
MAX_REFUSALS = 10_000


class Engine:
    """Live queue state, interval figures, agent figures and the alarms for one event stream: one site's
    (:class:`callwatch.engine.sites.Sites` runs one per site).

    ``site``: the name its alarms carry (None: they carry none).
    """

    def __init__(self, config: MonitorConfig, site: str | None = None) -> None:
        self.config = config
        self.site = site
        self.calls = QueueCalls()
        self.wait_alarm = WaitAlarm(config)
        self.buckets = Buckets()
        self.queue_days = QueueDays()
        self.alarm_log = AlarmLog()
        self.rolling = RollingCounts()
        self.threshold_alarms = ThresholdAlarms(config, self.rolling)
        self.agents_room = Agents()
        self.calendar = FloorCalendar(config.floor_zone)
        self.agent_days_room = AgentDays(self.calendar)
        self.customers_room = Customers()
        self.holding = HeldEvents()
        self.seen = SeenIds()
        #: latest event time per source (feed-silent detection and the clock-anomaly counts)
        self.sources: dict[str, float] = {}
        self._dirty_sources: set[str] = set()
        #: event count and pipeline counters: late, duplicate, inconsistent:<reason>, invalid:<code>
        self.counters: Counter[str] = Counter()
        self.max_ts = NEG_INF
        self.min_ts = float("inf")
        self._last_purge = NEG_INF
        #: the floor day the integrity signals were last evaluated for (once a day, at its end)
        self._integrity_day = ""
        self._integrity_quarter = -1
        self._integrity_cache: tuple[str, list[Signal]] = ("", [])
        #: when each signal was last told of each subject (the integrity rule's repeat interval)
        self._integrity_sent: dict[str, float] = {}
        self._qc: dict[str, QueueConfig] = {}
        self._lateness = config.allowed_lateness_s
        #: the early warning before the wait window (its state in meta, beside the forecast's cells)
        self.early_warning = EarlyWarning(config, self.calls, self.agents_room)
        #: predicted waits and the staffing advice (derived; its cells in meta); it passes the contact
        #: events on to the early warning
        self.forecast = Forecast(config, self.calls, self.agents_room, self.early_warning)
        #: what contact events do to the rooms (the engine routes agent events and heartbeats itself)
        self.contacts = ContactEvents(
            config, calls=self.calls, wait_alarm=self.wait_alarm, buckets=self.buckets, rolling=self.rolling,
            thresholds=self.threshold_alarms, agents=self.agents_room, agent_days=self.agent_days_room,
            customers=self.customers_room, holding=self.holding, calendar=self.calendar,
            newest=lambda: self.max_ts, inconsistent=self._inconsistent, forecast=self.forecast)
        self.outbox: list[Alarm] = []
        #: whether each event's time is believable, before it reaches apply() (engine/eventclock.py)
        self.clock = EventClock(ClockLimits.from_settings(config))
        #: events the clock refused since the last take_refusals()
        self._refusals: list[Refusal] = []

    # ------------------------------------------------- the rooms' containers

    @property
    def legs(self) -> dict[tuple[str, str], Leg]:
        return self.calls.legs

    @property
    def waiting(self) -> dict[str, dict[str, Leg]]:
        return self.calls.waiting

    @property
    def intervals(self) -> dict[tuple[str, str, int], Agg]:
        return self.buckets.intervals

    @property
    def minutes(self) -> dict[tuple[str, str, int], Agg]:
        return self.buckets.minutes

    @property
    def agents(self) -> dict[str, AgentRecord]:
        return self.agents_room.records

    @property
    def agent_days(self) -> dict[tuple[str, str], AgentDay]:
        return self.agent_days_room.days

    @property
    def agents_by_queue(self) -> dict[str, set[str]]:
        return self.agents_room.by_queue

    @property
    def staffed_queues(self) -> set[str]:
        return self.agents_room.staffed

    @property
    def alarms(self) -> dict[str, ActiveAlarm]:
        return self.wait_alarm.alarms

    @property
    def thresholds(self) -> dict[str, ActiveThreshold]:
        return self.threshold_alarms.active

    @property
    def customers(self) -> dict[str, CustomerHistory]:
        return self.customers_room.histories

    @property
    def held(self) -> dict[tuple[str, str], list[Event]]:
        return self.holding.held

    @property
    def swept_to(self) -> float:
        return self.wait_alarm.swept_to

    def _containers(self) -> dict[str, tuple[dict[Any, Any], set[Any]]]:
        """Each persisted container with the set of its keys changed since the last write."""
        return {
            "legs": (self.calls.legs, self.calls.dirty),
            "intervals": (self.buckets.intervals, self.buckets.dirty_intervals),
            "minutes": (self.buckets.minutes, self.buckets.dirty_minutes),
            "agents": (self.agents_room.records, self.agents_room.dirty),
            "agent_days": (self.agent_days_room.days, self.agent_days_room.dirty),
            "held": (self.holding.held, self.holding.dirty),
            "alarms": (self.wait_alarm.alarms, self.wait_alarm.dirty),
            "thresholds": (self.threshold_alarms.active, self.threshold_alarms.dirty),
            "sources": (self.sources, self._dirty_sources),
            "customers": (self.customers_room.histories, self.customers_room.dirty),
            "days": (self.queue_days.days, self.queue_days.dirty),
            "alarm_log": (self.alarm_log.entries, self.alarm_log.dirty),
        }

    @property
    def dirty(self) -> dict[str, set[Any]]:
        """The keys changed since the last :meth:`take_dirty`, per container."""
        return {name: keys for name, (_, keys) in self._containers().items()}

    # ------------------------------------------------------------------ time

    @property
    def watermark(self) -> float:
        """The event-time watermark: the newest ``ts`` seen less the allowed lateness."""
        return self.max_ts - self.config.allowed_lateness_s

    def day_of(self, ts: float) -> str:
        """The floor's calendar day (ISO date) that ``ts`` falls in."""
        return self.calendar.day_of(ts)

    # ----------------------------------------------------------------- input

    def step(self, event: Event, now: float | None = None,
             on_error: Callable[[Event, Exception], None] | None = None,
             wall: float | None = None) -> list[Alarm]:
        """Offer one event to the event clock, apply what it releases and move the clock: what both
        drivers call, event by event.

        Advancing after every applied event (not after a batch) is what makes a live run, whatever its
        batching, give exactly the figures of an offline replay of the same events. An event whose time
        is not believable is refused (counted ``invalid:<code>``, see :meth:`take_refusals`) and never
        reaches the state. With ``on_error``, an exception applying one released event is handed to it
        and the events released after it are still applied; without, it propagates. ``wall``: the wall
        clock of a live driver whose ``now`` is None for this event (a backlog), against future times.
        """
        ts = event.ts.timestamp()
        released, refused = self.clock.offer(event, ts, now, wall)
        if refused or len(released) != 1 or on_error is not None:
            return self._admit(released, refused, now, on_error)
        # the common case, one event released as it came: no list of alarms to build
        self.apply(event, ts)
        return self.advance(now)

    def finish(self) -> list[Alarm]:
        """The end of a replay: candidates the event clock still holds were never confirmed (refused)."""
        released, refused = self.clock.flush()
        return self._admit(released, refused, None, None)

    @property
    def refused(self) -> bool:
        """Whether events were refused since the last :meth:`take_refusals`."""
        return bool(self._refusals)

    def take_refusals(self) -> list[Refusal]:
        """The events refused by the event clock since the last call (a driver dead-letters them)."""
        out, self._refusals = self._refusals, []
        return out

    def _admit(self, released: list[Event], refused: list[Refusal], now: float | None,
               on_error: Callable[[Event, Exception], None] | None) -> list[Alarm]:
        for r in refused:
            self.counters[f"invalid:{r.code}"] += 1
        self._refusals.extend(refused)
        if len(self._refusals) > MAX_REFUSALS:  # a driver that never takes them (offline) keeps the last ones
            del self._refusals[:-MAX_REFUSALS]
        if not released:
            return self.advance(now)
        alarms: list[Alarm] = []
        for ev in released:
            try:
                self.apply(ev)
                alarms.extend(self.advance(now))
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(ev, exc)
        return alarms

    def apply(self, event: Event, ts: float | None = None) -> bool:
        """Apply one validated event (``ts``: its time, if known). False when it was a duplicate."""
        if ts is None:
            ts = event.ts.timestamp()
        if not self.seen.add_new(event.id, ts):
            self.counters["duplicate"] += 1
            return False
        self.counters["events"] += 1
        if ts < self.max_ts - self._lateness:
            self.counters["late"] += 1
        if ts > self.max_ts:
            self.max_ts = ts
        if ts < self.min_ts:
            self.min_ts = ts
        source = event.source
        if source is not None and ts > self.sources.get(source, NEG_INF):
            self.sources[source] = ts
            self._dirty_sources.add(source)
            self.threshold_alarms.source_seen(source, ts)
        kind = event.type
        if kind in CONTACT_EVENTS:
            self.contacts.apply(event, ts)
        elif kind == "agent.state":
            self._agent_state(event, ts)  # type: ignore[arg-type]
        # a heartbeat's only effect, its source's time, is recorded above
        return True

    def _inconsistent(self, reason: str, source: str) -> None:
        """An event that could not be applied as it says (counted by reason; an impossible order, per source)."""
        self.counters[f"inconsistent:{reason}"] += 1
        if source and reason.endswith(IMPOSSIBLE_ORDER):
            # the clock-anomaly signal counts, per source, the events whose order cannot have happened
            self.counters[f"anomaly:{source}:{reason}"] += 1

    @property
    def known_queues(self) -> set[str]:
        """Queues seen in contact events."""
        return self.contacts.known_queues

    def _queue_config(self, queue: str) -> QueueConfig:
        qc = self._qc.get(queue)
        if qc is None:
            qc = self._qc[queue] = self.config.for_queue(queue)
        return qc

    # -------------------------------------------------------------- agents

    def _agent_state(self, ev: AgentState, ts: float) -> None:
        placed, moved = self.agents_room.state_event(ev, ts)
        staffed, thresholds = self.agents_room.staffed, self.threshold_alarms
        for q in moved:  # who serves the queue counts at once, for every instant still to come
            if q in staffed:
                thresholds.queue_changed(q, NEG_INF)
        self.early_warning.agent_changed(sorted(set(self.agents_room.queues_of(ev.agent)) | moved), ts)
        if not placed:
            self._inconsistent("agent_state_too_late", ev.source or "")
            return
        for q in self.agents_room.queues_of(ev.agent):  # the no-agents rule looks again from then
            if q in staffed:
                thresholds.queue_changed(q, ts)

    # ------------------------------------------------------------ the clock

    def advance(self, now: float | None = None) -> list[Alarm]:
        """Move time forward: apply what the watermark released, run the alarms up to ``now``.

        ``now`` is the wall clock in live mode; in a replay leave it None, and the watermark is used.
        Returns the alarm events this produced (also appended to ``outbox``).
        """
        wm = self.max_ts - self._lateness
        if self.holding.any_due(wm):
            self.contacts.release_expired(wm)
        outbox = self.outbox
        start = len(outbox)
        # the timer before the agents: an alarm's context reads agent states as of its moment, which
        # lies after every change already final
        clock = wm if now is None else now
        outbox += self.wait_alarm.sweep(clock, self.calls, self)
        outbox += self.early_warning.advance(clock, self)
        thresholds = self.threshold_alarms
        if clock >= thresholds.evaluated_to + EVAL_S:  # otherwise no instant is due
            outbox += thresholds.advance(clock, self.known_queues, self.agents_room.staffed, self.sources, self)
        if self.agents_room.any_due(wm):
            account = self.agent_days_room.account
            for spell in self.agents_room.finalise(wm):
                account(spell)
        if wm > NEG_INF and int(wm // INTERVAL_S) != self._integrity_quarter:
            self._daily_integrity(wm)
        if wm - self._last_purge >= PURGE_EVERY_S:
            self._purge(wm)
            self._last_purge = wm
        if len(outbox) == start:
            return []
        if len(outbox) - start > 1:
            # the timer and the threshold evaluations each handle every instant up to the clock, so
            # ordering what one call decided by time orders the whole sequence, whatever the batching
            outbox[start:] = sorted(outbox[start:], key=lambda a: (a.at, a.alarm, a.queue, a.status))
        if self.site is not None:
            outbox[start:] = [a.model_copy(update={"site": self.site}) for a in outbox[start:]]
        raised = outbox[start:]
        self.alarm_log.add(raised)
        return raised

    def next_deadline(self) -> float | None:
        """When the alarm timer next has something to decide (for a driver's sleep)."""
        return self.wait_alarm.next_deadline()

    # ---------------------------------------------- the floor as of an instant

    def waiting_at(self, queue: str, at: float) -> int:
        """Contacts waiting in the queue at ``at``: those still waiting and those that left after it."""
        return self.calls.waiting_at(queue, at)

    def agents_at(self, queue: str, at: float | None = None) -> dict[str, int]:
        """Agents serving the queue in each state (at ``at``, or their latest state); staffed = not offline."""
        return self.agents_room.at(queue, at)

    def service_level_15m(self, queue: str, at: float) -> float | None:
        """The service level of the whole minutes in the 15 before ``at`` (an alarm's context)."""
        counts = self.buckets.service_level_counts(queue, at - 15 * 60, at - MINUTE_S)
        return service_level(self._queue_config(queue).service_level_formula.value, *counts)

    # ------------------------------------------------------------ integrity

    def integrity_signals(self) -> list[Signal]:
        """The signals over the configured period up to yesterday (cached for the day)."""
        wm = self.watermark
        if wm == NEG_INF:
            return []
        today = self.day_of(wm)
        if self._integrity_cache[0] != today:
            cfg = self.config.integrity
            self._integrity_cache = (today, evaluate_integrity(
                self.agent_days, self.day_of(wm - cfg.period_days * 86400), self.day_of(wm - 86400), cfg,
                self.anomalies()))
        return self._integrity_cache[1]

    def anomalies(self) -> dict[str, dict[str, int]]:
        """Events in an impossible order, per source and reason (the clock-anomaly signal's counts)."""
        anomalies: dict[str, dict[str, int]] = {}
        for key, n in self.counters.items():
            if key.startswith("anomaly:"):
                _, source, reason = key.split(":", 2)
                anomalies.setdefault(source, {})[reason] = n
        return anomalies

    def _daily_integrity(self, wm: float) -> None:
        """At each floor day's end, the integrity signals over the period before: low-severity alarms,
        at most one a day per agent (or source) and signal."""
        quarter = int(wm // 900)  # every zone's days start on a quarter hour: look once per quarter
        if quarter == self._integrity_quarter:
            return
        self._integrity_quarter = quarter
        today = self.day_of(wm)
        if today == self._integrity_day:
            return
        first_time = not self._integrity_day
        self._integrity_day = today
        if first_time:
            return
        rule = self.config.alarms.integrity
        if not rule.enabled:
            return
        self._integrity_sent = {k: t for k, t in self._integrity_sent.items() if wm - t < rule.repeat_s}
        for signal in self.integrity_signals():
            key = f"{signal.signal}:{signal.subject}"
            if wm - self._integrity_sent.get(key, NEG_INF) < rule.repeat_s - 3600:
                continue  # told within its repeat interval (an hour of slack: a floor day can be 23 h long)
            self._integrity_sent[key] = wm
            self.outbox.append(Alarm(
                alarm=f"integrity_{signal.signal}", status="started", queue=signal.subject, at=wm, started_at=wm,
                severity=rule.severity, value=round(signal.value, 6), threshold=round(signal.baseline, 6),
                unit="ratio" if signal.signal != "clock_anomalies" else "events", metric=signal.signal,
                waiting=0, agents_available=0, service_level=None, detail=signal.reason,
                evidence=signal.evidence))

    # ------------------------------------------------------------ retention

    def _purge(self, wm: float) -> None:
        """Forget what has ended, by event time, so that memory (and Redis) stays bounded.

        Each room forgets from its own time-ordered index: the cost is what is forgotten.
        """
        cfg = self.config
        # whole hours only: what is forgotten depends on event time alone, never on arrival order
        self.seen.expire(int((wm - cfg.dedup_horizon_s) // 3600))
        # the wait alarm's context looks back no further than a contact is remembered
        self.calls.expire(int((wm - cfg.contact_retention_s) // 3600), wm - cfg.contact_retention_s)
        self.customers_room.expire(int((wm - REPEAT_LONG_S) // 3600))
        self.buckets.expire(wm - cfg.history_days * 86400, self.max_ts - MINUTE_RETENTION_S, self._roll_up)
        self.agent_days_room.expire(self.day_of(wm - cfg.agent_history_days * 86400))
        self.queue_days.expire(self.day_of(wm - cfg.daily_history_days * 86400))
        self.alarm_log.expire(wm - cfg.daily_history_days * 86400)

    def _roll_up(self, queue: str, channel: str, start: int, agg: Agg) -> None:
        """An interval leaving the 15-minute history: its figures join its day's."""
        self.queue_days.fold(queue, channel, start, agg, day_of_interval(start, self._queue_config(queue)))

    # ---------------------------------------------------------- persistence

    def take_dirty(self) -> dict[str, dict[str, bytes | None]]:
        """The changes since the last call, as container -> {key: serialised value or None (deleted)}."""
        out: dict[str, dict[str, bytes | None]] = {}
        for name, (container, keys) in self._containers().items():
            if keys:
                out[name] = codec.changes(container, keys)
                keys.clear()
        seen = self.seen.take_changes()
        if seen:
            out["seen"] = seen
        return out

    def export(self) -> dict[str, dict[str, bytes]]:
        """The whole state as a store holds it (every key of every container, all dedup ids), for a store
        that lost what it had; what was changed since the last :meth:`take_dirty` is in it, and is no
        longer pending."""
        out: dict[str, dict[str, bytes]] = {}
        for name, (container, keys) in self._containers().items():
            out[name] = {k: v for k, v in codec.changes(container, container.keys()).items() if v is not None}
            keys.clear()
        out["seen"] = self.seen.export()
        return out

    def clear_dirty(self) -> None:
        for _, keys in self._containers().values():
            keys.clear()
        self.seen.clear_changes()

    def meta(self) -> dict[str, Any]:
        return {
            "max_ts": _finite(self.max_ts),
            "min_ts": _finite(self.min_ts),
            "swept_to": _finite(self.wait_alarm.swept_to),
            "seq": self.calls.seq,
            "seen_batch": self.seen.batch,
            "last_purge": _finite(self._last_purge),
            "evaluated_to": _finite(self.threshold_alarms.evaluated_to),
            "integrity_day": self._integrity_day,
            "integrity_sent": self._integrity_sent,
            "counters": dict(self.counters),
            "event_clock": self.clock.to_state(),
            "forecast": self.forecast.to_state(),
        }

    @classmethod
    def restore(cls, config: MonitorConfig, meta: dict[str, Any] | None,
                containers: dict[str, dict[Any, bytes]], site: str | None = None) -> Engine:
        """Rebuild an engine from the change sets :meth:`take_dirty` produced, as a store holds them."""
        eng = cls(config, site)
        if meta:
            eng.max_ts = _or(meta.get("max_ts"), NEG_INF)
            eng.min_ts = _or(meta.get("min_ts"), float("inf"))
            eng.wait_alarm.swept_to = _or(meta.get("swept_to"), NEG_INF)
            eng._last_purge = _or(meta.get("last_purge"), NEG_INF)
            eng.threshold_alarms.evaluated_to = _or(meta.get("evaluated_to"), NEG_INF)
            eng.calls.seq = meta.get("seq", 0)
            eng._integrity_day = meta.get("integrity_day", "")
            eng._integrity_sent = dict(meta.get("integrity_sent", {}))
            eng.seen.batch = meta.get("seen_batch", 0)
            eng.counters.update(meta.get("counters", {}))
        for name, (target, _) in eng._containers().items():
            codec.load(name, containers.get(name, {}), target)
        eng.seen.load(containers.get("seen", {}))
        # the event clock's dump, or (a state from before it) the sources' newest times
        clock_state = (meta or {}).get("event_clock") or {
            "clocks": dict(eng.sources), "newest": None if eng.max_ts == NEG_INF else eng.max_ts}
        eng.clock = EventClock.from_state(eng.clock.limits, clock_state)
        eng._reindex()
        eng.forecast.load((meta or {}).get("forecast", {}), eng.calls, eng.max_ts)
        return eng

    def _reindex(self) -> None:
        """Every derived index, heap and running window, from the containers."""
        self.calls.reindex(self.threshold_alarms.evaluated_to)
        self.wait_alarm.reindex(self.calls)
        self.holding.reindex()
        self.alarm_log.reindex()
        self.agents_room.reindex()
        self.customers_room.reindex()
        self.buckets.reindex()
        self.known_queues.update(self.buckets.channels)
        self._recount_windows()
        self.threshold_alarms.rebook(self.known_queues, self.sources, self.max_ts)

    def _recount_windows(self) -> None:
        """The alarms' running counts from the minute buckets (they are derived, never stored)."""
        for (queue, _, minute), agg in sorted(self.buckets.minutes.items()):
            counts = ((ANSWERED, agg.answered), (WITHIN, agg.answered_within_t), (ABANDONED, agg.abandoned),
                      (ABANDONED_AFTER_T, agg.abandoned_after_t), (DEQUEUED, sum(agg.dequeued.values())))
            new = False
            for field, n in counts:
                if n:
                    new |= self.rolling.add(queue, minute, field, n)
            if new:
                self.threshold_alarms.minute_changed(queue, minute, new)

    # -------------------------------------------------------------- merging

    def absorb(self, other: Engine) -> None:
        """Fold another engine's state into this one (the read side's union of partitions)."""
        self.calls.absorb(other.calls)
        _merge_into(self.buckets.intervals, other.buckets.intervals)
        _merge_into(self.buckets.minutes, other.buckets.minutes)
        _merge_into(self.agent_days_room.days, other.agent_days_room.days)
        _merge_into(self.queue_days.days, other.queue_days.days)
        self.agents_room.absorb(other.agents_room)
        self.wait_alarm.alarms.update(other.wait_alarm.alarms)
        self.threshold_alarms.active.update(other.threshold_alarms.active)
        self.customers_room.absorb(other.customers_room)
        self.contacts.known_queues |= other.contacts.known_queues
        self.buckets.reindex()
        for s, t in other.sources.items():
            self.sources[s] = max(t, self.sources.get(s, NEG_INF))
        self.counters.update(other.counters)
        self.max_ts = max(self.max_ts, other.max_ts)
        self.min_ts = min(self.min_ts, other.min_ts)
        self.wait_alarm.swept_to = max(self.wait_alarm.swept_to, other.wait_alarm.swept_to)


def _finite(t: float) -> float | None:
    return None if t in (NEG_INF, float("inf")) else t


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _merge_into(mine: dict[Any, Any], theirs: dict[Any, Any]) -> None:
    for k, v in theirs.items():
        have = mine.get(k)
        if have is None:
            mine[k] = v
        else:
            have.merge(v)


def replay_events(engine: Engine, events: Iterable[Event]) -> Engine:
    """Drive an engine over events in event-time mode (the offline replay)."""
    step = engine.step
    for ev in events:
        step(ev)
    engine.finish()  # candidates the event clock never saw confirmed are refused
    return engine
