"""The floor now: ``callwatch stats`` (a wallboard in the terminal), ``callwatch report`` (the committed
state's report, as JSON) and ``callwatch wallboard`` (the page for a TV, ``console.web.server``), all read
from what the workers wrote to Redis (``streams.readout``)."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from console.common import err, load_settings, read_redis, safe, setup_logging
from console.levels import level_oldest


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
    watch: Annotated[bool, typer.Option(help="refresh every second until Ctrl-C")] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Show the live figures per queue from Redis: a terminal wallboard."""
    from streams.readout import live_figures

    settings = load_settings(redis_url=redis_url)
    if as_json:
        sys.stdout.write(json.dumps(read_redis(live_figures, settings), indent=1, sort_keys=True) + "\n")
        return
    out = Console()
    if not watch:
        out.print(render(read_redis(live_figures, settings)))
        return
    with Live(render(read_redis(live_figures, settings)), console=out, refresh_per_second=2,
              screen=False) as live:
        try:
            while True:
                time.sleep(1)
                live.update(render(read_redis(live_figures, settings)))
        except KeyboardInterrupt:
            pass


def report(
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Print, as JSON, the figures of the state the workers committed to Redis (the same report as
    `replay --offline --json`, so that a live run can be checked against an offline one)."""
    from streams.readout import stored_report

    settings = load_settings(redis_url=redis_url)
    rep = read_redis(stored_report, settings)
    # the alarms as `replay --offline --json` prints them: the alerts topic's message, without links
    rep["alarms"] = [a.model_dump(mode="json") for a in rep["alarms"]]
    sys.stdout.write(json.dumps(rep, indent=1, sort_keys=True) + "\n")


def wallboard(
    port: Annotated[int, typer.Option(help="serve the page on this port")] = 6068,
    host: Annotated[str | None, typer.Option(
        help="listen on this address [default: the wallboard_host setting, 127.0.0.1]")] = None,
    loglevel: str = "info",
) -> None:
    """Serve the floor wallboard page (live, colours from the queues' settings) and its JSON, from Redis."""
    from console.web.server import run

    setup_logging(loglevel)
    settings = load_settings()
    host = host or settings.wallboard_host
    err.print(f"wallboard on http://{safe(host)}:{port}/ (JSON: /api/figures, server push: /api/stream)")
    run(settings, host, port)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"


def _secs(x: float | None) -> str:
    if x is None:
        return "–"
    m, s = divmod(round(x), 60)
    return f"{m}:{s:02d}"


def render(figures: dict[str, Any]) -> Table:
    """A terminal wallboard: one row per queue, the wait coloured against the queue's window."""
    table = Table(title="callwatch — queues now", title_justify="left", expand=True)
    for col, justify in (("queue", "left"), ("waiting", "right"), ("oldest wait", "right"),
                         ("avail", "right"), ("busy", "right"), ("wrap", "right"), ("away", "right"),
                         ("SL 15m", "right"), ("aband. 15m", "right"), ("ASA 15m", "right"),
                         ("offered today", "right"), ("SL today", "right"), ("alarm", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for q, f in figures["queues"].items():
        oldest = f["oldest_wait"]
        level = level_oldest(oldest, f.get("wait_warning", f["wait_window"] * 2 / 3), f["wait_window"])
        colour = {"amber": "yellow"}.get(level, level)
        last15 = f["windows"]["last_15m"]
        today = f["windows"]["today"]
        agents = f["agents"]
        table.add_row(
            Text(q), str(f["waiting"]), Text(_secs(oldest), style=f"bold {colour}"),
            str(agents["available"]), str(agents["busy"]), str(agents["wrap_up"]), str(agents["away"]),
            _pct(last15["service_level"]), _pct(last15["abandonment_rate"]), _secs(last15["asa"]),
            str(today["offered"]), _pct(today["service_level"]),
            Text("WAIT > " + _secs(f["wait_window"]), style="bold white on red") if f["alarm"] else Text("ok"),
        )
    if not figures["queues"]:
        table.caption = "no figures in Redis yet: is a worker running, and has it received events?"
    else:
        parts = figures["partitions"]
        newest = max(p["now"] for p in parts)
        table.caption = (f"as of {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(newest))} UTC "
                         f"({parts[0]['clock']} clock) · {len(parts)} partition(s)")
    return table
