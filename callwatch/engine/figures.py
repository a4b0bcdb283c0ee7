"""METRICS.md's figures of one aggregate (any window, a day, the whole log) and of one agent-day.

Plain dicts, JSON-ready: METRICS.md's names in snake_case, durations in seconds, rates as fractions 0–1,
``None`` where a denominator is 0. The windows, the snapshot and the report read them from here.
"""

from __future__ import annotations

from typing import Any

from callwatch.config import QueueConfig, ServiceLevelFormula
from callwatch.engine.aggregates import WAIT_BUCKETS_S, AgentDay, Agg


def ratio(num: float, den: float) -> float | None:
    """``num / den`` held to 0–1 (a rate), None where there is no denominator."""
    return None if den <= 0 else round(min(max(num / den, 0.0), 1.0), 6)


def _mean(total: float, n: float) -> float | None:
    return None if n <= 0 else round(total / n, 6)


def service_level_of(agg: Agg, qc: QueueConfig) -> float | None:
    formula = qc.service_level_formula
    if formula is ServiceLevelFormula.answered_only:
        den = agg.answered
    elif formula is ServiceLevelFormula.abandons_neutral:
        den = agg.answered + agg.abandoned_after_t
    else:
        den = agg.answered + agg.abandoned
    return ratio(agg.answered_within_t, den)


def derived(agg: Agg, qc: QueueConfig, provisional: bool = True) -> dict[str, Any]:
    """The interval and derived figures of one aggregate (any window).

    ``provisional``: the window's contacts have not all had their 72 hours yet, so a repeat may still
    come — the repeat rates and FCR can still change, and are marked so.
    """
    dequeued = sum(agg.dequeued.values())
    handle = agg.talk_s + agg.acw_s
    hist_labels = [f"le_{int(b)}" for b in WAIT_BUCKETS_S] + ["gt_600"]
    return {
        "offered": agg.offered,
        "answered": agg.answered,
        "answered_within_t": agg.answered_within_t,
        "abandoned": agg.abandoned,
        "short_abandoned": agg.short_abandoned,
        "dequeued": dequeued,
        "dequeued_by_reason": dict(sorted(agg.dequeued.items())),
        "abandonment_rate": ratio(agg.abandoned, agg.answered + agg.abandoned + dequeued),
        "service_level": service_level_of(agg, qc),
        "service_level_formula": qc.service_level_formula.value,
        "asa": _mean(agg.wait_answered_sum_s, agg.answered),
        "average_abandon_time": _mean(agg.wait_abandoned_sum_s, agg.abandoned),
        "wait_answered_sum": round(agg.wait_answered_sum_s, 6),
        "wait_answered_max": round(agg.wait_answered_max_s, 6),
        "wait_abandoned_sum": round(agg.wait_abandoned_sum_s, 6),
        "wait_abandoned_max": round(agg.wait_abandoned_max_s, 6),
        "wait_answered_histogram": dict(zip(hist_labels, agg.wait_answered_hist, strict=True)),
        "wait_abandoned_histogram": dict(zip(hist_labels, agg.wait_abandoned_hist, strict=True)),
        "ended": agg.ended,
        "talk": round(agg.talk_s, 6),
        "hold": round(agg.hold_s, 6),
        "acw": round(agg.acw_s, 6),
        "handle_time": round(handle, 6),
        "aht": _mean(handle, agg.ended),
        "transfers": agg.transfers,
        "agent_ended_calls": agg.agent_ended,
        "short_calls": agg.short_calls,
        "dispositions": agg.dispositions,
        "resolution_ratio": ratio(agg.resolved, agg.dispositions),
        "complaints": agg.complaints,
        "surveys_offered": agg.surveys_offered,
        "surveys_completed": agg.surveys_completed,
        "survey_offer_rate": ratio(agg.surveys_offered, agg.ended),
        "survey_response_rate": ratio(agg.surveys_completed, agg.surveys_offered),
        "csat": ratio(agg.satisfied_top2, agg.satisfied_n),
        "csat_mean": _mean(agg.satisfied_sum, agg.satisfied_n),
        "professionalism": ratio(agg.professional_top2, agg.professional_n),
        "professionalism_mean": _mean(agg.professional_sum, agg.professional_n),
        "unmet_need": ratio(agg.more_help_yes, agg.more_help_n),
        **quality_of(agg.customer_contacts, agg.repeat_24h, agg.repeat_72h, agg.resolved, agg.resolved_repeat_72h,
                     agg.dispositions, provisional),
    }


def quality_of(contacts: int, repeat_24h: int, repeat_72h: int, resolved: int, resolved_repeat_72h: int,
               dispositions: int, provisional: bool) -> dict[str, Any]:
    """Repeat contact rates and first-contact resolution (METRICS.md), with their provisional mark."""
    return {
        "customer_contacts": contacts,
        "repeat_contacts_24h": repeat_24h,
        "repeat_contacts_72h": repeat_72h,
        "repeat_contact_rate_24h": ratio(repeat_24h, contacts),
        "repeat_contact_rate_72h": ratio(repeat_72h, contacts),
        "resolved_then_repeated_72h": resolved_repeat_72h,
        "fcr": ratio(resolved - resolved_repeat_72h, dispositions),
        "fcr_provisional": provisional,
    }


def agent_figures(day: AgentDay, provisional: bool = True) -> dict[str, Any]:
    busy = day.state_s.get("busy", 0.0) + day.state_s.get("wrap_up", 0.0)
    avail = day.state_s.get("available", 0.0)
    return {
        "handled": day.handled,
        "talk": round(day.talk_s, 6),
        "hold": round(day.hold_s, 6),
        "acw": round(day.acw_s, 6),
        "aht": _mean(day.talk_s + day.acw_s, day.handled),
        "transfers": day.transfers,
        "agent_ended_calls": day.agent_ended,
        "short_calls": day.short_calls,
        "time_in_state": {k: round(v, 6) for k, v in sorted(day.state_s.items())},
        "away_by_reason": {k: round(v, 6) for k, v in sorted(day.away_reason_s.items())},
        "idle_between_contacts": round(day.idle_between_s, 6),
        "idle_between_contacts_mean": _mean(day.idle_between_s, day.idle_between_n),
        "occupancy": ratio(busy, busy + avail),
        "dispositions": day.dispositions,
        "resolution_ratio": ratio(day.resolved, day.dispositions),
        "surveys_offered": day.surveys_offered,
        "surveys_completed": day.surveys_completed,
        "csat": ratio(day.satisfied_top2, day.satisfied_n),
        "csat_mean": _mean(day.satisfied_sum, day.satisfied_n),
        "professionalism": ratio(day.professional_top2, day.professional_n),
        "professionalism_mean": _mean(day.professional_sum, day.professional_n),
        "unmet_need": ratio(day.more_help_yes, day.more_help_n),
        "survey_offer_rate": ratio(day.surveys_offered, day.handled),
        "survey_response_rate": ratio(day.surveys_completed, day.surveys_offered),
        "survey_offer_rate_complaints": ratio(day.complaint_offered, day.complaint_contacts),
        "survey_offer_rate_others": ratio(day.other_offered, day.other_contacts),
        "perfect_scores": day.perfect_scores,
        "agent_ended_short": day.short_agent_ended,
        "agent_ended_near_cap": day.near_cap_agent_ended,
        **quality_of(day.customer_contacts, day.repeat_24h, day.repeat_72h, day.resolved, day.resolved_repeat_72h,
                     day.dispositions, provisional),
    }
