"""Each customer's contacts of the last 72 hours, by customer pseudonym: repeat contacts and FCR.

A customer's new contact (any queue, channel) makes their earlier contacts within 24 h / 72 h
repeats; a contact that arrives late, after the customer's next one, is a repeat at once. This room
only decides *which* contacts became repeats; the coordinator credits the intervals and agent days.
Indexed by the hour of each contact, so that retention forgets what it forgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwatch.engine.aggregates import REPEAT_LONG_S, REPEAT_SHORT_S
from callwatch.engine.records import ContactRef, CustomerHistory


@dataclass(frozen=True, slots=True)
class Repeat:
    """An earlier contact the new one made a repeat: within 24 h (newly), within 72 h (newly)."""

    prior: ContactRef
    short: bool
    long: bool


class Customers:
    def __init__(self) -> None:
        self.histories: dict[str, CustomerHistory] = {}
        self.dirty: set[str] = set()
        self._of_call: dict[str, str] = {}
        self._hours: dict[int, set[str]] = {}

    def knows_call(self, call_id: str) -> bool:
        return call_id in self._of_call

    def ref(self, call_id: str) -> ContactRef | None:
        """The contact's record, if its customer is known (marked changed: the caller updates it)."""
        customer = self._of_call.get(call_id)
        if customer is None:
            return None
        self.dirty.add(customer)
        return next((c for c in self.histories[customer].contacts if c.call_id == call_id), None)

    def contact(self, customer: str, call_id: str, queue: str, channel: str, ts: float) -> tuple[ContactRef,
                                                                                                  list[Repeat]]:
        """A customer's new contact; returns its record and the earlier contacts it made repeats."""
        history = self.histories.get(customer)
        if history is None:
            history = self.histories[customer] = CustomerHistory()
        repeats: list[Repeat] = []
        for prior in history.contacts:
            gap = ts - prior.ts
            if gap <= 0 or gap > REPEAT_LONG_S or (prior.repeat_72h and (prior.repeat_24h or gap > REPEAT_SHORT_S)):
                continue
            short = gap <= REPEAT_SHORT_S and not prior.repeat_24h
            long = not prior.repeat_72h
            prior.repeat_24h |= short
            prior.repeat_72h = True
            repeats.append(Repeat(prior, short, long))
        ref = ContactRef(call_id, ts, queue, channel)
        later = [c.ts - ts for c in history.contacts if 0 < c.ts - ts <= REPEAT_LONG_S]
        history.contacts.append(ref)
        self._of_call[call_id] = customer
        self._hours.setdefault(int(ts // 3600), set()).add(customer)
        self.dirty.add(customer)
        if later:  # arrived late: the customer's next contact is already known, so this one is a repeat
            ref.repeat_72h = True
            ref.repeat_24h = min(later) <= REPEAT_SHORT_S
        return ref, repeats

    def expire(self, before_hour: int) -> None:
        """Forget the contacts of the hours before ``before_hour``."""
        if not self._hours or min(self._hours) >= before_hour:
            return
        for hour in [h for h in self._hours if h < before_hour]:
            for customer in self._hours.pop(hour):
                history = self.histories.get(customer)
                if history is None:
                    continue
                keep = [c for c in history.contacts if int(c.ts // 3600) >= before_hour]
                for gone in history.contacts:
                    if int(gone.ts // 3600) < before_hour:
                        self._of_call.pop(gone.call_id, None)
                if keep:
                    history.contacts = keep
                else:
                    del self.histories[customer]
                self.dirty.add(customer)

    def reindex(self) -> None:
        for customer, history in self.histories.items():
            for ref in history.contacts:
                self._of_call[ref.call_id] = customer
                self._hours.setdefault(int(ref.ts // 3600), set()).add(customer)

    def absorb(self, other: Customers) -> None:
        self.histories.update(other.histories)
        self._of_call.update(other._of_call)
