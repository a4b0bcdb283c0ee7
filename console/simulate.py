"""``callwatch simulate``: a simulated floor (``producers.simulator``) written as a log with its ground
truth beside it, or published live."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callwatch.timetext import parse_duration
from console.common import UNUSABLE, CommandError, brief, check_writable, err, load_settings, parsed, producer, safe


def simulate(
    scenario: Annotated[str, typer.Option(help="a scenario YAML file, or a built-in: demo, floor")] = "floor",
    seed: Annotated[int, typer.Option(help="the same seed gives the same events")] = 1,
    duration: Annotated[str | None, typer.Option(help="simulated time (90s, 30m, 8h); default: the scenario's")] = None,
    scale: Annotated[float, typer.Option(help="traffic and staff multiplier")] = 1.0,
    days: Annotated[int, typer.Option(help="repeat the scenario's day on this many days (a month: 30)")] = 1,
    customers: Annotated[int | None, typer.Option(help="the customer pool (default: the scenario's)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the log here (.jsonl[.gz]), not publish")] = None,
    speed: Annotated[str, typer.Option(help="when publishing: simulated seconds per second, or 'max'")] = "1",
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    topic: Annotated[str | None, typer.Option(help="the events topic")] = None,
) -> None:
    """Simulate a contact center: write a log (with its ground truth beside it), or publish live."""
    from callwatch.eventlog import write_events
    from callwatch.events import encode
    from producers.scenario import Scenario
    from producers.simulator import simulate_floor

    check_writable(out, "--out")
    try:
        sc = Scenario.load(scenario)
    except (OSError, ValueError) as exc:
        raise CommandError(f"invalid scenario {scenario}: {brief(exc)}", UNUSABLE) from exc
    hours = None if duration is None else parsed(parse_duration, duration, "--duration") / 3600
    sc = sc.adjusted(hours=hours, scale=scale, customers=customers)
    started = time.perf_counter()
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[clock]}"), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("sim", total=days * sc.hours * 3600, clock="")

        def advance(done_s: float, clock: datetime) -> None:
            progress.update(task, completed=done_s, clock=clock.strftime("%m-%d %H:%M"))

        events, truth = simulate_floor(sc, seed, days, progress=advance)
    elapsed = time.perf_counter() - started
    err.print(f"simulated {safe(sc.name)}: {truth.contacts:,} contacts ({truth.callbacks:,} callbacks), "
              f"{len(events):,} events in {elapsed:.1f}s ({truth.contacts / elapsed:,.0f} contacts/s)")
    if out is not None:
        write_events(out, events)
        # the ground truth beside the log (day.jsonl.gz -> day.truth.json), for scoring the integrity signals
        truth_path = out.with_name(out.name.split(".")[0] + ".truth.json")
        truth_path.write_text(json.dumps({"scenario": sc.name, "seed": seed, "planted": truth.planted,
                                          "days": days, "contacts": truth.contacts, "callbacks": truth.callbacks},
                                         indent=1))
        err.print(f"wrote {safe(out)} and {safe(truth_path)}")
        return
    from producers.replay import parse_speed, prepare
    from producers.replay import replay as publish

    settings = load_settings(kafka_bootstrap=bootstrap, events_topic=topic)
    pace = parsed(parse_speed, speed, "--speed")
    shift = time.time() - events[0].ts.timestamp() if events else 0.0
    kafka = producer(settings, len(events))
    with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:
        task = progress.add_task("publish", total=len(events))
        result = publish(prepare((encode(e) for e in events), shift), kafka, settings.events_topic, pace,
                         on_sent=lambda k: progress.advance(task, k))
    kafka.close()
    err.print(f"sent {result.sent}, acknowledged {result.acknowledged}, failed {result.failed}")
    if not result.ok:
        raise CommandError(f"{result.sent - result.acknowledged} events were not acknowledged by the broker")
