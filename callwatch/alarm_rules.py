"""The alarms' rules (METRICS.md): thresholds, minimum volume, hysteresis, severity, per queue.

One YAML file (``alarm_rules_file`` in the settings) with ``defaults`` and per-queue overrides; a
mistake names the rule and the field (``queues.billing.abandonment_high.threshold: …``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

Severity = Literal["critical", "warning", "info"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    severity: Severity = "warning"
    #: while it lasts, the alarm is sent again after this long
    repeat_s: Annotated[float, Field(gt=0)] = 900.0


class WaitWindowRule(_Rule):
    severity: Severity = "critical"


class AbandonmentRule(_Rule):
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.08
    min_contacts: Annotated[int, Field(ge=1)] = 20
    #: resolved when back under threshold − hysteresis
    hysteresis: Annotated[float, Field(ge=0, le=1)] = 0.02
    window_s: Annotated[float, Field(gt=0, le=3600)] = 1800.0


class ServiceLevelRule(_Rule):
    #: the target is the queue's service_level_target; resolved when back over target + hysteresis
    min_contacts: Annotated[int, Field(ge=1)] = 20
    hysteresis: Annotated[float, Field(ge=0, le=1)] = 0.03
    window_s: Annotated[float, Field(gt=0, le=3600)] = 1800.0


class NoAgentsRule(_Rule):
    severity: Severity = "critical"
    for_s: Annotated[float, Field(ge=0)] = 60.0


class FeedSilentRule(_Rule):
    severity: Severity = "critical"
    after_s: Annotated[float, Field(gt=0)] = 60.0


class QueueRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wait_window_exceeded: WaitWindowRule = WaitWindowRule()
    abandonment_high: AbandonmentRule = AbandonmentRule()
    service_level_low: ServiceLevelRule = ServiceLevelRule()
    no_agents: NoAgentsRule = NoAgentsRule()


class AlarmRules(QueueRules):
    feed_silent: FeedSilentRule = FeedSilentRule()
    #: per queue: only the fields given override the defaults
    queues: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    _cache: dict[str, QueueRules] = PrivateAttr(default_factory=dict)

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
