"""The floor now: ``callwatch stats`` (a wallboard in the terminal), ``callwatch report`` (the committed
state's report, as JSON) and ``callwatch wallboard`` (the page for a TV, ``console.web.server``), all read
from what the workers wrote to Redis (``streams.readout``)."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from callwatch.settings import Settings
from console.common import CommandError, err, load_settings, read_redis, safe, setup_logging
from console.levels import with_levels
from streams.readout import staleness_s


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="refresh every second until Ctrl-C")] = False,
    check: Annotated[bool, typer.Option("--check", help=(
        "print one line and exit 1 when no worker has written for longer than stale_after_s"))] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Show the live figures per queue from Redis: a terminal wallboard."""
    from streams.readout import live_figures

    settings = load_settings(redis_url=redis_url)
    if check:
        stale = staleness_s(read_redis(live_figures, settings), time.time())
        if stale is None:
            raise CommandError("no data: no worker has written to this Redis")
        if stale > settings.stale_after_s:
            raise CommandError(f"no data for {stale:.0f} s — worker down? (limit {settings.stale_after_s:g} s)")
        sys.stdout.write(f"ok: the workers wrote {stale:.1f} s ago\n")
        return
    if as_json:
        figures = read_redis(live_figures, settings)
        figures["staleness_s"] = staleness_s(figures, figures["generated_at"])
        sys.stdout.write(json.dumps(figures, indent=1, sort_keys=True) + "\n")
        return
    out = Console()
    if not watch:
        out.print(render(read_redis(live_figures, settings), settings, time.time(), out.width))
        return
    with Live(render(read_redis(live_figures, settings), settings, time.time(), out.width), console=out,
              refresh_per_second=2, screen=False) as live:
        try:
            while True:
                time.sleep(1)
                live.update(render(read_redis(live_figures, settings), settings, time.time(), out.width))
        except KeyboardInterrupt:
            pass


def report(
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Print, as JSON, the figures of the state the workers committed to Redis (the same report as
    `replay --offline --json`, so that a live run can be checked against an offline one)."""
    from streams.readout import stored_report

    settings = load_settings(redis_url=redis_url)
    sys.stdout.write(json.dumps(read_redis(stored_report, settings), indent=1, sort_keys=True) + "\n")


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


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


#: a level's colour in the terminal
_COLOUR = {"red": "bold red", "amber": "bold yellow", "green": "green", "none": "dim"}


def _alarm_line(queue: str, alarm: dict[str, Any], board: dict[str, Any]) -> Text:
    """One active alarm: the queue, what, against which limit over which window, since when."""
    name = str(alarm.get("alarm", ""))
    if name == "wait_window_exceeded":
        what = f"wait over {_secs(board['oldest_wait']['window'])}"
    elif name == "abandonment_high":
        ab = board["abandonment"]
        what = f"abandoned over {_pct(ab['threshold'])} in {ab['window_words']}"
    elif name == "service_level_low":
        sl = board["service_level"]
        what = f"service level under {_pct(sl['target'])} in {sl['window_words']}"
    else:
        what = str(alarm["words"])
    since = alarm.get("started_at", alarm.get("since"))
    when = "" if since is None else f" since {_clock(float(since))}"
    return Text.assemble(("  ALARM ", "bold white on red"), " ", (queue, "bold"), f": {what}{when}")


#: the columns of "queues now" beside the queue's name take this much of a line
_FIGURES_WIDTH = 64


def _table(title: str, width: int, *numbers: str) -> Table:
    """A table of one row per queue: the queue's name (cut to what the line leaves, never wrapped),
    then figures, right-aligned."""
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("queue", no_wrap=True, overflow="ellipsis", max_width=max(12, width - _FIGURES_WIDTH))
    for header in numbers:
        table.add_column(header, justify="right", no_wrap=True)
    return table


def render(figures: dict[str, Any], settings: Settings, now: float, width: int = 80) -> Group:
    """A terminal wallboard that fits 80 columns: the queues now (each figure over its alarm rule's
    window, the same words as the page), every active alarm on a line of its own, the agents, the queues
    today and, past the limit, how long no worker has written. ``width``: the terminal's columns."""
    figures = with_levels(figures, settings)
    queues: dict[str, Any] = figures["queues"]
    stale = staleness_s(figures, now)
    parts: list[Any] = []
    if stale is not None and stale > settings.stale_after_s:
        parts.append(Text(f"no data for {stale:.0f} s — worker down?", style="bold white on red"))
    if not queues:
        parts.append(Text("no figures in Redis yet: is a worker running, and has it received events?"))
        return Group(*parts)
    first = next(iter(queues.values()))["board"]
    sl_words, ab_words = first["service_level"]["window_words"], first["abandonment"]["window_words"]
    now_table = _table("queues now", width, "waiting", "oldest\nwait", f"service level\n{sl_words}",
                       f"abandoned\n{ab_words}")
    now_table.add_column("alarms", min_width=13)
    agents_table = _table("agents now", width, "available", "busy", "wrap-up", "away", "staffed")
    today_table = _table("today", width, "offered", "answered", "abandoned", "service\nlevel", "ASA")
    alarm_lines: list[Text] = []
    for q, f in queues.items():
        board = f["board"]
        sl, ab = board["service_level"], board["abandonment"]
        alarms = board["alarms"]
        if alarms:
            status = Text("\n".join(str(a["words"]) for a in alarms), style="bold red")
        else:
            status = Text("closed", style="dim") if board["closed"] else Text("ok", style="green")
        # a queue whose rule has another window than the header's says its own beside the figure
        sl_text = _pct(sl["value"]) + ("" if sl["window_words"] == sl_words else f" ({sl['window_words']})")
        ab_text = _pct(ab["value"]) + ("" if ab["window_words"] == ab_words else f" ({ab['window_words']})")
        now_table.add_row(
            Text(q), str(f["waiting"]),
            Text(_secs(f["oldest_wait"]), style=_COLOUR[board["oldest_wait"]["level"]]),
            Text("closed" if board["closed"] else sl_text, style=_COLOUR[sl["level"]]),
            Text("–" if board["closed"] else ab_text, style=_COLOUR[ab["level"]]),
            status,
        )
        agents = f["agents"]
        agents_table.add_row(Text(q), *(str(agents.get(k, 0)) for k in ("available", "busy", "wrap_up", "away",
                                                                        "staffed")))
        today = f["windows"]["today"]
        today_table.add_row(Text(q), str(today["offered"]), str(today["answered"]), str(today["abandoned"]),
                            _pct(today["service_level"]), _secs(today["asa"]))
        alarm_lines.extend(_alarm_line(q, a, board) for a in alarms)
    parts += [now_table, *alarm_lines, agents_table, today_table]
    partitions = figures["partitions"]
    newest = max(p["now"] for p in partitions)
    parts.append(Text(f"as of {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(newest))} UTC "
                      f"({partitions[0]['clock']} clock) · {len(partitions)} partition(s)", style="dim"))
    return Group(*parts)
