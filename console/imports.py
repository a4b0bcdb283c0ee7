"""``callwatch import``: what a PBX writes (``producers.asterisk``, ``producers.cdr``) converted into
events, written as a log or published.

Every import ends with its summary on stderr: what was converted, the rows kept with what they lack
(each listed by line, grouped by reason), the lines refused (counted by reason, with the first few).
Nothing imported at all — every line refused, or none a record — is an error (exit 1), not a success.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from console.common import (
    UNUSABLE,
    CommandError,
    brief,
    check_writable,
    err,
    load_settings,
    producer,
    reading,
    warn,
)

if TYPE_CHECKING:
    from callwatch.events import Event
    from producers.conversion import ConversionError, Incomplete
    from producers.privacy import Pseudonymizer

app = typer.Typer(help="Convert what a PBX writes into events: write a log or publish them.", no_args_is_help=True)

#: refused lines shown per reason (the count says how many more there are)
EXAMPLES = 3


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _pseudonymizer() -> Pseudonymizer:
    from producers.privacy import MissingKey, Pseudonymizer

    try:
        return Pseudonymizer.from_env()
    except MissingKey as exc:
        raise CommandError(str(exc), UNUSABLE) from None


def _summarise(file: Path, converted: str, incomplete: Sequence[Incomplete], refused: Sequence[ConversionError],
               events: int) -> None:
    """Print what an import did with every line; refuse (exit 1) when it produced no event at all."""
    from producers.conversion import by_reason

    # every text here may hold a line's own values: printed as Text, never read as markup
    err.print(Text(f"{file.name}: {converted}"), soft_wrap=True)
    if incomplete:
        warn(f"{len({i.line_no for i in incomplete}):,} rows kept with what they lack marked:")
        for r in by_reason(incomplete):
            err.print(Text(f"  {r.count:,} × {r.kind} — line{'s' if r.count > 1 else ''} "
                           f"{', '.join(str(n) for n in r.lines)}"), soft_wrap=True)
    if refused:
        warn(f"{len(refused):,} lines refused:")
        for r in by_reason(refused, EXAMPLES):
            more = f" (and {r.count - len(r.examples):,} more)" if r.count > len(r.examples) else ""
            err.print(Text(f"  {r.count:,} × {r.kind} — {'; '.join(r.examples)}{more}"), soft_wrap=True)
    if events == 0:
        why = f"all {len(refused):,} lines were refused" if refused else "no line holds a record to convert"
        raise CommandError(f"nothing imported from {file}: {why}")


def _deliver(events: list[Event], out: Path | None, bootstrap: str | None, topic: str | None) -> None:
    """Write or publish converted events."""
    from callwatch.eventlog import write_events
    from callwatch.events import encode
    from producers.replay import prepare
    from producers.replay import replay as publish

    if out is not None:
        n = write_events(out, events)
        err.print(Text(f"wrote {_count(n, 'event')} to {out}"))
        return
    settings = load_settings(kafka_bootstrap=bootstrap, events_topic=topic)
    kafka = producer(settings, len(events))
    result = publish(prepare(encode(e) for e in events), kafka, settings.events_topic, None)
    kafka.close()
    err.print(Text(f"published {result.acknowledged:,}/{result.sent:,} events"))
    if not result.ok:
        raise CommandError(f"{result.sent - result.acknowledged:,} events were not acknowledged by the broker")


@app.command("asterisk-queue-log")
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
        check_writable(out, "--out")
        with reading(file):
            result = convert_file(file, converter)
        _summarise(file, _count(len(result.events), "event"), [], result.errors, len(result.events))
        _deliver(result.events, out, bootstrap, topic)
        return
    if out is not None:
        raise typer.BadParameter("--follow publishes as lines arrive; it does not write a log")
    from callwatch.events import encode

    settings = load_settings(kafka_bootstrap=bootstrap, events_topic=topic)
    kafka = producer(settings, 0)
    err.print(Text(f"following {file} → {settings.events_topic} (Ctrl-C stops)"))
    try:
        for item in convert_lines(tail(file, stop=lambda: False), converter):
            if isinstance(item, ConversionError):
                warn(str(item))
                continue
            kafka.send(settings.events_topic, key=source.encode(), value=encode(item))
    except KeyboardInterrupt:
        pass
    finally:
        kafka.flush()
        kafka.close()


@app.command("cdr-csv")
def import_cdr(
    file: Annotated[Path, typer.Argument(help="per-call records (CSV/TSV)", exists=True, dir_okay=False)],
    mapping: Annotated[Path, typer.Option(help="the column mapping (YAML); see producers/mappings/")],
    out: Annotated[Path | None, typer.Option(help="write a log here instead of publishing")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    topic: Annotated[str | None, typer.Option(help="the events topic")] = None,
) -> None:
    """Convert per-call records into events with a column mapping."""
    import yaml

    from producers.cdr import CdrConverter, CdrMapping

    check_writable(out, "--out")
    pseudonymize = _pseudonymizer()
    try:
        spec = CdrMapping.from_yaml(mapping)
        converter = CdrConverter(spec, pseudonymize)
    # unreadable, not YAML, a field the mapping does not know (ValueError), an unknown zone (KeyError)
    except (OSError, ValueError, KeyError, yaml.YAMLError) as exc:
        raise CommandError(f"invalid mapping {mapping}: {brief(exc)}", UNUSABLE) from exc
    with reading(file):
        result = converter.convert_file(file)
    c = result.counts
    answered, abandoned = c.get("answered", 0), c.get("abandoned", 0)
    not_calls = [f"{n:,} {what.removeprefix('ignored:')} (ignored)" for what, n in sorted(c.items())
                 if what.startswith("ignored:")]
    if c.get("hung_up_before_queue"):
        not_calls.append(f"{c['hung_up_before_queue']:,} hung up before a queue")
    converted = (f"{_count(answered + abandoned, 'call')} offered ({answered:,} answered, {abandoned:,} abandoned), "
                 f"{_count(len(result.events), 'event')}")
    if not_calls:
        converted += f"; not offered: {', '.join(not_calls)}"
    _summarise(file, converted, result.incomplete, result.errors, len(result.events))
    _deliver(result.events, out, bootstrap, topic)
