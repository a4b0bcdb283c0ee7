"""``callwatch state info`` and ``callwatch state rebuild``: the workers' state in Redis, its format
version, and starting it over from Kafka (the logic: ``streams.state_rebuild``)."""

from __future__ import annotations

from typing import Annotated

import typer

from console.common import err, load_settings

app = typer.Typer(help="The workers' state in Redis: its format version, and rebuilding it from Kafka.",
                  no_args_is_help=True)


def _error(message: str) -> None:
    err.print(message, markup=False, highlight=False)


@app.command("info")
def info(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Per partition of the events topic: the state's format version, applied offset, newest event, entries."""
    from streams.state_rebuild import info_command

    raise typer.Exit(info_command(load_settings(redis_url=redis_url), as_json, typer.echo, _error))


@app.command("rebuild")
def rebuild(
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

    settings = load_settings(kafka_bootstrap=bootstrap, redis_url=redis_url)
    raise typer.Exit(rebuild_command(settings, partition, yes, from_earliest_anyway,
                                     lambda question: typer.confirm(question, default=False), typer.echo, _error))
