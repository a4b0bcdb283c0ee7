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
from console.levels import pct_beside, wait_words, with_levels


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="refresh every second until Ctrl-C")] = False,
    check: Annotated[bool, typer.Option("--check", help=(
        "print one line and exit 1 when no worker has written for longer than stale_after_s"))] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL")] = None,
) -> None:
    """Show the live figures per queue from Redis: a terminal wallboard."""
    from streams.readout import live_figures, staleness_s

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


def _clock(ts: float) -> str:
    """A time of day on this machine's clock, as the page shows times in the browser's."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


#: a level's colour in the terminal
_COLOUR = {"red": "bold red", "amber": "bold yellow", "green": "green", "none": "dim"}


def _alarm_line(where: str, alarm: dict[str, Any]) -> Text:
    """One alarm on, as the page's badge says it: where, its badge word, its rule's window, since when,
    and why."""
    window = f" · window {alarm['window_text']}" if alarm.get("window_text") else ""
    subject = f" · {alarm['subject']}" if alarm.get("subject") else ""
    return Text.assemble(("ALARM", "bold white on red"), " ", (where, "bold"), " · ", (str(alarm["label"]), "bold red"),
                         subject, f"{window} · since {_clock(float(alarm['since']))} — ", str(alarm.get("reason", "")))


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
    """A terminal wallboard that fits 80 columns, in the page's words: the queues now (service level
    and abandonment over their alarm rule's window), every alarm on, one line each as the page's badges
    say them, the agents, the queues today and, past the limit, how long no worker has written.
    ``width``: the terminal's columns."""
    from streams.readout import staleness_s

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
    sl_words, ab_words = first["service_level"]["window_text"], first["abandonment"]["window_text"]
    now_table = _table("now", width, "waiting", "oldest\nwait", f"service level\nlast {sl_words}",
                       f"abandoned\nlast {ab_words}")
    now_table.add_column("alarms", min_width=13)
    agents_table = _table("agents", width, "available", "on a\ncall", "wrap-up", "away", "staffed")
    today = next(iter(queues.values()))["windows"]["today"]
    today_table = _table(f"today since {_clock(today['from'])[:5]}" if "from" in today else "today", width,
                         "offered", "answered", "abandoned", "service\nlevel", "ASA")
    alarm_lines: list[Text] = []
    for q, f in queues.items():
        board = f["board"]
        sl, ab, alarms = board["service_level"], board["abandonment"], board["alarms"]
        if alarms:
            status = Text("\n".join(str(a["label"]) for a in alarms), style="bold red")
        else:
            status = Text("closed", style="dim") if board["closed"] else Text("ok", style="green")
        # a queue whose rule has another window than the header's says its own beside the figure
        sl_text = pct_beside(sl["value"], sl["target"]) + (
            "" if sl["window_text"] == sl_words else f" ({sl['window_text']})")
        ab_text = pct_beside(ab["value"], ab["threshold"]) + (
            "" if ab["window_text"] == ab_words else f" ({ab['window_text']})")
        now_table.add_row(
            Text(q), str(f["waiting"]),
            Text(wait_words(f["oldest_wait"]), style=_COLOUR[board["oldest_wait"]["level"]]),
            Text("closed" if board["closed"] else sl_text, style=_COLOUR[sl["level"]]),
            Text("–" if board["closed"] else ab_text, style=_COLOUR[ab["level"]]),
            status,
        )
        agents = f["agents"]
        agents_table.add_row(Text(q), *(str(agents.get(k, 0)) for k in ("available", "busy", "wrap_up", "away",
                                                                        "staffed")))
        t = f["windows"]["today"]
        today_table.add_row(Text(q), str(t["offered"]), str(t["answered"]), str(t["abandoned"]),
                            pct_beside(t["service_level"], sl["target"]),
                            "–" if t["asa"] is None else wait_words(t["asa"]))
        alarm_lines.extend(_alarm_line(q, a) for a in alarms)
    alarm_lines.extend(_alarm_line("floor", a) for a in figures.get("alarms", ()))
    parts += [now_table, *alarm_lines, agents_table, today_table]
    partitions = figures["partitions"]
    newest = max(p["now"] for p in partitions)
    parts.append(Text(f"figures as of {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(newest))} "
                      f"({partitions[0]['clock']} clock) · {len(partitions)} partition(s)", style="dim"))
    return Group(*parts)
