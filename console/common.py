"""What the commands share: the error console, settings, logging, and the one-line answer to every
failure (bad settings, a file that cannot be read or written, an unreachable Redis or broker).

A command never prints a traceback for a bad input. It raises :class:`CommandError` with the sentence
to show and the exit status, or lets any other exception through; the app (``console.main``) turns
either into one line on stderr and a non-zero exit (:func:`describe`), or into the traceback with
``callwatch --debug``. Exit statuses: 1 the work failed (nothing to import, an unreadable file, a
service unreachable, events not delivered), 2 the command was given something it cannot use (an
option, the settings, a mapping or a scenario).

Whatever came from outside — a queue or agent name, a reason, an exception's text, a path — may hold
``[`` and would be read as Rich markup: it is printed through :func:`safe` or as a ``rich.text.Text``.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from callwatch.settings import Settings
from callwatch.urls import redact_text, redact_url

if TYPE_CHECKING:
    from callwatch.engine import Engine

#: progress, notes and errors go to stderr, so that stdout carries only what a script reads (--json)
err = Console(stderr=True)

T = TypeVar("T")

#: exit statuses (see the module's docstring)
FAILED = 1
UNUSABLE = 2


class CommandError(Exception):
    """A command refuses, or cannot finish: the sentence the user reads, and the exit status."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def safe(value: object) -> str:
    """Text from outside (an event's names, a reason, an exception) made inert for Rich markup."""
    return escape(str(value))


def warn(message: str) -> None:
    """A warning on stderr; ``message`` is plain text, never markup."""
    err.print(Text.assemble(("warning: ", "bold yellow"), message), soft_wrap=True)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def brief(exc: Exception) -> str:
    """An exception's text in one line; a pydantic validation error as each field and its rule, never
    the value given (it may be a password)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        # a YAML error says what, then where, on lines of their own
        return "; ".join(line.strip() for line in str(exc).strip().splitlines()[:3] if line.strip())
    parts = []
    for e in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line a user reads of an exception a command let through, and the exit status; a URL
    quoted in it is shown without its credentials."""
    message, status = _describe(exc)
    return redact_text(message), status


def _describe(exc: BaseException) -> tuple[str, int]:
    from pydantic import ValidationError

    if isinstance(exc, CommandError):
        return exc.message, exc.status
    if isinstance(exc, ValidationError):
        return f"invalid {exc.title}: {brief(exc)}", UNUSABLE
    if isinstance(exc, gzip.BadGzipFile | zlib.error | EOFError):
        return f"not a readable gzip file ({_first_line(str(exc)) or type(exc).__name__})", FAILED
    if isinstance(exc, UnicodeDecodeError):
        return f"not {exc.encoding} text (byte {exc.object[exc.start:exc.start + 1]!r} at {exc.start})", FAILED
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror, FAILED
    with contextlib.suppress(ImportError):
        from redis.exceptions import RedisError

        if isinstance(exc, RedisError):
            return f"Redis: {_first_line(str(exc)) or type(exc).__name__}", FAILED
    return f"{type(exc).__name__}: {_first_line(str(exc))} (callwatch --debug … shows the traceback)", FAILED


def load_settings(**overrides: Any) -> Settings:
    """The settings (environment, config file) with the options given on the command line over them."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # pydantic's, pydantic-settings', the YAML file's, the rules file's
        cause = exc.__cause__ or exc.__context__
        detail = brief(exc)
        if cause is not None and not detail.endswith(_first_line(str(cause))):
            detail = f"{detail}: {_first_line(str(cause))}"  # e.g. what is wrong in CALLWATCH_MONITOR's JSON
        raise CommandError(f"invalid settings: {detail}", UNUSABLE) from exc


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(message)s",
                        handlers=[RichHandler(console=err, show_path=False)])


def parsed(parse: Callable[[str], T], text: str, option: str) -> T:
    """An option's text through the parser that owns its format; what it refuses is a usage error that
    names the option."""
    try:
        return parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Read ``path`` inside this block: a file that cannot be read (missing, not gzip, cut short, not
    UTF-8) is a one-line error naming it, whichever line it fails at."""
    try:
        yield
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        message, _ = describe(exc)
        raise CommandError(f"cannot read {path}: {message.removeprefix(f'{path}: ')}") from exc


def check_writable(path: Path | None, option: str) -> None:
    """Refuse, before any work is done, an output path that cannot be written."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory", param_hint=f"'{option}'")
    if not parent.is_dir():
        raise typer.BadParameter(f"{parent} is not a directory", param_hint=f"'{option}'")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise typer.BadParameter(f"{path} cannot be written (permission denied)", param_hint=f"'{option}'")


def read_redis(fn: Callable[[Settings], T], settings: Settings) -> T:
    """Call a Redis reader; an unreachable Redis is a one-line error, not a traceback."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        return fn(settings)
    except (RedisConnectionError, OSError) as exc:
        raise CommandError(f"cannot read Redis at {redact_url(settings.redis_url)}: {_first_line(str(exc))}") from exc


def producer(settings: Settings, undelivered: int, wait_s: float = 60.0) -> Any:
    """A producer, or a clear exit saying that nothing was delivered when no broker answers."""
    from producers.replay import BrokerUnavailable, make_producer

    try:
        return make_producer(settings.kafka_bootstrap, wait_s=wait_s)
    except BrokerUnavailable as exc:
        raise CommandError(f"{exc}: none of the {undelivered} events was delivered") from exc


def floor_engine(log: Path | None, settings: Settings) -> Engine:
    """The engine whose per-agent days a report reads: a log replayed here, or the workers' state in Redis."""
    if log is not None:
        from callwatch.offline import replay_log

        with reading(log), Progress(TextColumn("replaying {task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task(safe(log.name), total=None)
            sites, _ = replay_log(log, settings.monitor, progress=lambda n: bar.advance(task, n))
        return sites.merged()
    import asyncio

    from streams.readout import stored_engine

    return read_redis(lambda st: asyncio.run(stored_engine(st)), settings)
