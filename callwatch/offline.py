"""The offline driver: a log through the engine, no Kafka, no Redis — the same figures as live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.engine.report import report
from callwatch.engine.sites import Sites
from callwatch.eventlog import read_raw
from callwatch.events import InvalidEvent
from callwatch.intake import admitter


def replay_log(path: str | Path, config: MonitorConfig,
               progress: Callable[[int], None] | None = None,
               predictions: list[list[Any]] | None = None) -> tuple[Sites, dict[str, Any]]:
    """Run a log through fresh engines (one per site) in event-time mode; returns them and their report.

    Lines are admitted as the live worker admits its messages (:func:`callwatch.intake.admit`: limits,
    personal identifiers pseudonymised or refused); invalid lines are counted by reason in
    ``pipeline.invalid``, as the live worker counts the dead letters it publishes for them. The engines
    keep what a live worker keeps (15-minute intervals for ``history_days``, days and alarms for
    ``daily_history_days``), so the report is the one ``callwatch report`` builds from the workers' state.
    The report's ``alarms`` are the engines' alarm events, each site's in the order raised: what a
    message on the alerts topic says of them is the alerts' business, not the core's. With
    ``predictions``, a row is appended to it for every call that entered a queue (``Forecast.record``:
    call id, queue, entered, predicted, realised wait, outcome).
    """
    sites = Sites(config)
    sites.predictions = predictions
    step = sites.step
    invalid = sites.counters
    admit = admitter(config)
    # the log's own non-blank lines (eventlog.read_raw), admitted here: no LogLine per line
    for n, raw in enumerate(read_raw(path), 1):
        try:
            event = admit(raw)
        except InvalidEvent as exc:
            invalid[f"invalid:{exc.code}"] += 1
        else:
            step(event)
        if n % 1000 == 0:
            if progress is not None:
                progress(1000)
            # nothing persists offline: keep the change sets and the alarms already listed from growing
            sites.clear_dirty()
            sites.outbox.clear()
    sites.finish()  # the end of the log: clock jumps never confirmed are refused (counted in invalid)
    return sites, report(sites)


def comparable(rep: dict[str, Any]) -> dict[str, Any]:
    """The part of a report that must be identical offline and live whatever the clock: the figures (a
    live worker on the wall clock raises its alarms at other moments than an event-time replay)."""
    return {k: v for k, v in rep.items() if k != "alarms"}
