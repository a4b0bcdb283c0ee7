"""Each receiver against a real server: Slack and PagerDuty payloads checked against their documented
shapes, e-mail through a real SMTP server with STARTTLS and AUTH, Alertmanager's own API."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from alerts.delivery import DeliveryConfig, Dispatcher, MemoryDeliveredIds
from alerts.receivers import DeliveryError, PermanentDeliveryError, build_receiver
from alerts.receivers.alertmanager import AlertmanagerReceiver, AlertmanagerSpec
from alerts.receivers.pagerduty import PagerDutyReceiver, PagerDutySpec
from alerts.receivers.smtp import EmailReceiver, EmailSpec
from callwatch.alarm import Alarm
from console.embedded import free_port
from tests.alerts.receiver_kit import SLACK_PATH, HttpReceiver, Inbox, changed, lifecycle, links, sent_to_slack

pytestmark = pytest.mark.integration
ROUTING_KEY = "R0UT1NGK3Y0123456789abcdefABCDEF"  # PagerDuty integration keys are 32 characters


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- Slack -------------------------------------------------------------------------------------------

def _check_block_kit(payload: dict[str, Any]) -> None:
    """The shape Slack documents for incoming webhooks with blocks (types, text objects, limits)."""
    assert isinstance(payload["text"], str) and payload["text"], "a fallback text for notifications"
    blocks = payload["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        assert kind in {"header", "section", "actions", "context", "divider"}
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        if kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in {"mrkdwn", "plain_text"} and len(block["text"]["text"]) <= 3000
            for f in block.get("fields", []):
                assert f["type"] in {"mrkdwn", "plain_text"} and len(f["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if kind == "actions":
            for el in block["elements"]:
                assert el["type"] == "button" and el["text"]["type"] == "plain_text"
                assert el["url"].startswith("http") and el.get("style", "primary") in {"primary", "danger"}
        if kind == "context":
            assert 0 < len(block["elements"]) <= 10


def test_slack_blocks_are_readable_and_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start, repeat and resolve arrive as valid Block Kit at most once per interval; the text tells
    what, where, how bad, since when and links to the wallboard."""
    got = _run(sent_to_slack(lifecycle(), monkeypatch, min_interval_s=0.3))
    assert [r.path for r in got] == [SLACK_PATH] * 3
    payloads = [orjson.loads(r.body) for r in got]
    for payload in payloads:
        _check_block_kit(payload)
    start = orjson.dumps(payloads[0]).decode()
    for needle in ("CRITICAL billing", "180 s", "Threshold (wait window)", "Since", "Agents available",
                   "62.0 %", "var-queue=billing", "a caller has waited 180 s, over the 180 s window"):
        assert needle in start, needle
    assert payloads[2]["blocks"][0]["text"]["text"].startswith(":white_check_mark: RESOLVED billing")
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert min(gaps) >= 0.27, gaps


def test_slack_429_waits_as_asked_and_the_url_never_reaches_a_log(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Slack's 429 with Retry-After is honoured; an unreachable webhook's error text hides its URL."""
    async def go() -> tuple[list[Any], list[Any]]:
        server = await HttpReceiver(answer=lambda n: (429, "rate_limited", {"Retry-After": "1"}) if n == 0
                                    else (200, "ok", {})).start()
        monkeypatch.setenv("CW_SLACK_URL", server.url + SLACK_PATH)
        monkeypatch.setenv("CW_SLACK_DEAD", f"http://127.0.0.1:{free_port()}{SLACK_PATH}")
        dead: list[Any] = []

        async def dead_letter(alarm: Alarm, receiver: str, reason: str) -> None:
            dead.append(reason)

        config = DeliveryConfig.model_validate({
            "receivers": [{"kind": "slack", "name": "slack", "url_env": "CW_SLACK_URL", "min_interval_s": 0},
                          {"kind": "slack", "name": "dead", "url_env": "CW_SLACK_DEAD", "min_interval_s": 0}],
            "routes": [{"receivers": ["slack", "dead"]}],
            "backoff_s": 0.05, "backoff_max_s": 0.1, "give_up_after_s": 0.5})
        try:
            async with aiohttp.ClientSession() as session:
                receivers = {s.name: build_receiver(s, session) for s in config.receivers}
                dispatcher = Dispatcher(config, receivers, MemoryDeliveredIds(), dead_letter)
                await dispatcher.deliver(lifecycle()[0])
                await dispatcher.close()
        finally:
            await server.stop()
        return server.got, dead

    with caplog.at_level(logging.DEBUG):
        got, dead = _run(go())
    assert len(got) == 2 and got[1].at - got[0].at >= 0.95
    assert len(dead) == 1 and "ClientConnectorError" in dead[0]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.access")]  # not the server's
    assert any("not delivered to dead" in line for line in ours)
    for text in [*dead, *ours]:
        assert "XXXXsecretXXXX" not in text and "T0000/B0000" not in text


# --- PagerDuty ---------------------------------------------------------------------------------------

def _check_pagerduty_event(event: dict[str, Any]) -> None:
    """The Events API v2 request body as PagerDuty documents it."""
    assert event["routing_key"] == ROUTING_KEY and len(event["routing_key"]) == 32
    assert event["event_action"] in {"trigger", "acknowledge", "resolve"}
    assert 0 < len(event["dedup_key"]) <= 255
    if event["event_action"] != "trigger":
        assert set(event) == {"routing_key", "event_action", "dedup_key"}
        return
    payload = event["payload"]
    assert {"summary", "source", "severity"} <= set(payload)
    assert 0 < len(payload["summary"]) <= 1024 and payload["source"]
    assert payload["severity"] in {"critical", "error", "warning", "info"}
    datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
    assert isinstance(payload["custom_details"], dict)
    for link in event.get("links", []):
        assert set(link) <= {"href", "text"} and link["href"].startswith("http")
    assert set(event) <= {"routing_key", "event_action", "dedup_key", "payload", "client", "client_url",
                          "links", "images"}


def test_pagerduty_triggers_and_resolves_one_incident(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start and repeat trigger with one dedup key, the resolve closes it; a 400 is not retried."""
    monkeypatch.setenv("CW_PD_KEY", ROUTING_KEY)
    accepted = (202, '{"status":"success","message":"Event processed"}', {"Content-Type": "application/json"})

    async def go() -> tuple[list[Any], Exception | None]:
        server = await HttpReceiver(answer=lambda n: accepted if n < 3 else
                                    (400, '{"status":"invalid event"}', {})).start()
        try:
            async with aiohttp.ClientSession() as session:
                pd = PagerDutyReceiver(PagerDutySpec(kind="pagerduty", name="pd", routing_key_env="CW_PD_KEY",
                                                     url=server.url + "/v2/enqueue"), session)
                for alarm in lifecycle():
                    await pd.send(alarm, links(alarm))
                try:
                    await pd.send(lifecycle()[0])
                    refused = None
                except DeliveryError as exc:
                    refused = exc
        finally:
            await server.stop()
        return server.got, refused

    got, refused = _run(go())
    events = [orjson.loads(r.body) for r in got[:3]]
    for event in events:
        _check_pagerduty_event(event)
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "resolve"]
    assert {e["dedup_key"] for e in events} == {"wait_window_exceeded:billing"}
    assert events[0]["payload"]["severity"] == "critical"
    details = events[0]["payload"]["custom_details"]
    assert (details["Oldest wait"], details["Threshold (wait window)"], details["call_id"]) == (
        "180 s", "180 s", "c-17")
    assert events[0]["links"] == [{"href": "http://wallboard.example/d/callwatch-floor?var-queue=billing",
                                   "text": "Wallboard"}]
    assert isinstance(refused, PermanentDeliveryError) and ROUTING_KEY not in str(refused)


# --- e-mail ------------------------------------------------------------------------------------------

def test_email_over_starttls_with_auth_threads_the_incident(smtp_server: tuple[Inbox, int, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Three mails over STARTTLS with credentials from the environment; the repeat and the resolve
    reply to the start; a wrong password is a permanent failure whose text holds no password."""
    inbox, port, ca_file = smtp_server
    monkeypatch.setenv("CW_SMTP_USER", "callwatch")
    monkeypatch.setenv("CW_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("CW_SMTP_WRONG", "wrong-pw-123")
    spec = {"kind": "email", "name": "mail", "host": "127.0.0.1", "port": port, "username_env": "CW_SMTP_USER",
            "password_env": "CW_SMTP_PASSWORD", "from_addr": "callwatch@example.org",
            "to": ["oncall@example.org", "floor@example.org"], "ca_file": str(ca_file)}

    async def go() -> Exception | None:
        mail = EmailReceiver(EmailSpec.model_validate(spec))
        for alarm in lifecycle():
            await mail.send(alarm, links(alarm))
        wrong = EmailReceiver(EmailSpec.model_validate({**spec, "password_env": "CW_SMTP_WRONG"}))
        try:
            await wrong.send(lifecycle()[0])
        except DeliveryError as exc:
            return exc
        return None

    refused = _run(go())
    assert len(inbox.mails) == 3
    for envelope, _, over_tls in inbox.mails:
        assert over_tls, "delivered over TLS"
        assert envelope.rcpt_tos == ["oncall@example.org", "floor@example.org"]
    start, repeat, resolve = (m for _, m, _ in inbox.mails)
    assert start["Subject"] == "[callwatch] CRITICAL billing — Caller waiting longer than the wait window"
    body = start.get_content()
    for needle in ("a caller has waited 180 s", "Threshold (wait window)      180 s", "Agents available",
                   "Wallboard: http://wallboard.example/d/callwatch-floor?var-queue=billing"):
        assert needle in body, body
    assert repeat["In-Reply-To"] == start["Message-ID"] == resolve["References"]
    assert resolve["Subject"].startswith("[callwatch] RESOLVED billing")
    assert isinstance(refused, PermanentDeliveryError) and "535" in str(refused)
    assert "wrong-pw-123" not in str(refused)


# --- Alertmanager ------------------------------------------------------------------------------------

def test_alertmanager_receives_and_resolves(alertmanager: str) -> None:
    """The start shows in a real Alertmanager as an active alert with callwatch's labels; after the
    resolve it is gone from the active alerts."""
    async def go() -> tuple[list[Any], list[Any]]:
        async with aiohttp.ClientSession() as session:
            am = AlertmanagerReceiver(AlertmanagerSpec(kind="alertmanager", name="am", url=alertmanager,
                                                       labels={"team": "floor-ops"}), session)
            now = time.time()
            start, _, resolve = lifecycle(started_at=now - 5)
            await am.send(start, links(start))
            async with session.get(f"{alertmanager}/api/v2/alerts") as r:
                firing = await r.json()
            await am.send(changed(resolve, at=now), links(resolve))
            await asyncio.sleep(0.3)
            async with session.get(f"{alertmanager}/api/v2/alerts?active=true") as r:
                after = await r.json()
        return firing, after

    firing, after = _run(go())
    assert len(firing) == 1
    alert = firing[0]
    assert alert["labels"] == {"alertname": "CallwatchWaitWindowExceeded", "queue": "billing",
                               "alarm": "wait_window_exceeded",
                               "severity": "critical", "service": "callwatch", "team": "floor-ops"}
    assert alert["status"]["state"] == "active"
    assert "a caller has waited 180 s" in alert["annotations"]["summary"]
    assert "Oldest wait: 180 s" in alert["annotations"]["details"]
    assert alert["annotations"]["wallboard"].endswith("var-queue=billing")
    assert alert["generatorURL"].endswith("var-queue=billing")
    assert after == []
