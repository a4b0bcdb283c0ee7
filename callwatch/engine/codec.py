"""How the engine's state is written to a store and read back: containers of keyed records, as bytes.

Each container maps a key (a string, or a tuple written as a JSON array) to one record written as
JSON; a driver writes the changed keys (None: deleted) with the offsets in one transaction. The
containers and their record types are the state format: a change here is a change of
``STATE_FORMAT`` (see the README's "Upgrading").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from callwatch.alarm import DERIVED, Alarm
from callwatch.engine.aggregates import AgentDay, Agg, DayAgg
from callwatch.engine.records import ActiveAlarm, ActiveThreshold, AgentRecord, CustomerHistory, Leg
from callwatch.events import decode, encode

#: the containers a driver persists, and the record type each holds ("seen" is stored by SeenIds in
#: batches, one field per hour and batch, not one per event)
CONTAINERS: dict[str, Any] = {
    "legs": Leg,
    "intervals": Agg,
    "minutes": Agg,
    "agents": AgentRecord,
    "agent_days": AgentDay,
    "held": list,
    "alarms": ActiveAlarm,
    "thresholds": ActiveThreshold,
    "sources": float,
    "customers": CustomerHistory,
    "days": DayAgg,
    "alarm_log": Alarm,
}

#: containers keyed by a tuple (stored as a JSON array); the others are keyed by a plain string
TUPLE_KEYED = frozenset({"legs", "intervals", "minutes", "agent_days", "held", "days"})


def key_out(key: Any) -> str:
    return key if isinstance(key, str) else orjson.dumps(key).decode()


def key_in(raw: bytes | str, tupled: bool) -> Any:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return tuple(orjson.loads(text)) if tupled else text


def value_out(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, list):  # held events
        return b"[" + b",".join(encode(e) for e in value) + b"]"
    if isinstance(value, Alarm):  # its fields (what is derived from them is derived again on reading)
        return value.model_dump_json(exclude=set(DERIVED)).encode()
    return orjson.dumps(value)


def changes(container: dict[Any, Any], keys: Iterable[Any]) -> dict[str, bytes | None]:
    """The serialised value of each changed key (None where the key is gone)."""
    return {key_out(k): value_out(container.get(k)) for k in keys}


def load(name: str, stored: dict[Any, bytes], target: dict[Any, Any]) -> None:
    """Fill a container from what a store holds for it."""
    kind = CONTAINERS[name]
    tupled = name in TUPLE_KEYED
    for raw_key, raw_value in stored.items():
        key = key_in(raw_key, tupled)
        if kind is Alarm:
            target[key] = Alarm.model_validate_json(raw_value)
            continue
        value = orjson.loads(raw_value)
        if kind is float:
            target[key] = value
        elif kind is list:
            target[key] = [decode(orjson.dumps(e), limits=None) for e in value]  # validated when it came in
        else:
            target[key] = kind.from_dict(value)
