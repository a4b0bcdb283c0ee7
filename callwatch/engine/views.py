"""What an alarm reads of the rest of the floor as of an instant: narrow, read-only, owned by no one.

The alarm rooms depend on this protocol, not on the engine: the coordinator implements it by asking
the rooms that own each figure.
"""

from __future__ import annotations

from typing import Protocol


class FloorAsOf(Protocol):
    def waiting_at(self, queue: str, at: float) -> int:
        """Contacts waiting in the queue at ``at``."""

    def agents_at(self, queue: str, at: float | None = None) -> dict[str, int]:
        """Agents serving the queue in each state at ``at`` (their latest state when None)."""

    def service_level_15m(self, queue: str, at: float) -> float | None:
        """The service level of the whole minutes in the 15 before ``at``."""
