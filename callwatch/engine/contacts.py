"""What a contact's events do: the routing of ``call.*``, ``survey.*`` and dispositions to the rooms.

One event touches several rooms — its leg (:mod:`queue_calls`), its interval and minute buckets
(:mod:`buckets`), the alarms' windows (:mod:`rolling`, booking :mod:`thresholds`), the wait timer
(:mod:`wait_alarm`), the customer's recent contacts (:mod:`customers`) and the agent's day
(:mod:`agent_days`) — through each room's own interface; this class owns none of their state, only
the order in which a contact's events are applied: an event whose prerequisite has not been seen yet
is held (:mod:`holding`) and applied when it comes, or as an orphan once the watermark passes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.agent_days import AgentDays, FloorCalendar
from callwatch.engine.agents import Agents
from callwatch.engine.aggregates import MINUTE_S, TALK_BIN_S, TALK_MAX_S, AgentDay, Agg, wait_bucket
from callwatch.engine.buckets import MINUTE_RETENTION_S, Buckets
from callwatch.engine.customers import Customers, Repeat
from callwatch.engine.forecast import Forecast
from callwatch.engine.holding import HeldEvents
from callwatch.engine.queue_calls import QueueCalls
from callwatch.engine.records import ContactRef, Leg
from callwatch.engine.rolling import ABANDONED, ABANDONED_AFTER_T, ANSWERED, DEQUEUED, WITHIN, RollingCounts
from callwatch.engine.thresholds import ThresholdAlarms
from callwatch.engine.wait_alarm import WaitAlarm
from callwatch.events import (
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
)

#: the event types handled here
CONTACT_EVENTS = frozenset({"call.queued", "call.answered", "call.abandoned", "call.dequeued", "call.transferred",
                            "call.ended", "call.wrapped", "call.disposition", "survey.offered", "survey.completed"})


class ContactEvents:
    def __init__(self, config: MonitorConfig, *, calls: QueueCalls, wait_alarm: WaitAlarm, buckets: Buckets,
                 rolling: RollingCounts, thresholds: ThresholdAlarms, agents: Agents, agent_days: AgentDays,
                 customers: Customers, holding: HeldEvents, calendar: FloorCalendar,
                 newest: Callable[[], float], inconsistent: Callable[[str, str], None],
                 forecast: Forecast | None = None) -> None:
        self.config = config
        self.calls = calls
        self.wait_alarm = wait_alarm
        self.buckets = buckets
        self.rolling = rolling
        self.thresholds = thresholds
        self.agents = agents
        self.agent_days = agent_days
        self.customers = customers
        self.holding = holding
        self.calendar = calendar
        #: the predictions (engine/forecast.py) learn from arrivals, answers and handle times
        self.forecast = forecast
        #: the newest event time (minute buckets are kept 75 minutes behind it)
        self._newest = newest
        self._report_inconsistent = inconsistent
        #: queues seen in contact events (derived: rebuilt from the buckets on restore)
        self.known_queues: set[str] = set()
        self._qc: dict[str, QueueConfig] = {}
        self._expiring = False
        self._source = ""
        self.handlers: dict[str, Callable[[Any, float], None]] = {
            "call.queued": self._queued, "call.answered": self._answered, "call.ended": self._ended,
            "call.wrapped": self._wrapped, "call.abandoned": self._left_unanswered,
            "call.dequeued": self._left_unanswered, "call.transferred": self._transferred,
            "call.disposition": self._disposition, "survey.offered": self._survey, "survey.completed": self._survey,
        }

    def apply(self, ev: Event, ts: float) -> None:
        """Apply one contact event (or hold it for its prerequisite)."""
        self._source = ev.source or ""
        self.handlers[ev.type](ev, ts)

    def _inconsistent(self, reason: str) -> None:
        self._report_inconsistent(reason, self._source)

    def _queue_config(self, queue: str) -> QueueConfig:
        qc = self._qc.get(queue)
        if qc is None:
            qc = self._qc[queue] = self.config.for_queue(queue)
        return qc

    def _buckets(self, queue: str, channel: str, ts: float) -> tuple[Agg, ...]:
        """The 15-minute interval and the minute bucket ``ts`` falls in (the minute only if recent)."""
        iv = self.buckets.interval(queue, channel, ts)
        self.known_queues.add(queue)
        if ts < self._newest() - MINUTE_RETENTION_S:
            return (iv,)
        return (iv, self.buckets.minute(queue, channel, ts))

    def _count(self, queue: str, ts: float, counts: tuple[tuple[int, int], ...]) -> None:
        """What the alarms' windows count (answers, abandons, dequeues) of an event in a recent minute."""
        if ts < self._newest() - MINUTE_RETENTION_S:
            return  # no minute bucket either: the windows would not see it
        minute = int(ts // MINUTE_S) * MINUTE_S
        new = False
        for field, n in counts:
            if n:
                new |= self.rolling.add(queue, minute, field, n)
        self.thresholds.minute_changed(queue, minute, new)

    def _queue_moved(self, queue: str, ts: float) -> None:
        """Callers or agents of a queue changed at ``ts``: the no-agents rule looks again."""
        if queue in self.agents.staffed:
            self.thresholds.queue_changed(queue, ts)

    # ------------------------------------------------------------ holding

    def _hold(self, ev: Event, key: tuple[str, str], ts: float) -> None:
        if self._expiring:
            # the watermark has passed it: what it waits for is not coming
            self._inconsistent(f"{ev.type.split('.')[1]}_out_of_sequence")
            return
        self.holding.hold(ev, key, ts)

    def _release(self, key: tuple[str, str]) -> None:
        """A leg just changed: apply the events that were waiting for it, in event-time order."""
        for ev in self.holding.release(key):
            self.apply(ev, ev.ts.timestamp())

    def release_expired(self, watermark: float) -> None:
        """Held events the watermark has passed: their prerequisite is not coming; apply them as orphans."""
        for key, due in self.holding.expired(watermark):
            self._expiring = True
            try:
                for ev in due:
                    self._source = ev.source or ""
                    if key in self.calls:  # an earlier orphan of this contact created its leg
                        self.apply(ev, ev.ts.timestamp())
                    else:
                        self._orphan(ev, ev.ts.timestamp())
            finally:
                self._expiring = False

    def _orphan(self, ev: Event, ts: float) -> None:
        """Apply an event whose contact history is incomplete (e.g. the monitor started mid-call).

        Its queue figures are not counted (its wait is unknown), but the agent's work is, and the leg
        is created so that the contact's later events apply normally.
        """
        self._inconsistent(f"{ev.type.split('.')[1]}_without_history")
        if isinstance(ev, CallAnswered | CallEnded | CallTransferred | CallWrapped):
            leg = Leg(ev.call_id, ev.queue, ev.channel.value, ev.priority, self.calls.next_seq(), None, None,
                      "answered", agent=ev.agent, answered_at=ts, left_at=ts)
            self.calls.add(leg, ts)
            if isinstance(ev, CallEnded | CallTransferred):
                leg.answered_at = None  # talk unknown: the end is recorded, the talk time is not
                self._finish(leg, ev, ts, talk=0.0)
            elif isinstance(ev, CallWrapped):
                leg.status = "ended"
                leg.wrapped = True
        elif isinstance(ev, CallDisposition | SurveyOffered | SurveyCompleted):
            self.handlers[ev.type](ev, ts)  # the agent's and the queue's figures count it all the same
        # an orphan abandon or dequeue has no wait to report and no one else to credit: counted only

    # ------------------------------------------------------------ contacts

    def _queued(self, ev: CallQueued, ts: float) -> None:
        key = (ev.queue, ev.call_id)
        leg = self.calls.get(key)
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
        leg = Leg(ev.call_id, ev.queue, ev.channel.value, ev.priority, self.calls.next_seq(), ts, wait_from,
                  "waiting", customer=ev.customer)
        self.calls.add(leg, ts)
        self._queue_moved(ev.queue, ts)
        for agg in self._buckets(ev.queue, leg.channel, ts):
            agg.offered += 1
        if ev.customer and not self.customers.knows_call(ev.call_id):
            self._customer_contact(ev.customer, ev.call_id, ev.queue, leg.channel, ts)
        self.wait_alarm.entered(leg)
        if self.forecast is not None:
            self.forecast.entered(leg, ts)
        self._release(key)

    def _leave(self, leg: Leg, ts: float) -> float:
        """Take a waiting leg out of its queue at ``ts``; returns its wait (never below 0)."""
        assert leg.wait_from is not None
        self.calls.leave(leg, ts, self.thresholds.evaluated_to)
        self._queue_moved(leg.queue, ts)
        wait = ts - leg.wait_from
        if wait < 0:
            self._inconsistent("left_before_queued")
            wait = 0.0
        self.wait_alarm.left(leg, ts, wait)
        return wait

    def _take_from_queue(self, ev: CallAnswered | CallAbandoned | CallDequeued, ts: float) -> tuple[Leg, float] | None:
        """The waiting leg an answer, abandon or dequeue ends, taken out of its queue, with its wait."""
        key = (ev.queue, ev.call_id)
        leg = self.calls.get(key)
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
        self._count(ev.queue, ts, ((ANSWERED, 1), (WITHIN, within)))
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
        if self.forecast is not None:
            self.forecast.left(leg, ts, wait, "answered")
        ref = self.customers.ref(ev.call_id)
        # an answer the source credits to nobody (agent null) counts in the queue's figures only
        if ev.agent is not None and ref is not None and ref.agent is None:
            ref.agent, ref.agent_day = ev.agent, self.calendar.day_of(ts)
            day = self.agent_days.day(ev.agent, ts)
            day.customer_contacts += 1
            # a repeat seen before this answer (events out of order) is credited to the agent now
            day.repeat_24h += ref.repeat_24h
            day.repeat_72h += ref.repeat_72h
        self.calls.touch(leg, ts)
        self._release((leg.queue, leg.call_id))

    def _left_unanswered(self, ev: CallAbandoned | CallDequeued, ts: float) -> None:
        taken = self._take_from_queue(ev, ts)
        if taken is None:
            return
        leg, wait = taken
        if self.forecast is not None:
            self.forecast.left(leg, ts, wait, "dequeued" if isinstance(ev, CallDequeued) else "abandoned")
        if isinstance(ev, CallDequeued):
            self._count(ev.queue, ts, ((DEQUEUED, 1),))
            for agg in self._buckets(ev.queue, leg.channel, ts):
                agg.dequeued[ev.reason] = agg.dequeued.get(ev.reason, 0) + 1
            leg.status = "dequeued"
        else:
            qc = self._queue_config(ev.queue)
            short = wait < qc.short_abandon_s
            after_t = wait > qc.threshold_s(ev.channel)
            bucket = wait_bucket(wait)
            if not short:
                self._count(ev.queue, ts, ((ABANDONED, 1), (ABANDONED_AFTER_T, after_t)))
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
        self.calls.touch(leg, ts)
        self._release((leg.queue, leg.call_id))

    def _conversation(self, ev: CallEnded | CallTransferred, ts: float) -> Leg | None:
        """The answered leg a conversation-ending event belongs to, or None (held or inconsistent)."""
        key = (ev.queue, ev.call_id)
        leg = self.calls.get(key)
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
        # an end that names nobody is the answering agent's (if the answer named one); a contact the
        # source credits to nobody at all counts in the queue's figures only
        agent = ev.agent if ev.agent is not None else leg.agent
        if agent is not None:
            day = self.agent_days.day(agent, ts)
            if by_agent:
                integrity = self.config.integrity
                cap = integrity.handle_cap_s
                if talk < qc.short_call_s:
                    day.short_agent_ended += 1
                    day.add_evidence("short_hangups", leg.call_id, integrity.evidence_per_day)
                if talk < TALK_MAX_S:  # the floor's distribution, where a cap nobody configured shows
                    bin_key = str(int(talk // TALK_BIN_S) * TALK_BIN_S)
                    day.agent_ended_talk[bin_key] = day.agent_ended_talk.get(bin_key, 0) + 1
                if cap is not None and cap - integrity.near_cap_s <= talk < cap:
                    day.near_cap_agent_ended += 1
                    day.add_evidence("cap_clustering", leg.call_id, integrity.evidence_per_day)
            day.handled += 1
            day.talk_s += talk
            day.hold_s += hold
            day.agent_ended += by_agent
            day.short_calls += short
            day.transfers += transfer
        if self.forecast is not None and leg.answered_at is not None:
            self.forecast.conversation_ended(leg.queue, ts, talk)
        leg.status = "ended" if ended else "transferred"
        leg.ended_at = ts
        leg.agent = agent
        self.calls.touch(leg, ts)
        self._release((leg.queue, leg.call_id))

    def _wrapped(self, ev: CallWrapped, ts: float) -> None:
        key = (ev.queue, ev.call_id)
        leg = self.calls.get(key)
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
        self.agent_days.day(ev.agent, leg.ended_at).acw_s += acw
        if self.forecast is not None:
            self.forecast.wrapped(leg.queue, leg.ended_at, acw)
        leg.wrapped = True
        self.calls.touch(leg, ts)

    def _disposition(self, ev: CallDisposition, ts: float) -> None:
        key = (ev.queue, ev.call_id)
        if key not in self.calls and not self._expiring:
            # its contact's first events are late: wait for them, so that which surveys were offered on
            # complaint contacts never depends on arrival order
            self._hold(ev, key, ts)
            return
        complaint = bool(ev.complaint)
        for agg in self._buckets(ev.queue, ev.channel.value, ts):
            agg.dispositions += 1
            agg.resolved += ev.resolved
            agg.complaints += complaint
        day = self.agent_days.day(ev.agent, ts)
        day.dispositions += 1
        day.resolved += ev.resolved
        leg = self.calls.get(key)
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
            self.calls.touch(leg, ts)
        ref = self.customers.ref(ev.call_id)
        if ref is not None and ref.resolved is None:
            ref.resolved = ev.resolved
            if ev.resolved and ref.repeat_72h:  # the customer came back before the disposition arrived
                self._count_resolved_repeat(ref)

    def _survey(self, ev: SurveyOffered | SurveyCompleted, ts: float) -> None:
        key = (ev.queue, ev.call_id)
        if key not in self.calls and not self._expiring:
            self._hold(ev, key, ts)
            return
        day = self.agent_days.day(ev.agent, ts)
        buckets = self._buckets(ev.queue, ev.channel.value, ts)
        if isinstance(ev, SurveyOffered):
            for agg in buckets:
                agg.surveys_offered += 1
            day.surveys_offered += 1
            leg = self.calls.get(key)
            if leg is not None and not leg.survey_offered:
                leg.survey_offered = True
                self.calls.touch(leg, ts)
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

    def _customer_contact(self, customer: str, call_id: str, queue: str, channel: str, ts: float) -> None:
        """A customer's new contact: earlier ones within 24 h / 72 h become repeats (any queue or channel)."""
        ref, repeats = self.customers.contact(customer, call_id, queue, channel, ts)
        for repeat in repeats:
            self._credit_repeat(repeat)
        for agg in self._buckets(queue, channel, ts):
            agg.customer_contacts += 1
        if ref.repeat_72h:  # arrived late: the customer's next contact is already known
            mine = self.buckets.existing_interval(ref.queue, ref.channel, ref.ts)
            if mine is not None:
                mine.repeat_72h += 1
                mine.repeat_24h += ref.repeat_24h

    def _credit_repeat(self, repeat: Repeat) -> None:
        prior, short, long = repeat.prior, repeat.short, repeat.long
        agg = self.buckets.existing_interval(prior.queue, prior.channel, prior.ts)
        day = (self.agent_days.existing(prior.agent, prior.agent_day)
               if prior.agent and prior.agent_day else None)
        for target in (agg, day):
            if target is not None:
                target.repeat_24h += short
                target.repeat_72h += long
        if long and prior.resolved:
            self._count_resolved_repeat(prior)

    def _count_resolved_repeat(self, ref: ContactRef) -> None:
        agg = self.buckets.existing_interval(ref.queue, ref.channel, ref.ts)
        if agg is not None:
            agg.resolved_repeat_72h += 1
        if ref.agent and ref.agent_day:
            day = self.agent_days.existing(ref.agent, ref.agent_day)
            if day is not None:
                day.resolved_repeat_72h += 1
                day.add_evidence("contradicted_resolution", ref.call_id, self.config.integrity.evidence_per_day)


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
