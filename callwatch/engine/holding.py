"""Events that came before their prerequisite (an answer before its ``call.queued``), held per contact.

They are released the moment the prerequisite arrives, or, once the watermark passes them, handed
back to be applied as far as they make sense. A heap by event time finds those without a scan.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from callwatch.events import Event

ContactKey = tuple[str, str]


def _order(e: Event) -> tuple[float, str]:
    return (e.ts.timestamp(), e.id)


class HeldEvents:
    def __init__(self) -> None:
        self.held: dict[ContactKey, list[Event]] = {}
        self.dirty: set[ContactKey] = set()
        self._heap: list[tuple[float, str, str]] = []

    def hold(self, ev: Event, key: ContactKey, ts: float) -> None:
        self.held.setdefault(key, []).append(ev)
        self.dirty.add(key)
        heapq.heappush(self._heap, (ts, key[0], key[1]))

    def release(self, key: ContactKey) -> list[Event]:
        """The events waiting for this contact, in event-time order (and forgotten here)."""
        held = self.held.pop(key, None)
        if not held:
            return []
        self.dirty.add(key)
        return sorted(held, key=_order)

    def any_due(self, watermark: float) -> bool:
        return bool(self._heap) and self._heap[0][0] <= watermark

    def expired(self, watermark: float) -> Iterator[tuple[ContactKey, list[Event]]]:
        """Held events the watermark has passed, per contact, in order: their prerequisite is not coming.

        One contact at a time: applying one may release (or consume) what another entry would find.
        """
        heap = self._heap
        while heap and heap[0][0] <= watermark:
            _, queue, call_id = heapq.heappop(heap)
            key = (queue, call_id)
            held = self.held.get(key)
            if not held:
                continue
            due = [e for e in held if e.ts.timestamp() <= watermark]
            rest = [e for e in held if e.ts.timestamp() > watermark]
            if rest:
                self.held[key] = rest
            else:
                del self.held[key]
            self.dirty.add(key)
            yield key, sorted(due, key=_order)

    def reindex(self) -> None:
        for key, events in self.held.items():
            for ev in events:
                heapq.heappush(self._heap, (ev.ts.timestamp(), key[0], key[1]))
