"""The pure, deterministic core: no I/O, no wall clock; time is passed in."""

from callwatch.engine.core import WAIT_ALARM, Engine, replay_events
from callwatch.engine.records import AlarmEvent

__all__ = ["WAIT_ALARM", "AlarmEvent", "Engine", "replay_events"]
