"""The alarm: one typed model from the engine to the dispatcher, to webhook receivers and to the report.

:class:`Alarm` *is* the alerts topic's message (``v: 2``): the engine builds it, the worker publishes
``alarm.model_dump_json()``, the dispatcher reads it back with ``Alarm.model_validate_json`` and every
receiver renders from its typed fields. Units are fields (``unit``, ``threshold_unit``), never parts of
key names. Links to dashboards are not part of it: the engine knows no URL, the dispatcher adds them
when it renders for a receiver (the webhook posts :class:`LinkedAlarm`).

Times are epoch seconds in Python (the engine's clock) and ISO-8601 UTC with milliseconds and ``Z`` on
the wire, as v1 consumers saw them; a time is held to the millisecond, so that the JSON parsed back is
an equal model.

The engine constructs with validation, not ``model_construct``: measured here, a validated
construction takes about 10 µs and ``model_construct`` is no faster (about 8 µs: it still fills the
defaults and the set of fields), for a few thousand alarms a month of traffic — and validation is what
makes a wrong unit, status or a non-finite figure fail in the engine's own tests rather than at a
receiver, and what holds the times to the millisecond so the wire form parses back to an equal model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    ModelWrapValidatorHandler,
    PlainSerializer,
    WithJsonSchema,
    computed_field,
    model_validator,
)

Status = Literal["started", "repeated", "resolved"]
Severity = Literal["critical", "warning", "info"]
#: seconds; ratio (0–1); contacts (a count of contacts); events (a count of events); score (a survey
#: score, 1–5)
Unit = Literal["seconds", "ratio", "contacts", "events", "score"]
#: what an alarm's subject (its ``queue`` field) names; ``pipeline``: a worker (its health) or a topic
#: partition (``<topic>:<partition>``, an offset regression)
SubjectKind = Literal["queue", "source", "agent", "pipeline"]
#: the pipeline's own alarms (``streams/health.py``): the worker's health conditions, each named by its
#: reason in ``/healthz``, and a partition whose offsets went backwards
PIPELINE_ALARMS = ("redis_unreachable", "redis_hung", "redis_state_lost", "consumer_stuck", "offset_regression")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
#: the keys an alarm's JSON carries that are derived from its fields: accepted back, never trusted
#: (``id`` and ``key`` must match the fields they are derived from)
DERIVED = frozenset({"id", "key", "subject_kind", "title", "summary"})


def to_epoch(value: Any) -> float:
    """Epoch seconds, to the millisecond, from epoch seconds, an aware datetime or an ISO-8601 text
    with a zone (``Z`` or an offset)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 time: {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a time needs its zone (Z or an offset)")
        return round((value - _EPOCH) / _MS) / 1000
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a time is epoch seconds or ISO-8601 text, not {type(value).__name__}")
    if not math.isfinite(value) or not -62_135_596_800 <= value < 253_402_300_800:  # years 1 to 9999
        raise ValueError(f"time out of range: {value!r}")
    return round(value * 1000) / 1000


def iso_ms(ts: float) -> str:
    """``2026-11-23T08:51:42.915Z``: UTC, milliseconds (rounded), ``Z``."""
    when = _EPOCH + timedelta(milliseconds=round(ts * 1000))
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


Instant = Annotated[
    float,
    BeforeValidator(to_epoch),
    PlainSerializer(iso_ms, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "ISO-8601 UTC with milliseconds and Z, e.g. 2026-11-23T08:51:42.915Z"}),
]


def subject_kind_of(alarm: str) -> SubjectKind:
    """What an alarm's subject (its ``queue`` field) names: a source for the feed's alarms, an agent for
    integrity signals and goals, a worker or a topic partition for the pipeline's own, else a queue."""
    if alarm in ("feed_silent", "integrity_clock_anomalies"):
        return "source"
    if alarm in PIPELINE_ALARMS:
        return "pipeline"
    if alarm.startswith(("integrity_", "goal_")):
        return "agent"
    return "queue"


class Alarm(BaseModel):
    """An alarm started, repeated or resolved: what the engine says, and the alerts topic's message v2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[2] = Field(default=2, description="the message version: 2")
    alarm: str = Field(min_length=1, description="the alarm's name: wait_window_exceeded, abandonment_high, "
                       "service_level_low, no_agents, feed_silent, integrity_<signal>, goal_<status>, test")
    status: Status = Field(description="started, repeated (sent again while it lasts) or resolved")
    queue: str = Field(min_length=1, description="the subject: a queue, a source, an agent, a worker or a topic "
                       "partition (see subject_kind)")
    at: Instant = Field(description="when this start, repeat or resolve happened (event time)")
    started_at: Instant = Field(description="when the incident started (equal to at for a start)")
    severity: Severity = Field(description="critical, warning or info (the alarm's rule)")
    value: FiniteFloat | None = Field(
        description="the figure that crossed its threshold, in unit; null only for a goal missed with no figure")
    threshold: FiniteFloat = Field(description="the threshold it crossed, in threshold_unit (the floor's "
                                   "baseline for an integrity signal, the target for a goal)")
    unit: Unit = Field(description="the unit of value: seconds, ratio (0–1), contacts, events or score (1–5)")
    threshold_unit: Unit = Field(description="the unit of threshold: the unit of value, except no_agents "
                                 "(value: contacts waiting; threshold: seconds without an agent)")
    metric: str = Field(description="the figure's name: oldest_wait, abandonment_rate, service_level, waiting, "
                        "silence, the integrity signal's or the goal's metric")
    waiting: int = Field(ge=0, description="contacts waiting in the queue at `at` (0 for other subjects)")
    agents_available: int = Field(ge=0, description="agents available in the queue at `at` (0 for other subjects)")
    service_level: FiniteFloat | None = Field(
        description="the queue's service level over the last 15 minutes before `at`, a ratio (0–1); null "
                    "when no contact was answered or abandoned then, or the subject is not a queue")
    call_id: str = Field(default="", description="wait alarm: the contact whose wait crossed the window "
                         "first (on resolve: the last one to leave); empty otherwise")
    over_window: int = Field(default=0, ge=0, description="wait alarm: contacts waiting longer than the window")
    detail: str = Field(default="", description="integrity signals and goals: the sentence saying why")
    evidence: tuple[str, ...] = Field(default=(), description="integrity signals: the contacts behind it (ids)")
    site: str | None = Field(default=None, description="the site whose engine raised it: the source of its "
                             "events; null for events without a source, and for the pipeline's own alarms")

    if TYPE_CHECKING:  # the engine's keywords (v1 AlarmEvent's); at run time pydantic's, validated
        def __init__(self, *, alarm: str, status: str, queue: str, at: float | str | datetime,
                     started_at: float | str | datetime, severity: str, value: float | None, threshold: float,
                     unit: str, metric: str, waiting: int, agents_available: int, service_level: float | None,
                     call_id: str = "", over_window: int = 0, detail: str = "", evidence: Iterable[str] = (),
                     threshold_unit: str | None = None, v: int = 2, site: str | None = None) -> None: ...

    @model_validator(mode="wrap")
    @classmethod
    def _derived_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Alarm]) -> Alarm:
        """``threshold_unit`` left out is ``unit`` (seconds for no_agents, whose threshold is its waiting
        period). The JSON form carries ``id``, ``key``, ``subject_kind``, ``title`` and ``summary``: they
        are set aside, and ``id`` and ``key`` must be the ones the fields give."""
        if not isinstance(data, dict) or (data.get("threshold_unit") is not None and not DERIVED & data.keys()):
            return handler(data)
        given = {k: data[k] for k in ("id", "key") if k in data}
        data = {k: v for k, v in data.items() if k not in DERIVED}
        if data.get("threshold_unit") is None and "unit" in data:
            data["threshold_unit"] = "seconds" if data.get("alarm") == "no_agents" else data["unit"]
        alarm = handler(data)
        for name, claimed in given.items():
            if claimed != getattr(alarm, name):
                raise ValueError(f"{name} {claimed!r} is not the one its fields give ({getattr(alarm, name)!r})")
        return alarm

    @computed_field(description="the incident: alarm, subject and, when there is one, @site; stable for the "  # type: ignore[prop-decorator]
                    "incident's whole life")
    @property
    def key(self) -> str:
        """Stable for the life of the incident: a restart neither pages again nor forgets to resolve. The
        site is part of it: two sites' queues of the same name are two incidents."""
        return f"{self.alarm}:{self.queue}" if self.site is None else f"{self.alarm}:{self.queue}@{self.site}"

    @property
    def incident(self) -> str:
        """One incident of one alarm: its key and its start in epoch milliseconds."""
        return f"{self.key}:{round(self.started_at * 1000)}"

    @computed_field(description="this start, repeat or resolve: <key>:<started ms>:<status>[:<at ms> for "  # type: ignore[prop-decorator]
                    "a repeat]; a consumer drops a second copy")
    @property
    def id(self) -> str:
        """Stable per incident and status; a repeat carries its instant."""
        suffix = f":{round(self.at * 1000)}" if self.status == "repeated" else ""
        return f"{self.incident}:{self.status}{suffix}"

    @computed_field(description="what the subject (the queue field) names: queue, source, agent or pipeline")  # type: ignore[prop-decorator]
    @property
    def subject_kind(self) -> SubjectKind:
        return subject_kind_of(self.alarm)

    @computed_field(description="the alarm's name for people")  # type: ignore[prop-decorator]
    @property
    def title(self) -> str:
        return title(self)

    @computed_field(description="one sentence for people: what, where, how much")  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        return summary(self)


class LinkedAlarm(Alarm):
    """What a webhook receiver is sent: the alarm plus the dispatcher's links to dashboards."""

    links: dict[str, str] = Field(default_factory=dict, description="name → URL, from the dispatcher's "
                                  "`links` setting (by default `wallboard`: the wallboard at this subject)")

    if TYPE_CHECKING:
        def __init__(self, **data: Any) -> None: ...


# ------------------------------------------------------------- human text
# The title and summary travel with the message (computed fields), so they live beside the model;
# the receivers' richer renderings (facts, headlines) are in ``alerts.messages``.

ALARM_TITLES = {
    "wait_window_exceeded": "Caller waiting longer than the wait window",
    "wait_window_forecast": "Early warning: a caller is predicted to pass the wait window",
    "abandonment_high": "Abandonment over threshold",
    "service_level_low": "Service level under target",
    "no_agents": "Callers waiting with no agent",
    "feed_silent": "Telephony feed silent",
    "integrity_cap_clustering": "Integrity: calls ended just before the handle-time cap",
    "integrity_short_hangups": "Integrity: many very short calls ended by the agent",
    "integrity_survey_selection": "Integrity: surveys not offered after complaints",
    "integrity_contradicted_resolution": "Integrity: 'resolved' contacts come back",
    "integrity_contradicted_satisfaction": "Integrity: top satisfaction, yet customers come back",
    "integrity_perfect_scores": "Integrity: perfect survey scores far more often than the floor",
    "integrity_clock_anomalies": "Integrity: a source's events arrive in an impossible order",
    "redis_unreachable": "Worker: Redis unreachable",
    "redis_hung": "Worker: Redis does not answer",
    "redis_state_lost": "Worker: Redis lost the stored state",
    "consumer_stuck": "Worker: events wait and none is applied",
    "offset_regression": "Events topic: offsets went backwards",
    "goal_achieved": "Goal achieved",
    "goal_missed": "Goal missed",
    "test": "Test message from callwatch",
}


def title(a: Alarm) -> str:
    return ALARM_TITLES.get(a.alarm, a.alarm.replace("_", " ").capitalize())


def summary(a: Alarm) -> str:
    """One sentence: the integrity signal's or goal's own (``detail``), else what, where and how much."""
    if a.detail:
        return a.detail
    q, v, t = a.queue, a.value or 0.0, a.threshold
    done = a.status == "resolved"
    if a.alarm == "wait_window_exceeded":
        if done:
            return f"{q}: no caller over the {t:.0f} s window any more (longest wait now {v:.0f} s)"
        return f"{q}: a caller has waited {v:.0f} s, over the {t:.0f} s window"
    if a.alarm == "abandonment_high":
        return (f"{q}: abandonment back to {v:.1%} over the last 30 min" if done else
                f"{q}: {v:.1%} of callers abandoned over the last 30 min (threshold {t:.0%})")
    if a.alarm == "service_level_low":
        return (f"{q}: service level back to {v:.1%} over the last 30 min" if done else
                f"{q}: service level {v:.1%} over the last 30 min, under the {t:.0%} target")
    if a.alarm == "no_agents":
        return (f"{q}: an agent is available or busy again" if done else
                f"{q}: {v:.0f} callers waiting and no agent available or busy for {t:.0f} s")
    if a.alarm == "feed_silent":
        return (f"source {q}: events flow again" if done else
                f"source {q}: no event (heartbeat included) for {v:.0f} s")
    if a.alarm in PIPELINE_ALARMS:  # the worker writes the sentence in detail; this is what is left without it
        return f"{q}: {title(a).split(': ', 1)[-1].lower()}" + (" (over)" if done else "")
    return f"{a.alarm} {a.status} for {q}"
