"""``callwatch alerts``: run the dispatcher (``alerts.dispatcher_app``), send a test message, and set,
list and end silences (``alerts.silences``)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from callwatch.settings import Settings
from callwatch.timetext import parse_duration
from console.common import UNUSABLE, CommandError, brief, err, load_settings, parsed, read_redis, safe, setup_logging

if TYPE_CHECKING:
    from alerts.delivery import DeliveryConfig
    from alerts.silences import RedisSilences, Silence

app = typer.Typer(help="Deliver alarms to people's systems.", no_args_is_help=True)


def _delivery_config(config: Path) -> DeliveryConfig:
    from pydantic import ValidationError

    from alerts.dispatcher_app import load_delivery_config

    try:
        return load_delivery_config(config)
    except (OSError, ValueError, ValidationError) as exc:
        raise CommandError(f"invalid delivery config {config}: {brief(exc)}", UNUSABLE) from exc


@app.command("run")
def alerts_run(
    config: Annotated[Path, typer.Option(help="receivers and routes (YAML)", exists=True, dir_okay=False)],
    metrics_port: Annotated[int, typer.Option(help="serve the dispatcher's own metrics here (0: none)")] = 6067,
    loglevel: str = "info",
) -> None:
    """Read the alerts topic and deliver every alarm to its receivers, once, retried, never lost."""
    import asyncio

    from alerts.dispatcher_app import run

    setup_logging(loglevel)
    settings = load_settings()
    delivery = _delivery_config(config)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings, delivery, metrics_port=metrics_port or None))
    except ValueError as exc:  # a receiver whose secret is missing from the environment
        raise CommandError(brief(exc), UNUSABLE) from exc


@app.command("test")
def alerts_test(
    receiver: Annotated[str, typer.Option(help="the receiver's name in the delivery config")],
    config: Annotated[Path, typer.Option(help="receivers and routes (YAML)", exists=True, dir_okay=False)],
    queue: Annotated[str, typer.Option(help="the queue the test message names")] = "test",
) -> None:
    """Send one test message to a receiver now, to check its URL, credentials and formatting."""
    import asyncio

    from alerts.test_message import send_test

    delivery = _delivery_config(config)
    settings = load_settings()
    try:
        result = asyncio.run(send_test(delivery, receiver, queue, settings.wallboard_url))
    except ValueError as exc:
        raise CommandError(brief(exc), UNUSABLE) from exc
    if result is not None:
        raise CommandError(f"test message not delivered to {receiver}: {result}")
    err.print(f"[green]test message delivered to {safe(receiver)}[/green]")


def _silences(settings: Settings) -> RedisSilences:
    from alerts.silences import RedisSilences
    from streams.redis_client import sync_client

    return RedisSilences(sync_client(settings.redis_url), settings.redis_prefix)


@app.command("silence")
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
        silence = new_silence(queue=queue, alarm=alarm, duration_s=parsed(parse_duration, duration, "--for"),
                              reason=reason, created_by=by, now=time.time())
    except ValueError as exc:
        raise CommandError(str(exc), UNUSABLE) from None
    settings = load_settings()
    read_redis(lambda s: _silences(s).add(silence), settings)
    until = datetime.fromtimestamp(silence.ends_at).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    err.print(f"silence [bold]{safe(silence.id)}[/bold]: {safe(_silence_scope(silence))} until {until}")
    typer.echo(silence.id)


def _silence_scope(silence: Silence) -> str:
    return " ".join(filter(None, [f"queue {silence.queue}" if silence.queue else "",
                                  f"alarm {silence.alarm}" if silence.alarm else ""]))


@app.command("silences")
def alerts_silences(
    all_: Annotated[bool, typer.Option("--all", help="also those that ended in the last week")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """List the silences in force (and, with --all, those that ended)."""
    from dataclasses import asdict

    from rich.table import Table
    from rich.text import Text

    settings = load_settings()
    now = time.time()
    silences = [s for s in read_redis(lambda st: _silences(st).all(), settings) if all_ or s.active(now)]
    if as_json:
        typer.echo(json.dumps([{**asdict(s), "active": s.active(now)} for s in silences], indent=2))
        return
    if not silences:
        err.print("no silence in force" if not all_ else "no silence")
        return
    table = Table("id", "scope", "until", "left", "by", "reason")

    def local(ts: float) -> str:
        return datetime.fromtimestamp(ts).astimezone().strftime("%m-%d %H:%M")

    for s in silences:
        left = f"{(s.ends_at - now) / 60:.0f} min" if s.active(now) else "ended"
        # scopes, names and reasons were typed by people: never read as markup
        table.add_row(Text(s.id), Text(_silence_scope(s)), local(s.ends_at), left, Text(s.created_by), Text(s.reason))
    Console().print(table)


@app.command("unsilence")
def alerts_unsilence(
    silence_id: Annotated[str, typer.Argument(help="the id `callwatch alerts silences` shows")],
) -> None:
    """End a silence now."""
    settings = load_settings()
    ended = read_redis(lambda s: _silences(s).expire(silence_id, time.time()), settings)
    if ended is None:
        raise CommandError(f"no silence {silence_id}")
    err.print(f"silence {safe(silence_id)} ended")
