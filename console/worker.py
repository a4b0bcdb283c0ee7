"""``callwatch worker``: the stream worker (``streams.app``) in this process."""

from __future__ import annotations

from typing import Annotated

import typer

from callwatch.settings import ClockMode
from console.common import load_settings, setup_logging


def worker(
    clock: Annotated[ClockMode | None, typer.Option(help="wall: a live floor; event: replays")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
    web_port: Annotated[int | None, typer.Option(help="port of /metrics and /healthz")] = None,
    loglevel: str = "info",
) -> None:
    """Run a stream worker: events from Kafka into live state in Redis, /metrics, the wait alarm."""
    settings = load_settings(clock=clock, kafka_bootstrap=bootstrap, redis_url=redis_url, web_port=web_port)
    setup_logging(loglevel)
    from streams.app import run_worker  # Faust is slow to import: only the worker pays for it

    run_worker(settings, loglevel=loglevel)
