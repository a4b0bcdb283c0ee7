"""The format of a partition's stored state, and how a state an older callwatch wrote is brought to it.

A partition's state (``streams/state_store.py``) is the engine's change sets: containers (field → JSON
bytes) and meta (``Engine.meta()``), with the last applied offset. Their shape is the engine's; this
module numbers it. The number is stored with each partition's state: the ``format`` field of its meta
hash. A state without one is format 1, what callwatch 0.1.0 wrote (it had no such field).

On load (both stores call :func:`upgrade`):

* a format in :data:`UPGRADES` (the current one, or an older one) goes through its function, which
  returns the state in :data:`STATE_FORMAT`. A worker that opens a partition whose state was older
  writes it back whole, in the current format, before it applies anything
  (``PartitionRunner.open`` → ``StateStore.replace``), so Redis never holds a mix of two formats; the
  read side (``callwatch report``, the scorecards) upgrades in memory and writes nothing;
* any other format (a newer callwatch wrote it, or it is not a number) raises
  :class:`StateFormatError`, whose message is one line naming ``callwatch state rebuild``. Never an
  empty state in its place: the worker stops instead of starting the partition over.

When a change re-shapes what the engine stores (a container renamed or re-keyed, a value or a meta
key changed), in the same commit:

1. bump :data:`STATE_FORMAT`;
2. write the step from the previous format to the new one (a pure function of a
   :class:`~streams.state_store.StoredPartition`: containers, meta and offset) and register, for every
   older format, the chain that brings it to the new one (:func:`chain`), and the identity for the new
   one;
3. keep ``tests/data/state-v1.json`` (and every later ``state-vN.json``) and their expected files as
   they are: ``tests/integration/test_state_upgrade.py`` opens each through the store and the
   partition runner and compares the figures and alarms. Add ``state-vN.json`` for the new format
   with the code of the release that introduces it (``tests/data/make_state_fixture.py``).

A state that cannot be upgraded (history the new format needs and the old one never kept) is rebuilt
from Kafka instead: ``callwatch state rebuild`` (``streams/state_rebuild.py``), within the topic's
retention.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callwatch import __version__
from callwatch.engine.codec import TUPLE_KEYED
from callwatch.engine.sites import site_key

#: the format this version of callwatch writes
STATE_FORMAT = 2
#: the format of a state stored without a ``format`` field (callwatch 0.1.0)
UNMARKED_FORMAT = 1
#: the command that starts a partition's state over from the events topic
REBUILD_COMMAND = "callwatch state rebuild"
#: the container hashes (``P:p:T:N:c:NAME``) each format stores: a store reads and deletes them all,
#: so that a renamed container is still found to be upgraded, and never left behind
CONTAINERS_BY_FORMAT: dict[int, tuple[str, ...]] = {
    1: ("legs", "intervals", "minutes", "agents", "agent_days", "held", "alarms", "thresholds", "sources",
        "customers", "seen"),
    # one engine per site: every key has its site in front; the days rolled up and the alarms raised
    2: ("legs", "intervals", "minutes", "agents", "agent_days", "held", "alarms", "thresholds", "sources",
        "customers", "seen", "days", "alarm_log"),
}



@dataclass
class StoredPartition:
    """One partition's state as a store holds it (``streams.state_store`` re-exports it)."""

    partition: int
    #: the last Kafka offset whose event is in this state; -1 when none is
    offset: int = -1
    meta: dict[str, Any] | None = None
    containers: dict[str, dict[str, bytes]] = field(default_factory=dict)
    #: the state format of ``meta`` and ``containers`` (loaded: always the current one)
    format: int = STATE_FORMAT
    #: loaded from an older format (and upgraded in memory): the format it is stored in
    upgraded_from: int | None = None


Upgrade = Callable[[StoredPartition], StoredPartition]


class StateFormatError(RuntimeError):
    """A partition's stored state is in a format this version of callwatch cannot read."""

    def __init__(self, topic: str, partition: int, found: str) -> None:
        self.topic = topic
        self.partition = partition
        self.found = found
        super().__init__(
            f"partition {partition} of {topic}: the state in Redis is in format {found}, which callwatch "
            f"{__version__} cannot read (it reads {known_formats()}); run the callwatch that wrote it, or "
            f"stop every worker and rebuild the state from Kafka with `{REBUILD_COMMAND} --partition "
            f"{partition}`")


def chain(*steps: Upgrade) -> Upgrade:
    """One upgrade made of steps from one format to the next, applied in order."""
    def run(state: StoredPartition) -> StoredPartition:
        for step in steps:
            state = step(state)
        return state
    return run


def _unchanged(state: StoredPartition) -> StoredPartition:
    """The current format: nothing to change."""
    return state


def _one_site(state: StoredPartition) -> StoredPartition:
    """Format 1 → 2: the one engine of a partition becomes the engine of one site.

    Its site is the one source it has seen, or the site ``""`` when it saw none or several (the events of
    a source that shares a partition with others were one clock then, and cannot be told apart now: they
    go on in the site ``""``, and their source's next events start a site of its own). Days not rolled up
    yet are still in the intervals; no alarm was kept.
    """
    sources = [k.decode() if isinstance(k, bytes) else str(k) for k in state.containers.get("sources", {})]
    site = sources[0] if len(sources) == 1 else ""
    containers: dict[str, dict[str, bytes]] = {}
    for name, items in state.containers.items():
        tupled = name in TUPLE_KEYED
        containers[name] = {site_key(site, k.decode() if isinstance(k, bytes) else str(k), tupled): v
                            for k, v in items.items()}
    # its counters (the invalid inputs' too) stay with the site: the report sums them all the same
    meta = {"sites": {site: state.meta or {}}, "counters": {}}
    return dataclasses.replace(state, containers=containers, meta=meta)


#: format → the function that brings a state stored in it to :data:`STATE_FORMAT`
UPGRADES: dict[int, Upgrade] = {
    1: _one_site,
    2: _unchanged,
}


def known_formats() -> str:
    """The formats this version reads, for messages: "format 1", "formats 1–3"."""
    formats = sorted(UPGRADES)
    if len(formats) == 1:
        return f"format {formats[0]}"
    return f"formats {formats[0]}–{formats[-1]}" if formats == list(range(formats[0], formats[-1] + 1)) \
        else "formats " + ", ".join(map(str, formats))


def parse_format(topic: str, partition: int, raw: bytes | str | int | None) -> int:
    """The format a partition's meta records (absent: format 1); a value that is not a known format
    raises :class:`StateFormatError`."""
    if raw is None:
        return UNMARKED_FORMAT
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        found = int(text)
    except ValueError:
        raise StateFormatError(topic, partition, repr(text)) from None
    if found not in UPGRADES:
        raise StateFormatError(topic, partition, str(found))
    return found


def upgrade(topic: str, state: StoredPartition) -> StoredPartition:
    """The state in :data:`STATE_FORMAT`, with ``upgraded_from`` set when it was stored in an older one.

    A partition without state (no meta) is new: it is in the current format already.
    """
    if state.meta is None:
        return dataclasses.replace(state, format=STATE_FORMAT, upgraded_from=None)
    found = state.format
    step = UPGRADES.get(found)
    if step is None:
        raise StateFormatError(topic, state.partition, str(found))
    upgraded = step(state)
    return dataclasses.replace(upgraded, format=STATE_FORMAT,
                               upgraded_from=None if found == STATE_FORMAT else found)
