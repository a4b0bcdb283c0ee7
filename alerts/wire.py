"""Reading the alerts topic: every message is an :class:`~callwatch.alarm.Alarm` (v2).

A message that is not one is refused with its reason (the dispatcher dead-letters and counts it). A v1
message — written by a worker of the previous release and still in the topic after an upgrade — is
converted, so that no page is lost across the upgrade: its id is kept (v1 and v2 derive it alike), so
one that was delivered before the upgrade is not delivered again. A v1 message that cannot be converted
exactly (a goal message: its figure had no unit; a test message; a hand-made one) is refused, saying why.
The v1 conversion goes in the release after this one.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from callwatch.alarm import Alarm, Unit

Refusal = Literal["not_json", "invalid", "v1_refused"]
V1_UNITS: tuple[Unit, ...] = ("seconds", "ratio", "contacts", "events")


class InvalidMessage(ValueError):
    """A message on the alerts topic that is no alarm; ``kind`` is the metric's label."""

    def __init__(self, kind: Refusal, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def _errors(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    text = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg']}" for e in errors[:5])
    return text + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")


def read_message(raw: bytes) -> tuple[Alarm, bool]:
    """The alarm in ``raw``, and whether it was a converted v1 message; raises :class:`InvalidMessage`."""
    try:
        return Alarm.model_validate_json(raw), False
    except ValidationError as exc:
        error = exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage("not_json", f"not JSON: {exc}") from None
    if isinstance(data, dict) and data.get("v") == 1:
        return upgrade_v1(data), True
    raise InvalidMessage("invalid", f"not a v2 alarm: {_errors(error)}")


def _split(name: str) -> tuple[str, Unit]:
    """v1 put the unit in the figure's name: ``oldest_wait_seconds`` → (oldest_wait, seconds)."""
    for unit in V1_UNITS:
        if name.endswith(f"_{unit}"):
            return name[: -len(unit) - 1], unit
    raise ValueError(f"its figure {name!r} names no unit")


def upgrade_v1(m: dict[str, Any]) -> Alarm:
    """The v2 alarm a v1 message says; raises :class:`InvalidMessage` (``v1_refused``) with the reason."""
    def refuse(why: str) -> InvalidMessage:
        return InvalidMessage("v1_refused", f"v1 message {m.get('id')!r} not converted: {why}")

    name, status = str(m.get("alarm", "")), m.get("status")
    if name.startswith("goal_"):
        raise refuse("a goal message (its figure has no unit); `callwatch goals check` now sends v2")
    if status not in ("started", "repeated", "resolved"):
        raise refuse(f"status {status!r}")
    value, threshold, context = m.get("value"), m.get("threshold"), m.get("context") or {}
    if not (isinstance(value, dict) and len(value) == 1 and isinstance(threshold, dict) and len(threshold) == 1
            and isinstance(context, dict)):
        raise refuse("value and threshold must each hold one figure")
    try:
        ((value_name, v),), ((threshold_name, t),) = value.items(), threshold.items()
        metric, unit = _split(value_name)
        threshold_unit: Unit = "seconds" if name == "no_agents" else _split(threshold_name)[1]
        fields: dict[str, Any] = dict(
            alarm=name, status=status, queue=m.get("queue") or m.get("source") or m.get("agent"),
            at=m.get("at"), started_at=m.get("started_at"), severity=m.get("severity"), value=v, threshold=t,
            unit=unit, threshold_unit=threshold_unit, metric=metric, waiting=context.get("waiting", 0),
            agents_available=context.get("agents_available", 0),
            service_level=context.get("service_level_last_15m_ratio"), call_id=m.get("call_id") or "",
            over_window=context.get("over_window", 0),
            detail=str(m.get("summary", "")) if name.startswith("integrity_") else "",
            evidence=tuple(m.get("evidence") or ()))
        alarm = Alarm(**fields)
        if alarm.id != m.get("id"):
            # v1 wrote times cut to the millisecond and ids rounded to it: the id has the exact instants
            found = re.fullmatch(re.escape(alarm.key) + r":(\d+):(\w+)(?::(\d+))?", str(m.get("id")))
            if found and abs(int(found[1]) / 1000 - alarm.started_at) < 0.0015:
                fields["started_at"] = int(found[1]) / 1000
                if found[3] and abs(int(found[3]) / 1000 - alarm.at) < 0.0015:
                    fields["at"] = int(found[3]) / 1000
                alarm = Alarm(**fields)
    except ValidationError as exc:
        raise refuse(_errors(exc)) from None
    except (ValueError, TypeError) as exc:
        raise refuse(str(exc)) from None
    if alarm.id != m.get("id"):
        raise refuse(f"its id is not the one its fields give ({alarm.id}): it could be delivered twice")
    return alarm
