"""Per-queue thresholds and formulas (METRICS.md), with defaults.

A :class:`MonitorConfig` is plain data: the engine reads it, never the environment. Settings
(:mod:`callwatch.settings`) build one from the environment and the settings file.
"""

from __future__ import annotations

from datetime import datetime, time, timezone
from enum import Enum
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from callwatch.alarm_rules import AlarmRules
from callwatch.events import Channel, InputLimits
from callwatch.identifiers import MIN_KEY_BYTES, Policy


class ServiceLevelFormula(str, Enum):
    #: answered within T / (answered + abandoned) — the default
    standard = "standard"
    #: answered within T / answered
    answered_only = "answered_only"
    #: answered within T / (answered + abandoned after T)
    abandons_neutral = "abandons_neutral"


#: Service-level threshold T by channel when a queue does not set one. Voice is METRICS.md's 20 s;
#: the written channels follow common contact-center practice (a chat in a minute, e-mail in an hour).
DEFAULT_SERVICE_LEVEL_S: dict[Channel, float] = {
    Channel.voice: 20.0,
    Channel.callback: 20.0,
    Channel.chat: 60.0,
    Channel.social: 3600.0,
    Channel.email: 3600.0,
}


class QueueConfig(BaseModel):
    """Everything configurable per queue (and per queue × channel where METRICS.md says so)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the wait window: a contact waiting longer raises the wait alarm (the seeds' three minutes)
    wait_window_s: Annotated[float, Field(gt=0)] = 180.0
    #: wallboards show the oldest wait amber from here (red from the window); default two thirds of it
    wait_warning_s: Annotated[float, Field(gt=0)] | None = None
    #: T, per channel; channels not listed use DEFAULT_SERVICE_LEVEL_S
    service_level_s: dict[Channel, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    service_level_target: Annotated[float, Field(ge=0, le=1)] = 0.8
    service_level_formula: ServiceLevelFormula = ServiceLevelFormula.standard
    #: S: abandons with a shorter wait are "short abandoned" and left out of the rates
    short_abandon_s: Annotated[float, Field(ge=0)] = 5.0
    #: a call with less talk than this is a "short call"
    short_call_s: Annotated[float, Field(ge=0)] = 20.0
    timezone: str = "UTC"
    #: when "today" starts, in the queue's time zone; a multiple of 15 minutes so that "today" is a
    #: whole number of 15-minute intervals in every real time zone
    day_starts_at: time = time(0, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("day_starts_at")
    @classmethod
    def _whole_interval(cls, value: time) -> time:
        if value.minute % 15 or value.second or value.microsecond:
            raise ValueError("day_starts_at must fall on a 15-minute boundary (e.g. 06:00, 06:15)")
        return value

    @property
    def warning_s(self) -> float:
        return self.wait_warning_s if self.wait_warning_s is not None else round(self.wait_window_s * 2 / 3, 3)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def threshold_s(self, channel: Channel) -> float:
        return self.service_level_s.get(channel, DEFAULT_SERVICE_LEVEL_S[channel])


class IntegrityConfig(BaseModel):
    """The integrity signals' thresholds (METRICS.md "trust, but verify"); every one configurable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the handle-time cap agents are held to, if any (cap clustering is only checked with one)
    handle_cap_s: Annotated[float, Field(gt=0)] | None = None
    #: "within the last 30 s before the cap"
    near_cap_s: Annotated[float, Field(gt=0)] = 30.0
    cap_ratio: Annotated[float, Field(gt=1)] = 3.0
    short_hangup_ratio: Annotated[float, Field(gt=1)] = 3.0
    contradicted_resolution_ratio: Annotated[float, Field(gt=1)] = 2.0
    #: perfect scores (5 and 5) this many times the floor's share: the "ask for a 100 % score" pattern
    perfect_scores_ratio: Annotated[float, Field(gt=1)] = 2.0
    #: a signal needs at least this many contacts behind it
    min_contacts: Annotated[int, Field(ge=1)] = 20
    #: and must be beyond chance: a one-sided binomial (or two-proportion) test at this level
    p_value: Annotated[float, Field(gt=0, lt=1)] = 0.01
    #: the days the signals look back over
    period_days: Annotated[int, Field(ge=1)] = 30
    #: contact ids kept per agent, day and signal as evidence
    evidence_per_day: Annotated[int, Field(ge=0)] = 25


class MonitorConfig(BaseModel):
    """The engine's whole configuration: defaults, per-queue overrides and the stream's tolerances."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: QueueConfig = Field(default_factory=QueueConfig)
    #: per-queue overrides; fields not given fall back to ``defaults``
    queues: dict[str, dict[str, object]] = Field(default_factory=dict)
    #: events may arrive this late (event time) and still give the same figures as in order
    allowed_lateness_s: Annotated[float, Field(ge=0)] = 60.0
    #: a second event with the same id within this horizon is a duplicate
    dedup_horizon_s: Annotated[float, Field(gt=0)] = 86400.0
    #: closed 15-minute intervals kept for history
    history_days: Annotated[int, Field(ge=1, le=400)] = 8
    #: finished contacts are remembered this long for late ACW, dispositions and surveys
    contact_retention_s: Annotated[float, Field(gt=0)] = 86400.0
    #: per-agent daily figures kept this long (as long as the queues' daily figures: a report over a year
    #: of log holds every agent's days, live as offline)
    agent_history_days: Annotated[int, Field(ge=1)] = 400
    #: daily figures per queue and channel (15-minute intervals rolled up once they leave the
    #: ``history_days`` history) and the alarms raised, kept this long: what the report holds
    daily_history_days: Annotated[int, Field(ge=1)] = 400
    #: time zone of the floor: per-agent days and the all-queues day are counted in it
    floor_timezone: str = "UTC"
    #: a site (an event's ``source``) → its time zone: its agent days, its queues' days (those without a
    #: ``timezone`` of their own) and its all-queues days are counted in it; other sites use the defaults
    site_timezones: dict[str, str] = Field(default_factory=dict)
    #: how many entries the longest-waiting list shows
    longest_waiting_size: Annotated[int, Field(ge=1, le=1000)] = 10
    #: export per-agent series to Prometheus (state now and today's figures). Off by default: a floor of
    #: 10,000 agents would add tens of thousands of series; the CLI and the JSON endpoint have them anyway
    per_agent_metrics: bool = False
    #: the alarms' thresholds, minimum volumes, hysteresis, severities and repeat intervals
    alarms: AlarmRules = Field(default_factory=AlarmRules)
    #: the integrity signals' thresholds
    integrity: IntegrityConfig = Field(default_factory=IntegrityConfig)
    #: believable event times: an event (or a ``waiting_since``) outside [earliest, latest) is refused
    #: (dead-lettered, counted in ``invalid``) before it can move the clock
    earliest_event_time: AwareDatetime = datetime(1990, 1, 1, tzinfo=timezone.utc)
    latest_event_time: AwareDatetime = datetime(2100, 1, 1, tzinfo=timezone.utc)
    #: live: an event further ahead of the wall clock than this is refused
    max_clock_skew_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 300.0
    #: event time (replays, backlogs): an event further ahead of its source's clock than this is held
    #: until the source's next event confirms the jump (a night, an idle month) or shows it an outlier
    max_clock_step_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 3600.0

    # --- what an input must be to reach the engine (issue 12; callwatch/intake.py) ---------------------
    #: event size (bytes, before parsing) and name length (characters): what is larger is dead-lettered
    limits: InputLimits = Field(default_factory=InputLimits)
    #: a phone number or e-mail address as ``customer`` or ``call_id`` when no pseudonym key is set:
    #: ``refuse`` (dead-lettered, ``personal_identifier``) or ``pass`` (kept as it is)
    personal_identifiers: Policy = "refuse"
    #: the key of the callers' pseudonyms (``CALLWATCH_PSEUDONYM_KEY``, which the settings put here):
    #: with it, such identifiers are pseudonymised as the importers do. Never serialised.
    pseudonym_key: SecretStr | None = Field(default=None, exclude=True, repr=False)

    _queue_cache: dict[str, QueueConfig] = PrivateAttr(default_factory=dict)
    _site_cache: dict[str, MonitorConfig] = PrivateAttr(default_factory=dict)

    @field_validator("floor_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return QueueConfig._known_zone(value)

    @field_validator("site_timezones")
    @classmethod
    def _known_site_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for site, zone in value.items():
            try:
                QueueConfig._known_zone(zone)
            except ValueError:
                raise ValueError(f"site {site!r}: unknown IANA time zone {zone!r}") from None
        return value

    @field_validator("queues")
    @classmethod
    def _valid_overrides(cls, value: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
        for name, override in value.items():
            try:
                QueueConfig.model_validate(override)
            except Exception as exc:
                raise ValueError(f"queue {name!r}: {exc}") from None
        return value

    @field_validator("pseudonym_key")
    @classmethod
    def _long_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_KEY_BYTES:
            raise ValueError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _believable_range(self) -> MonitorConfig:
        if self.earliest_event_time >= self.latest_event_time:
            raise ValueError(f"earliest_event_time ({self.earliest_event_time.isoformat()}) must be before "
                             f"latest_event_time ({self.latest_event_time.isoformat()})")
        return self

    def for_queue(self, queue: str) -> QueueConfig:
        cache = self._queue_cache
        found = cache.get(queue)
        if found is None:
            override = self.queues.get(queue)
            found = (
                self.defaults
                if not override
                else QueueConfig.model_validate({**self.defaults.model_dump(), **override})
            )
            cache[queue] = found
        return found

    @cached_property
    def floor_zone(self) -> ZoneInfo:
        return ZoneInfo(self.floor_timezone)

    def for_site(self, site: str) -> MonitorConfig:
        """The configuration a site's engine runs with: its time zone (``site_timezones``) as the floor's and
        the queues' default zone; the configuration itself for a site without one."""
        zone = self.site_timezones.get(site)
        if zone is None or (zone == self.floor_timezone and zone == self.defaults.timezone):
            return self
        cache = self._site_cache
        found = cache.get(site)
        if found is None:
            # validated afresh (not model_copy): the copy must not inherit cached zones and queue configs
            found = cache[site] = MonitorConfig.model_validate({
                **self.model_dump(exclude={"pseudonym_key"}), "floor_timezone": zone,
                "defaults": {**self.defaults.model_dump(), "timezone": zone},
                "pseudonym_key": self.pseudonym_key})
        return found
