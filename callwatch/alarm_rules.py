"""The alarms' rules (METRICS.md): thresholds, minimum volume, hysteresis, severity, per queue.

One YAML file (``alarm_rules_file`` in the settings; the example is ``alerts/rules/default.yaml``) with
a rule for every alarm on the alerts topic — each with ``enabled``, ``severity`` and ``repeat_s`` and
its resolve semantics in its docstring — and per-queue overrides of the queue alarms; a mistake names
the rule and the field (``queues.billing.abandonment_high.threshold: …``). :meth:`AlarmRules.rule_for`
finds the rule of an alarm by its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from callwatch.alarm import PIPELINE_ALARMS, Severity

__all__ = ["AlarmRules", "GoalRule", "IntegrityRule", "PipelineRule", "QueueRules", "RulesFileError", "Severity",
           "WaitForecastRule", "load_rules"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    severity: Severity = "warning"
    #: while it lasts, the alarm is sent again after this long
    repeat_s: Annotated[float, Field(gt=0)] = 900.0


class WaitWindowRule(_Rule):
    """``wait_window_exceeded``: a waiting contact's wait passed the queue's ``wait_window_s`` (the window
    is the queue's setting, not the rule's). Resolves when no waiting contact is over the window.

    The engine still sends it ``critical`` and never repeats it; it reads ``severity`` and ``repeat_s``
    from here once the engine side is wired (issue 11)."""

    severity: Severity = "critical"


class WaitForecastRule(_Rule):
    """``wait_window_forecast``: the early warning. A queue is predicted to pass its ``wait_window_s``
    within ``horizon_s``: a waiting caller's predicted wait (its wait so far plus its place in line
    times the queue's mean time between answers) goes over the window before the window is reached, or
    at the last 15 minutes' arrival and answer rates a caller arriving within the horizon would; it
    starts once that prediction has held 30 s with no event clearing it (persistence), and not again
    within 15 minutes of a caller over the window (the wait alarm has told of that overload). A forecast,
    not the amber display threshold (``wait_warning_s``). Resolves when every prediction is back under
    ``wait_window_s − hysteresis_s``, or nobody waits.

    Only for queues whose source sends agent states (``without_agent_states``): without them the
    capacity is guessed from who answered lately, and on the bank's three months (per-call records) most
    such warnings saw no crossing within the horizon (bench/warning_bank.py).

    On by default. Measured on the simulator, four seed blocks pooled (bench/warning_eval.py
    --seed-block 0 … 3: 160 ramps past capacity, 720 steady days at occupancy 0.55–0.6): 126 of 155
    first crossings warned (81 %), median lead 130 s, 8 of its 220 warnings false on steady days (3.6 %).
    One block alone holds about four steady warnings, so a block's false share moves by ±2 warnings on
    chance alone (block 1 alone: 4 of 52). Decided as of instants like the other alarms: the same
    warnings in any arrival order within the lateness and after a restart."""

    enabled: bool = True
    #: warn of a crossing predicted at most this far ahead
    horizon_s: Annotated[float, Field(gt=0, le=3600)] = 300.0
    #: resolved when every prediction is back under the window less this margin
    #: (120 s: a warning that resolves as soon as the line dips re-warns within the same rush; measured
    #: on the simulated ramps, bench/warning_eval.py --holdout, 60 s gave 89 warnings, 17 false, 120 s 57,
    #: 9 false, and more first crossings warned: 87 % against 82 %)
    hysteresis_s: Annotated[float, Field(ge=0)] = 120.0
    #: also warn for a queue whose source sends no agent states (per-call records): its capacity is then
    #: guessed from who answered in the last 15 minutes, and on the bank's three months most such
    #: warnings saw no crossing within the horizon (bench/warning_bank.py)
    without_agent_states: bool = False


class AbandonmentRule(_Rule):
    """``abandonment_high``: resolves when back to ``threshold − hysteresis`` or under, or when fewer
    than ``min_contacts`` are left in the window."""

    threshold: Annotated[float, Field(gt=0, le=1)] = 0.08
    min_contacts: Annotated[int, Field(ge=1)] = 20
    #: resolved when back under threshold − hysteresis
    hysteresis: Annotated[float, Field(ge=0, le=1)] = 0.02
    window_s: Annotated[float, Field(gt=0, le=3600)] = 1800.0


class ServiceLevelRule(_Rule):
    """``service_level_low``: the target is the queue's ``service_level_target``; resolves when back to
    target + hysteresis or over, or when fewer than ``min_contacts`` are left in the window."""

    min_contacts: Annotated[int, Field(ge=1)] = 20
    hysteresis: Annotated[float, Field(ge=0, le=1)] = 0.03
    window_s: Annotated[float, Field(gt=0, le=3600)] = 1800.0


class NoAgentsRule(_Rule):
    """``no_agents``: contacts wait and no agent is available or busy for ``for_s``; resolves when an
    agent is available or busy, or nobody waits."""

    severity: Severity = "critical"
    for_s: Annotated[float, Field(ge=0)] = 60.0


class FeedSilentRule(_Rule):
    """``feed_silent``: no event (heartbeat included) from a source for ``after_s``; resolves at the
    source's next event. For every source (no per-queue override)."""

    severity: Severity = "critical"
    after_s: Annotated[float, Field(gt=0)] = 60.0


class IntegrityRule(_Rule):
    """``integrity_<signal>`` (every signal; their thresholds are ``monitor.integrity``): a notice for
    a supervisor, not a page. It never resolves — each is sent ``started`` only — and an agent (or a
    source) is told of one signal at most once every ``repeat_s`` (a day): the floor's day-end
    evaluation. For the whole floor (no per-queue override).

    The engine looks once a floor day, at its end; ``enabled``, ``severity`` and ``repeat_s`` (at most
    once per repeat interval per signal and subject; less than a day means every day) are read here."""

    severity: Severity = "info"
    repeat_s: Annotated[float, Field(gt=0)] = 86400.0


class PipelineRule(_Rule):
    """The pipeline's own alarms (``streams/health.py``), for whoever runs callwatch: ``redis_unreachable``,
    ``redis_hung``, ``redis_state_lost``, ``consumer_stuck`` (subject: the worker) and
    ``offset_regression`` (subject: ``<topic>:<partition>``). Each starts when the worker's ``/healthz``
    reports the condition, repeats every ``repeat_s`` while it lasts, and resolves when it clears (an
    offset regression after ``health.offset_regression_hold_s``). Raised by the worker that sees it, not
    part of any partition's state: a worker killed while one is on leaves it open (Alertmanager ends it
    after its ``firing_ttl_s`` without repeats). For the whole floor (no per-queue override)."""

    severity: Severity = "critical"


class GoalRule(BaseModel):
    """``goal_achieved`` / ``goal_missed``: sent by ``callwatch goals check``, once per goal and status;
    never repeated (``repeat_s`` is always none) and never resolved. Disabled: nobody is told, and a
    goal stays untold until it is enabled again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    severity: Severity = "info"
    repeat_s: None = None


class QueueRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wait_window_exceeded: WaitWindowRule = WaitWindowRule()
    wait_window_forecast: WaitForecastRule = WaitForecastRule()
    abandonment_high: AbandonmentRule = AbandonmentRule()
    service_level_low: ServiceLevelRule = ServiceLevelRule()
    no_agents: NoAgentsRule = NoAgentsRule()


class AlarmRules(QueueRules):
    feed_silent: FeedSilentRule = FeedSilentRule()
    integrity: IntegrityRule = IntegrityRule()
    goals: GoalRule = GoalRule()
    pipeline: PipelineRule = PipelineRule()
    #: per queue: only the fields given override the defaults
    queues: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    _cache: dict[str, QueueRules] = PrivateAttr(default_factory=dict)

    def rule_for(self, alarm: str, queue: str | None = None) -> _Rule | GoalRule:
        """The rule of the alarm named ``alarm`` (``integrity_cap_clustering`` → ``integrity``), with
        ``queue``'s overrides for a queue alarm; KeyError for a name no rule covers."""
        if alarm.startswith("integrity_"):
            return self.integrity
        if alarm.startswith("goal_"):
            return self.goals
        if alarm in QueueRules.model_fields:
            rules: QueueRules = self.for_queue(queue) if queue is not None else self
            return getattr(rules, alarm)  # type: ignore[no-any-return]
        if alarm == "feed_silent":
            return self.feed_silent
        if alarm in PIPELINE_ALARMS:
            return self.pipeline
        raise KeyError(f"no rule for alarm {alarm!r}")

    def for_queue(self, queue: str) -> QueueRules:
        found = self._cache.get(queue)
        if found is None:
            override = self.queues.get(queue, {})
            merged = {name: {**getattr(self, name).model_dump(), **override.get(name, {})}
                      for name in QueueRules.model_fields}
            found = self._cache[queue] = QueueRules.model_validate(merged)
        return found

    def model_post_init(self, __context: Any) -> None:
        for queue in self.queues:
            try:
                self.for_queue(queue)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"queues.{queue}.{where}: {first['msg']}") from None


class RulesFileError(ValueError):
    pass


def load_rules(path: str | Path) -> AlarmRules:
    """Read and validate a rules file; errors say which rule, which field and what is wrong."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesFileError(f"{path}: {exc}") from None
    try:
        return AlarmRules.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise RulesFileError(f"{path}: " + "; ".join(lines)) from None
