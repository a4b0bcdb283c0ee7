"""``callwatch replay``: publish a recorded log to Kafka (``producers.replay``), or run it through the
engine here (``callwatch.offline``) and print its figures."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from callwatch.settings import Settings
from callwatch.timetext import parse_instant
from console.common import CommandError, err, load_settings, parsed, producer, reading, safe, warn


def replay(
    log: Annotated[Path, typer.Argument(help="a JSON Lines event log (.jsonl or .jsonl.gz)", exists=True,
                                        dir_okay=False)],
    speed: Annotated[str, typer.Option(help="log seconds per second (1 = real time, 60) or 'max'")] = "max",
    offline: Annotated[bool, typer.Option(help="run the engine here, without Kafka")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON (with --offline)")] = False,
    rebase_now: Annotated[bool, typer.Option(help="shift the log so that its first event is now")] = False,
    start: Annotated[str | None, typer.Option("--from", help="only events at or after this time (RFC 3339)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="only events before this time (RFC 3339)")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    topic: Annotated[str | None, typer.Option(help="the events topic")] = None,
    wait_for_broker: Annotated[float, typer.Option(help="seconds to wait for an unreachable broker")] = 60.0,
    predictions: Annotated[Path | None, typer.Option(
        help="with --offline: write each queued call's predicted wait at entry beside its realised wait (CSV)",
        dir_okay=False)] = None,
) -> None:
    """Publish a recorded log to Kafka, paced by its timestamps; or, with --offline, print its figures."""
    settings = load_settings(kafka_bootstrap=bootstrap, events_topic=topic)
    if offline:
        _replay_offline(log, settings, as_json, predictions)
        return
    if predictions is not None:
        raise CommandError("--predictions needs --offline (the predictions are the engine's, run here)")
    from callwatch.eventlog import read_raw
    from producers.replay import parse_speed, prepare, shift_to, within
    from producers.replay import replay as publish

    pace = parsed(parse_speed, speed, "--speed")
    lo = None if start is None else parsed(parse_instant, start, "--from")
    hi = None if end is None else parsed(parse_instant, end, "--to")
    with reading(log):
        _check_events(log, _invalid_lines(log))
        selected = list(within(prepare(read_raw(log)), lo, hi))
    shift = shift_to(selected, time.time()) if rebase_now else 0.0
    kafka = producer(settings, len(selected), wait_for_broker)
    with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as progress:
        task = progress.add_task("replay", total=len(selected))
        result = publish(prepare((i.value for i in selected), shift), kafka, settings.events_topic, pace,
                         on_sent=lambda n: progress.advance(task, n))
    kafka.close()
    rate = result.sent / result.seconds if result.seconds else float("inf")
    err.print(f"sent {result.sent}, acknowledged {result.acknowledged}, failed {result.failed} "
              f"in {result.seconds:.1f}s ({rate:,.0f} events/s) to {safe(settings.events_topic)}")
    if not result.ok:
        raise CommandError(f"{result.sent - result.acknowledged} events were not acknowledged by the broker")


def _invalid_lines(log: Path) -> tuple[int, dict[str, int]]:
    """How many lines of a log are events, and the others by reason (what a worker would dead-letter)."""
    from callwatch.eventlog import read_lines

    events = 0
    invalid: dict[str, int] = {}
    for line in read_lines(log):
        if line.error is None:
            events += 1
        else:
            invalid[line.error.code] = invalid.get(line.error.code, 0) + 1
    return events, invalid


def _check_events(log: Path, counts: tuple[int, dict[str, int]], refused_by: str = "the event contract") -> None:
    """No event in the log: a one-line error (its figures would be zeros, not an answer). Some lines
    that are not events: a warning with their count by reason."""
    events, invalid = counts
    bad = sum(invalid.values())
    reasons = ", ".join(f"{code} {n}" for code, n in sorted(invalid.items(), key=lambda kv: -kv[1]))
    if events == 0:
        raise CommandError(f"{log}: no line is an event" + (f" ({bad} lines refused by {refused_by}: {reasons})"
                                                              if bad else " (the log is empty)"))
    if bad:
        warn(f"{log}: {bad} of {events + bad} lines are not events and count in no figure ({reasons})")


def offline_report(log: Path, settings: Settings, progress: Callable[[int], None] | None = None,
                   predictions: list[list[Any]] | None = None) -> dict[str, Any]:
    """The offline replay's report with its alarms as the messages the alerts topic would carry
    (what ``replay --offline --json`` prints, and what a live run's published alarms are checked against)."""
    from callwatch.offline import replay_log

    _, rep = replay_log(log, settings.monitor, progress=progress, predictions=predictions)
    # the v2 message without links: the dispatcher adds those for its receivers
    rep["alarms"] = [a.model_dump(mode="json") for a in rep["alarms"]]
    return rep


#: the --predictions file's header (issue 15); entered_at is RFC 3339 UTC, waits in seconds
PREDICTIONS_HEADER = ("call_id", "queue", "entered_at", "predicted_wait_s", "realised_wait_s", "outcome")


def write_predictions(path: Path, rows: list[list[Any]]) -> None:
    """One row per call that entered a queue, in the order they entered; a call still waiting at the
    log's end has no realised wait (empty). The csv module quotes what needs quoting in ids and names."""
    import csv

    from callwatch.alarm import iso_ms

    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(PREDICTIONS_HEADER)
        for call_id, queue, entered, predicted, realised, outcome in rows:
            out.writerow((call_id, queue, iso_ms(entered), f"{predicted:.3f}",
                          "" if realised is None else f"{realised:.3f}", outcome))


def _replay_offline(log: Path, settings: Settings, as_json: bool, predictions: Path | None = None) -> None:
    from callwatch.eventlog import read_raw

    shown = not as_json and err.is_terminal
    with reading(log):
        # the bar's total costs a pass over the log: only when a bar is shown
        total = sum(1 for _ in read_raw(log)) if shown else None
        with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True, disable=not shown) as progress:
            task = progress.add_task("offline", total=total)
            rows: list[list[Any]] | None = [] if predictions is not None else None
            rep = offline_report(log, settings, progress=(lambda n: progress.advance(task, n)) if shown else None,
                                 predictions=rows)
    if predictions is not None and rows is not None:
        try:
            write_predictions(predictions, rows)
        except OSError as exc:
            raise CommandError(f"{predictions}: {exc.strerror or exc}") from None
    # the engine also refuses events (a time outside the accepted range): counted with the lines
    _check_events(log, (rep["log"]["events"], rep["pipeline"]["invalid"]), "the contract or the engine")
    if as_json:
        sys.stdout.write(json.dumps(rep, indent=1, sort_keys=True) + "\n")
        return
    out = Console()
    table = Table(title=f"{safe(log.name)}: figures per queue and day", title_justify="left")
    for col in ("queue", "day", "offered", "answered", "abandoned", "short ab.", "SL", "aband. rate",
                "ASA s", "AHT s", "max wait s"):
        table.add_column(col, justify="left" if col in ("queue", "day") else "right")

    def row(name: str, day: str, f: dict[str, Any]) -> None:
        def pct(x: float | None) -> str:
            return "–" if x is None else f"{x * 100:.1f}%"

        def num(x: float | None) -> str:
            return "–" if x is None else f"{x:.1f}"

        # a queue's name came from the events: a Text, never read as markup
        table.add_row(Text(name), day, str(f["offered"]), str(f["answered"]), str(f["abandoned"]),
                      str(f["short_abandoned"]), pct(f["service_level"]), pct(f["abandonment_rate"]),
                      num(f["asa"]), num(f["aht"]), num(f["wait_answered_max"]))

    for q, qf in rep["queues"].items():
        for day, f in qf["days"].items():
            row(q, day, f)
    for day, f in rep["all_queues"]["days"].items():
        row("all queues", day, f)
    row("all queues", "whole log", rep["all_queues"]["total"])
    out.print(table)
    pipe = rep["pipeline"]
    out.print(f"events {rep['log']['events']}, duplicates {pipe['duplicates']}, late {pipe['late']}, "
              f"inconsistent {sum(pipe['inconsistent'].values())}, invalid {sum(pipe['invalid'].values())}")
    for a in rep["alarms"]:
        out.print(Text(f"{a['at']} {a['alarm']} {a['status']} {a['queue']}: {a['summary']}",
                       style="red" if a["status"] == "started" else "green"))
