"""The engine's per-entity state: a contact's stay in a queue, an agent, an active alarm.

What the engine says about an alarm is :class:`callwatch.alarm.Alarm` (the alerts topic's message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the agent states a queue's agents are counted in (offline is not staffed)
AGENT_STATES = ("available", "busy", "wrap_up", "away")


@dataclass(slots=True)
class Leg:
    """One contact's stay in one queue, from ``call.queued`` to the end of its handling there.

    A contact that is transferred or overflows to another queue gets a new leg there (the event
    contract says events carry "the queue the event happens in"), so a leg never changes queue.
    """

    call_id: str
    queue: str
    channel: str
    priority: int
    #: distinguishes a re-entry into the same queue in the alarm timer's heaps
    seq: int
    #: the ``call.queued`` time (``offered`` belongs to its interval); None for an orphan leg
    arrived_at: float | None
    #: when the customer's wait started (``waiting_since`` if given); None for an orphan leg
    wait_from: float | None
    status: str  # waiting | answered | abandoned | dequeued | ended | transferred
    customer: str | None = None
    left_at: float | None = None
    agent: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    wrapped: bool = False
    resolved: bool | None = None
    complaint: bool | None = None
    survey_offered: bool = False
    #: the latest event time seen for this leg: finished legs are forgotten by it
    last_ts: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Leg:
        return cls(**data)


@dataclass(slots=True)
class AgentRecord:
    """An agent's latest known state, and the state changes not yet final (newer than the watermark).

    Time in state is only accounted once the watermark has passed a change, so that a change arriving
    out of order within the allowed lateness lands where it belongs.
    """

    agent: str
    queues: list[str] = field(default_factory=list)
    team: str | None = None
    #: the final state (at or before the watermark), since when, and the state before it
    state: str = "offline"
    reason: str | None = None
    since: float | None = None
    previous: str = "offline"
    #: changes newer than the watermark, sorted by time and id: [ts, state, reason, event id]
    pending: list[list[Any]] = field(default_factory=list)
    queues_ts: float = float("-inf")

    @property
    def current(self) -> tuple[str, str | None]:
        """The latest state known, final or not (what a wallboard shows)."""
        if self.pending:
            _, state, reason, _ = self.pending[-1]
            return state, reason
        return self.state, self.reason

    def state_at(self, t: float) -> str:
        """The state at time ``t``, as far as it is known (the final state when ``t`` is older)."""
        for ts, state, _, _ in reversed(self.pending):
            if ts <= t:
                return str(state)
        return self.state

    @property
    def current_since(self) -> float | None:
        return self.pending[-1][0] if self.pending else self.since

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentRecord:
        if data.get("queues_ts") is None:
            data["queues_ts"] = float("-inf")
        return cls(**data)


@dataclass(slots=True)
class ActiveAlarm:
    """A wait alarm that is on for a queue: since when, which contact crossed first, when last sent."""

    queue: str
    started_at: float
    call_id: str
    #: when it was last sent (started or repeated); 0 in a state written before repeats existed
    last_sent: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActiveAlarm:
        return cls(**data)


@dataclass(slots=True)
class ActiveThreshold:
    """A threshold alarm's state for one subject (a queue or a source).

    ``pending`` waits out a rule's ``for`` period (no agents for 60 s) before it becomes ``active``.
    """

    alarm: str
    subject: str
    status: str  # pending | active
    since: float
    last_sent: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActiveThreshold:
        return cls(**data)


@dataclass(slots=True)
class ContactRef:
    """One contact of a customer, remembered 72 h so that a later contact marks it as repeated."""

    call_id: str
    ts: float
    queue: str
    channel: str
    agent: str | None = None
    #: the agent's day (floor time zone) the contact was handled in, where its agent figures are
    agent_day: str | None = None
    resolved: bool | None = None
    repeat_24h: bool = False
    repeat_72h: bool = False


@dataclass(slots=True)
class CustomerHistory:
    contacts: list[ContactRef] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerHistory:
        return cls([ContactRef(**c) for c in data["contacts"]])
