"""An agent's scorecard: this month and the three before, trends, the floor beside them, integrity
signals with their evidence, and goals — as data (``--json``) and as a self-contained HTML page.

Built from the engine's per-agent days (kept 130 days), so the offline replay of a log and the state the
workers committed to Redis give the same scorecard.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from callwatch.config import IntegrityConfig
from callwatch.engine import Engine
from callwatch.engine.aggregates import AgentDay
from callwatch.engine.figures import agent_figures
from callwatch.engine.integrity import Signal, evaluate

#: the figures a scorecard shows, how to print them, and which way is better
FIGURES: tuple[tuple[str, str, str, int], ...] = (
    ("handled", "Handled contacts", "count", +1),
    ("aht", "Average handle time", "seconds", -1),
    ("occupancy", "Occupancy", "ratio", 0),
    ("idle_between_contacts_mean", "Idle between contacts", "seconds", 0),
    ("csat", "CSAT (top-2-box)", "ratio", +1),
    ("csat_mean", "CSAT (mean, 1–5)", "score", +1),
    ("professionalism", "Professionalism (top-2-box)", "ratio", +1),
    ("unmet_need", "Unmet need", "ratio", -1),
    ("resolution_ratio", "Resolution ratio", "ratio", +1),
    ("fcr", "First-contact resolution", "ratio", +1),
    ("repeat_contact_rate_72h", "Repeat contacts within 72 h", "ratio", -1),
    ("survey_offer_rate", "Survey offer rate", "ratio", 0),
    ("survey_response_rate", "Survey response rate", "ratio", 0),
    ("agent_ended_calls", "Calls ended by the agent", "count", 0),
    ("short_calls", "Short calls", "count", 0),
)
#: the figures a goal can be set on, and whether higher is better
GOAL_METRICS = {name: better for name, _, _, better in FIGURES if better != 0}


def _month(day: str) -> str:
    return day[:7]


def _previous_months(month: str, n: int) -> list[str]:
    y, m = int(month[:4]), int(month[5:7])
    out = []
    for _ in range(n):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        out.append(f"{y:04d}-{m:02d}")
    return out


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "ratio":
        return f"{100 * value:.1f} %"
    if kind == "seconds":
        return f"{value:.0f} s"
    if kind == "score":
        return f"{value:.2f}"
    return f"{value:g}"


def scorecard(engine: Engine, agent: str, month: str | None = None) -> dict[str, Any]:
    """The scorecard of ``agent`` for ``month`` (YYYY-MM, default: the latest month with data)."""
    days = engine.agent_days
    mine = {k: v for k, v in days.items() if k[0] == agent}
    if not mine:
        raise KeyError(f"no figures for agent {agent!r}")
    month = month or _month(max(d for _, d in mine))
    months = [month, *_previous_months(month, 3)]
    # one pass over the floor's days (1,000 agents × 120 days is 120,000 of them)
    floor_sums = {m: AgentDay() for m in months}
    mine_sums = {m: AgentDay() for m in months}
    working: set[str] = set()
    for (who, day), figures in days.items():
        m = _month(day)
        if m in floor_sums:
            floor_sums[m].merge(figures)
            if who == agent:
                mine_sums[m].merge(figures)
            if m == month and figures.handled:
                working.add(who)
    agent_months = {m: agent_figures(v) for m, v in mine_sums.items()}
    floor_months = {m: agent_figures(v) for m, v in floor_sums.items()}
    # counts beside an agent's are the floor's per agent (the agents who worked that month)
    staff = len(working) or 1
    rows = []
    for name, label, kind, better in FIGURES:
        now = agent_months[month].get(name)
        before: list[float] = [v for m in months[1:] if agent_months[m].get("handled")
                               and (v := agent_months[m].get(name)) is not None]
        baseline = sum(before) / len(before) if before else None
        trend = None if now is None or baseline is None else now - baseline
        rows.append({"figure": name, "label": label, "kind": kind, "better": better, "this_month": now,
                     "months_before": {m: agent_months[m].get(name) for m in months[1:]},
                     "average_before": baseline, "trend": trend,
                     "floor": _per_agent(floor_months[month].get(name), kind, staff)})
    daily = {d: agent_figures(v) for (_, d), v in sorted(mine.items())}
    last = max(d for _, d in mine)
    first = (date.fromisoformat(last).toordinal() - engine.config.integrity.period_days + 1)
    signals = [s for s in evaluate(days, date.fromordinal(first).isoformat(), last, engine.config.integrity)
               if s.subject == agent]
    rec = engine.agents.get(agent)
    return {
        "agent": agent, "team": rec.team if rec else None, "queues": rec.queues if rec else [],
        "month": month, "months": months, "figures": rows,
        "daily": {d: {name: f.get(name) for name, _, _, _ in FIGURES} for d, f in daily.items()},
        "signals": [signal_json(s) for s in signals],
    }


def _per_agent(value: Any, kind: str, staff: int) -> Any:
    return round(value / staff, 1) if kind == "count" and isinstance(value, int | float) else value


def signal_json(s: Signal) -> dict[str, Any]:
    """A signal as data: what the scorecard, ``callwatch integrity --json`` and the page show of it."""
    return {"signal": s.signal, "numerator": s.numerator, "denominator": s.denominator, "value": s.value,
            "floor_baseline": s.baseline, "ratio": s.ratio, "p_value": s.p_value, "reason": s.reason,
            "evidence": list(s.evidence), "period": list(s.period)}


def floor_signals(engine: Engine, config: IntegrityConfig,
                  days: int | None = None) -> tuple[str, str, list[Signal]] | None:
    """The integrity signals of the whole floor over the last ``days`` days (default: the configured
    period) up to the latest day with agent figures, with that period's first and last day; None while
    there are no agent figures at all."""
    all_days = sorted({d for _, d in engine.agent_days})
    if not all_days:
        return None
    period = days or config.period_days
    first = date.fromordinal(date.fromisoformat(all_days[-1]).toordinal() - period + 1).isoformat()
    return first, all_days[-1], evaluate(engine.agent_days, first, all_days[-1], config, engine.anomalies())


def _spark(points: list[float | None], width: int = 220, height: int = 40, colour: str = "#2f6fde") -> str:
    """A small inline SVG line chart of a daily series (gaps where a day has no value)."""
    values = [p for p in points if p is not None]
    if len(values) < 2:
        return f'<svg width="{width}" height="{height}"></svg>'
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / max(1, len(points) - 1)
    path, pen = [], "M"
    for i, p in enumerate(points):
        if p is None:
            pen = "M"
            continue
        y = height - 4 - (p - lo) / span * (height - 8)
        path.append(f"{pen}{i * step:.1f},{y:.1f}")
        pen = "L"
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
            f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/></svg>')


def render_html(card: dict[str, Any], goals: list[dict[str, Any]] | None = None) -> str:
    esc = html.escape
    months = card["months"]
    head = "".join(f"<th>{esc(m)}</th>" for m in reversed(months[1:]))
    rows = []
    for r in card["figures"]:
        trend = r["trend"]
        arrow, cls = "", ""
        if trend is not None and r["better"] and abs(trend) > 1e-9:
            good = (trend > 0) == (r["better"] > 0)
            arrow, cls = ("▲" if trend > 0 else "▼"), ("good" if good else "bad")
        series = [card["daily"][d].get(r["figure"]) for d in sorted(card["daily"])][-120:]
        before = "".join(f"<td>{fmt(r['months_before'][m], r['kind'])}</td>" for m in reversed(months[1:]))
        rows.append(
            f"<tr><th>{esc(r['label'])}</th>{before}<td class='now'>{fmt(r['this_month'], r['kind'])}</td>"
            f"<td class='{cls}'>{arrow}</td><td>{fmt(r['floor'], r['kind'])}</td>"
            f"<td>{_spark(series)}</td></tr>")
    signals = "".join(
        f"<li><b>{esc(s['signal'].replace('_', ' '))}</b>: {esc(s['reason'])}"
        f"<br><small>contacts to listen to: {esc(', '.join(s['evidence'][:20]) or '–')}</small></li>"
        for s in card["signals"]) or "<li>none over the last 30 days</li>"
    goal_items = "".join(
        f"<li><b>{esc(g['metric'])}</b> → {g['target']:g} by {esc(g['by'])}: <b>{esc(g['status'])}</b>"
        f" (now {fmt(g.get('current'), 'score')}; {esc(g.get('note') or '')})</li>" for g in goals or []) \
        or "<li>no goal set</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scorecard — {esc(card['agent'])} — {esc(card['month'])}</title>
<style>
 body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem; color: #1f2328; max-width: 1200px; }}
 h1 {{ margin-bottom: 0; }} .sub {{ color: #57606a; margin-top: .2rem; }}
 table {{ border-collapse: collapse; margin: 1rem 0; }} th, td {{ padding: .35rem .6rem; text-align: right; }}
 tr th:first-child {{ text-align: left; font-weight: 500; }} thead th {{ border-bottom: 2px solid #d0d7de; }}
 tbody tr:nth-child(odd) {{ background: #f6f8fa; }} td.now {{ font-weight: 700; }}
 td.good {{ color: #1a7f37; }} td.bad {{ color: #cf222e; }}
 section {{ margin-top: 1.5rem; }} li {{ margin: .5rem 0; }}
</style></head><body>
<h1>{esc(card['agent'])}</h1>
<p class="sub">{esc(card.get('team') or '')} · queues: {esc(', '.join(card.get('queues') or []))} ·
scorecard for {esc(card['month'])}, with the three months before and the floor beside it</p>
<table><thead><tr><th>figure</th>{head}<th>{esc(card['month'])}</th><th>trend</th><th>floor (per agent)</th>
<th>daily, last 120 days</th></tr></thead><tbody>{''.join(rows)}</tbody></table>
<section><h2>Integrity signals</h2><ul>{signals}</ul>
<p class="sub">A signal is evidence to look at, not a verdict: each compares one figure with another source
and with the rest of the floor.</p></section>
<section><h2>Goals</h2><ul>{goal_items}</ul></section>
</body></html>
"""
