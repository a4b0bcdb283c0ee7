"""The alarm model (v2): its wire form, the dispatcher reading it back, v1 messages, links, rendering."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from pydantic import ValidationError

from alerts.delivery import DeliveryConfig, Dispatcher, MemoryDeliveredIds
from alerts.links import Links, LinkSpec
from alerts.messages import facts, headline
from alerts.receivers import build_receiver
from alerts.receivers.alertmanager import alertmanager_alert
from alerts.receivers.pagerduty import pagerduty_event
from alerts.receivers.slack import slack_payload
from alerts.receivers.smtp import EmailSpec, email_message
from alerts.receivers.webhook import webhook_body
from alerts.wire import InvalidMessage, read_message
from callwatch.alarm import DERIVED, Alarm, LinkedAlarm
from tests.alerts.receiver_kit import WALLBOARD, HttpReceiver, alarm, links

ROOT = Path(__file__).resolve().parents[2]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
instants = st.floats(min_value=-1e10, max_value=1e11, allow_nan=False)
alarms = st.builds(
    Alarm,
    alarm=st.sampled_from(["wait_window_exceeded", "abandonment_high", "service_level_low", "no_agents",
                           "feed_silent", "integrity_cap_clustering", "integrity_clock_anomalies", "goal_missed"]),
    status=st.sampled_from(["started", "repeated", "resolved"]), queue=names, at=instants, started_at=instants,
    severity=st.sampled_from(["critical", "warning", "info"]), value=st.none() | finite, threshold=finite,
    unit=st.sampled_from(["seconds", "ratio", "contacts", "events", "score"]), metric=names,
    waiting=st.integers(0, 10**6), agents_available=st.integers(0, 10**4), service_level=st.none() | finite,
    call_id=st.text(max_size=12), over_window=st.integers(0, 1000), detail=st.text(max_size=40),
    evidence=st.lists(names, max_size=4).map(tuple),
    threshold_unit=st.none() | st.sampled_from(["seconds", "ratio", "contacts", "events", "score"]))


@settings(max_examples=300, deadline=None)
@given(alarms)
def test_the_json_parsed_back_is_an_equal_alarm(a: Alarm) -> None:
    """Any alarm's JSON (times as ISO-8601 UTC with milliseconds and Z) parses back to an equal model,
    with the same id and key; so does its Python form."""
    raw = a.model_dump_json()
    data = orjson.loads(raw)
    assert ISO_MS.match(data["at"]) and ISO_MS.match(data["started_at"])
    assert data["v"] == 2 and data["id"] == a.id and data["key"] == a.key
    back = Alarm.model_validate_json(raw)
    assert back == a and back.id == a.id and back.model_dump_json() == raw
    assert Alarm.model_validate(a.model_dump()) == a


def test_times_are_held_to_the_millisecond_and_read_in_any_iso_form() -> None:
    """Epoch seconds, ISO with Z or an offset and aware datetimes give the same instant, to the millisecond;
    a time without a zone is refused."""
    a = alarm(at=1_795_423_902.9154)
    assert a.at == 1_795_423_902.915 and orjson.loads(a.model_dump_json())["at"] == "2026-11-23T08:51:42.915Z"
    for same in ("2026-11-23T08:51:42.915Z", "2026-11-23T09:51:42.915+01:00",
                 datetime(2026, 11, 23, 8, 51, 42, 915000, tzinfo=timezone.utc)):
        assert alarm(at=same).at == a.at
    with pytest.raises(ValidationError, match="zone"):
        alarm(at="2026-11-23T08:51:42.915")


def test_the_engine_keywords_are_v1s_and_ids_as_before() -> None:
    """The model takes v1 AlarmEvent's keywords (the engine changes only its import) and derives key and
    id as v1 did: one id per incident and status, a repeat's carrying its instant."""
    v1_keywords = ["alarm", "status", "queue", "at", "started_at", "severity", "value", "threshold", "unit",
                   "metric", "waiting", "agents_available", "service_level", "call_id", "over_window", "detail",
                   "evidence"]
    assert set(v1_keywords) <= set(Alarm.model_fields)
    required = {name for name, f in Alarm.model_fields.items() if f.is_required()}
    assert required - {"threshold_unit"} == set(v1_keywords[:13])  # threshold_unit follows unit when left out
    # exactly what the engine's wait alarm passes
    Alarm(alarm="wait_window_exceeded", status="started", queue="q", at=1.0, started_at=1.0, severity="critical",
          value=180.0, threshold=180.0, unit="seconds", metric="oldest_wait", call_id="c", waiting=1,
          agents_available=0, service_level=None, over_window=1)
    from callwatch.engine import AlarmEvent

    assert AlarmEvent is Alarm
    start = alarm(started_at=1_790_000_000.0, at=1_790_000_000.0)
    repeat = alarm(status="repeated", started_at=1_790_000_000.0, at=1_790_000_900.5)
    assert start.key == "wait_window_exceeded:billing"
    assert start.id == "wait_window_exceeded:billing:1790000000000:started"
    assert repeat.id == "wait_window_exceeded:billing:1790000000000:repeated:1790000900500"
    assert alarm("no_agents").threshold_unit == "seconds" and alarm().threshold_unit == "seconds"
    assert alarm("abandonment_high", unit="ratio").threshold_unit == "ratio"
    assert [alarm(n).subject_kind for n in ("service_level_low", "feed_silent", "integrity_perfect_scores",
                                            "integrity_clock_anomalies", "goal_achieved")] == [
        "queue", "source", "agent", "source", "agent"]


def test_a_wrong_alarm_is_refused_at_construction_and_on_the_wire() -> None:
    """A unit, status or severity outside the model, an unknown key, or an id that its fields do not give
    is refused, naming the field."""
    with pytest.raises(ValidationError, match="unit"):
        alarm(unit="minutes")
    with pytest.raises(ValidationError, match="status"):
        alarm(status="test")
    with pytest.raises(ValidationError, match="value"):
        alarm(value=float("inf"))
    data = orjson.loads(alarm().model_dump_json())
    with pytest.raises(ValidationError, match="link"):
        Alarm.model_validate({**data, "link": "http://x"})
    with pytest.raises(ValidationError, match="is not the one its fields give"):
        Alarm.model_validate({**data, "id": "wait_window_exceeded:billing:1:started"})
    assert Alarm.model_validate({**data, "summary": "older wording", "title": "x"}) == alarm()


# --- the dispatcher reads the topic --------------------------------------------------------------------

async def _dispatch(raws: list[bytes], delivered: MemoryDeliveredIds | None = None,
                    **config: Any) -> tuple[list[bytes], list[tuple[bytes, str]], Dispatcher]:
    """``raws`` as read from the topic → a dispatcher → a webhook on a real server; what it received."""
    server = await HttpReceiver().start()
    refused: list[tuple[bytes, str]] = []

    async def invalid(raw: bytes, reason: str) -> None:
        refused.append((raw, reason))

    async def dead(a: Alarm, receiver: str, reason: str) -> None:
        raise AssertionError(reason)

    try:
        async with aiohttp.ClientSession() as session:
            delivery = DeliveryConfig.model_validate({
                "receivers": [{"kind": "webhook", "name": "hook", "url": server.url + "/hook"}],
                "routes": [{"receivers": ["hook"]}], **config})
            d = Dispatcher(delivery, {s.name: build_receiver(s, session) for s in delivery.receivers},
                           delivered or MemoryDeliveredIds(), dead, invalid=invalid,
                           links=Links.configured(delivery.links, WALLBOARD))
            for raw in raws:
                await (await d.submit_raw(raw))
            await d.close()
    finally:
        await server.stop()
    return [r.body for r in server.got], refused, d


def test_the_receiver_gets_exactly_the_alarm_the_engine_emitted_plus_links() -> None:
    """An alarm built as the engine builds it → its JSON bytes on the topic → the dispatcher → a webhook:
    the body parses to an equal alarm, with the dispatcher's links added (and nothing else)."""
    emitted = [alarm(), alarm("integrity_cap_clustering", queue="agent b/7", severity="info", value=0.11,
                             threshold=0.002, unit="ratio", metric="cap_clustering", waiting=0, service_level=None,
                             detail="why", evidence=("c1", "c2"))]
    got, refused, _ = asyncio.run(_dispatch([a.model_dump_json().encode() for a in emitted]))
    assert refused == []
    bodies = [LinkedAlarm.model_validate_json(b) for b in got]
    for body, sent in zip(bodies, emitted, strict=True):
        assert Alarm.model_validate({k: v for k, v in dict(body).items() if k != "links"}) == sent
        assert body.id == sent.id
    assert bodies[0].links == {"wallboard": f"{WALLBOARD}?var-queue=billing"}
    assert bodies[1].links == {"wallboard": f"{WALLBOARD}?var-agent=agent%20b%2F7"}
    assert set(orjson.loads(got[0])) == set(Alarm.model_fields) | DERIVED | {"links"}


def test_configured_links_are_templates_per_subject() -> None:
    """The delivery config's links fill their placeholders (URL-quoted) for the subjects, queues and
    alarms they name; an unknown placeholder is refused, naming it."""
    config = {"links": [
        {"name": "queue_dashboard", "text": "Queue dashboard", "subjects": ["queue"],
         "url": "http://g/d/callwatch-queue?var-queue={queue}&from={from_ms}&to={to_ms}"},
        {"name": "wallboard", "text": "VIP wallboard", "queues": ["vip"], "url": "http://vip/{alarm}"},
        {"name": "wallboard", "text": "Wallboard", "url": "http://g/d/callwatch-floor?var-queue={subject}"}]}
    got, _, _ = asyncio.run(_dispatch([alarm(queue="vip").model_dump_json().encode(),
                                       alarm("feed_silent", queue="pbx 1").model_dump_json().encode()], **config))
    assert orjson.loads(got[0])["links"] == {
        "queue_dashboard": "http://g/d/callwatch-queue?var-queue=vip&from=1789996400000&to=1790000900000",
        "wallboard": "http://vip/wait_window_exceeded"}
    assert orjson.loads(got[1])["links"] == {"wallboard": "http://g/d/callwatch-floor?var-queue=pbx%201"}
    with pytest.raises(ValidationError, match=r"unknown placeholder \{team\}"):
        LinkSpec(name="x", text="X", url="http://g/{team}")


#: what a v1 worker published (the README's v1 example)
V1 = {"v": 1, "id": "wait_window_exceeded:billing:1795423902915:started", "key": "wait_window_exceeded:billing",
      "alarm": "wait_window_exceeded", "status": "started", "severity": "critical", "queue": "billing",
      "title": "Caller waiting longer than the wait window",
      "summary": "billing: a caller has waited 180 s, over the 180 s window",
      "at": "2026-11-23T08:51:42.915Z", "started_at": "2026-11-23T08:51:42.915Z",
      "value": {"oldest_wait_seconds": 180.0}, "threshold": {"wait_window_seconds": 180.0},
      "context": {"waiting": 4, "over_window": 1, "oldest_wait_seconds": 180.0, "agents_available": 0,
                  "service_level_last_15m_ratio": 0.5}, "call_id": "call-000125",
      "link": "http://localhost:3000/d/callwatch-floor?var-queue=billing"}


def test_a_v1_message_left_in_the_topic_is_converted_with_its_id() -> None:
    """A v1 alarm still in the topic after an upgrade is converted (same id, typed figures) and delivered;
    one already delivered before the upgrade is not delivered again; a v1 goal message, a v1 test message
    and a message that is no alarm are refused with their reason and counted."""
    converted, was_v1 = read_message(orjson.dumps(V1))
    assert was_v1 and converted == Alarm(
        alarm="wait_window_exceeded", status="started", queue="billing", at=1_795_423_902.915,
        started_at=1_795_423_902.915, severity="critical", value=180.0, threshold=180.0, unit="seconds",
        metric="oldest_wait", waiting=4, agents_available=0, service_level=0.5, call_id="call-000125",
        over_window=1)
    no_agents = {**V1, "alarm": "no_agents", "key": "no_agents:billing",
                 "id": "no_agents:billing:1795423902915:started", "value": {"waiting_contacts": 3},
                 "threshold": {"waiting_contacts": 60.0}}
    assert read_message(orjson.dumps(no_agents))[0].threshold_unit == "seconds"  # v1 named it wrongly
    goal = {"v": 1, "id": "goal:ab12:achieved", "key": "goal:ab12", "alarm": "goal_achieved", "status": "started",
            "severity": "info", "agent": "agent-s002", "at": V1["at"], "started_at": V1["at"],
            "value": {"csat_mean": 4.2}, "threshold": {"target": 4.0}, "context": {}}
    earlier = {**V1, "id": "wait_window_exceeded:sales:1795423000000:started", "key": "wait_window_exceeded:sales",
               "queue": "sales", "at": "2026-11-23T08:36:40.000Z", "started_at": "2026-11-23T08:36:40.000Z"}
    delivered = MemoryDeliveredIds({("hook", earlier["id"])})  # delivered by the dispatcher before the upgrade
    raws = [orjson.dumps(m) for m in (V1, goal, {**V1, "status": "test"}, earlier)] + [b"not json", b'{"v": 3}']
    got, refused, d = asyncio.run(_dispatch(raws, delivered=delivered))
    assert [LinkedAlarm.model_validate_json(b).id for b in got] == [V1["id"]]
    reasons = [reason for _, reason in refused]
    assert "a goal message" in reasons[0] and "status 'test'" in reasons[1]
    assert reasons[2].startswith("not JSON") and "v: Input should be 2" in reasons[3]
    metrics = generate_latest(d.metrics.registry).decode()
    assert 'callwatch_alerts_invalid_total{reason="v1_refused"} 2.0' in metrics
    assert 'callwatch_alerts_v1_converted_total 2.0' in metrics
    assert 'callwatch_alerts_duplicates_total{receiver="hook"} 1.0' in metrics
    with pytest.raises(InvalidMessage, match="names no unit"):
        read_message(orjson.dumps({**V1, "value": {"oldest_wait": 180.0}}))


# --- rendering -----------------------------------------------------------------------------------------

def test_every_receiver_renders_from_the_typed_fields() -> None:
    """Slack, e-mail, PagerDuty and Alertmanager show each figure in its own unit (no_agents: contacts
    waiting against a period in seconds), the subject as what it is, and the links; the webhook posts the
    model and its links."""
    a = alarm("no_agents", value=3, threshold=60.0, unit="contacts", metric="waiting", waiting=3,
              agents_available=0, service_level=0.5)
    assert facts(a) == [("Waiting", "3"), ("Threshold (no agent for)", "60 s"), ("Since", "2026-09-21T14:13:20.000Z"),
                        ("Agents available", "0"), ("Service level (last 15 min)", "50.0 %")]
    assert headline(a) == "CRITICAL billing — Callers waiting with no agent"
    ln = links(a)
    slack = orjson.dumps(slack_payload(a, ln)).decode()
    assert "*Threshold (no agent for)*\\n60 s" in slack and "var-queue=billing" in slack
    mail = email_message(a, EmailSpec(kind="email", name="m", host="h", from_addr="a@b", to=["c@d"]), ln)
    assert "Threshold (no agent for)     60 s" in mail.get_content() and "Wallboard: http" in mail.get_content()
    event = pagerduty_event(a, "k" * 32, ln)
    assert event["payload"]["group"] == "queue" and event["payload"]["custom_details"]["Waiting"] == "3"
    source = alarm("feed_silent", queue="pbx-1", value=75.0, threshold=60.0, metric="silence")
    am = alertmanager_alert(source, {"team": "t"}, 3600, links(source))
    assert am["labels"]["source"] == "pbx-1" and "queue" not in am["labels"]
    assert am["endsAt"] == "2026-09-21T15:13:20.000Z" and am["generatorURL"].endswith("var-queue=pbx-1")
    body = LinkedAlarm.model_validate_json(webhook_body(a, ln))
    assert body.links == {"wallboard": f"{WALLBOARD}?var-queue=billing"} and body.value == 3.0


def test_the_readme_documents_every_field() -> None:
    """The README's section for webhook consumers names every field of the message, and its v2 example
    is a valid alarm with links."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### For webhook consumers"):]
    section = section[:section.index("\n## ")]
    for name in [*Alarm.model_fields, *DERIVED, "links"]:
        assert f"| `{name}` |" in section, name
    example = re.search(r"```json\n(\{.*?\})\n```", section, re.S)
    assert example
    LinkedAlarm.model_validate_json(example.group(1))


def test_a_goal_notice_is_an_alarm_about_the_agent() -> None:
    """`goals check` tells of a goal as a v2 alarm: goal_<status> about the agent, the figure in its unit,
    the target as threshold, the goal's id in the sentence, the severity from the rules' `goals`."""
    from alerts.goals import goal_message
    from callwatch.alarm_rules import GoalRule
    from callwatch.goals import Goal

    goal = Goal("ab12cd34", "agent-s002", "csat_mean", 4.0, "2026-11-01", "2026-12-07", "ask", "sam")
    told = goal_message(goal, {"status": "achieved", "current": 4.2}, GoalRule(severity="warning"))
    assert (told.alarm, told.queue, told.subject_kind, told.severity) == ("goal_achieved", "agent-s002", "agent",
                                                                        "warning")
    assert (told.value, told.threshold, told.unit, told.metric) == (4.2, 4.0, "score", "csat_mean")
    assert "goal ab12cd34" in told.summary and headline(told) == "WARNING agent-s002 — Goal achieved"
    missed = goal_message(Goal("x", "agent-s003", "handled", 300, "2026-11-01", "2026-11-07", "", "sam"),
                          {"status": "missed", "current": None})
    assert (missed.value, missed.unit, missed.severity) == (None, "contacts", "info")
    assert Alarm.model_validate_json(missed.model_dump_json()) == missed
    assert ("Handled", "n/a") in facts(missed) and ("Threshold (target)", "300") in facts(missed)
