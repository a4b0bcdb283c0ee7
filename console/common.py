"""What the commands share: the error console, settings, logging, and a one-line exit for the usual
failures (bad settings, an unreachable Redis or broker, a mistyped option)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callwatch.settings import Settings

if TYPE_CHECKING:
    from callwatch.engine import Engine

#: progress, notes and errors go to stderr, so that stdout carries only what a script reads (--json)
err = Console(stderr=True)

T = TypeVar("T")


def load_settings(**overrides: Any) -> Settings:
    """The settings (environment, config file) with the options given on the command line over them."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from None


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(message)s",
                        handlers=[RichHandler(console=err, show_path=False)])


def parsed(parse: Callable[[str], T], text: str) -> T:
    """An option's text through the parser that owns its format; what it refuses is a usage error."""
    try:
        return parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def read_redis(fn: Callable[[Settings], T], settings: Settings) -> T:
    """Call a Redis reader; an unreachable Redis is a one-line error, not a traceback."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        return fn(settings)
    except (RedisConnectionError, OSError) as exc:
        err.print(f"[red]cannot read Redis at {settings.redis_url}:[/red] {exc}")
        raise typer.Exit(1) from None


def producer(settings: Settings, undelivered: int, wait_s: float = 60.0) -> Any:
    """A producer, or a clear exit saying that nothing was delivered when no broker answers."""
    from producers.replay import BrokerUnavailable, make_producer

    try:
        return make_producer(settings.kafka_bootstrap, wait_s=wait_s)
    except BrokerUnavailable as exc:
        err.print(f"[red]{exc}: none of the {undelivered} events was delivered[/red]")
        raise typer.Exit(1) from None


def floor_engine(log: Path | None, settings: Settings) -> Engine:
    """The engine whose per-agent days a report reads: a log replayed here, or the workers' state in Redis."""
    if log is not None:
        from callwatch.offline import replay_log

        with Progress(TextColumn("replaying {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task(log.name, total=None)
            engine, _ = replay_log(log, settings.monitor, progress=lambda n: bar.advance(task, n))
        return engine
    import asyncio

    from streams.readout import stored_engine

    return read_redis(lambda st: asyncio.run(stored_engine(st)), settings)
