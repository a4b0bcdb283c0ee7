"""The call-center engine: a pure, deterministic state machine over validated events.

No I/O, no wall clock: time comes in with each event (its ``ts``) and with :meth:`Engine.advance`
(``now``: the wall clock live, the event-time watermark in a replay). The Faust worker and the offline
replay drive the same class, so the same events give the same figures either way.

Out of order. An event whose prerequisite has not been seen yet (an answer before its ``call.queued``,
an end before its answer) is held, and applied the moment the prerequisite arrives; if the watermark
(latest ``ts`` less the allowed lateness) passes it first, it is applied as far as it makes sense and
counted as inconsistent. Agent state changes are accounted once the watermark has passed them. Both
make the figures of events within the allowed lateness the same as in order.

Persistence. Every container the engine mutates records the touched keys in ``dirty``; a driver
writes exactly those (a key no longer in its container is deleted), together with the offsets, in one
transaction. :meth:`Engine.restore` rebuilds the rest (indexes, timer heaps) from the containers.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import orjson

from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.aggregates import (
    INTERVAL_S,
    MINUTE_S,
    REPEAT_LONG_S,
    REPEAT_SHORT_S,
    AgentDay,
    Agg,
    wait_bucket,
)
from callwatch.engine.eventclock import ClockLimits, EventClock, Refusal  # event clock (issue 11)
from callwatch.engine.figures import agents_in_queue, service_level_of, window_agg
from callwatch.engine.integrity import Signal
from callwatch.engine.integrity import evaluate as evaluate_integrity
from callwatch.engine.records import (
    ActiveAlarm,
    ActiveThreshold,
    AgentRecord,
    AlarmEvent,
    ContactRef,
    CustomerHistory,
    Leg,
)
from callwatch.engine.thresholds import EVAL_S, ThresholdAlarms, due_instants
from callwatch.events import (
    AgentState,
    CallAbandoned,
    CallAnswered,
    CallDequeued,
    CallDisposition,
    CallEnded,
    CallQueued,
    CallTransferred,
    CallWrapped,
    Event,
    SurveyCompleted,
    SurveyOffered,
    decode,
    encode,
)

WAIT_ALARM = "wait_window_exceeded"
#: minute buckets older than this behind the newest event are dropped (rolling windows need 60 min,
#: the 30-minute alarms less; the rest is slack for late events)
MINUTE_RETENTION_S = 75 * 60
#: how often (event time) old state is swept out
PURGE_EVERY_S = 60.0
#: inconsistency reasons that mean an order of events that cannot have happened (clock anomalies)
IMPOSSIBLE_ORDER = ("_out_of_sequence", "_without_history", "_before_answered", "_before_queued",
                    "_before_ended", "waiting_since_after_queued")
NEG_INF = float("-inf")
#: refusals kept for take_refusals() (event clock, issue 11); the counters count them all
MAX_REFUSALS = 10_000

#: the containers a driver persists, and the record type each holds
CONTAINERS: dict[str, Any] = {
    "legs": Leg,
    "intervals": Agg,
    "minutes": Agg,
    "agents": AgentRecord,
    "agent_days": AgentDay,
    # "seen" is not here: its ids are stored in batches (see take_dirty), not one field per event
    "held": list,
    "alarms": ActiveAlarm,
    "thresholds": ActiveThreshold,
    "sources": float,
    "customers": CustomerHistory,
}

#: containers keyed by a tuple (stored as a JSON array); the others are keyed by a plain string
TUPLE_KEYED = frozenset({"legs", "intervals", "minutes", "agent_days", "held"})


class Engine:
    """Live queue state, interval figures, agent figures and the wait alarm for one event stream."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.legs: dict[tuple[str, str], Leg] = {}
        self.intervals: dict[tuple[str, str, int], Agg] = {}
        self.minutes: dict[tuple[str, str, int], Agg] = {}
        self.agents: dict[str, AgentRecord] = {}
        self.agent_days: dict[tuple[str, str], AgentDay] = {}
        self.seen: dict[str, float] = {}
        self.held: dict[tuple[str, str], list[Event]] = {}
        self.alarms: dict[str, ActiveAlarm] = {}
        #: the threshold alarms (abandonment, service level, no agents, feed silent) by key
        self.thresholds: dict[str, ActiveThreshold] = {}
        #: (arrived, left) of contacts that left their queue since the last threshold evaluation
        self.recently_left: dict[str, list[tuple[float, float]]] = {}
        self._evaluated_to = NEG_INF
        #: queues seen in contact events, and queues some agent has said it serves (derived state)
        self.known_queues: set[str] = set()
        self.queue_channels: dict[str, set[str]] = {}
        #: the newest minute bucket per queue: windows with nothing in them need no summing
        self.queue_last_minute: dict[str, float] = {}
        self.staffed_queues: set[str] = set()
        self._threshold_alarms = ThresholdAlarms(self)
        #: latest event time per source (feed-silent detection and the clock-anomaly counts)
        self.sources: dict[str, float] = {}
        #: each customer's contacts of the last 72 h (repeat contacts and FCR), by customer pseudonym
        self.customers: dict[str, CustomerHistory] = {}
        self._customer_of_call: dict[str, str] = {}
        self._customer_hours: dict[int, set[str]] = {}
        #: event count and pipeline counters: late, duplicate, inconsistent:<reason>
        self.counters: Counter[str] = Counter()
        self.max_ts = NEG_INF
        self.min_ts = float("inf")
        self.swept_to = NEG_INF
        self.seq = 0
        self._last_purge = NEG_INF
        # derived indexes, rebuilt by restore()
        self.waiting: dict[str, dict[str, Leg]] = {}
        self._crossings: list[tuple[float, int, str, str]] = []
        self._departures: list[tuple[float, int, str, str]] = []
        self._over: dict[str, set[int]] = {}
        self._held_heap: list[tuple[float, str, str]] = []
        #: (time, agent) of state changes not yet final, so the watermark finds them without a scan
        self._agent_changes: list[tuple[float, str]] = []
        #: ids and legs by the hour of their time, so that forgetting them costs what is forgotten
        self._seen_hours: dict[int, list[str]] = {}
        # persisted form of ``seen``: one field per (hour, batch), so a batch of 2,000 events writes
        # one field for deduplication, not 2,000; an hour's fields are deleted together
        self._seen_new: list[tuple[str, float]] = []
        self._seen_fields: dict[int, list[str]] = {}
        self._seen_gone: list[str] = []
        self._seen_batch = 0
        self._leg_hours: dict[int, list[tuple[str, str]]] = {}
        self._agent_days_kept_from = ""
        self._source = ""
        #: the floor day the integrity signals were last evaluated for (once a day, at its end)
        self._integrity_day = ""
        self._integrity_quarter = -1
        self._integrity_cache: tuple[str, list[Signal]] = ("", [])
        self._day_cache: dict[int, str] = {}
        self._expiring = False
        self._qc: dict[str, QueueConfig] = {}
        self._handlers: dict[str, Any] = {
            "call.queued": self._queued, "call.answered": self._answered, "call.ended": self._ended,
            "agent.state": self._agent_state, "call.wrapped": self._wrapped,
            "call.abandoned": self._left_unanswered, "call.dequeued": self._left_unanswered,
            "call.transferred": self._transferred, "call.disposition": self._disposition,
            "survey.offered": self._survey, "survey.completed": self._survey,
        }
        self.outbox: list[AlarmEvent] = []
        self.dirty: dict[str, set[Any]] = {name: set() for name in CONTAINERS}
        # --- event clock (issue 11) -------------------------------------------------------------------
        #: whether each event's time is believable, before it reaches apply() (engine/eventclock.py)
        self.clock = EventClock(ClockLimits.from_settings(config))
        #: events the clock refused since the last take_refusals()
        self._refusals: list[Refusal] = []
        # --- end event clock ------------------------------------------------------------------------

    # ------------------------------------------------------------------ time

    @property
    def watermark(self) -> float:
        """The event-time watermark: the newest ``ts`` seen less the allowed lateness."""
        return self.max_ts - self.config.allowed_lateness_s

    def day_of(self, ts: float) -> str:
        """The floor's calendar day (ISO date) that ``ts`` falls in."""
        slot = int(ts // INTERVAL_S)
        day = self._day_cache.get(slot)
        if day is None:
            day = datetime.fromtimestamp(slot * INTERVAL_S, self.config.floor_zone).date().isoformat()
            self._day_cache[slot] = day
        return day

    # ----------------------------------------------------------------- input

    # --- event clock (issue 11): step, finish, take_refusals ----------------------------------------

    def step(self, event: Event, now: float | None = None,
             on_error: Callable[[Event, Exception], None] | None = None,
             wall: float | None = None) -> list[AlarmEvent]:
        """Offer one event to the event clock, apply what it releases and move the clock: what both
        drivers call, event by event.

        Advancing after every applied event (not after a batch) is what makes a live run, whatever its
        batching, give exactly the figures of an offline replay of the same events. An event whose time
        is not believable is refused (counted ``invalid:<code>``, see :meth:`take_refusals`) and never
        reaches the state. With ``on_error``, an exception applying one released event is handed to it
        and the events released after it are still applied; without, it propagates. ``wall``: the wall
        clock of a live driver whose ``now`` is None for this event (a backlog), against future times.
        """
        released, refused = self.clock.offer(event, event.ts.timestamp(), now, wall)
        return self._admit(released, refused, now, on_error)

    def finish(self) -> list[AlarmEvent]:
        """The end of a replay: candidates the event clock still holds were never confirmed (refused)."""
        released, refused = self.clock.flush()
        return self._admit(released, refused, None, None)

    def take_refusals(self) -> list[Refusal]:
        """The events refused by the event clock since the last call (a driver dead-letters them)."""
        out, self._refusals = self._refusals, []
        return out

    def _admit(self, released: list[Event], refused: list[Refusal], now: float | None,
               on_error: Callable[[Event, Exception], None] | None) -> list[AlarmEvent]:
        for r in refused:
            self.counters[f"invalid:{r.code}"] += 1
        self._refusals.extend(refused)
        if len(self._refusals) > MAX_REFUSALS:  # a driver that never takes them (offline) keeps the last ones
            del self._refusals[:-MAX_REFUSALS]
        if not released:
            return self.advance(now)
        alarms: list[AlarmEvent] = []
        for ev in released:
            try:
                self.apply(ev)
                alarms.extend(self.advance(now))
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(ev, exc)
        return alarms

    # --- end event clock ----------------------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Apply one validated event. False when it was a duplicate and changed nothing."""
        ts = event.ts.timestamp()
        if event.id in self.seen:
            self.counters["duplicate"] += 1
            return False
        self.seen[event.id] = ts
        self._seen_hours.setdefault(int(ts // 3600), []).append(event.id)
        self._seen_new.append((event.id, ts))
        self.counters["events"] += 1
        if ts < self.watermark:
            self.counters["late"] += 1
        if ts > self.max_ts:
            self.max_ts = ts
        if ts < self.min_ts:
            self.min_ts = ts
        source = event.source
        if source is not None and ts > self.sources.get(source, NEG_INF):
            self.sources[source] = ts
            self.dirty["sources"].add(source)
        self._dispatch(event, ts)
        return True

    def _dispatch(self, ev: Event, ts: float) -> None:
        self._source = ev.source or ""
        handler = self._handlers.get(ev.type)
        if handler is not None:  # a heartbeat's only effect, its source's time, is recorded in apply()
            handler(ev, ts)

    def _inconsistent(self, reason: str) -> None:
        self.counters[f"inconsistent:{reason}"] += 1
        if self._source and reason.endswith(IMPOSSIBLE_ORDER):
            # the clock-anomaly signal counts, per source, the events whose order cannot have happened
            self.counters[f"anomaly:{self._source}:{reason}"] += 1

    # ------------------------------------------------------- buckets helpers

    def _queue_config(self, queue: str) -> QueueConfig:
        qc = self._qc.get(queue)
        if qc is None:
            qc = self._qc[queue] = self.config.for_queue(queue)
        return qc

    def _buckets(self, queue: str, channel: str, ts: float) -> tuple[Agg, ...]:
        """The 15-minute interval and the minute bucket ``ts`` falls in (the minute only if recent)."""
        ik = _interval_key(queue, channel, ts)
        iv = self.intervals.get(ik)
        if iv is None:
            iv = self.intervals[ik] = Agg()
            self.known_queues.add(queue)
            self.queue_channels.setdefault(queue, set()).add(channel)
        self.dirty["intervals"].add(ik)
        if ts < self.max_ts - MINUTE_RETENTION_S:
            return (iv,)
        mk = (queue, channel, int(ts // MINUTE_S) * MINUTE_S)
        if mk[2] > self.queue_last_minute.get(queue, NEG_INF):
            self.queue_last_minute[queue] = mk[2]
        mn = self.minutes.get(mk)
        if mn is None:
            mn = self.minutes[mk] = Agg()
        self.dirty["minutes"].add(mk)
        return (iv, mn)

    def _agent_day(self, agent: str, ts: float) -> AgentDay:
        key = (agent, self.day_of(ts))
        day = self.agent_days.get(key)
        if day is None:
            day = self.agent_days[key] = AgentDay()
        self.dirty["agent_days"].add(key)
        return day

    def _touch(self, leg: Leg, ts: float) -> None:
        if ts > leg.last_ts:
            leg.last_ts = ts
            self._leg_hours.setdefault(int(ts // 3600), []).append((leg.queue, leg.call_id))
        self.dirty["legs"].add((leg.queue, leg.call_id))

    # ------------------------------------------------------------ holding

    def _hold(self, ev: Event, key: tuple[str, str], ts: float) -> None:
        if self._expiring:
            # the watermark has passed it: what it waits for is not coming
            self._inconsistent(f"{ev.type.split('.')[1]}_out_of_sequence")
            return
        held = self.held.setdefault(key, [])
        held.append(ev)
        self.dirty["held"].add(key)
        heapq.heappush(self._held_heap, (ts, key[0], key[1]))

    def _release(self, key: tuple[str, str]) -> None:
        """A leg just changed: apply the events that were waiting for it, in event-time order."""
        held = self.held.pop(key, None)
        if not held:
            return
        self.dirty["held"].add(key)
        for ev in sorted(held, key=lambda e: (e.ts, e.id)):
            self._dispatch(ev, ev.ts.timestamp())

    def _release_expired(self, watermark: float) -> None:
        """Held events the watermark has passed: their prerequisite is not coming; apply them as orphans."""
        heap = self._held_heap
        while heap and heap[0][0] <= watermark:
            _, queue, call_id = heapq.heappop(heap)
            key = (queue, call_id)
            held = self.held.get(key)
            if not held:
                continue
            due = [e for e in held if e.ts.timestamp() <= watermark]
            rest = [e for e in held if e.ts.timestamp() > watermark]
            if rest:
                self.held[key] = rest
            else:
                del self.held[key]
            self.dirty["held"].add(key)
            self._expiring = True
            try:
                for ev in sorted(due, key=lambda e: (e.ts, e.id)):
                    self._source = ev.source or ""
                    if key in self.legs:  # an earlier orphan of this contact created its leg
                        self._dispatch(ev, ev.ts.timestamp())
                    else:
                        self._orphan(ev, ev.ts.timestamp())
            finally:
                self._expiring = False

    def _orphan(self, ev: Event, ts: float) -> None:
        """Apply an event whose contact history is incomplete (e.g. the monitor started mid-call).

        Its queue figures are not counted (its wait is unknown), but the agent's work is, and the leg
        is created so that the contact's later events apply normally.
        """
        key = (ev.queue, ev.call_id)  # type: ignore[union-attr]
        self._inconsistent(f"{ev.type.split('.')[1]}_without_history")
        if isinstance(ev, CallAnswered | CallEnded | CallTransferred | CallWrapped):
            self.seq += 1
            leg = Leg(ev.call_id, ev.queue, ev.channel.value, ev.priority, self.seq, None, None, "answered",
                      agent=ev.agent, answered_at=ts, left_at=ts)
            self.legs[key] = leg
            self._touch(leg, ts)
            if isinstance(ev, CallEnded | CallTransferred):
                leg.answered_at = None  # talk unknown: the end is recorded, the talk time is not
                self._finish(leg, ev, ts, talk=0.0)
            elif isinstance(ev, CallWrapped):
                leg.status = "ended"
                leg.wrapped = True
        elif isinstance(ev, CallDisposition | SurveyOffered | SurveyCompleted):
            self._handlers[ev.type](ev, ts)  # the agent's and the queue's figures count it all the same
        # an orphan abandon or dequeue has no wait to report and no one else to credit: counted only

    # ------------------------------------------------------------ contacts

    def _queued(self, ev: CallQueued, ts: float) -> None:
        key = (ev.queue, ev.call_id)
        leg = self.legs.get(key)
        if leg is not None and leg.status == "waiting":
            self._inconsistent("queued_twice")
            return
        wait_from = ts
        if ev.waiting_since is not None:
            since = ev.waiting_since.timestamp()
            if since > ts:
                self._inconsistent("waiting_since_after_queued")
            else:
                wait_from = since
        self.seq += 1
        leg = Leg(ev.call_id, ev.queue, ev.channel.value, ev.priority, self.seq, ts, wait_from, "waiting",
                  customer=ev.customer)
        self.legs[key] = leg
        self._touch(leg, ts)
        self.waiting.setdefault(ev.queue, {})[ev.call_id] = leg
        for agg in self._buckets(ev.queue, leg.channel, ts):
            agg.offered += 1
        if ev.customer and ev.call_id not in self._customer_of_call:
            self._customer_contact(ev.customer, ev.call_id, ev.queue, leg.channel, ts)
        window = self._queue_config(ev.queue).wait_window_s
        heapq.heappush(self._crossings, (wait_from + window, leg.seq, ev.queue, ev.call_id))
        self._release(key)

    def _leave(self, leg: Leg, ts: float) -> float:
        """Take a waiting leg out of its queue at ``ts``; returns its wait (never below 0)."""
        assert leg.wait_from is not None
        del self.waiting[leg.queue][leg.call_id]
        leg.left_at = ts
        if leg.arrived_at is not None:
            self.recently_left.setdefault(leg.queue, []).append((leg.arrived_at, ts))
        wait = ts - leg.wait_from
        if wait < 0:
            self._inconsistent("left_before_queued")
            wait = 0.0
        window = self._queue_config(leg.queue).wait_window_s
        if wait > window:
            heapq.heappush(self._departures, (ts, leg.seq, leg.queue, leg.call_id))
        elif leg.seq in self._over.get(leg.queue, ()):
            # the timer passed the crossing before this (late) event said the caller had left in time:
            # the alarm was wrong, and it resolves now rather than never
            heapq.heappush(self._departures, (max(ts, self.swept_to), leg.seq, leg.queue, leg.call_id))
        return wait

    def _take_from_queue(self, ev: CallAnswered | CallAbandoned | CallDequeued, ts: float) -> tuple[Leg, float] | None:
        """The waiting leg an answer, abandon or dequeue ends, taken out of its queue, with its wait."""
        key = (ev.queue, ev.call_id)
        leg = self.legs.get(key)
        if leg is None:
            self._hold(ev, key, ts)
            return None
        if leg.status != "waiting":
            if isinstance(ev, CallAnswered):
                self._inconsistent("answered_twice" if leg.answered_at is not None else "answered_after_leaving")
            else:
                self._inconsistent(f"{ev.type.split('.')[1]}_not_waiting")
            return None
        return leg, self._leave(leg, ts)

    def _answered(self, ev: CallAnswered, ts: float) -> None:
        taken = self._take_from_queue(ev, ts)
        if taken is None:
            return
        leg, wait = taken
        qc = self._queue_config(ev.queue)
        within = wait <= qc.threshold_s(ev.channel)
        bucket = wait_bucket(wait)
        for agg in self._buckets(ev.queue, leg.channel, ts):
            agg.answered += 1
            agg.answered_within_t += within
            agg.wait_answered_sum_s += wait
            if wait > agg.wait_answered_max_s:
                agg.wait_answered_max_s = wait
            agg.wait_answered_hist[bucket] += 1
        leg.status = "answered"
        leg.agent = ev.agent
        leg.answered_at = ts
        ref = self._contact_ref(ev.call_id)
        if ref is not None and ref.agent is None:
            ref.agent, ref.agent_day = ev.agent, self.day_of(ts)
            day = self._agent_day(ev.agent, ts)
            day.customer_contacts += 1
            # a repeat seen before this answer (events out of order) is credited to the agent now
            day.repeat_24h += ref.repeat_24h
            day.repeat_72h += ref.repeat_72h
        self._touch(leg, ts)
        self._release((leg.queue, leg.call_id))

    def _left_unanswered(self, ev: CallAbandoned | CallDequeued, ts: float) -> None:
        taken = self._take_from_queue(ev, ts)
        if taken is None:
            return
        leg, wait = taken
        if isinstance(ev, CallDequeued):
            for agg in self._buckets(ev.queue, leg.channel, ts):
                agg.dequeued[ev.reason] = agg.dequeued.get(ev.reason, 0) + 1
            leg.status = "dequeued"
        else:
            qc = self._queue_config(ev.queue)
            short = wait < qc.short_abandon_s
            after_t = wait > qc.threshold_s(ev.channel)
            bucket = wait_bucket(wait)
            for agg in self._buckets(ev.queue, leg.channel, ts):
                if short:
                    agg.short_abandoned += 1
                    agg.short_abandon_wait_sum_s += wait
                    continue
                agg.abandoned += 1
                agg.abandoned_after_t += after_t
                agg.wait_abandoned_sum_s += wait
                if wait > agg.wait_abandoned_max_s:
                    agg.wait_abandoned_max_s = wait
                agg.wait_abandoned_hist[bucket] += 1
            leg.status = "abandoned"
        self._touch(leg, ts)
        self._release((leg.queue, leg.call_id))

    def _conversation(self, ev: CallEnded | CallTransferred, ts: float) -> Leg | None:
        """The answered leg a conversation-ending event belongs to, or None (held or inconsistent)."""
        key = (ev.queue, ev.call_id)
        leg = self.legs.get(key)
        if leg is None or leg.status == "waiting":
            self._hold(ev, key, ts)
            return None
        if leg.status != "answered":
            if leg.status in ("ended", "transferred"):
                self._inconsistent(f"{ev.type.split('.')[1]}_after_end")
            else:
                self._inconsistent(f"{ev.type.split('.')[1]}_not_answered")
            return None
        return leg

    def _ended(self, ev: CallEnded, ts: float) -> None:
        leg = self._conversation(ev, ts)
        if leg is not None:
            assert leg.answered_at is not None
            self._finish(leg, ev, ts, talk=ts - leg.answered_at)

    def _transferred(self, ev: CallTransferred, ts: float) -> None:
        leg = self._conversation(ev, ts)
        if leg is not None:
            assert leg.answered_at is not None
            self._finish(leg, ev, ts, talk=ts - leg.answered_at)

    def _finish(self, leg: Leg, ev: CallEnded | CallTransferred, ts: float, talk: float) -> None:
        if talk < 0:
            self._inconsistent("ended_before_answered")
            talk = 0.0
        qc = self._queue_config(leg.queue)
        ended = isinstance(ev, CallEnded)
        hold = min(ev.hold_s or 0.0, talk) if ended else 0.0  # type: ignore[union-attr]
        by_agent = ended and ev.ended_by == "agent"  # type: ignore[union-attr]
        short = ended and leg.answered_at is not None and talk < qc.short_call_s
        transfer = not ended
        for agg in self._buckets(leg.queue, leg.channel, ts):
            agg.ended += 1
            agg.talk_s += talk
            agg.hold_s += hold
            agg.agent_ended += by_agent
            agg.short_calls += short
            agg.transfers += transfer
        day = self._agent_day(ev.agent, ts)
        if by_agent:
            integrity = self.config.integrity
            cap = integrity.handle_cap_s
            if talk < qc.short_call_s:
                day.short_agent_ended += 1
                day.add_evidence("short_hangups", leg.call_id, integrity.evidence_per_day)
            if cap is not None and cap - integrity.near_cap_s <= talk < cap:
                day.near_cap_agent_ended += 1
                day.add_evidence("cap_clustering", leg.call_id, integrity.evidence_per_day)
        day.handled += 1
        day.talk_s += talk
        day.hold_s += hold
        day.agent_ended += by_agent
        day.short_calls += short
        day.transfers += transfer
        leg.status = "ended" if ended else "transferred"
        leg.ended_at = ts
        leg.agent = ev.agent
        self._touch(leg, ts)
        self._release((leg.queue, leg.call_id))

    def _wrapped(self, ev: CallWrapped, ts: float) -> None:
        key = (ev.queue, ev.call_id)
        leg = self.legs.get(key)
        if leg is None or leg.status in ("waiting", "answered"):
            self._hold(ev, key, ts)
            return
        if leg.status not in ("ended", "transferred") or leg.ended_at is None:
            self._inconsistent("wrapped_not_ended")
            return
        if leg.wrapped:
            self._inconsistent("wrapped_twice")
            return
        acw = ts - leg.ended_at
        if acw < 0:
            self._inconsistent("wrapped_before_ended")
            acw = 0.0
        # handle time belongs to the interval in which the contact ended
        for agg in self._buckets(leg.queue, leg.channel, leg.ended_at):
            agg.acw_s += acw
        self._agent_day(ev.agent, leg.ended_at).acw_s += acw
        leg.wrapped = True
        self._touch(leg, ts)

    def _disposition(self, ev: CallDisposition, ts: float) -> None:
        if (ev.queue, ev.call_id) not in self.legs and not self._expiring:
            # its contact's first events are late: wait for them, so that which surveys were offered on
            # complaint contacts never depends on arrival order
            self._hold(ev, (ev.queue, ev.call_id), ts)
            return
        complaint = bool(ev.complaint)
        for agg in self._buckets(ev.queue, ev.channel.value, ts):
            agg.dispositions += 1
            agg.resolved += ev.resolved
            agg.complaints += complaint
        day = self._agent_day(ev.agent, ts)
        day.dispositions += 1
        day.resolved += ev.resolved
        leg = self.legs.get((ev.queue, ev.call_id))
        offered = leg is not None and leg.survey_offered
        if complaint:
            day.complaint_contacts += 1
            day.complaint_offered += offered
            if not offered:
                day.add_evidence("survey_selection", ev.call_id, self.config.integrity.evidence_per_day)
        else:
            day.other_contacts += 1
            day.other_offered += offered
        if leg is not None:
            leg.resolved = ev.resolved
            leg.complaint = ev.complaint
            self._touch(leg, ts)
        ref = self._contact_ref(ev.call_id)
        if ref is not None and ref.resolved is None:
            ref.resolved = ev.resolved
            if ev.resolved and ref.repeat_72h:  # the customer came back before the disposition arrived
                self._count_resolved_repeat(ref)

    def _survey(self, ev: SurveyOffered | SurveyCompleted, ts: float) -> None:
        if (ev.queue, ev.call_id) not in self.legs and not self._expiring:
            self._hold(ev, (ev.queue, ev.call_id), ts)
            return
        day = self._agent_day(ev.agent, ts)
        buckets = self._buckets(ev.queue, ev.channel.value, ts)
        if isinstance(ev, SurveyOffered):
            for agg in buckets:
                agg.surveys_offered += 1
            day.surveys_offered += 1
            leg = self.legs.get((ev.queue, ev.call_id))
            if leg is not None and not leg.survey_offered:
                leg.survey_offered = True
                self._touch(leg, ts)
                if leg.complaint is not None:  # the disposition came first: count the offer against it
                    if leg.complaint:
                        day.complaint_offered += 1
                        ids = day.evidence.get("survey_selection", [])
                        if ev.call_id in ids:
                            ids.remove(ev.call_id)
                            if not ids:
                                del day.evidence["survey_selection"]
                    else:
                        day.other_offered += 1
            return
        sat, pro, more = ev.satisfied, ev.professional, ev.more_help
        targets: tuple[Agg | AgentDay, ...] = (*buckets, day)
        for target in targets:
            _add_answers(target, sat, pro, more)
        if sat == 5 and pro == 5:
            day.perfect_scores += 1
            day.add_evidence("perfect_scores", ev.call_id, self.config.integrity.evidence_per_day)

    # ------------------------------------------------------ repeat contacts

    def _contact_ref(self, call_id: str) -> ContactRef | None:
        customer = self._customer_of_call.get(call_id)
        if customer is None:
            return None
        self.dirty["customers"].add(customer)
        return next((c for c in self.customers[customer].contacts if c.call_id == call_id), None)

    def _customer_contact(self, customer: str, call_id: str, queue: str, channel: str, ts: float) -> None:
        """A customer's new contact: earlier ones within 24 h / 72 h become repeats (any queue or channel)."""
        history = self.customers.get(customer)
        if history is None:
            history = self.customers[customer] = CustomerHistory()
        for prior in history.contacts:
            gap = ts - prior.ts
            if gap <= 0 or gap > REPEAT_LONG_S or (prior.repeat_72h and (prior.repeat_24h or gap > REPEAT_SHORT_S)):
                continue
            short = gap <= REPEAT_SHORT_S and not prior.repeat_24h
            long = not prior.repeat_72h
            prior.repeat_24h |= short
            prior.repeat_72h = True
            agg = self._interval_of(prior)
            day_key = (prior.agent, prior.agent_day) if prior.agent and prior.agent_day else None
            day = self.agent_days.get(day_key) if day_key else None
            if day is not None:
                self.dirty["agent_days"].add(day_key)
            for target in (agg, day):
                if target is not None:
                    target.repeat_24h += short
                    target.repeat_72h += long
            if long and prior.resolved:
                self._count_resolved_repeat(prior)
        ref = ContactRef(call_id, ts, queue, channel)
        later = [c.ts - ts for c in history.contacts if 0 < c.ts - ts <= REPEAT_LONG_S]
        history.contacts.append(ref)
        self._customer_of_call[call_id] = customer
        self._customer_hours.setdefault(int(ts // 3600), set()).add(customer)
        self.dirty["customers"].add(customer)
        for agg in self._buckets(queue, channel, ts):
            agg.customer_contacts += 1
        if later:  # arrived late: the customer's next contact is already known, so this one is a repeat
            ref.repeat_72h = True
            ref.repeat_24h = min(later) <= REPEAT_SHORT_S
            agg = self._interval_of(ref)
            if agg is not None:
                agg.repeat_72h += 1
                agg.repeat_24h += ref.repeat_24h

    def _interval_of(self, ref: ContactRef) -> Agg | None:
        key = _interval_key(ref.queue, ref.channel, ref.ts)
        agg = self.intervals.get(key)
        if agg is not None:
            self.dirty["intervals"].add(key)
        return agg

    def _count_resolved_repeat(self, ref: ContactRef) -> None:
        agg = self._interval_of(ref)
        if agg is not None:
            agg.resolved_repeat_72h += 1
        if ref.agent and ref.agent_day:
            day = self.agent_days.get((ref.agent, ref.agent_day))
            if day is not None:
                day.resolved_repeat_72h += 1
                day.add_evidence("contradicted_resolution", ref.call_id, self.config.integrity.evidence_per_day)
                self.dirty["agent_days"].add((ref.agent, ref.agent_day))

    # -------------------------------------------------------------- agents

    def _agent_state(self, ev: AgentState, ts: float) -> None:
        rec = self.agents.get(ev.agent)
        if rec is None:
            rec = self.agents[ev.agent] = AgentRecord(ev.agent)
        if ev.queues is not None and ts >= rec.queues_ts:
            rec.queues = list(ev.queues)
            rec.queues_ts = ts
            self.staffed_queues.update(ev.queues)
        if ev.team is not None:
            rec.team = ev.team
        self.dirty["agents"].add(ev.agent)
        if rec.since is not None and ts < rec.since:
            # older than a change already made final: it cannot be placed any more
            self._inconsistent("agent_state_too_late")
            return
        # changes at the same instant are ordered by event id: arrival order must not matter
        change = [ts, ev.state.value, ev.reason, ev.id]
        pending = rec.pending
        order = (ts, ev.id)
        if not pending or order >= (pending[-1][0], pending[-1][3]):
            pending.append(change)
        else:
            i = len(pending)
            while i and (pending[i - 1][0], pending[i - 1][3]) > order:
                i -= 1
            pending.insert(i, change)
        heapq.heappush(self._agent_changes, (ts, ev.agent))

    def _finalise_agents(self, watermark: float) -> None:
        heap = self._agent_changes
        due: set[str] = set()
        while heap and heap[0][0] <= watermark:
            due.add(heapq.heappop(heap)[1])
        for name in sorted(due):
            rec = self.agents[name]
            pending = rec.pending
            n = 0
            while n < len(pending) and pending[n][0] <= watermark:
                ts, state, reason, _ = pending[n]
                if rec.since is not None:
                    self._account(rec, rec.since, ts, next_state=state)
                rec.previous, rec.state, rec.reason, rec.since = rec.state, state, reason, ts
                n += 1
            if n:
                del pending[:n]
                self.dirty["agents"].add(name)

    def _account(self, rec: AgentRecord, start: float, end: float, next_state: str | None) -> None:
        """Add the spell [start, end) of ``rec.state`` to the agent's days (split at midnight)."""
        if end <= start:
            return
        state, reason = rec.state, rec.reason
        idle = state == "available" and next_state == "busy" and rec.previous in ("busy", "wrap_up")
        t = start
        while t < end:
            day_key = self.day_of(t)
            # the next slot whose day differs bounds this piece
            stop = (int(t // INTERVAL_S) + 1) * INTERVAL_S
            while stop < end and self.day_of(stop) == day_key:
                stop += INTERVAL_S
            piece_end = min(stop, end)
            day = self._agent_day(rec.agent, t)
            d = piece_end - t
            day.state_s[state] = day.state_s.get(state, 0.0) + d
            if state == "away":
                r = reason or "unspecified"
                day.away_reason_s[r] = day.away_reason_s.get(r, 0.0) + d
            if idle:
                day.idle_between_s += d
            t = piece_end
        if idle:
            self._agent_day(rec.agent, end).idle_between_n += 1

    # ------------------------------------------------------------ the clock

    def advance(self, now: float | None = None) -> list[AlarmEvent]:
        """Move time forward: apply what the watermark released, run the alarm timer up to ``now``.

        ``now`` is the wall clock in live mode; in a replay leave it None, and the watermark is used.
        Returns the alarm events this produced (also appended to ``outbox``).
        """
        wm = self.watermark
        if self._held_heap and self._held_heap[0][0] <= wm:
            self._release_expired(wm)
        start = len(self.outbox)
        # the timer before the agents: an alarm's context reads agent states as of its moment, which
        # lies after every change already final
        clock = wm if now is None else now
        self._sweep(clock)
        if clock > NEG_INF and clock >= self._evaluated_to + EVAL_S:
            self._evaluate_thresholds(clock)
        if self._agent_changes and self._agent_changes[0][0] <= wm:
            self._finalise_agents(wm)
        if wm > NEG_INF:
            self._daily_integrity(wm)
        if wm - self._last_purge >= PURGE_EVERY_S:
            self._purge(wm)
            self._last_purge = wm
        if len(self.outbox) - start > 1:
            # the timer and the threshold evaluations each handle every instant up to the clock, so
            # ordering what one call decided by time orders the whole sequence, whatever the batching
            self.outbox[start:] = sorted(self.outbox[start:], key=lambda a: (a.at, a.alarm, a.queue, a.status))
        return self.outbox[start:]

    def _evaluate_thresholds(self, clock: float) -> None:
        for at in due_instants(self._evaluated_to, clock):
            self._threshold_alarms.evaluate(at)
            self._evaluated_to = at
        done = self._evaluated_to
        for queue, left in self.recently_left.items():
            if left:
                self.recently_left[queue] = [item for item in left if item[1] > done]

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
        for signal in self.integrity_signals():
            self.outbox.append(AlarmEvent(
                alarm=f"integrity_{signal.signal}", status="started", queue=signal.subject, at=wm, started_at=wm,
                severity="info", value=round(signal.value, 6), threshold=round(signal.baseline, 6),
                unit="ratio" if signal.signal != "clock_anomalies" else "events", metric=signal.signal,
                waiting=0, agents_available=0, service_level=None, detail=signal.reason,
                evidence=signal.evidence))

    def next_deadline(self) -> float | None:
        """When the alarm timer next has something to decide (for a driver's sleep)."""
        times = []
        if self._crossings:
            times.append(self._crossings[0][0])
        if self._departures:
            times.append(self._departures[0][0])
        return min(times) if times else None

    def _sweep(self, now: float) -> None:
        crossings, departures = self._crossings, self._departures
        while True:
            c = crossings[0][0] if crossings else None
            d = departures[0][0] if departures else None
            # on a tie the crossing goes first, so an incident handed from one caller to the next
            # stays one incident
            if c is not None and c <= now and (d is None or c <= d):
                deadline, seq, queue, call_id = heapq.heappop(crossings)
                leg = self.legs.get((queue, call_id))
                if leg is None or leg.seq != seq or (leg.left_at is not None and leg.left_at <= deadline):
                    continue
                over = self._over.setdefault(queue, set())
                over.add(seq)
                if queue not in self.alarms:
                    self.alarms[queue] = ActiveAlarm(queue, deadline, call_id)
                    self.dirty["alarms"].add(queue)
                    self._emit("started", queue, deadline, call_id)
            elif d is not None and d <= now:
                left_at, seq, queue, call_id = heapq.heappop(departures)
                crossed = self._over.get(queue)
                if not crossed or seq not in crossed:
                    continue
                crossed.discard(seq)
                if not crossed and queue in self.alarms:
                    self._emit("resolved", queue, left_at, call_id)
                    del self.alarms[queue]
                    self.dirty["alarms"].add(queue)
            else:
                break
        if now > self.swept_to:
            self.swept_to = now

    def _emit(self, status: str, queue: str, at: float, call_id: str) -> None:
        active = self.alarms[queue]
        qc = self._queue_config(queue)
        # the context as of the alarm's moment, which in a replay lies behind the newest event
        waits = [at - leg.wait_from for leg in self.legs.values()
                 if leg.queue == queue and leg.wait_from is not None and leg.wait_from <= at
                 and (leg.left_at is None or leg.left_at > at)]
        oldest = max(waits, default=0.0)
        if status == "started":
            oldest = max(oldest, qc.wait_window_s)
        # the whole minutes before the alarm: all their events are in, whatever the arrival order
        sl = service_level_of(window_agg(self, queue, None, at - 15 * 60, at - MINUTE_S), qc)
        self.outbox.append(AlarmEvent(
            alarm=WAIT_ALARM, status=status, queue=queue, at=at,
            started_at=max(active.started_at, 0.0), severity="critical",
            value=round(oldest, 3), threshold=qc.wait_window_s, unit="seconds", metric="oldest_wait",
            call_id=call_id, waiting=len(waits), agents_available=agents_in_queue(self, queue, at)["available"],
            service_level=sl, over_window=len(self._over.get(queue, ())),
        ))

    # ------------------------------------------------------------ retention

    def _purge(self, wm: float) -> None:
        """Forget what has ended, by event time, so that memory (and Redis) stays bounded."""
        cfg = self.config
        # whole hours only: what is forgotten depends on event time alone, never on arrival order
        cut_seen = int((wm - cfg.dedup_horizon_s) // 3600)
        for hour in [h for h in self._seen_hours if h < cut_seen]:
            for event_id in self._seen_hours.pop(hour):
                t = self.seen.get(event_id)
                if t is not None and int(t // 3600) == hour:
                    del self.seen[event_id]
            self._seen_gone.extend(self._seen_fields.pop(hour, ()))
        cut_legs = int((wm - cfg.contact_retention_s) // 3600)
        for hour in [h for h in self._leg_hours if h < cut_legs]:
            for leg_key in self._leg_hours.pop(hour):
                leg = self.legs.get(leg_key)
                if leg is not None and leg.status != "waiting" and int(leg.last_ts // 3600) <= hour:
                    del self.legs[leg_key]
                    self.dirty["legs"].add(leg_key)
        cut_cust = int((wm - REPEAT_LONG_S) // 3600)
        for hour in [h for h in self._customer_hours if h < cut_cust]:
            for customer in self._customer_hours.pop(hour):
                history = self.customers.get(customer)
                if history is None:
                    continue
                keep = [c for c in history.contacts if int(c.ts // 3600) >= cut_cust]
                for gone in history.contacts:
                    if int(gone.ts // 3600) < cut_cust:
                        self._customer_of_call.pop(gone.call_id, None)
                if keep:
                    history.contacts = keep
                else:
                    del self.customers[customer]
                self.dirty["customers"].add(customer)
        cut_iv = wm - cfg.history_days * 86400
        for bucket in [b for b in self.intervals if b[2] + INTERVAL_S <= cut_iv]:
            del self.intervals[bucket]
            self.dirty["intervals"].add(bucket)
        cut_mn = self.max_ts - MINUTE_RETENTION_S
        for bucket in [b for b in self.minutes if b[2] + MINUTE_S <= cut_mn]:
            del self.minutes[bucket]
            self.dirty["minutes"].add(bucket)
        oldest_day = self.day_of(wm - cfg.agent_history_days * 86400)
        if self.agent_days and oldest_day != self._agent_days_kept_from:  # once a day
            self._agent_days_kept_from = oldest_day
            for day_key in [d for d in self.agent_days if d[1] < oldest_day]:
                del self.agent_days[day_key]
                self.dirty["agent_days"].add(day_key)

    # ---------------------------------------------------------- persistence

    def take_dirty(self) -> dict[str, dict[str, bytes | None]]:
        """The changes since the last call, as container -> {key: serialised value or None (deleted)}."""
        out: dict[str, dict[str, bytes | None]] = {}
        for name, keys in self.dirty.items():
            if not keys:
                continue
            container = getattr(self, name)
            out[name] = {_key_out(k): _value_out(container.get(k)) for k in keys}
            keys.clear()
        seen: dict[str, bytes | None] = dict.fromkeys(self._seen_gone)
        by_hour: dict[int, list[tuple[str, float]]] = {}
        for event_id, ts in self._seen_new:
            by_hour.setdefault(int(ts // 3600), []).append((event_id, ts))
        for hour, items in by_hour.items():
            if hour not in self._seen_hours:
                continue  # already forgotten: an event older than the horizon
            self._seen_batch += 1
            name = f"{hour}:{self._seen_batch}"
            self._seen_fields.setdefault(hour, []).append(name)
            seen[name] = orjson.dumps(items)
        self._seen_new.clear()
        self._seen_gone.clear()
        if seen:
            out["seen"] = seen
        return out

    def clear_dirty(self) -> None:
        for keys in self.dirty.values():
            keys.clear()
        self._seen_new.clear()
        self._seen_gone.clear()

    def meta(self) -> dict[str, Any]:
        return {
            "max_ts": None if self.max_ts == NEG_INF else self.max_ts,
            "min_ts": None if self.min_ts == float("inf") else self.min_ts,
            "swept_to": None if self.swept_to == NEG_INF else self.swept_to,
            "seq": self.seq,
            "seen_batch": self._seen_batch,
            "last_purge": None if self._last_purge == NEG_INF else self._last_purge,
            "evaluated_to": None if self._evaluated_to == NEG_INF else self._evaluated_to,
            "integrity_day": self._integrity_day,
            "counters": dict(self.counters),
            "event_clock": self.clock.to_state(),  # event clock (issue 11)
        }

    @classmethod
    def restore(cls, config: MonitorConfig, meta: dict[str, Any] | None,
                containers: dict[str, dict[str, bytes]]) -> Engine:
        """Rebuild an engine from the change sets :meth:`take_dirty` produced, as a store holds them."""
        eng = cls(config)
        if meta:
            eng.max_ts = meta["max_ts"] if meta.get("max_ts") is not None else NEG_INF
            eng.min_ts = meta["min_ts"] if meta.get("min_ts") is not None else float("inf")
            eng.swept_to = meta["swept_to"] if meta.get("swept_to") is not None else NEG_INF
            eng._last_purge = meta["last_purge"] if meta.get("last_purge") is not None else NEG_INF
            eng._evaluated_to = meta["evaluated_to"] if meta.get("evaluated_to") is not None else NEG_INF
            eng.seq = meta.get("seq", 0)
            eng._integrity_day = meta.get("integrity_day", "")
            eng._seen_batch = meta.get("seen_batch", 0)
            eng.counters.update(meta.get("counters", {}))
        for name, kind in CONTAINERS.items():
            target = getattr(eng, name)
            tupled = name in TUPLE_KEYED
            for raw_key, raw_value in containers.get(name, {}).items():
                key = _key_in(raw_key, tupled)
                value = orjson.loads(raw_value)
                if kind is float:
                    target[key] = value
                elif kind is list:
                    target[key] = [decode(e) for e in value]
                else:
                    target[key] = kind.from_dict(value)
        for field, raw_value in containers.get("seen", {}).items():
            name = field.decode() if isinstance(field, bytes) else field
            eng._seen_fields.setdefault(int(name.split(":", 1)[0]), []).append(name)
            for event_id, ts in orjson.loads(raw_value):
                eng.seen[event_id] = ts
        # --- event clock (issue 11): its dump, or (state from before it) the sources' newest times
        clock_state = (meta or {}).get("event_clock") or {
            "clocks": dict(eng.sources), "newest": None if eng.max_ts == NEG_INF else eng.max_ts}
        eng.clock = EventClock.from_state(eng.clock.limits, clock_state)
        # --- end event clock
        eng._reindex()
        return eng

    def _reindex(self) -> None:
        for (queue, call_id), leg in self.legs.items():
            if leg.wait_from is None:
                continue
            window = self._queue_config(queue).wait_window_s
            deadline = leg.wait_from + window
            if leg.status == "waiting":
                self.waiting.setdefault(queue, {})[call_id] = leg
            crossed = leg.left_at is None or leg.left_at > deadline
            if not crossed:
                continue
            if deadline > self.swept_to:
                heapq.heappush(self._crossings, (deadline, leg.seq, queue, call_id))
            elif leg.left_at is None or leg.left_at > self.swept_to:
                self._over.setdefault(queue, set()).add(leg.seq)
            if leg.left_at is not None and leg.left_at > self.swept_to:
                heapq.heappush(self._departures, (leg.left_at, leg.seq, queue, call_id))
        for key, events in self.held.items():
            for ev in events:
                heapq.heappush(self._held_heap, (ev.ts.timestamp(), key[0], key[1]))
        for name, rec in self.agents.items():
            for change in rec.pending:
                heapq.heappush(self._agent_changes, (change[0], name))
        for event_id, ts in self.seen.items():
            self._seen_hours.setdefault(int(ts // 3600), []).append(event_id)
        for q, ch, _ in self.intervals:
            self.known_queues.add(q)
            self.queue_channels.setdefault(q, set()).add(ch)
        for q, _, m in self.minutes:
            self.queue_last_minute[q] = max(m, self.queue_last_minute.get(q, NEG_INF))
        for rec in self.agents.values():
            self.staffed_queues.update(rec.queues)
        for customer, history in self.customers.items():
            for ref in history.contacts:
                self._customer_of_call[ref.call_id] = customer
                self._customer_hours.setdefault(int(ref.ts // 3600), set()).add(customer)
        for key, leg in self.legs.items():
            self._leg_hours.setdefault(int(leg.last_ts // 3600), []).append(key)
            if leg.arrived_at is not None and leg.left_at is not None and leg.left_at > self._evaluated_to:
                self.recently_left.setdefault(leg.queue, []).append((leg.arrived_at, leg.left_at))

    # -------------------------------------------------------------- merging

    def absorb(self, other: Engine) -> None:
        """Fold another engine's state into this one (the read side's union of partitions)."""
        self.legs.update(other.legs)
        _merge_into(self.intervals, other.intervals)
        _merge_into(self.minutes, other.minutes)
        _merge_into(self.agent_days, other.agent_days)
        self.agents.update(other.agents)
        self.alarms.update(other.alarms)
        self.thresholds.update(other.thresholds)
        self.customers.update(other.customers)
        self._customer_of_call.update(other._customer_of_call)
        self.known_queues |= other.known_queues
        for q, chs in other.queue_channels.items():
            self.queue_channels.setdefault(q, set()).update(chs)
        self.staffed_queues |= other.staffed_queues
        for s, t in other.sources.items():
            self.sources[s] = max(t, self.sources.get(s, NEG_INF))
        self.counters.update(other.counters)
        for q, legs in other.waiting.items():
            self.waiting.setdefault(q, {}).update(legs)
        self.max_ts = max(self.max_ts, other.max_ts)
        self.min_ts = min(self.min_ts, other.min_ts)
        self.swept_to = max(self.swept_to, other.swept_to)


def _merge_into(mine: dict[Any, Any], theirs: dict[Any, Any]) -> None:
    for k, v in theirs.items():
        have = mine.get(k)
        if have is None:
            mine[k] = v
        else:
            have.merge(v)


def _interval_key(queue: str, channel: str, ts: float) -> tuple[str, str, int]:
    """The 15-minute interval ``ts`` falls in, as the ``intervals`` container keys it."""
    return (queue, channel, int(ts // INTERVAL_S) * INTERVAL_S)


def _add_answers(target: Agg | AgentDay, sat: int | None, pro: int | None, more: bool | None) -> None:
    """One completed survey's three answers (METRICS.md's quality figures), into an interval or a day."""
    target.surveys_completed += 1
    if sat is not None:
        target.satisfied_n += 1
        target.satisfied_top2 += sat >= 4
        target.satisfied_sum += sat
    if pro is not None:
        target.professional_n += 1
        target.professional_top2 += pro >= 4
        target.professional_sum += pro
    if more is not None:
        target.more_help_n += 1
        target.more_help_yes += more


def _key_out(key: Any) -> str:
    return key if isinstance(key, str) else orjson.dumps(key).decode()


def _key_in(raw: bytes | str, tupled: bool) -> Any:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return tuple(orjson.loads(text)) if tupled else text


def _value_out(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, list):  # held events
        return b"[" + b",".join(encode(e) for e in value) + b"]"
    return orjson.dumps(value)


def replay_events(engine: Engine, events: Iterable[Event]) -> Engine:
    """Drive an engine over events in event-time mode (the offline replay)."""
    step = engine.step
    for ev in events:
        step(ev)
    engine.finish()  # event clock (issue 11): candidates never confirmed are refused
    return engine
