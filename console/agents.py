"""``callwatch agent report`` (an agent's scorecard, ``callwatch.scorecard``) and ``callwatch integrity``
(the floor's integrity signals), from a log replayed here or from the workers' state in Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callwatch.timetext import parse_month
from console.common import CommandError, check_writable, err, floor_engine, load_settings, parsed, safe

app = typer.Typer(help="Per-agent scorecards.", no_args_is_help=True)


@app.command("report")
def agent_report(
    agent: Annotated[str, typer.Argument(help="the agent id")],
    log: Annotated[Path | None, typer.Option(help="read a log (replayed here) instead of Redis", exists=True)] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: the latest month with data)")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="also write the scorecard as an HTML page")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """An agent's scorecard: this month and the three before, trends, the floor, integrity signals, goals."""
    from callwatch.scorecard import fmt, render_html, scorecard
    from console.goals import agent_goals

    month = None if month is None else parsed(parse_month, month, "--month")
    check_writable(html_out, "--html")  # before the replay, not after it
    settings = load_settings()
    engine = floor_engine(log, settings)
    try:
        card = scorecard(engine, agent, month)
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None
    # goals live in Redis: a scorecard read from a log has none
    goals: list[dict[str, Any]] = agent_goals(settings, agent, engine) if log is None else []
    if html_out is not None:
        html_out.write_text(render_html(card, goals))
        err.print(Text(f"scorecard written to {html_out}"))
    if as_json:
        typer.echo(json.dumps({**card, "goals": goals}, indent=2, default=str))
        return
    # the agent's name, the labels and every evidence id came from the events: never read as markup
    table = Table(title=Text(f"{agent} — {card['month']}"), title_justify="left")
    for col in ("figure", *reversed(card["months"][1:]), card["month"], "floor"):
        table.add_column(col, justify="right" if col != "figure" else "left")
    for r in card["figures"]:
        table.add_row(Text(r["label"]), *(fmt(r["months_before"][m], r["kind"]) for m in reversed(card["months"][1:])),
                      fmt(r["this_month"], r["kind"]), fmt(r["floor"], r["kind"]))
    Console().print(table)
    for sig in card["signals"]:
        Console().print(f"[yellow]signal {safe(sig['signal'])}[/yellow]: {safe(sig['reason'])}\n"
                        f"  contacts: {safe(', '.join(sig['evidence'][:10]))}")


def integrity(
    log: Annotated[Path | None, typer.Option(help="read a log (replayed here) instead of Redis", exists=True)] = None,
    days: Annotated[int | None, typer.Option(help="look back this many days (default: the configured period)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """The integrity signals over the last days: who, why, the figures and the contacts to listen to."""
    from callwatch.scorecard import floor_signals, signal_json

    settings = load_settings()
    engine = floor_engine(log, settings)
    found = floor_signals(engine, settings.monitor.integrity, days)
    if found is None:
        err.print("no agent figures yet")
        return
    first, last, signals = found
    if as_json:
        typer.echo(json.dumps([{"subject": s.subject, **signal_json(s)} for s in signals], indent=2))
        return
    if not signals:
        err.print(f"no integrity signal from {first} to {last}")
    for s in signals:
        Console().print(f"[yellow]{safe(s.signal)}[/yellow] {safe(s.subject)}: {safe(s.reason)}\n  contacts: "
                        f"{safe(', '.join(s.evidence[:10]) or '–')}")
