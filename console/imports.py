"""``callwatch import``: what a PBX writes (``producers.asterisk``, ``producers.cdr``) converted into
events, written as a log or published."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from console.common import err, load_settings, producer

if TYPE_CHECKING:
    from callwatch.events import Event
    from producers.asterisk import ConversionError
    from producers.privacy import Pseudonymizer

app = typer.Typer(help="Convert what a PBX writes into events: write a log or publish them.", no_args_is_help=True)


def _pseudonymizer() -> Pseudonymizer:
    from producers.privacy import MissingKey, Pseudonymizer

    try:
        return Pseudonymizer.from_env()
    except MissingKey as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _deliver(events: list[Event], errors: list[ConversionError], out: Path | None, bootstrap: str | None,
             topic: str | None) -> None:
    """Write or publish converted events; report every conversion error with its line."""
    from callwatch.eventlog import write_events
    from callwatch.events import encode
    from producers.replay import prepare
    from producers.replay import replay as publish

    for e in errors:
        err.print(f"[yellow]line {e.line_no}:[/yellow] {e.reason}")
    if out is not None:
        n = write_events(out, events)
        err.print(f"wrote {n} events to {out}; {len(errors)} lines could not be converted")
    else:
        settings = load_settings(kafka_bootstrap=bootstrap, events_topic=topic)
        kafka = producer(settings, len(events))
        result = publish(prepare(encode(e) for e in events), kafka, settings.events_topic, None)
        kafka.close()
        err.print(f"published {result.acknowledged}/{result.sent} events; {len(errors)} lines could not be "
                  "converted")
        if not result.ok:
            raise typer.Exit(1)


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
        result = convert_file(file, converter)
        _deliver(result.events, result.errors, out, bootstrap, topic)
        return
    if out is not None:
        raise typer.BadParameter("--follow publishes as lines arrive; it does not write a log")
    from callwatch.events import encode

    settings = load_settings(kafka_bootstrap=bootstrap, events_topic=topic)
    kafka = producer(settings, 0)
    err.print(f"following {file} → {settings.events_topic} (Ctrl-C stops)")
    try:
        for item in convert_lines(tail(file, stop=lambda: False), converter):
            if isinstance(item, ConversionError):
                err.print(f"[yellow]{item}[/yellow]")
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
    from producers.cdr import CdrConverter, CdrMapping

    try:
        spec = CdrMapping.from_yaml(mapping)
    except (OSError, ValueError) as exc:
        err.print(f"[red]invalid mapping {mapping}:[/red] {exc}")
        raise typer.Exit(2) from None
    result = CdrConverter(spec, _pseudonymizer()).convert_file(file)
    err.print(", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())))
    _deliver(result.events, result.errors, out, bootstrap, topic)
