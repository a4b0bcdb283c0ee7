"""``callwatch goals``: set, list, close and check the agents' goals (the rule: ``callwatch.goals``;
kept in Redis by ``streams.goal_store``; told on the alerts topic as ``alerts.goals`` words it)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callwatch.settings import Settings
from console.common import UNUSABLE, CommandError, err, floor_engine, load_settings, producer, read_redis, safe

if TYPE_CHECKING:
    from callwatch.engine import Engine
    from streams.goal_store import RedisGoals

app = typer.Typer(help="One focused goal per agent: set, list, close, check.", no_args_is_help=True)


def _today() -> str:
    """Today on this machine's clock: a goal's default day, and the figures' day before there are any."""
    return datetime.now().date().isoformat()


def _goal_store(settings: Settings) -> RedisGoals:
    from streams.goal_store import RedisGoals

    return RedisGoals.from_url(settings.redis_url, settings.redis_prefix)


def agent_goals(settings: Settings, agent: str, engine: Engine) -> list[dict[str, Any]]:
    """An agent's open goals with their progress, for the scorecard; none when Redis cannot be read."""
    from redis.exceptions import RedisError

    from callwatch.goals import figures_day, progress

    try:
        goals = _goal_store(settings).all()
    except (RedisError, OSError):  # Redis unreachable: the scorecard still prints, without goals
        return []
    return [progress(g, engine, figures_day(engine, _today())) for g in goals if g.agent == agent and not g.closed]


@app.command("set")
def goals_set(
    agent: Annotated[str, typer.Argument(help="the agent id")],
    metric: Annotated[str, typer.Option(help="e.g. csat_mean, fcr, aht, repeat_contact_rate_72h")],
    target: Annotated[float, typer.Option(help="the value to reach")],
    by: Annotated[str, typer.Option(help="the deadline, YYYY-MM-DD")],
    note: Annotated[str, typer.Option(help="the plan, in a sentence")] = "",
    set_by: Annotated[str, typer.Option("--set-by", help="the supervisor")] = os.environ.get("USER", "unknown"),
    today: Annotated[str | None, typer.Option(help="the day it is set (default: today)")] = None,
) -> None:
    """Set a goal: one metric, a target, a deadline."""
    from callwatch.goals import new_goal

    settings = load_settings()
    try:
        goal = new_goal(agent, metric, target, by, note, set_by, today or _today())
    except ValueError as exc:
        raise CommandError(str(exc), UNUSABLE) from None
    read_redis(lambda st: _goal_store(st).put(goal), settings)
    err.print(f"goal [bold]{safe(goal.id)}[/bold]: {safe(agent)} {safe(metric)} → {target:g} by {safe(goal.by)}")
    typer.echo(goal.id)


@app.command("list")
def goals_list(
    agent: Annotated[str | None, typer.Option(help="only this agent's goals")] = None,
    log: Annotated[Path | None, typer.Option(help="read the figures from a log instead of Redis", exists=True)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """The goals with their baseline, progress and status (on track, behind, achieved, missed)."""
    from callwatch.goals import figures_day, progress

    settings = load_settings()
    goals = [g for g in read_redis(lambda st: _goal_store(st).all(), settings) if agent in (None, g.agent)]
    engine = floor_engine(log, settings)
    states = [progress(g, engine, figures_day(engine, _today())) for g in goals]
    if as_json:
        typer.echo(json.dumps(states, indent=2, default=str))
        return
    table = Table("id", "agent", "metric", "target", "by", "baseline", "now", "status", "note")
    for st in states:
        base = next((v for v in st["baseline"].values() if v is not None), None)
        # names and notes were typed by people or came from the events: never read as markup
        table.add_row(Text(st["id"]), Text(st["agent"]), Text(st["metric"]), f"{st['target']:g}", Text(st["by"]),
                      "–" if base is None else f"{base:.3g}",
                      "–" if st["current"] is None else f"{st['current']:.3g}", Text(st["status"]), Text(st["note"]))
    Console().print(table)


@app.command("close")
def goals_close(goal_id: Annotated[str, typer.Argument(help="the id `callwatch goals list` shows")]) -> None:
    """Close a goal (kept, no longer followed)."""
    settings = load_settings()
    store = _goal_store(settings)
    goal = read_redis(lambda st: store.get(goal_id), settings)
    if goal is None:
        raise CommandError(f"no goal {goal_id}")
    store.put(replace(goal, closed=True))
    err.print(Text(f"goal {goal_id} closed"))


@app.command("check")
def goals_check(
    log: Annotated[Path | None, typer.Option(help="read the figures from a log instead of Redis", exists=True)] = None,
    today: Annotated[str | None, typer.Option(help="the day to judge (default: the figures' latest day)")] = None,
) -> None:
    """Tell the supervisor, once, of every goal achieved or missed (a message on the alerts topic)."""
    from alerts.goals import goal_message
    from callwatch.goals import figures_day, news

    settings = load_settings()
    store = _goal_store(settings)
    engine = floor_engine(log, settings)
    day = today or figures_day(engine, _today())
    told = []
    rule = settings.monitor.alarms.goals
    # the rules file's ``goals`` rule: disabled, nothing is told (and nothing marked told)
    fresh = news(read_redis(lambda st: store.all(), settings), engine, day) if rule.enabled else []
    if fresh:  # no broker is needed when there is nothing to tell
        kafka = producer(settings, 1)
        for goal, state in fresh:
            message = goal_message(goal, state, rule)
            kafka.send(settings.alerts_topic, message.model_dump_json().encode(), key=message.key.encode())
            store.put(replace(goal, notified=state["status"]))
            told.append(f"{goal.id} {goal.agent} {state['status']}")
        kafka.flush()
        kafka.close()
    err.print(Text("\n".join(told) if told else "no goal achieved or missed since the last check"))
