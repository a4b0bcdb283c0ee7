"""The ``callwatch`` command."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callwatch.settings import ClockMode, Settings

app = typer.Typer(help="callwatch: a streaming, real-time call-center monitor.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False)
console = Console(stderr=True)



def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:
        console.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False)])


def _read_redis(fn: Any, settings: Settings) -> Any:
    """Call a Redis reader; an unreachable Redis is a one-line error, not a traceback."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        return fn(settings)
    except (RedisConnectionError, OSError) as exc:
        console.print(f"[red]cannot read Redis at {settings.redis_url}:[/red] {exc}")
        raise typer.Exit(1) from None


def _port(preferred: int) -> int:
    """The preferred port if it is free, else any free one (the demo must not fail on a busy port)."""
    import socket

    from callwatch.embedded import free_port

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _producer(settings: Settings, undelivered: int, wait_s: float = 60.0) -> Any:
    """A producer, or a clear exit saying that nothing was delivered when no broker answers."""
    from producers.replay import BrokerUnavailable, make_producer

    try:
        return make_producer(settings.kafka_bootstrap, wait_s=wait_s)
    except BrokerUnavailable as exc:
        console.print(f"[red]{exc}: none of the {undelivered} events was delivered[/red]")
        raise typer.Exit(1) from None


def _instant(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a time zone (Z or an offset)")
    return moment.timestamp()


def _parse_speed(speed: str) -> float | None:
    if speed == "max":
        return None
    try:
        value = float(speed)
    except ValueError:
        raise typer.BadParameter("a number (log seconds per second) or 'max'") from None
    if value <= 0:
        raise typer.BadParameter("must be above 0")
    return value


@app.command()
def worker(
    clock: Annotated[ClockMode | None, typer.Option(help="wall: a live floor; event: replays")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
    web_port: Annotated[int | None, typer.Option(help="port of /metrics and /healthz")] = None,
    loglevel: str = "info",
) -> None:
    """Run a stream worker: events from Kafka into live state in Redis, /metrics, the wait alarm."""
    settings = _settings(clock=clock, kafka_bootstrap=bootstrap, redis_url=redis_url, web_port=web_port)
    _logging(loglevel)
    from streams.app import run_worker

    run_worker(settings, loglevel=loglevel)


@app.command()
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
) -> None:
    """Publish a recorded log to Kafka, paced by its timestamps; or, with --offline, print its figures."""
    settings = _settings(kafka_bootstrap=bootstrap, events_topic=topic)
    if offline:
        _replay_offline(log, settings, as_json)
        return
    from callwatch.eventlog import read_raw
    from producers.replay import prepare, within
    from producers.replay import replay as publish

    pace = _parse_speed(speed)
    lo, hi = _instant(start), _instant(end)
    selected = list(within(prepare(read_raw(log)), lo, hi))
    shift = 0.0
    first = next((item.ts for item in selected if item.ts is not None), None)
    if rebase_now and first is not None:
        shift = time.time() - first
    producer = _producer(settings, len(selected), wait_for_broker)
    with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("replay", total=len(selected))
        result = publish(prepare((i.value for i in selected), shift), producer, settings.events_topic, pace,
                         on_sent=lambda n: progress.advance(task, n))
    producer.close()
    rate = result.sent / result.seconds if result.seconds else float("inf")
    console.print(f"sent {result.sent}, acknowledged {result.acknowledged}, failed {result.failed} "
                  f"in {result.seconds:.1f}s ({rate:,.0f} events/s) to {settings.events_topic}")
    if not result.ok:
        console.print(f"[red]{result.sent - result.acknowledged} events were not acknowledged by the broker[/red]")
        raise typer.Exit(1)


def _replay_offline(log: Path, settings: Settings, as_json: bool) -> None:
    from callwatch.eventlog import read_raw
    from callwatch.offline import replay_log

    total = sum(1 for _ in read_raw(log))
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=as_json or not console.is_terminal) as progress:
        task = progress.add_task("offline", total=total)
        _, rep = replay_log(log, settings.monitor, settings.wallboard_url,
                            progress=lambda n: progress.advance(task, n))
    if as_json:
        sys.stdout.write(json.dumps(rep, indent=1, sort_keys=True) + "\n")
        return
    out = Console()
    from rich.table import Table

    table = Table(title=f"{log.name}: figures per queue and day", title_justify="left")
    for col in ("queue", "day", "offered", "answered", "abandoned", "short ab.", "SL", "aband. rate",
                "ASA s", "AHT s", "max wait s"):
        table.add_column(col, justify="left" if col in ("queue", "day") else "right")

    def row(name: str, day: str, f: dict[str, Any]) -> None:
        def pct(x: float | None) -> str:
            return "–" if x is None else f"{x * 100:.1f}%"

        def num(x: float | None) -> str:
            return "–" if x is None else f"{x:.1f}"

        table.add_row(name, day, str(f["offered"]), str(f["answered"]), str(f["abandoned"]),
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
        out.print(f"[{'red' if a['status'] == 'started' else 'green'}]{a['at']} {a['alarm']} {a['status']} "
                  f"{a['queue']}: {a['summary']}[/]")


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
    watch: Annotated[bool, typer.Option(help="refresh every second until Ctrl-C")] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Show the live figures per queue from Redis: a terminal wallboard."""
    from callwatch.wallboard import live_figures, render

    settings = _settings(redis_url=redis_url)
    if as_json:
        sys.stdout.write(json.dumps(_read_redis(live_figures, settings), indent=1, sort_keys=True) + "\n")
        return
    out = Console()
    if not watch:
        out.print(render(_read_redis(live_figures, settings)))
        return
    with Live(render(_read_redis(live_figures, settings)), console=out, refresh_per_second=2,
              screen=False) as live:
        try:
            while True:
                time.sleep(1)
                live.update(render(_read_redis(live_figures, settings)))
        except KeyboardInterrupt:
            pass


@app.command()
def report(
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Print, as JSON, the figures of the state the workers committed to Redis (the same report as
    `replay --offline --json`, so that a live run can be checked against an offline one)."""
    from callwatch.wallboard import stored_report

    settings = _settings(redis_url=redis_url)
    sys.stdout.write(json.dumps(_read_redis(stored_report, settings), indent=1, sort_keys=True) + "\n")


def _duration_s(text: str) -> float:
    """Seconds in "90", "90s", "30m", "1.5h", "2h30m" or "1d" (the simulator's and the silences' durations)."""
    import re

    text = text.strip()
    with contextlib.suppress(ValueError):
        return float(text)
    number = r"(\d+(?:\.\d+)?)"
    parts = re.fullmatch(f"(?:{number}d)?(?:{number}h)?(?:{number}m)?(?:{number}s)?", text)
    if not text or parts is None:
        raise typer.BadParameter(f"{text!r}: give a duration like 90s, 30m, 1h, 2h30m or 1d")
    d, h, m, sec = (float(x or 0) for x in parts.groups())
    return d * 86400 + h * 3600 + m * 60 + sec


@app.command()
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
    from producers.simulator import Simulation

    try:
        sc = Scenario.load(scenario)
    except (OSError, ValueError) as exc:
        console.print(f"[red]invalid scenario:[/red] {exc}")
        raise typer.Exit(2) from None
    if duration is not None:
        sc = sc.model_copy(update={"hours": _duration_s(duration) / 3600})
    if scale != 1.0:
        sc = sc.scaled(scale)
    if customers is not None:
        sc = sc.model_copy(update={"outcomes": sc.outcomes.model_copy(update={"customers": customers})})
    events: list[Any] = []
    started = time.perf_counter()
    contacts = callbacks = 0
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[clock]}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("sim", total=days * sc.hours * 3600, clock="")
        for day in range(days):
            # one day is the scenario as it is; several days repeat it, each its own seeded run with
            # day-prefixed ids, the customers one pool (so they come back across days)
            day_sc = sc.model_copy(update={"start": sc.start + timedelta(days=day)}) if day else sc
            sim = Simulation(day_sc, seed if days == 1 else seed * 1000 + day, "" if days == 1 else f"d{day:03d}-")
            day_events = []
            for n, ev in enumerate(sim.events(), 1):
                day_events.append(ev)
                if n % 5000 == 0:
                    offset = day * sc.hours * 3600 + ev.ts.timestamp() - day_sc.start.timestamp()
                    progress.update(task, completed=offset, clock=ev.ts.strftime("%m-%d %H:%M"))
            day_events.sort(key=lambda e: e.ts)
            events.extend(day_events)
            contacts += sim.truth.contacts
            callbacks += sim.truth.callbacks
    elapsed = time.perf_counter() - started
    console.print(f"simulated {sc.name}: {contacts:,} contacts ({callbacks:,} callbacks), "
                  f"{len(events):,} events in {elapsed:.1f}s ({contacts / elapsed:,.0f} contacts/s)")
    if out is not None:
        write_events(out, events)
        truth_path = out.with_name(out.name.split(".")[0] + ".truth.json")
        truth_path.write_text(json.dumps({"scenario": sc.name, "seed": seed, "planted": sim.truth.planted,
                                          "days": days, "contacts": contacts, "callbacks": callbacks}, indent=1))
        console.print(f"wrote {out} and {truth_path}")
        return
    from producers.replay import prepare
    from producers.replay import replay as publish

    settings = _settings(kafka_bootstrap=bootstrap, events_topic=topic)
    pace = _parse_speed(speed)
    shift = time.time() - events[0].ts.timestamp() if events else 0.0
    producer = _producer(settings, len(events))
    with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("publish", total=len(events))
        result = publish(prepare((encode(e) for e in events), shift), producer, settings.events_topic, pace,
                         on_sent=lambda k: progress.advance(task, k))
    producer.close()
    console.print(f"sent {result.sent}, acknowledged {result.acknowledged}, failed {result.failed}")
    if not result.ok:
        raise typer.Exit(1)


import_app = typer.Typer(help="Convert what a PBX writes into events: write a log or publish them.",
                         no_args_is_help=True)
app.add_typer(import_app, name="import")


def _pseudonymizer() -> Any:
    from producers.privacy import MissingKey, Pseudonymizer

    try:
        return Pseudonymizer.from_env()
    except MissingKey as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _deliver(events: list[Any], errors: list[Any], out: Path | None, bootstrap: str | None,
             topic: str | None) -> None:
    """Write or publish converted events; report every conversion error with its line."""
    from callwatch.eventlog import write_events
    from callwatch.events import encode
    from producers.replay import prepare
    from producers.replay import replay as publish

    for err in errors:
        console.print(f"[yellow]line {err.line_no}:[/yellow] {err.reason}")
    if out is not None:
        n = write_events(out, events)
        console.print(f"wrote {n} events to {out}; {len(errors)} lines could not be converted")
    else:
        settings = _settings(kafka_bootstrap=bootstrap, events_topic=topic)
        producer = _producer(settings, len(events))
        result = publish(prepare(encode(e) for e in events), producer, settings.events_topic, None)
        producer.close()
        console.print(f"published {result.acknowledged}/{result.sent} events; {len(errors)} lines could not be "
                      "converted")
        if not result.ok:
            raise typer.Exit(1)


@import_app.command("asterisk-queue-log")
def import_asterisk(
    file: Annotated[Path, typer.Argument(help="an Asterisk queue_log", dir_okay=False)],
    out: Annotated[Path | None, typer.Option(help="write a log here instead of publishing")] = None,
    follow: Annotated[bool, typer.Option(help="keep reading as lines arrive (survives rotation)")] = False,
    source: Annotated[str, typer.Option(help="the events' source (the PBX's name)")] = "asterisk",
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    topic: Annotated[str | None, typer.Option(help="the events topic")] = None,
) -> None:
    """Convert a queue_log (see producers/asterisk.py for the mapping and its traps)."""
    from producers.asterisk import ConversionError, QueueLogConverter, convert_file, convert_lines
    from producers.asterisk import follow as tail

    converter = QueueLogConverter(source=source, pseudonymize=_pseudonymizer())
    if not follow:
        if not file.is_file():
            raise typer.BadParameter(f"{file} does not exist")
        result = convert_file(file, converter)
        _deliver(result.events, result.errors, out, bootstrap, topic)
        return
    if out is not None:
        raise typer.BadParameter("--follow publishes as lines arrive; it does not write a log")
    from callwatch.events import encode

    settings = _settings(kafka_bootstrap=bootstrap, events_topic=topic)
    producer = _producer(settings, 0)
    console.print(f"following {file} → {settings.events_topic} (Ctrl-C stops)")
    try:
        for item in convert_lines(tail(file, stop=lambda: False), converter):
            if isinstance(item, ConversionError):
                console.print(f"[yellow]{item}[/yellow]")
                continue
            producer.send(settings.events_topic, key=source.encode(), value=encode(item))
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush()
        producer.close()


@import_app.command("cdr-csv")
def import_cdr(
    file: Annotated[Path, typer.Argument(help="per-call records (CSV/TSV)", exists=True, dir_okay=False)],
    mapping: Annotated[Path, typer.Option(help="the column mapping (YAML); see producers/mappings/")],
    out: Annotated[Path | None, typer.Option(help="write a log here instead of publishing")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    topic: Annotated[str | None, typer.Option(help="the events topic")] = None,
) -> None:
    """Convert per-call records into events with a column mapping."""
    from producers.cdr import CdrConverter, CdrMapping

    try:
        spec = CdrMapping.from_yaml(mapping)
    except (OSError, ValueError) as exc:
        console.print(f"[red]invalid mapping {mapping}:[/red] {exc}")
        raise typer.Exit(2) from None
    result = CdrConverter(spec, _pseudonymizer()).convert_file(file)
    console.print(", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())))
    _deliver(result.events, result.errors, out, bootstrap, topic)


alerts_app = typer.Typer(help="Deliver alarms to people's systems.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


def _delivery_config(config: Path) -> Any:
    from pydantic import ValidationError

    from alerts.dispatcher_app import load_delivery_config

    try:
        return load_delivery_config(config)
    except (OSError, ValueError, ValidationError) as exc:
        console.print(f"[red]invalid delivery config {config}:[/red] {exc}")
        raise typer.Exit(2) from None


@alerts_app.command("run")
def alerts_run(
    config: Annotated[Path, typer.Option(help="receivers and routes (YAML)", exists=True, dir_okay=False)],
    metrics_port: Annotated[int, typer.Option(help="serve the dispatcher's own metrics here (0: none)")] = 6067,
    loglevel: str = "info",
) -> None:
    """Read the alerts topic and deliver every alarm to its receivers, once, retried, never lost."""
    import asyncio

    from alerts.dispatcher_app import run

    _logging(loglevel)
    settings = _settings()
    delivery = _delivery_config(config)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings, delivery, metrics_port=metrics_port or None))
    except ValueError as exc:  # a receiver whose secret is missing from the environment
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@alerts_app.command("test")
def alerts_test(
    receiver: Annotated[str, typer.Option(help="the receiver's name in the delivery config")],
    config: Annotated[Path, typer.Option(help="receivers and routes (YAML)", exists=True, dir_okay=False)],
    queue: Annotated[str, typer.Option(help="the queue the test message names")] = "test",
) -> None:
    """Send one test message to a receiver now, to check its URL, credentials and formatting."""
    import asyncio

    from alerts.test_message import send_test

    delivery = _delivery_config(config)
    settings = _settings()
    try:
        result = asyncio.run(send_test(delivery, receiver, queue, settings.wallboard_url))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if result is not None:
        console.print(f"[red]test message not delivered to {receiver}:[/red] {result}")
        raise typer.Exit(1)
    console.print(f"[green]test message delivered to {receiver}[/green]")


def _silences(settings: Settings) -> Any:
    import redis

    from alerts.silences import RedisSilences

    return RedisSilences(redis.Redis.from_url(settings.redis_url), settings.redis_prefix)


@alerts_app.command("silence")
def alerts_silence(
    duration: Annotated[str, typer.Option("--for", help="how long: 90s, 30m, 1h, 2h30m, 1d")],
    reason: Annotated[str, typer.Option(help="why; the next person on call reads it")],
    queue: Annotated[str | None, typer.Option(help="the queue (or source, for feed_silent) to silence")] = None,
    alarm: Annotated[str | None, typer.Option(help="only this alarm (e.g. abandonment_high)")] = None,
    by: Annotated[str, typer.Option(help="who sets it")] = os.environ.get("USER", "unknown"),
) -> None:
    """Hold back the pages of a queue (or an alarm) for a while; resolves still reach whoever was paged."""
    from alerts.silences import new_silence

    try:
        silence = new_silence(queue=queue, alarm=alarm, duration_s=_duration_s(duration), reason=reason,
                              created_by=by, now=time.time())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    settings = _settings()
    _read_redis(lambda s: _silences(s).add(silence), settings)
    until = datetime.fromtimestamp(silence.ends_at).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    console.print(f"silence [bold]{silence.id}[/bold]: {_silence_scope(silence)} until {until}")
    typer.echo(silence.id)


def _silence_scope(silence: Any) -> str:
    return " ".join(filter(None, [f"queue {silence.queue}" if silence.queue else "",
                                  f"alarm {silence.alarm}" if silence.alarm else ""]))


@alerts_app.command("silences")
def alerts_silences(
    all_: Annotated[bool, typer.Option("--all", help="also those that ended in the last week")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """List the silences in force (and, with --all, those that ended)."""
    from dataclasses import asdict

    from rich.table import Table

    settings = _settings()
    now = time.time()
    silences = [s for s in _read_redis(lambda st: _silences(st).all(), settings) if all_ or s.active(now)]
    if as_json:
        typer.echo(json.dumps([{**asdict(s), "active": s.active(now)} for s in silences], indent=2))
        return
    if not silences:
        console.print("no silence in force" if not all_ else "no silence")
        return
    table = Table("id", "scope", "until", "left", "by", "reason")

    def local(ts: float) -> str:
        return datetime.fromtimestamp(ts).astimezone().strftime("%m-%d %H:%M")

    for s in silences:
        left = f"{(s.ends_at - now) / 60:.0f} min" if s.active(now) else "ended"
        table.add_row(s.id, _silence_scope(s), local(s.ends_at), left, s.created_by, s.reason)
    Console().print(table)


@alerts_app.command("unsilence")
def alerts_unsilence(
    silence_id: Annotated[str, typer.Argument(help="the id `callwatch alerts silences` shows")],
) -> None:
    """End a silence now."""
    settings = _settings()
    ended = _read_redis(lambda s: _silences(s).expire(silence_id, time.time()), settings)
    if ended is None:
        console.print(f"[red]no silence {silence_id}[/red]")
        raise typer.Exit(1)
    console.print(f"silence {silence_id} ended")


@app.command()
def demo(
    speed: Annotated[float, typer.Option(help="log seconds per second of the replay")] = 30.0,
    scenario: Annotated[str, typer.Option(help="the scenario to simulate live (file or built-in)")] = "demo",
    seed: Annotated[int, typer.Option(help="the simulation's seed")] = 8,
    web_port: int = 6066,
    wallboard_port: int = 6068,
    kafka_port: int = 9092,
    redis_port: int = 6379,
) -> None:
    """Start an embedded broker, Redis and a worker, simulate the example day live, and say where to look."""
    from callwatch.embedded import ServiceError, start_redis, start_tansu, stop_process, wait_for_port

    workdir = Path(os.environ.get("CALLWATCH_DEMO_DIR", ".demo")).resolve()
    workdir.mkdir(exist_ok=True)
    web_port = _port(web_port)
    try:
        broker = start_tansu(_port(kafka_port), workdir)
        redis = start_redis(_port(redis_port), workdir)
    except ServiceError as exc:
        console.print(f"[red]could not start the embedded services:[/red] {exc}")
        raise typer.Exit(1) from None
    env = {**os.environ, "CALLWATCH_KAFKA_BOOTSTRAP": broker.url, "CALLWATCH_REDIS_URL": redis.url,
           "CALLWATCH_CLOCK": "event", "CALLWATCH_WEB_PORT": str(web_port),
           "CALLWATCH_TOPIC_PARTITIONS": "1"}
    worker_log = open(workdir / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
    worker_proc = subprocess.Popen([sys.executable, "-m", "callwatch", "worker"], env=env,
                                   stdout=worker_log, stderr=subprocess.STDOUT)
    board_port = _port(wallboard_port)
    board_log = open(workdir / "wallboard.log", "wb")  # noqa: SIM115 - lives as long as the page server
    board_proc = subprocess.Popen([sys.executable, "-m", "callwatch", "wallboard", "--port", str(board_port),
                                   "--host", "127.0.0.1"], env=env, stdout=board_log, stderr=subprocess.STDOUT)
    procs = [worker_proc, board_proc]
    try:
        wait_for_port(web_port, timeout=60, proc=worker_proc)
        wait_for_port(board_port, timeout=30, proc=board_proc)
        console.print(f"""[bold]callwatch demo[/bold] — embedded broker {broker.url}, Redis {redis.url}
  wallboard page (for a TV):   http://127.0.0.1:{board_port}/
  wallboard in this terminal:  CALLWATCH_REDIS_URL={redis.url} callwatch stats --watch
  figures as JSON:             CALLWATCH_REDIS_URL={redis.url} callwatch stats --json
  Prometheus metrics:          http://127.0.0.1:{web_port}/metrics
  alarms topic:                callwatch-alerts (also logged in {workdir / 'worker.log'})
The story: billing falls behind mid-morning (a burst while agents are on break); callers abandon,
one waits past three minutes and the wait alarm fires; support stays healthy. At {speed:g}x.
""")
        sim = subprocess.run(
            [sys.executable, "-m", "callwatch", "simulate", "--scenario", scenario, "--seed", str(seed),
             "--speed", str(speed)], env=env, check=False)
        if sim.returncode != 0:
            console.print("[red]the simulation did not publish every event[/red]")
        console.print("simulation done; the monitor keeps running — Ctrl-C stops everything.")
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            stop_process(p, timeout=15)
        broker.stop()
        redis.stop()


# ------------------------------------------------------------ agents, integrity, goals


def _floor_engine(log: Path | None, settings: Settings) -> Any:
    """The engine whose per-agent days a report reads: a log replayed here, or the workers' state in Redis."""
    if log is not None:
        from callwatch.offline import replay_log

        with Progress(TextColumn("replaying {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(log.name, total=None)
            engine, _ = replay_log(log, settings.monitor, progress=lambda n: bar.advance(task, n))
        return engine
    import asyncio

    from callwatch.wallboard import stored_engine

    return _read_redis(lambda st: asyncio.run(stored_engine(st)), settings)


agent_app = typer.Typer(help="Per-agent scorecards.", no_args_is_help=True)
app.add_typer(agent_app, name="agent")


@agent_app.command("report")
def agent_report(
    agent: Annotated[str, typer.Argument(help="the agent id")],
    log: Annotated[Path | None, typer.Option(help="read a log (replayed here) instead of Redis", exists=True)] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: the latest month with data)")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="also write the scorecard as an HTML page")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """An agent's scorecard: this month and the three before, trends, the floor, integrity signals, goals."""
    from rich.table import Table

    from callwatch.scorecard import fmt, render_html, scorecard

    settings = _settings()
    engine = _floor_engine(log, settings)
    try:
        card = scorecard(engine, agent, month)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(1) from None
    goals = _agent_goals(settings, agent, engine) if log is None else []
    if html_out is not None:
        html_out.write_text(render_html(card, goals))
        console.print(f"scorecard written to {html_out}")
    if as_json:
        typer.echo(json.dumps({**card, "goals": goals}, indent=2, default=str))
        return
    table = Table(title=f"{agent} — {card['month']}", title_justify="left")
    for col in ("figure", *reversed(card["months"][1:]), card["month"], "floor"):
        table.add_column(col, justify="right" if col != "figure" else "left")
    for r in card["figures"]:
        table.add_row(r["label"], *(fmt(r["months_before"][m], r["kind"]) for m in reversed(card["months"][1:])),
                      fmt(r["this_month"], r["kind"]), fmt(r["floor"], r["kind"]))
    Console().print(table)
    for sig in card["signals"]:
        Console().print(f"[yellow]signal {sig['signal']}[/yellow]: {sig['reason']}\n"
                        f"  contacts: {', '.join(sig['evidence'][:10])}")


def _figures_day(engine: Any) -> str:
    """The day the figures have reached (the watermark's, in the floor's zone); today if there are none."""
    return engine.day_of(engine.watermark) if engine.watermark > float("-inf") else datetime.now().date().isoformat()


def _agent_goals(settings: Settings, agent: str, engine: Any) -> list[dict[str, Any]]:
    from redis.exceptions import RedisError

    from callwatch.goals import progress

    try:
        goals = _goal_store(settings).all()
    except (RedisError, OSError):  # Redis unreachable: the scorecard still prints, without goals
        return []
    return [progress(g, engine, _figures_day(engine)) for g in goals if g.agent == agent and not g.closed]


@app.command()
def integrity(
    log: Annotated[Path | None, typer.Option(help="read a log (replayed here) instead of Redis", exists=True)] = None,
    days: Annotated[int | None, typer.Option(help="look back this many days (default: the configured period)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """The integrity signals over the last days: who, why, the figures and the contacts to listen to."""
    from datetime import date

    from callwatch.engine.integrity import evaluate
    from callwatch.scorecard import _signal_json

    settings = _settings()
    engine = _floor_engine(log, settings)
    all_days = sorted({d for _, d in engine.agent_days})
    if not all_days:
        console.print("no agent figures yet")
        return
    period = days or settings.monitor.integrity.period_days
    first = date.fromordinal(date.fromisoformat(all_days[-1]).toordinal() - period + 1).isoformat()
    signals = evaluate(engine.agent_days, first, all_days[-1], settings.monitor.integrity, engine.anomalies())
    if as_json:
        typer.echo(json.dumps([{"subject": s.subject, **_signal_json(s)} for s in signals], indent=2))
        return
    if not signals:
        console.print(f"no integrity signal from {first} to {all_days[-1]}")
    for s in signals:
        Console().print(f"[yellow]{s.signal}[/yellow] {s.subject}: {s.reason}\n  contacts: "
                        f"{', '.join(s.evidence[:10]) or '–'}")


goals_app = typer.Typer(help="One focused goal per agent: set, list, close, check.", no_args_is_help=True)
app.add_typer(goals_app, name="goals")


def _goal_store(settings: Settings) -> Any:
    import redis

    from callwatch.goals import RedisGoals

    return RedisGoals(redis.Redis.from_url(settings.redis_url), settings.redis_prefix)


@goals_app.command("set")
def goals_set(
    agent: Annotated[str, typer.Argument(help="the agent id")],
    metric: Annotated[str, typer.Option(help="e.g. csat_mean, fcr, aht, repeat_contact_rate_72h")],
    target: Annotated[float, typer.Option(help="the value to reach")],
    by: Annotated[str, typer.Option(help="the deadline, YYYY-MM-DD")],
    note: Annotated[str, typer.Option(help="the plan, in a sentence")] = "",
    set_by: Annotated[str, typer.Option("--set-by", help="the supervisor")] = os.environ.get("USER", "unknown"),
    today: Annotated[str | None, typer.Option(help="the day it is set (default: today)")] = None,
) -> None:
    """Set a goal: one metric, a target, a deadline."""
    from callwatch.goals import new_goal

    settings = _settings()
    try:
        goal = new_goal(agent, metric, target, by, note, set_by, today or datetime.now().date().isoformat())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _read_redis(lambda st: _goal_store(st).put(goal), settings)
    console.print(f"goal [bold]{goal.id}[/bold]: {agent} {metric} → {target:g} by {goal.by}")
    typer.echo(goal.id)


@goals_app.command("list")
def goals_list(
    agent: Annotated[str | None, typer.Option(help="only this agent's goals")] = None,
    log: Annotated[Path | None, typer.Option(help="read the figures from a log instead of Redis", exists=True)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """The goals with their baseline, progress and status (on track, behind, achieved, missed)."""
    from rich.table import Table

    from callwatch.goals import progress

    settings = _settings()
    goals = [g for g in _read_redis(lambda st: _goal_store(st).all(), settings) if agent in (None, g.agent)]
    engine = _floor_engine(log, settings)
    states = [progress(g, engine, _figures_day(engine)) for g in goals]
    if as_json:
        typer.echo(json.dumps(states, indent=2, default=str))
        return
    table = Table("id", "agent", "metric", "target", "by", "baseline", "now", "status", "note")
    for st in states:
        base = next((v for v in st["baseline"].values() if v is not None), None)
        table.add_row(st["id"], st["agent"], st["metric"], f"{st['target']:g}", st["by"],
                      "–" if base is None else f"{base:.3g}",
                      "–" if st["current"] is None else f"{st['current']:.3g}", st["status"], st["note"])
    Console().print(table)


@goals_app.command("close")
def goals_close(goal_id: Annotated[str, typer.Argument(help="the id `callwatch goals list` shows")]) -> None:
    """Close a goal (kept, no longer followed)."""
    from dataclasses import replace

    settings = _settings()
    store = _goal_store(settings)
    goal = _read_redis(lambda st: store.get(goal_id), settings)
    if goal is None:
        console.print(f"[red]no goal {goal_id}[/red]")
        raise typer.Exit(1)
    store.put(replace(goal, closed=True))
    console.print(f"goal {goal_id} closed")


@goals_app.command("check")
def goals_check(
    log: Annotated[Path | None, typer.Option(help="read the figures from a log instead of Redis", exists=True)] = None,
    today: Annotated[str | None, typer.Option(help="the day to judge (default: the figures' latest day)")] = None,
) -> None:
    """Tell the supervisor, once, of every goal achieved or missed (a message on the alerts topic)."""
    from dataclasses import replace

    import orjson

    from callwatch.goals import goal_message, progress

    settings = _settings()
    store = _goal_store(settings)
    engine = _floor_engine(log, settings)
    day = today or _figures_day(engine)
    told = []
    producer = None
    for goal in _read_redis(lambda st: store.all(), settings):
        state = progress(goal, engine, day)
        if state["status"] in ("achieved", "missed") and goal.notified != state["status"]:
            if producer is None:
                producer = _producer(settings, 1)
            message = goal_message(goal, state, settings.wallboard_url)
            producer.send(settings.alerts_topic, orjson.dumps(message), key=message["key"].encode())
            store.put(replace(goal, notified=state["status"]))
            told.append(f"{goal.id} {goal.agent} {state['status']}")
    if producer is not None:
        producer.flush()
        producer.close()
    console.print("\n".join(told) if told else "no goal achieved or missed since the last check")


state_app = typer.Typer(help="The workers' state in Redis: its format version, and rebuilding it from Kafka.",
                        no_args_is_help=True)
app.add_typer(state_app, name="state")


@state_app.command("info")
def state_info(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Per partition of the events topic: the state's format version, applied offset, newest event, entries."""
    from streams.state_rebuild import info_command

    code = info_command(_settings(redis_url=redis_url), as_json, typer.echo, lambda m: console.print(m, markup=False))
    raise typer.Exit(code)


@state_app.command("rebuild")
def state_rebuild(
    partition: Annotated[list[int] | None, typer.Option(help="only this partition (repeatable; default: all)")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    from_earliest_anyway: Annotated[bool, typer.Option(
        "--from-earliest-anyway",
        help="rebuild even though retention has deleted the topic's oldest events (their figures are lost)")] = False,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Delete the stored state and rewind the consumer group: the next worker rebuilds it from Kafka.

    Stop every worker first. Refused while the group has members, or when retention has deleted the
    topic's oldest events (unless --from-earliest-anyway)."""
    from streams.state_rebuild import rebuild_command

    code = rebuild_command(_settings(kafka_bootstrap=bootstrap, redis_url=redis_url), partition, yes,
                           from_earliest_anyway, lambda q: typer.confirm(q, default=False), typer.echo,
                           lambda m: console.print(m, markup=False, highlight=False))
    raise typer.Exit(code)


@app.command()
def wallboard(
    port: Annotated[int, typer.Option(help="serve the page on this port")] = 6068,
    host: Annotated[str, typer.Option(help="listen on this address")] = "0.0.0.0",
    loglevel: str = "info",
) -> None:
    """Serve the floor wallboard page (live, colours from the queues' settings) and its JSON, from Redis."""
    from callwatch.web.server import run

    _logging(loglevel)
    settings = _settings()
    console.print(f"wallboard on http://{host}:{port}/ (JSON: /api/figures, server push: /api/stream)")
    run(settings, host, port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
