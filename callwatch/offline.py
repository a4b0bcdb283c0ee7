"""The offline driver: a log through the engine, no Kafka, no Redis — the same figures as live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.engine.figures import report
from callwatch.eventlog import read_lines
from callwatch.intake import admit


def replay_log(path: str | Path, config: MonitorConfig,
               progress: Callable[[int], None] | None = None,
               predictions: list[list[Any]] | None = None) -> tuple[Engine, dict[str, Any]]:
    """Run a log through a fresh engine in event-time mode; returns the engine and its report.

    Lines are admitted as the live worker admits its messages (:func:`callwatch.intake.admit`: limits,
    personal identifiers pseudonymised or refused); invalid lines are counted by reason in
    ``pipeline.invalid``, as the live worker counts the dead letters it publishes for them. The report's
    ``alarms`` are the engine's alarm events, in the order raised: what a message on the alerts topic says
    of them is the alerts' business, not the core's. With ``predictions``, a row is appended to it for
    every call that entered a queue (``Forecast.record``: call id, queue, entered, predicted, realised
    wait, outcome).
    """
    # a report covers the whole log: keep every interval (a live worker keeps history_days of them)
    engine = Engine(config.model_copy(update={"history_days": 400}))
    engine.forecast.record = predictions
    step = engine.step
    for n, line in enumerate(read_lines(path, lambda raw: admit(raw, config)), 1):
        if line.event is None:
            assert line.error is not None
            engine.counters[f"invalid:{line.error.code}"] += 1
        else:
            step(line.event)
        if progress is not None and n % 1000 == 0:
            progress(1000)
            engine.clear_dirty()  # nothing persists offline: keep the change sets from growing
    engine.finish()  # the end of the log: clock jumps never confirmed are refused (counted in invalid)
    out = report(engine)
    out["alarms"] = list(engine.outbox)
    return engine, out


def comparable(rep: dict[str, Any]) -> dict[str, Any]:
    """The part of a report that must be identical offline and live (alarm history is published, not
    stored, so it is compared separately)."""
    return {k: v for k, v in rep.items() if k != "alarms"}
