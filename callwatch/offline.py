"""The offline driver: a log through the engine, no Kafka, no Redis — the same figures as live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.engine.report import report
from callwatch.engine.sites import Sites
from callwatch.eventlog import read_lines
from callwatch.intake import admit


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
    for n, line in enumerate(read_lines(path, lambda raw: admit(raw, config)), 1):
        if line.event is None:
            assert line.error is not None
            sites.counters[f"invalid:{line.error.code}"] += 1
        else:
            step(line.event)
        if progress is not None and n % 1000 == 0:
            progress(1000)
        if n % 1000 == 0:
            # nothing persists offline: keep the change sets and the alarms already listed from growing
            sites.clear_dirty()
            sites.outbox.clear()
    sites.finish()  # the end of the log: clock jumps never confirmed are refused (counted in invalid)
    return sites, report(sites)


def comparable(rep: dict[str, Any]) -> dict[str, Any]:
    """The part of a report that must be identical offline and live whatever the clock: the figures (a
    live worker on the wall clock raises its alarms at other moments than an event-time replay)."""
    return {k: v for k, v in rep.items() if k != "alarms"}
