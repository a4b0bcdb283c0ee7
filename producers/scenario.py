"""A simulation scenario: queues, arrivals, service, patience, staff, outcomes and planted behaviours.

Read from YAML (``callwatch simulate --scenario FILE``) and validated, with the file's errors named by
field. Times in a scenario are seconds unless a name says minutes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callwatch.events import Channel

BUILTIN = Path(__file__).resolve().parent / "scenarios"
PLANTED = ("cap_hangup", "survey_selection", "score_begging", "false_resolution")
Planted = Literal["cap_hangup", "survey_selection", "score_begging", "false_resolution"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Strict):
    """A random duration: ``exponential`` (mean), ``lognormal`` (mean and sigma of the log),
    ``uniform`` (min, max), ``fixed`` (mean) or ``none`` (never: infinite patience)."""

    kind: Literal["exponential", "lognormal", "uniform", "fixed", "none"] = "exponential"
    mean_s: Annotated[float, Field(gt=0)] = 180.0
    sigma: Annotated[float, Field(gt=0)] = 0.6
    min_s: Annotated[float, Field(ge=0)] = 0.0
    max_s: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _range(self) -> Distribution:
        if self.kind == "uniform" and self.max_s < self.min_s:
            raise ValueError("uniform needs max_s >= min_s")
        return self


class Overflow(_Strict):
    after_s: Annotated[float, Field(gt=0)]
    to: str


class QueueSpec(_Strict):
    channel: Channel = Channel.voice
    #: calls per hour by minute of the day's run: [[from_minute, per_hour], …] (Poisson within each)
    arrivals: list[tuple[float, float]]
    priority_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    service: Distribution | None = None
    patience: Distribution | None = None
    overflow: Overflow | None = None

    @field_validator("arrivals")
    @classmethod
    def _profile(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not value:
            raise ValueError("needs at least one [from_minute, calls_per_hour] step")
        starts = [m for m, _ in value]
        if starts != sorted(starts) or starts[0] != 0:
            raise ValueError("steps must start at minute 0 and be in order")
        if any(rate < 0 for _, rate in value):
            raise ValueError("a rate cannot be negative")
        return value


class AgentGroup(_Strict):
    """``count`` agents named ``{prefix}{n:03d}`` with the same skills, shift and breaks."""

    prefix: str
    count: Annotated[int, Field(ge=1)]
    queues: list[str]
    team: str | None = None
    #: [start, end] minutes of the run
    shift: tuple[float, float] | None = None
    #: [[start_minute, minutes, reason], …]
    breaks: list[tuple[float, float, str]] = Field(default_factory=list)


class Outcomes(_Strict):
    resolution_rate: Annotated[float, Field(ge=0, le=1)] = 0.75
    complaint_rate: Annotated[float, Field(ge=0, le=1)] = 0.05
    #: a customer whose problem was not solved calls again with this probability…
    callback_rate: Annotated[float, Field(ge=0, le=1)] = 0.5
    #: …after an exponential delay with this mean
    callback_mean_s: Annotated[float, Field(gt=0)] = 4 * 3600
    transfer_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    agent_hangup_rate: Annotated[float, Field(ge=0, le=1)] = 0.1
    survey_offer_rate: Annotated[float, Field(ge=0, le=1)] = 0.4
    survey_response_rate: Annotated[float, Field(ge=0, le=1)] = 0.5
    dispositions: bool = True
    #: the handle-time cap that cap_hangup agents game (METRICS.md's example: 7 minutes)
    handle_cap_s: Annotated[float, Field(gt=0)] = 420.0
    customers: Annotated[int, Field(ge=1)] = 50_000


class Scenario(_Strict):
    name: str = "scenario"
    start: datetime = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    hours: Annotated[float, Field(gt=0)] = 8.0
    source: str = "simulator"
    heartbeat_s: Annotated[float, Field(ge=0)] = 5.0
    #: emit agent.state events (an Erlang C check needs only the contacts)
    agent_states: bool = True
    queues: dict[str, QueueSpec]
    agents: list[AgentGroup]
    service: Distribution = Distribution(kind="lognormal", mean_s=180.0, sigma=0.6)
    patience: Distribution = Distribution(kind="exponential", mean_s=180.0)
    acw: Distribution = Distribution(kind="uniform", min_s=5.0, max_s=30.0)
    outcomes: Outcomes = Outcomes()
    #: agent name -> behaviours planted in it (ground truth, written beside the log)
    planted: dict[str, list[Planted]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        for group in self.agents:
            for q in group.queues:
                if q not in self.queues:
                    raise ValueError(f"agent group {group.prefix!r} serves unknown queue {q!r}")
        for name, spec in self.queues.items():
            if spec.overflow and spec.overflow.to not in self.queues:
                raise ValueError(f"queue {name!r} overflows to unknown queue {spec.overflow.to!r}")
        names = {f"{g.prefix}{i + 1:03d}" for g in self.agents for i in range(g.count)}
        for agent in self.planted:
            if agent not in names:
                raise ValueError(f"planted behaviour for unknown agent {agent!r}")
        if self.start.tzinfo is None:
            raise ValueError("start needs a time zone (e.g. 2026-11-23T08:00:00Z)")
        return self

    def scaled(self, factor: float) -> Scenario:
        """The same floor with ``factor`` times the traffic and the staff (for load and long replays)."""
        queues = {name: q.model_copy(update={"arrivals": [(m, r * factor) for m, r in q.arrivals]})
                  for name, q in self.queues.items()}
        agents = [g.model_copy(update={"count": max(1, round(g.count * factor))}) for g in self.agents]
        return self.model_copy(update={"queues": queues, "agents": agents})

    def adjusted(self, hours: float | None = None, scale: float = 1.0, customers: int | None = None) -> Scenario:
        """The scenario with a command line's overrides: its length, its size, its customer pool."""
        sc = self
        if hours is not None:
            sc = sc.model_copy(update={"hours": hours})
        if scale != 1.0:
            sc = sc.scaled(scale)
        if customers is not None:
            sc = sc.model_copy(update={"outcomes": sc.outcomes.model_copy(update={"customers": customers})})
        return sc

    @classmethod
    def builtin(cls, name: str) -> Scenario:
        """A scenario shipped with callwatch (``producers/scenarios/NAME.yaml``)."""
        path = BUILTIN / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.yaml")))
            raise ValueError(f"no built-in scenario {name!r} (known: {known})")
        return cls.from_yaml(path)

    @classmethod
    def load(cls, name_or_path: str) -> Scenario:
        """A file path, or the name of a built-in scenario."""
        path = Path(name_or_path)
        return cls.from_yaml(path) if path.suffix in (".yaml", ".yml") or path.is_file() else cls.builtin(name_or_path)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        data = yaml.safe_load(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a scenario is a mapping")
        return cls.model_validate(data)
