"""Every quality figure of METRICS.md against a small case computed by hand: repeat contacts across
queues and channels, FCR (provisional, then final), CSAT, professionalism, unmet need, offer and
response rates, and the per-agent counts behind the integrity signals."""

from __future__ import annotations

import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.report import report
from tests.unit.helpers import call, capped_floor, ev

CFG = MonitorConfig.model_validate({"integrity": {"handle_cap_s": 100}})
C4 = 30 * 3600.0  # customer B comes back 30 h later: a repeat within 72 h, not within 24 h


def _events(settle: bool) -> list:
    out = [
        # customer A: billing, resolved, a perfect survey; back an hour later in support (chat)
        *call("c1", "billing", 0, answered=10, ended=100, agent="a1", customer="cust-A"),
        ev("call.disposition", 101, call_id="c1", queue="billing", agent="a1", resolved=True, complaint=False),
        ev("survey.offered", 102, call_id="c1", queue="billing", agent="a1"),
        ev("survey.completed", 200, call_id="c1", queue="billing", agent="a1", satisfied=5, professional=5,
           more_help=False),
        *call("c2", "support", 3600, answered=3610, ended=3700, agent="a2", ended_by="agent", channel="chat",
              customer="cust-A"),
        ev("call.disposition", 3701, call_id="c2", queue="support", channel="chat", agent="a2", resolved=False,
           complaint=True),
        # customer B: a 10 s call the agent ended, "resolved", a complaint, an unhappy survey; back 30 h later
        *call("c3", "billing", 100, answered=120, ended=130, agent="a1", ended_by="agent", customer="cust-B"),
        ev("call.disposition", 131, call_id="c3", queue="billing", agent="a1", resolved=True, complaint=True),
        ev("survey.offered", 132, call_id="c3", queue="billing", agent="a1"),
        ev("survey.completed", 400, call_id="c3", queue="billing", agent="a1", satisfied=2, professional=3,
           more_help=True),
        *call("c4", "billing", C4, answered=C4 + 5, ended=C4 + 60, agent="a2", customer="cust-B"),
        ev("call.disposition", C4 + 61, call_id="c4", queue="billing", agent="a2", resolved=True, complaint=False),
        # customer C abandons and never comes back
        *call("c5", "billing", 200, abandoned=230, customer="cust-C"),
    ]
    if settle:  # 72 h after the last contact: every repeat that could come has come
        # two heartbeats: a lone event that far ahead would be an unconfirmed clock jump (eventclock.py)
        out += [ev("source.heartbeat", C4 + 74 * 3600 + i, source="pbx") for i in (0, 1)]
    return sorted(out, key=lambda e: e.ts)


def test_floor_and_queue_quality_by_hand() -> None:
    rep = report(replay_events(Engine(CFG), _events(settle=True)))
    total = rep["all_queues"]["total"]
    assert (total["customer_contacts"], total["repeat_contacts_24h"], total["repeat_contacts_72h"]) == (5, 1, 2)
    assert total["repeat_contact_rate_24h"] == pytest.approx(1 / 5)
    assert total["repeat_contact_rate_72h"] == pytest.approx(2 / 5)
    # dispositions 4, resolved 3 (c1, c3, c4); c1 and c3 came back: FCR = (3 - 2) / 4
    assert total["resolution_ratio"] == pytest.approx(3 / 4)
    assert total["resolved_then_repeated_72h"] == 2
    assert total["fcr"] == pytest.approx(1 / 4) and total["fcr_provisional"] is False
    assert (total["csat"], total["csat_mean"]) == (pytest.approx(0.5), pytest.approx(3.5))
    assert (total["professionalism"], total["professionalism_mean"]) == (pytest.approx(0.5), pytest.approx(4.0))
    assert total["unmet_need"] == pytest.approx(0.5)
    assert total["survey_offer_rate"] == pytest.approx(2 / 4)  # offered / contacts that ended
    assert total["survey_response_rate"] == pytest.approx(1.0)
    # the repeat belongs to the original contact's queue and day: c1 and c3 in billing on day one
    billing_day1 = rep["queues"]["billing"]["days"]["2026-11-23"]
    assert (billing_day1["customer_contacts"], billing_day1["repeat_contacts_72h"]) == (3, 2)
    support = rep["queues"]["support"]["total"]
    assert (support["customer_contacts"], support["repeat_contacts_72h"], support["fcr"]) == (1, 0, 0.0)
    assert rep["all_queues"]["days"]["2026-11-24"]["customer_contacts"] == 1


def test_agent_quality_and_integrity_counts_by_hand() -> None:
    agents = report(replay_events(Engine(CFG), _events(settle=True)))["agents"]
    a1, a2 = agents["a1"]["total"], agents["a2"]["total"]
    assert (a1["customer_contacts"], a1["repeat_contacts_24h"], a1["repeat_contacts_72h"]) == (2, 1, 2)
    assert (a1["resolution_ratio"], a1["fcr"]) == (pytest.approx(1.0), pytest.approx(0.0))
    assert (a1["survey_offer_rate_complaints"], a1["survey_offer_rate_others"]) == (1.0, 1.0)
    assert (a1["perfect_scores"], a1["agent_ended_short"], a1["agent_ended_near_cap"]) == (1, 1, 0)
    assert (a1["csat"], a1["professionalism"], a1["unmet_need"]) == (0.5, 0.5, 0.5)
    assert (a2["customer_contacts"], a2["repeat_contacts_72h"], a2["fcr"]) == (2, 0, pytest.approx(0.5))
    assert (a2["survey_offer_rate_complaints"], a2["survey_offer_rate_others"]) == (0.0, 0.0)
    # c2: the agent ended it after 90 s talk, within the last 30 s before the 100 s cap
    assert (a2["agent_ended_short"], a2["agent_ended_near_cap"]) == (0, 1)


def test_fcr_is_provisional_until_its_72_hours_have_passed() -> None:
    rep = report(replay_events(Engine(CFG), _events(settle=False)))
    assert rep["all_queues"]["total"]["fcr_provisional"] is True
    assert rep["agents"]["a2"]["total"]["fcr_provisional"] is True


def test_evidence_names_the_contacts() -> None:
    eng = replay_events(Engine(CFG), _events(settle=True))
    a1 = eng.agent_days[("a1", "2026-11-23")].evidence
    a2 = eng.agent_days[("a2", "2026-11-23")].evidence
    assert a1 == {"short_hangups": ["c3"], "contradicted_resolution": ["c1", "c3"], "perfect_scores": ["c1"]}
    assert a2 == {"cap_clustering": ["c2"], "survey_selection": ["c2"]}


def test_integrity_signals_are_raised_once_a_day_as_low_severity_alarms() -> None:
    """A month-end evaluation of a small floor: the agent who ends calls just before the cap is raised
    (with numerator, denominator, baseline, reason and the contacts), once, as an info alarm; honest
    agents are not."""
    cfg = MonitorConfig.model_validate({"integrity": {"handle_cap_s": 420, "min_contacts": 20}})
    events = capped_floor()  # and the next day: yesterday is evaluated
    eng = Engine(cfg)
    for e in sorted(events, key=lambda e: e.ts):
        eng.step(e)
    raised = [a for a in eng.outbox if a.alarm.startswith("integrity_")]
    assert [(a.alarm, a.queue, a.severity) for a in raised] == [("integrity_cap_clustering", "cap", "info")]
    alarm = raised[0]
    assert alarm.value == 0.5 and alarm.threshold == 0.0
    assert "ended 20 of 40 calls (50.0 %) themselves in the last 30 s before the 420 s handle-time cap" in alarm.detail
    assert len(alarm.evidence) == 20 and alarm.evidence[0].startswith("cap-")
    message = alarm.model_dump(mode="json")  # as the alerts topic carries it
    assert (message["queue"], message["subject_kind"]) == ("cap", "agent")
    assert message["evidence"] == list(alarm.evidence) and message["summary"] == alarm.detail
    eng.step(ev("source.heartbeat", 86400 * 1.6, source="pbx"))  # the same day again: nothing new
    assert len([a for a in eng.outbox if a.alarm.startswith("integrity_")]) == 1
