"""Integrity signals (METRICS.md, "trust, but verify"): one figure checked against another source.

Pure: from the per-agent days the engine keeps, over a period of days, with the floor's baseline. A
signal is evidence for a supervisor, not a verdict — it carries its numerator, denominator, the floor's
baseline (the other agents, so that one agent's behaviour does not hide in a baseline it dominates), a
sentence in plain words, and the contacts behind it. Besides the ratio METRICS.md gives, each signal
must be beyond chance — a one-sided binomial (or two-proportion) test against the baseline at p < 0.01
for the whole floor (Bonferroni: 0.01 divided by the number of agents tested) — and have at least 20
contacts behind it: tested agent by agent at 0.01, a floor of a hundred honest agents would always
have one flagged.

``perfect_scores`` is not in METRICS.md: it is the seeds' "salesman who asks for a 100 % score" — perfect
surveys far more often than the rest of the floor — which none of the listed signals catches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from callwatch.config import IntegrityConfig
from callwatch.engine.aggregates import TALK_BIN_S, AgentDay

SIGNALS = ("cap_clustering", "short_hangups", "survey_selection", "contradicted_resolution",
           "contradicted_satisfaction", "perfect_scores", "clock_anomalies")
EVIDENCE_MAX = 50
#: the longest talk time a cap is looked for under (an hour)
CAP_SEARCH_MAX_S = 3600


@dataclass(frozen=True)
class CapCluster:
    """One agent's agent-ended calls clustered in the window just under ``cap_s``."""

    cap_s: float
    width_s: float
    inside: int
    handled: int
    floor_inside: int
    floor_handled: int
    p_value: float


def cap_clusters(totals: Mapping[str, AgentDay], near_s: float, min_ratio: float, min_contacts: int,
                 alpha: float) -> dict[str, CapCluster]:
    """Per agent, the duration under which their agent-ended calls cluster as under a handle-time cap
    the rest of the floor's calls do not explain — found in the data, whatever the cap.

    Every window of ``near_s`` (in ``TALK_BIN_S`` steps, up to an hour) is a candidate cap: the agent's
    share of handled calls they ended themselves in it must be at least ``min_ratio`` times the rest of
    the floor's and beyond chance (one-sided binomial) at ``alpha`` divided by the number of windows
    tried (the level holds for all of them together)."""
    width = max(1, math.ceil(near_s / TALK_BIN_S))
    step = width * TALK_BIN_S
    edges = range(step, CAP_SEARCH_MAX_S + TALK_BIN_S, TALK_BIN_S)
    level = alpha / len(edges)
    floor_bins: dict[int, int] = {}
    floor_handled = 0
    for a in totals.values():
        floor_handled += a.handled
        for key, n in a.agent_ended_talk.items():
            floor_bins[int(key)] = floor_bins.get(int(key), 0) + n
    out: dict[str, CapCluster] = {}
    for agent, a in sorted(totals.items()):
        if a.handled < min_contacts or not a.agent_ended_talk:
            continue
        bins = {int(key): n for key, n in a.agent_ended_talk.items()}
        on = floor_handled - a.handled
        if on <= 0:
            continue
        best: CapCluster | None = None
        for edge in edges:
            k = sum(bins.get(edge - step + i * TALK_BIN_S, 0) for i in range(width))
            if k < 5:
                continue
            ok = sum(floor_bins.get(edge - step + i * TALK_BIN_S, 0) for i in range(width)) - k
            value, base = k / a.handled, ok / on
            if base > 0 and value < min_ratio * base:
                continue
            p = binomial_tail(k, a.handled, max(base, 0.5 / on))
            # ties (tails too small for a float) go to the window holding more of the agent's calls
            if p < level and (best is None or (p, -k) < (best.p_value, -best.inside)):
                best = CapCluster(float(edge), float(step), k, a.handled, ok, on, p)
        if best is not None:
            out[agent] = best
    return out


@dataclass(frozen=True)
class Signal:
    signal: str
    #: the agent it is about (the source, for clock anomalies)
    subject: str
    numerator: int
    denominator: int
    value: float
    #: the same figure for the rest of the floor
    baseline: float
    #: value / baseline (None when the baseline is 0)
    ratio: float | None
    p_value: float | None
    reason: str
    evidence: tuple[str, ...] = ()
    period: tuple[str, str] = ("", "")
    details: dict[str, float] = field(default_factory=dict)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P[X >= k] for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p
                          + (n - i) * log_q)
    return min(1.0, total)


def two_proportion_lower(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided p-value that proportion 1 is lower than proportion 2 (pooled two-proportion z-test)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0
    z = (k2 / n2 - k1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.5 * math.erfc(z / math.sqrt(2))


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _totals(agent_days: Mapping[tuple[str, str], AgentDay], first: str, last: str) -> dict[str, AgentDay]:
    out: dict[str, AgentDay] = {}
    for (agent, day), figures in agent_days.items():
        if first <= day <= last:
            out.setdefault(agent, AgentDay()).merge(figures)
    return out


def _evidence(agent_days: Mapping[tuple[str, str], AgentDay], agent: str, signal: str, first: str,
              last: str) -> tuple[str, ...]:
    days = sorted((d for (a, d) in agent_days if a == agent and first <= d <= last), reverse=True)
    ids: list[str] = []
    for day in days:
        ids.extend(agent_days[(agent, day)].evidence.get(signal, ()))
    return tuple(ids[:EVIDENCE_MAX])


def evaluate(agent_days: Mapping[tuple[str, str], AgentDay], first: str, last: str, cfg: IntegrityConfig,
             anomalies: Mapping[str, Mapping[str, int]] | None = None) -> list[Signal]:
    """Every signal raised over the days ``first`` … ``last`` (inclusive), most telling first."""
    totals = _totals(agent_days, first, last)
    floor = AgentDay()
    for figures in totals.values():
        floor.merge(figures)
    out: list[Signal] = []
    # every agent is tested: at p < 0.01 each, a floor of a hundred honest agents would see one flagged
    # by chance every time. The level is for the whole floor (Bonferroni), so that a signal means it.
    alpha = cfg.p_value / max(1, len(totals))

    def others(attr_num: str, attr_den: str, agent: AgentDay) -> tuple[int, int]:
        return getattr(floor, attr_num) - getattr(agent, attr_num), getattr(floor, attr_den) - getattr(agent, attr_den)

    def share_signal(signal: str, num_attr: str, den_attr: str, min_ratio: float, describe: str) -> None:
        for agent, a in sorted(totals.items()):
            k, n = getattr(a, num_attr), getattr(a, den_attr)
            ok, on = others(num_attr, den_attr, a)
            if n < cfg.min_contacts or k == 0 or on == 0:
                continue
            value, base = k / n, ok / on
            if base > 0 and value < min_ratio * base:
                continue
            p = binomial_tail(k, n, max(base, 0.5 / on))  # a baseline of 0 is taken as half a contact
            if p >= alpha:
                continue
            ratio = value / base if base > 0 else None
            times = f"{ratio:.1f}× as often" if ratio else "where the rest of the floor had none"
            out.append(Signal(signal, agent, k, n, value, base, ratio, p,
                              f"{agent} {describe.format(k=k, n=n, value=_pct(value))}; the rest of the floor: "
                              f"{_pct(base)} — {times} (p = {p:.1g}).",
                              _evidence(agent_days, agent, signal, first, last), (first, last)))

    if cfg.handle_cap_s is not None:
        share_signal("cap_clustering", "near_cap_agent_ended", "handled", cfg.cap_ratio,
                     f"ended {{k}} of {{n}} calls ({{value}}) themselves in the last {cfg.near_cap_s:g} s "
                     f"before the {cfg.handle_cap_s:g} s handle-time cap")
    else:  # no cap configured: look for one in each agent's hang-ups, against the rest of the floor
        for agent, c in cap_clusters(totals, cfg.near_cap_s, cfg.cap_ratio, cfg.min_contacts, alpha).items():
            base = c.floor_inside / c.floor_handled
            value = c.inside / c.handled
            ratio = value / base if base > 0 else None
            times = f"{ratio:.1f}× as often" if ratio else "where the rest of the floor had none"
            out.append(Signal(
                "cap_clustering", agent, c.inside, c.handled, value, base, ratio, c.p_value,
                f"{agent} ended {c.inside} of {c.handled} calls ({_pct(value)}) themselves in the last "
                f"{c.width_s:g} s before {c.cap_s:g} s, as under a handle-time cap nobody configured; the rest "
                f"of the floor: {_pct(base)} — {times} (p = {c.p_value:.1g}, every window up to an hour tried).",
                (), (first, last), {"cap_s": c.cap_s}))
    share_signal("short_hangups", "short_agent_ended", "handled", cfg.short_hangup_ratio,
                 "ended {k} of {n} calls ({value}) themselves within the first seconds (a short call)")
    share_signal("contradicted_resolution", "resolved_repeat_72h", "resolved",
                 cfg.contradicted_resolution_ratio,
                 "marked {n} contacts resolved, and {k} of those customers ({value}) contacted us again "
                 "within 72 h")
    share_signal("perfect_scores", "perfect_scores", "surveys_completed",
                 cfg.perfect_scores_ratio,
                 "got a perfect 5 and 5 in {k} of {n} completed surveys ({value})")

    for agent, a in sorted(totals.items()):  # survey selection: complaints against the rest
        n1, k1, n2, k2 = a.complaint_contacts, a.complaint_offered, a.other_contacts, a.other_offered
        if n1 + n2 < cfg.min_contacts or n1 == 0 or n2 == 0:
            continue
        p = two_proportion_lower(k1, n1, k2, n2)
        if p >= alpha:
            continue
        base = floor.complaint_offered / floor.complaint_contacts if floor.complaint_contacts else 0.0
        out.append(Signal(
            "survey_selection", agent, k1, n1, k1 / n1, base, (k1 / n1) / base if base else None, p,
            f"{agent} offered a survey on {k1} of {n1} complaint contacts ({_pct(k1 / n1)}) but on {k2} of {n2} "
            f"others ({_pct(k2 / n2)}) — beyond chance (two-proportion test, p = {p:.1g}); the floor offers "
            f"one on {_pct(base)} of complaint contacts.",
            _evidence(agent_days, agent, "survey_selection", first, last), (first, last),
            {"other_offered": k2, "other_contacts": n2}))

    # contradicted satisfaction: CSAT in the floor's top decile, repeat contacts in its worst decile
    rated = {agent: a for agent, a in totals.items()
             if a.satisfied_n >= cfg.min_contacts and a.customer_contacts >= cfg.min_contacts}
    if len(rated) >= 10:
        csat = {agent: a.satisfied_top2 / a.satisfied_n for agent, a in rated.items()}
        repeat = {agent: a.repeat_72h / a.customer_contacts for agent, a in rated.items()}
        top_csat, worst_repeat = _decile(csat.values()), _decile(repeat.values())
        base = floor.repeat_72h / floor.customer_contacts if floor.customer_contacts else 0.0
        for agent, a in sorted(rated.items()):
            if csat[agent] < top_csat or repeat[agent] < worst_repeat:
                continue
            # a decile always holds someone: the repeats must also be beyond chance against the others
            k, n = a.repeat_72h, a.customer_contacts
            ok, on = floor.repeat_72h - k, floor.customer_contacts - n
            p = binomial_tail(k, n, max(ok / on if on else 0.0, 0.5 / max(on, 1)))
            if p < alpha:
                out.append(Signal(
                    "contradicted_satisfaction", agent, k, n, repeat[agent], base,
                    repeat[agent] / base if base else None, p,
                    f"{agent}'s CSAT ({_pct(csat[agent])}) is in the floor's top decile, yet {_pct(repeat[agent])} "
                    f"of their customers contacted us again within 72 h — the floor's worst decile (floor "
                    f"{_pct(base)}, p = {p:.1g}).", _evidence(agent_days, agent, "contradicted_resolution", first,
                                                              last), (first, last), {"csat": csat[agent]}))

    for source, reasons in sorted((anomalies or {}).items()):
        count = sum(reasons.values())
        if count:
            detail = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items()))
            out.append(Signal("clock_anomalies", source, count, count, float(count), 0.0, None, None,
                              f"source {source} sent {count} events in an impossible order ({detail}): check "
                              f"its clock and its feed.", (), (first, last), {k: float(v) for k, v in reasons.items()}))
    return out


def _decile(values: Iterable[float]) -> float:
    """The value at the floor's 90th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
