"""One typed settings object, from the environment (``CALLWATCH_…``) and an optional YAML file.

Precedence, highest first: constructor arguments, environment variables, the YAML file named by
``CALLWATCH_CONFIG`` (default ``./callwatch.yaml`` if it exists), the defaults below. Nested values use
``__`` in the environment: ``CALLWATCH_MONITOR__DEFAULTS__WAIT_WINDOW_S=120``.
"""

from __future__ import annotations

import os
import socket
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from callwatch.alarm_rules import load_rules
from callwatch.config import MonitorConfig


class ClockMode(str, Enum):
    #: "now" is the wall clock: a live floor
    wall = "wall"
    #: "now" is the event-time watermark: a replay of a recorded log through the live pipeline
    event = "event"


class HealthSettings(BaseModel):
    """When the worker's ``/healthz`` says it is not well (``streams/health.py``), and raises the alarm."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: how often the worker probes Redis (a write) and looks at its consumer
    interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    #: a write to Redis not answered within this long: ``redis_hung`` (a Redis busy with one big write for a
    #: second is not worth a page; one that answers nothing for two is)
    redis_hung_after_s: Annotated[float, Field(gt=0, le=600)] = 2.0
    #: messages waiting in a partition and none applied for this long: ``consumer_stuck``
    consumer_stuck_after_s: Annotated[float, Field(gt=0)] = 60.0
    #: how long ``offset_regression`` stays reported after the worker started the partition over
    offset_regression_hold_s: Annotated[float, Field(ge=0)] = 300.0


class _YamlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        name = os.environ.get("CALLWATCH_CONFIG")
        path = Path(name) if name else Path("callwatch.yaml")
        self.data: dict[str, Any] = {}
        if path.is_file():
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: the settings file must be a mapping")
            self.data = loaded
        elif name:
            raise FileNotFoundError(f"CALLWATCH_CONFIG names {path}, which does not exist")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLWATCH_", env_nested_delimiter="__", frozen=True,
                                      extra="forbid")

    kafka_bootstrap: str = "localhost:9092"
    redis_url: str = "redis://localhost:6379/0"
    events_topic: str = "callwatch-events"
    dead_letter_topic: str = "callwatch-dead-letters"
    alerts_topic: str = "callwatch-alerts"
    #: partitions of the events topic when the worker creates it; events are keyed by their source
    topic_partitions: Annotated[int, Field(ge=1)] = 4
    #: the Faust app id, which is also the consumer group
    app_id: str = "callwatch"
    clock: ClockMode = ClockMode.wall
    #: the worker's web server: /metrics for Prometheus, /healthz. Loopback unless asked otherwise: the
    #: compose stack opts into 0.0.0.0 (CALLWATCH_WEB_HOST) for its Prometheus
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=1, le=65535)] = 6066
    #: events are applied and written to Redis in batches of at most this many…
    batch_max: Annotated[int, Field(ge=1)] = 2000
    #: …or whatever arrived within this many seconds
    batch_within_s: Annotated[float, Field(gt=0)] = 0.05
    #: how often the wallboard snapshot in Redis is refreshed
    snapshot_interval_s: Annotated[float, Field(gt=0)] = 1.0
    #: the snapshot is the worker's heartbeat (rewritten every interval, events or not): when the newest is
    #: older than this, the screens say "no data — worker down?" (the page grey, its /healthz ``fresh`` false)
    stale_after_s: Annotated[float, Field(gt=0)] = 10.0
    #: Kafka consumer-group session (and rebalance) timeout: how soon a dead worker's partitions move
    session_timeout_s: Annotated[float, Field(ge=1)] = 10.0
    #: every Redis key starts with this
    redis_prefix: str = "callwatch"
    #: where a supervisor finds the wallboard; the dispatcher links alarms to it (unless the delivery
    #: config has ``links``); the engine and the alerts topic know no URL
    wallboard_url: str = "http://localhost:3000/d/callwatch-floor"
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    #: the alarm rules file (YAML, see callwatch/alarm_rules.py); replaces ``monitor.alarms``
    alarm_rules_file: Path | None = None

    # --- hardening (issue 12): faults, health, hostile input -------------------------------------------
    #: the worker's name in its health alarms' subject; default ``<host name>:<web_port>``, stable across
    #: restarts and distinct for workers sharing a host (a container's host name is its id)
    worker_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    #: a Redis command not answered within this long fails and is retried: a hung Redis must not hang
    #: the worker (its alarms, its timer, its /healthz)
    redis_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    health: HealthSettings = Field(default_factory=HealthSettings)
    #: a dead letter carries this much of the original (and its length and SHA-256): it always fits
    dead_letter_original_bytes: Annotated[int, Field(ge=0, le=256 * 1024)] = 4096
    #: the key of the callers' pseudonyms, as the importers read it (CALLWATCH_PSEUDONYM_KEY); the worker
    #: and the offline replay pseudonymise phone numbers and e-mail addresses with it (``monitor``)
    pseudonym_key: SecretStr | None = None

    @model_validator(mode="after")
    def _load_rules(self) -> Settings:
        if self.alarm_rules_file is not None:
            rules = load_rules(self.alarm_rules_file)
            object.__setattr__(self, "monitor", self.monitor.model_copy(update={"alarms": rules}))
        return self

    @model_validator(mode="after")
    def _default_worker_name(self) -> Settings:
        if self.worker_name is None:
            object.__setattr__(self, "worker_name", f"{socket.gethostname()}:{self.web_port}")
        return self

    @model_validator(mode="after")
    def _pseudonym_key_to_monitor(self) -> Settings:
        # the engine's configuration is what the worker and the offline replay both receive
        if self.pseudonym_key is not None:
            monitor = MonitorConfig.model_validate({**self.monitor.model_dump(), "alarms": self.monitor.alarms,
                                                    "pseudonym_key": self.pseudonym_key})
            object.__setattr__(self, "monitor", monitor)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    # --- issue 12, exposure: the wallboard page server and the alert dispatcher ------------------------
    # (console/web/server.py, alerts/dispatcher_app.py; README "The wallboard page: access and limits")
    #: the wallboard page server listens here (``callwatch wallboard --host`` overrides it); loopback
    #: unless a deployment opts in (the compose file: 0.0.0.0 inside its network)
    wallboard_host: str = "127.0.0.1"
    #: opens the per-agent pages and APIs (``/agents/…``, ``/api/agents/…``: scorecards) as a bearer token
    #: or once as ``?token=`` (which sets a cookie); unset, they are closed. The floor view stays open.
    #: The page server refuses one shorter than 16 characters (checked there, so no error shows it).
    wallboard_token: SecretStr | None = None
    #: push (server-sent events) clients connected at once; one more is answered 503
    wallboard_max_streams: Annotated[int, Field(ge=1)] = 100
    #: API requests being answered at once (``/api/figures``, per-agent); one more is answered 429
    wallboard_max_requests: Annotated[int, Field(ge=1)] = 8
    #: per-agent data is read from the workers' state at most once per this many seconds, shared by
    #: every request (a scorecard is per day: a minute old is fresh)
    wallboard_agents_refresh_s: Annotated[float, Field(gt=0)] = 60.0
    #: the alert dispatcher's ``/metrics`` listens here (its port: ``callwatch alerts run --metrics-port``)
    alerts_metrics_host: str = "127.0.0.1"

    @field_validator("wallboard_token", mode="before")
    @classmethod
    def _no_token_when_empty(cls, value: Any) -> Any:
        # an empty variable (compose's ${CALLWATCH_WALLBOARD_TOKEN:-}) means no token, not a short one
        return None if value == "" else value
