"""The ids of the events already applied (deduplication), remembered for ``dedup_horizon_s``.

Indexed by the hour of their time, so that forgetting costs what is forgotten. Persisted in batches:
one field per (hour, batch) holds the ids a batch added, so a batch of 2,000 events writes one field
for deduplication, not 2,000; an hour's fields are deleted together.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson


class SeenIds:
    def __init__(self) -> None:
        self.ids: dict[str, float] = {}
        self._hours: dict[int, list[str]] = {}
        self._new: list[tuple[str, float]] = []
        self._fields: dict[int, list[str]] = {}
        self._gone: list[str] = []
        self.batch = 0

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def add_new(self, event_id: str, ts: float) -> bool:
        """Remember ``event_id`` unless it is remembered already; False for a duplicate (one call per
        event on the engine's hot path, where ``in`` and :meth:`add` would be two)."""
        ids = self.ids
        if event_id in ids:
            return False
        ids[event_id] = ts
        hour = int(ts // 3600)
        same_hour = self._hours.get(hour)
        if same_hour is None:
            self._hours[hour] = [event_id]
        else:
            same_hour.append(event_id)
        self._new.append((event_id, ts))
        return True

    def add(self, event_id: str, ts: float) -> None:
        self.ids[event_id] = ts
        hour = int(ts // 3600)
        ids = self._hours.get(hour)
        if ids is None:
            self._hours[hour] = [event_id]
        else:
            ids.append(event_id)
        self._new.append((event_id, ts))

    def expire(self, before_hour: int) -> None:
        """Forget the ids of the hours before ``before_hour`` (whole hours: order never matters)."""
        if not self._hours or min(self._hours) >= before_hour:
            return
        for hour in [h for h in self._hours if h < before_hour]:
            for event_id in self._hours.pop(hour):
                t = self.ids.get(event_id)
                if t is not None and int(t // 3600) == hour:
                    del self.ids[event_id]
            self._gone.extend(self._fields.pop(hour, ()))

    # -------------------------------------------------------- persistence

    def take_changes(self) -> dict[str, bytes | None]:
        """The fields to write (new batches) and delete (forgotten hours) since the last call."""
        out: dict[str, bytes | None] = dict.fromkeys(self._gone)
        by_hour: dict[int, list[tuple[str, float]]] = {}
        for event_id, ts in self._new:
            by_hour.setdefault(int(ts // 3600), []).append((event_id, ts))
        for hour, items in by_hour.items():
            if hour not in self._hours:
                continue  # already forgotten: an event older than the horizon
            self.batch += 1
            name = f"{hour}:{self.batch}"
            self._fields.setdefault(hour, []).append(name)
            out[name] = orjson.dumps(items)
        self.clear_changes()
        return out

    def export(self) -> dict[str, bytes]:
        """Every id remembered, one field per hour (a store that lost its copy is written whole again);
        the fields written before are forgotten, and what was pending is in the export."""
        by_hour: dict[int, list[tuple[str, float]]] = {}
        for event_id, ts in self.ids.items():
            by_hour.setdefault(int(ts // 3600), []).append((event_id, ts))
        self._fields.clear()
        out: dict[str, bytes] = {}
        for hour, items in sorted(by_hour.items()):
            self.batch += 1
            name = f"{hour}:{self.batch}"
            self._fields[hour] = [name]
            out[name] = orjson.dumps(items)
        self.clear_changes()
        return out

    def clear_changes(self) -> None:
        self._new.clear()
        self._gone.clear()

    def load(self, fields: dict[Any, bytes]) -> None:
        for field, raw_value in fields.items():
            name = field.decode() if isinstance(field, bytes) else field
            self._fields.setdefault(int(name.split(":", 1)[0]), []).append(name)
            for event_id, ts in orjson.loads(raw_value):
                self.ids[event_id] = ts
        for event_id, ts in self.ids.items():
            self._hours.setdefault(int(ts // 3600), []).append(event_id)
