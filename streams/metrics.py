"""Prometheus metrics: read from the engines this worker owns at scrape time.

Each worker exports only the partitions it owns now, so several workers never export the same figure
twice, and a partition that moves takes its series with it (no stale series). Events are keyed by
their source, so a queue's contacts live in one partition: the per-queue series come from exactly one
worker, and the pipeline counters (labelled by partition) add up across workers.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callwatch.alarm import PIPELINE_ALARMS, Alarm
from callwatch.engine.aggregates import WAIT_BUCKETS_S, AgentDay
from callwatch.engine.core import Engine
from callwatch.engine.integrity import SIGNALS
from callwatch.engine.live import live_queue, queues_of
from callwatch.engine.records import AGENT_STATES
from callwatch.engine.windows import queue_windows
from streams.monitor import MonitorService

#: the windowed figures exported per queue × channel × window: (metric suffix, figure, help)
WINDOW_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("offered_contacts", "offered", "call.queued events (by arrival interval)"),
    ("answered_contacts", "answered", "contacts answered (by the interval they left the queue)"),
    ("answered_within_threshold_contacts", "answered_within_t", "answered with wait <= T"),
    ("abandoned_contacts", "abandoned", "abandoned with wait >= S (short abandons excluded)"),
    ("short_abandoned_contacts", "short_abandoned", "abandoned with wait < S"),
    ("dequeued_contacts", "dequeued", "left unanswered for a routing reason"),
    ("abandonment_ratio", "abandonment_rate", "abandoned / (answered + abandoned + dequeued)"),
    ("asa_seconds", "asa", "average speed of answer: wait of answered / answered"),
    ("average_abandon_time_seconds", "average_abandon_time", "wait of abandoned / abandoned"),
    ("aht_seconds", "aht", "average handle time: (talk + ACW) / contacts that ended"),
    ("wait_answered_max_seconds", "wait_answered_max", "longest wait of an answered contact"),
    ("resolution_ratio", "resolution_ratio", "dispositions with resolved=true / dispositions"),
    # quality: the customer's view (METRICS.md)
    ("csat_ratio", "csat", "CSAT top-2-box: completed surveys with satisfied >= 4 / those with satisfied"),
    ("csat_mean_score", "csat_mean", "CSAT mean (1-5)"),
    ("professionalism_ratio", "professionalism", "surveys with professional >= 4 / those with professional"),
    ("unmet_need_ratio", "unmet_need", "surveys with more_help = true / those that answered it"),
    ("survey_offer_ratio", "survey_offer_rate", "surveys offered / contacts that ended"),
    ("survey_response_ratio", "survey_response_rate", "surveys completed / offered"),
    ("repeat_contact_24h_ratio", "repeat_contact_rate_24h",
     "contacts whose customer came back within 24 h (any queue) / contacts with a customer; provisional"),
    ("repeat_contact_72h_ratio", "repeat_contact_rate_72h",
     "contacts whose customer came back within 72 h (any queue) / contacts with a customer; provisional"),
    ("fcr_ratio", "fcr", "first-contact resolution: resolved and no repeat within 72 h / dispositions; "
     "provisional until the window's contacts have had 72 h"),
)
WINDOWS = ("last_15m", "last_30m", "last_60m", "today")
#: the wait histograms' bucket bounds as Prometheus ``le`` labels
HIST_LE = (*(f"{b:g}" for b in WAIT_BUCKETS_S), "+Inf")
#: the agents' sums of today (the floor's day): ratios (AHT, occupancy, mean idle) are computed in PromQL
#: from these sums, so that partitions spread over several workers still add up
AGENT_SUMS: tuple[tuple[str, str], ...] = (
    ("handled_contacts", "Contacts handled today (call.ended and transfers by the agent)"),
    ("handle_seconds", "Talk + after-contact work today, in seconds (AHT = handle / handled)"),
    ("acw_seconds", "After-contact work today, in seconds"),
    ("idle_between_seconds", "Available time between one contact's work and the next answer, summed"),
    ("idle_between_gaps", "How many such gaps (mean idle = idle_between_seconds / idle_between_gaps)"),
)
DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MonitorCollector(Collector):
    def __init__(self, service: MonitorService, lag: Callable[[int, int], int | None]) -> None:
        self.service = service
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        svc = self.service
        g = GaugeMetricFamily
        waiting = g("callwatch_queue_waiting_contacts", "Contacts waiting in the queue now", labels=["site", "queue"])
        oldest = g("callwatch_queue_oldest_wait_seconds",
                   "Age of the longest-waiting contact now (from waiting_since if set); 0 when none waits",
                   labels=["site", "queue"])
        over = g("callwatch_queue_over_window_contacts", "Waiting contacts whose wait is over the window",
                 labels=["site", "queue"])
        window_s = g("callwatch_queue_wait_window_seconds", "The queue's wait window (alarm threshold)",
                     labels=["site", "queue"])
        target = g("callwatch_queue_service_level_target_ratio", "The queue's service-level target",
                   labels=["site", "queue"])
        agents = g("callwatch_queue_agents", "Agents serving the queue, by state (staffed = not offline)",
                   labels=["site", "queue", "state"])
        alarm = g("callwatch_queue_wait_alarm_active", "1 while the wait-window alarm is on", labels=["site", "queue"])
        predicted = g("callwatch_queue_predicted_wait_seconds",
                      "Predicted wait of a caller entering the queue now (running median by callers ahead)",
                      labels=["site", "queue"])
        needed = g("callwatch_queue_agents_needed",
                   "Agents Erlang C needs now for the service-level target (last 15 min arrivals and AHT)",
                   labels=["site", "queue"])
        shared = g("callwatch_queue_agents_staffed_shared",
                   "Agents serving the queue now, one serving several queues shared by their offered load",
                   labels=["site", "queue"])
        sl = g("callwatch_window_service_level_ratio",
               "Service level over the window, by the queue's formula (label formula)",
               labels=["site", "queue", "channel", "window", "formula"])
        figures = {
            suffix: g(f"callwatch_window_{suffix}", f"{helptext} over the window",
                      labels=["site", "queue", "channel", "window"])
            for suffix, _, helptext in WINDOW_FIGURES
        }
        hist_answered = g("callwatch_window_answered_wait_contacts",
                          "Answered contacts whose wait was <= le seconds, over the window (cumulative)",
                          labels=["site", "queue", "window", "le"])
        hist_abandoned = g("callwatch_window_abandoned_wait_contacts",
                           "Abandoned contacts whose wait was <= le seconds, over the window (cumulative)",
                           labels=["site", "queue", "window", "le"])
        floor_agents = g("callwatch_agents", "Agents by their state now (each agent once)",
                         labels=["partition", "state"])
        floor_sums = {name: g(f"callwatch_agents_today_{name}", helptext, labels=["partition"])
                      for name, helptext in AGENT_SUMS}
        floor_state_s = g("callwatch_agents_today_state_seconds", "Agent time in each state today, summed",
                          labels=["partition", "state"])
        per_agent = svc.settings.monitor.per_agent_metrics
        agent_state = g("callwatch_agent_state", "1 for the state the agent is in now", labels=["agent", "state"])
        agent_sums = {name: g(f"callwatch_agent_today_{name}", helptext, labels=["agent"])
                      for name, helptext in AGENT_SUMS}
        agent_state_s = g("callwatch_agent_today_state_seconds", "The agent's time in each state today",
                          labels=["agent", "state"])
        signals = g("callwatch_integrity_signals", "Agents (sources, for clock anomalies) an integrity signal "
                    "flags over the configured period, up to yesterday", labels=["partition", "signal"])
        c = CounterMetricFamily
        events = c("callwatch_events", "Valid, non-duplicate events applied", labels=["partition"])
        dup = c("callwatch_events_duplicate", "Events dropped as duplicates (same id within 24 h)",
                labels=["partition"])
        late = c("callwatch_events_late", "Events older than the watermark when they arrived (still applied)",
                 labels=["partition"])
        incons = c("callwatch_events_inconsistent", "Events that did not fit the contact's history, by reason",
                   labels=["partition", "reason"])
        dead = c("callwatch_dead_letters", "Inputs sent to the dead-letter topic (invalid, an event time not "
                 "believed, an engine error), by reason",
                 labels=["partition", "reason"])
        lag = g("callwatch_consumer_lag_messages", "Messages in the partition not yet applied",
                labels=["partition"])
        wm = g("callwatch_event_time_watermark_timestamp_seconds",
               "Newest event time seen less the allowed lateness", labels=["partition"])
        src = g("callwatch_source_last_event_timestamp_seconds", "Event time of the newest event per source",
                labels=["source"])
        assigned = g("callwatch_partitions_assigned", "Partitions of the events topic this worker owns")
        assigned.add_metric([], len(svc.runners))
        conditions = g("callwatch_worker_condition", "1 while the worker's health condition is on (/healthz answers "
                       "503 with its reason), else 0", labels=["reason"])
        on = {c.reason for c in svc.health.conditions.values()}
        for reason in PIPELINE_ALARMS:
            conditions.add_metric([reason], 1.0 if reason in on else 0.0)
        families = _QueueFamilies(waiting, oldest, over, window_s, target, agents, alarm, predicted, needed, shared,
                                  sl, figures, hist_answered, hist_abandoned)
        for p, runner in sorted(svc.runners.items()):
            sites = runner.engine
            part = str(p)
            counters = sites.all_counters()
            events.add_metric([part], counters.get("events", 0))
            dup.add_metric([part], counters.get("duplicate", 0))
            late.add_metric([part], counters.get("late", 0))
            for key, n in sorted(counters.items()):
                kind, _, reason = key.partition(":")
                if kind == "inconsistent":
                    incons.add_metric([part, reason], n)
                elif kind == "invalid":
                    dead.add_metric([part, reason], n)
            behind = self.lag(p, runner.offset)
            if behind is not None:
                lag.add_metric([part], behind)
            if sites.max_ts > float("-inf"):
                wm.add_metric([part], sites.watermark)
            states = dict.fromkeys(AGENT_STATES, 0)
            floor_day = AgentDay()
            flagged: collections.Counter[str] = collections.Counter()
            for site, eng in sorted(sites.units.items()):
                for source, ts in sorted(eng.sources.items()):
                    src.add_metric([source], ts)
                # each site at its own clock: the wall clock live, its watermark in event time
                now = svc.wall() if svc.live else eng.watermark
                if now == float("-inf"):
                    continue
                today = eng.day_of(now)
                for agent, rec in eng.agents.items():
                    state = rec.current[0]
                    if state in states:
                        states[state] += 1
                    day = eng.agent_days.get((agent, today))
                    if day is not None:
                        floor_day.merge(day)
                    if per_agent:
                        if state in states:
                            agent_state.add_metric([agent, state], 1.0)
                        if day is not None:
                            _agent_sums(agent_sums, agent_state_s, day, [agent])
                flagged.update(s.signal for s in eng.integrity_signals())
                _queue_series(families, eng, site, now)
            for state, n in states.items():
                floor_agents.add_metric([part, state], n)
            for signal in SIGNALS:
                signals.add_metric([part, signal], flagged.get(signal, 0))
            _agent_sums(floor_sums, floor_state_s, floor_day, [part])
        yield from (waiting, oldest, over, window_s, target, agents, alarm, predicted, needed, shared, sl,
                    *figures.values(),
                    hist_answered, hist_abandoned, floor_agents, *floor_sums.values(), floor_state_s, signals,
                    events, dup, late, incons, dead, lag, wm, src, assigned, conditions)
        if per_agent:
            yield from (agent_state, *agent_sums.values(), agent_state_s)


@dataclass(frozen=True, slots=True)
class _QueueFamilies:
    """The per-queue series (labelled ``site``, ``queue``, …) one scrape fills."""

    waiting: GaugeMetricFamily
    oldest: GaugeMetricFamily
    over: GaugeMetricFamily
    window_s: GaugeMetricFamily
    target: GaugeMetricFamily
    agents: GaugeMetricFamily
    alarm: GaugeMetricFamily
    predicted: GaugeMetricFamily
    needed: GaugeMetricFamily
    shared: GaugeMetricFamily
    sl: GaugeMetricFamily
    figures: dict[str, GaugeMetricFamily]
    hist_answered: GaugeMetricFamily
    hist_abandoned: GaugeMetricFamily


def _queue_series(f: _QueueFamilies, eng: Engine, site: str, now: float) -> None:
    """One site's queues: live figures and the windows, each series labelled with the site."""
    for q in queues_of(eng):
        qc = eng.config.for_queue(q)
        live = live_queue(eng, q, now)
        f.waiting.add_metric([site, q], live["waiting"])
        f.oldest.add_metric([site, q], live["oldest_wait"])
        f.over.add_metric([site, q], live["over_window"])
        f.window_s.add_metric([site, q], qc.wait_window_s)
        f.target.add_metric([site, q], qc.service_level_target)
        f.alarm.add_metric([site, q], 1.0 if q in eng.alarms else 0.0)
        f.predicted.add_metric([site, q], eng.forecast.predicted_wait(q))
        advice = eng.forecast.staffing(q)
        if advice.agents_needed is not None:
            f.needed.add_metric([site, q], advice.agents_needed)
        f.shared.add_metric([site, q], advice.agents_staffed_shared)
        for state, n in live["agents"].items():
            f.agents.add_metric([site, q, state], n)
        for wname, wfig in queue_windows(eng, q, now).items():
            for family, key in ((f.hist_answered, "wait_answered_histogram"),
                                (f.hist_abandoned, "wait_abandoned_histogram")):
                total = 0
                for le, n in zip(HIST_LE, wfig[key].values(), strict=True):
                    total += n
                    family.add_metric([site, q, wname, le], total)
            for channel, figs in [("all", wfig), *wfig["channels"].items()]:
                if figs["service_level"] is not None:
                    f.sl.add_metric([site, q, channel, wname, figs["service_level_formula"]], figs["service_level"])
                for suffix, name, _ in WINDOW_FIGURES:
                    value = figs[name]
                    if value is not None:
                        f.figures[suffix].add_metric([site, q, channel, wname], value)


def _agent_sums(families: dict[str, GaugeMetricFamily], state_s: GaugeMetricFamily, day: AgentDay,
                labels: list[str]) -> None:
    values = {"handled_contacts": day.handled, "handle_seconds": day.talk_s + day.acw_s, "acw_seconds": day.acw_s,
              "idle_between_seconds": day.idle_between_s, "idle_between_gaps": day.idle_between_n}
    for name, value in values.items():
        families[name].add_metric(labels, float(value))
    for state in AGENT_STATES:
        state_s.add_metric([*labels, state], day.state_s.get(state, 0.0))


class WorkerMetrics:
    """The registry of one worker: the collector plus the batch, delay and alarm instruments."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.delay = Histogram("callwatch_event_delay_seconds",
                               "From an event's ts to its effect being committed to Redis",
                               buckets=DELAY_BUCKETS, registry=registry)
        self.batch_seconds = Histogram("callwatch_batch_duration_seconds", "Time to apply and commit a batch",
                                       buckets=DELAY_BUCKETS, registry=registry)
        self.batch_events = Counter("callwatch_batch_events", "Events applied by this worker process",
                                    registry=registry)
        self.alarms_published = Counter("callwatch_alarms_published", "Alarm messages published",
                                        labelnames=["alarm", "status"], registry=registry)

    def batch(self, seconds: float, applied: int, delays: list[float]) -> None:
        self.batch_seconds.observe(seconds)
        self.batch_events.inc(applied)
        for d in delays:
            self.delay.observe(max(d, 0.0))

    def alarms(self, items: list[Alarm]) -> None:
        for a in items:
            self.alarms_published.labels(a.alarm, a.status).inc()
