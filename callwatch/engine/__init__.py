"""The pure, deterministic core: no I/O, no wall clock; time is passed in."""

from callwatch.alarm import Alarm
from callwatch.engine.core import WAIT_ALARM, Engine, replay_events
from callwatch.engine.sites import Sites, replay_sites

#: the name of v1 (a dataclass); kept for one release so that code importing it still runs — use Alarm
AlarmEvent = Alarm

__all__ = ["WAIT_ALARM", "Alarm", "AlarmEvent", "Engine", "Sites", "replay_events", "replay_sites"]
