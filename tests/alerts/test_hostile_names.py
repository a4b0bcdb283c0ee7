"""Names that came from events (queues, sources, agents, contact ids) reach each receiver as text, never as
markup, a mention, a link, a header or a label: Slack through a real HTTP server, e-mail through a real
SMTP server, Alertmanager's own API, PagerDuty and the webhook as JSON."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import orjson
import pytest

from alerts.delivery import DeliveryConfig, Dispatcher, MemoryDeliveredIds
from alerts.receivers import build_receiver
from alerts.receivers.alertmanager import AlertmanagerReceiver, AlertmanagerSpec
from alerts.receivers.pagerduty import PagerDutyReceiver, PagerDutySpec
from alerts.receivers.smtp import EmailReceiver, EmailSpec
from alerts.receivers.webhook import WebhookReceiver, WebhookSpec, sign
from callwatch.alarm import Alarm, LinkedAlarm
from tests.alerts.receiver_kit import (
    SMTP_PASSWORD,
    SMTP_USER,
    HttpReceiver,
    Inbox,
    alarm,
    changed,
    lifecycle,
    links,
    sent_to_slack,
)

pytestmark = pytest.mark.integration
#: Slack's control sequences: a broadcast, a disguised link, a user and a channel mention, and bare ones
SLACK_HOSTILE = "billing <!channel> <http://evil.example|click here> & <@U0123> <#C0123> @here *x*"
#: a subject built from this would end the Subject header and add two of its own
MAIL_HOSTILE = "billing\r\nBcc: evil@example.org\r\nX-Injected: yes"
#: what a JSON receiver must keep as one value: quotes, braces, a Go template, a newline, an HTML tag
JSON_HOSTILE = 'billing", "alertname": "x"} {{ .CommonLabels }}\n<script>alert(1)</script>'
ROUTING_KEY = "R0UT1NGK3Y0123456789abcdefABCDEF"


def _integrity(agent: str, evidence: tuple[str, ...]) -> Alarm:
    """An integrity signal about ``agent`` with its contacts, as the engine emits it."""
    return alarm("integrity_short_hangups", queue=agent, severity="info", value=0.4, threshold=0.1,
                 unit="ratio", metric="short_hangups", waiting=0, agents_available=0, service_level=None,
                 detail=f"{agent} ended 40 % of calls under 20 s", evidence=evidence)


def _mrkdwn_texts(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every mrkdwn text object of a Block Kit message."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload["blocks"])
    return found


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_slack_shows_a_hostile_queue_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue, an agent and contact ids holding Slack's control sequences arrive escaped (&, <, > as
    Slack documents) in every mrkdwn text and the notification text, with Slack's auto-parsing off: no
    broadcast, no mention, no disguised link; unescaped, the text reads the raw name."""
    got = _run(sent_to_slack((*lifecycle(queue=SLACK_HOSTILE), _integrity(SLACK_HOSTILE, (SLACK_HOSTILE,))),
                             monkeypatch))
    assert len(got) == 4
    for record in got:
        payload = orjson.loads(record.body)
        texts = [payload["text"], *(t["text"] for t in _mrkdwn_texts(payload))]
        for text in texts:
            # Slack reads <…> as a control sequence (<!channel>, <http://…|label>, <@U…>): none may arrive
            assert "<" not in text and ">" not in text, text
            assert not re.search(r"&(?!amp;|lt;|gt;)", text), f"a bare & in {text!r}"
        assert SLACK_HOSTILE in _slack_unescape(payload["text"])
        assert any(SLACK_HOSTILE in _slack_unescape(t) for t in texts[1:])
        for obj in _mrkdwn_texts(payload):
            assert obj.get("verbatim") is True, f"Slack would auto-link and parse mentions in {obj}"
        # the header is plain text, shown as it is: the raw name (cut to Slack's 150 characters)
        header = payload["blocks"][0]["text"]
        assert header["type"] == "plain_text" and "<!channel>" in header["text"]
        for block in payload["blocks"]:
            for button in block.get("elements", []) if block["type"] == "actions" else []:
                assert button["url"].startswith("http://wallboard.example/"), button  # quoted, ours
    evidence = orjson.loads(got[3].body)
    assert any(f"*Contacts*: {_escaped(SLACK_HOSTILE)}" == t["text"] for t in _mrkdwn_texts(evidence))


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_email_from_a_queue_with_line_breaks_has_no_extra_header(smtp_server: tuple[Inbox, int, Path],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue name with CR/LF is delivered (not dead-lettered) on one line: the mail has no Bcc or injected
    header, goes to the configured recipients only, its long subject is folded under the RFC's limits, and
    no body line is one the name forged."""
    inbox, port, ca_file = smtp_server
    monkeypatch.setenv("CW_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("CW_SMTP_PASSWORD", SMTP_PASSWORD)
    long_name = "queue-" + "x" * 1200 + " and more words " * 20
    spec = EmailSpec.model_validate({
        "kind": "email", "name": "mail", "host": "127.0.0.1", "port": port, "username_env": "CW_SMTP_USER",
        "password_env": "CW_SMTP_PASSWORD", "from_addr": "callwatch@example.org", "to": ["oncall@example.org"],
        "ca_file": str(ca_file)})
    dead: list[str] = []

    async def dead_letter(a: Alarm, receiver: str, reason: str) -> None:
        dead.append(reason)

    async def go() -> None:
        config = DeliveryConfig.model_validate({"receivers": [spec.model_dump()],
                                                "routes": [{"receivers": ["mail"]}]})
        dispatcher = Dispatcher(config, {"mail": EmailReceiver(spec)}, MemoryDeliveredIds(), dead_letter)
        for sent in (alarm(queue=MAIL_HOSTILE), alarm(queue=long_name),
                     _integrity("agent\nX-Agent-Injected: 1", ("c-1\r\nX-Evidence-Injected: 1",))):
            await dispatcher.deliver(sent)
        await dispatcher.close()

    _run(go())
    assert dead == []
    assert len(inbox.mails) == 3, "every alarm delivered"
    for (envelope, mail, _), raw in zip(inbox.mails, inbox.raw, strict=True):
        assert envelope.rcpt_tos == ["oncall@example.org"]
        names = {k.lower() for k in mail}
        assert not names & {"bcc", "x-injected", "x-agent-injected", "x-evidence-injected"}, names
        assert max(map(len, raw.split(b"\r\n"))) <= 998, "a line over RFC 5322's 998 characters"
        head = raw.split(b"\r\n\r\n", 1)[0].decode()
        for line in [*head.split("\r\n"), *mail.get_content().splitlines()]:
            assert not re.match(r"(?i)(bcc|x-[a-z-]*injected):", line), line
    hostile, long_mail, agent = (m for _, m, _ in inbox.mails)
    # (compared word by word: Python reads the encoded "—" back with a space more)
    assert " ".join(hostile["Subject"].split()) == ("[callwatch] CRITICAL billing Bcc: evil@example.org "
                                                    "X-Injected: yes — Caller waiting longer than the wait window")
    assert long_mail["Subject"].startswith("[callwatch] CRITICAL queue-xxx")
    assert "and more words" in long_mail["Subject"]
    assert "agent X-Agent-Injected: 1" in agent["Subject"]
    assert "Contacts: c-1 X-Evidence-Injected: 1" in agent.get_content()
    long_head = inbox.raw[1].split(b"\r\n\r\n", 1)[0].decode()
    subject = re.search(r"(?m)^Subject: [^\r\n]*(\r\n[ \t][^\r\n]*)*", long_head)
    assert subject and subject.group(0).count("\r\n") > 10, "the long subject is folded"
    assert max(map(len, subject.group(0).split("\r\n"))) <= 80, "into lines of about 78 characters"


def test_pagerduty_keeps_hostile_names_as_values_and_long_ones_under_its_limits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hostile names arrive as JSON string values, exactly; a name too long for PagerDuty's 255-character
    dedup key gets a shortened key, the same for start, repeat and resolve and different for another name
    with the same beginning, so the incident is still one incident and is not refused."""
    monkeypatch.setenv("CW_PD_KEY", ROUTING_KEY)
    long_a, long_b = "q" * 400 + "-a", "q" * 400 + "-b"

    async def go() -> list[Any]:
        server = await HttpReceiver(answer=lambda n: (202, '{"status":"success"}', {})).start()
        try:
            async with aiohttp.ClientSession() as session:
                pd = PagerDutyReceiver(PagerDutySpec(kind="pagerduty", name="pd", routing_key_env="CW_PD_KEY",
                                                     url=server.url + "/v2/enqueue"), session)
                for sent in (alarm(queue=JSON_HOSTILE), *lifecycle(queue=long_a), alarm(queue=long_b)):
                    await pd.send(sent, links(sent))
        finally:
            await server.stop()
        return [orjson.loads(r.body) for r in server.got]

    hostile, start, repeat, resolve, other = _run(go())
    assert hostile["payload"]["component"] == JSON_HOSTILE and hostile["dedup_key"].endswith(JSON_HOSTILE)
    assert hostile["payload"]["summary"].startswith(JSON_HOSTILE)
    assert {len(e["dedup_key"]) <= 255 for e in (start, repeat, resolve, other)} == {True}
    assert start["dedup_key"] == repeat["dedup_key"] == resolve["dedup_key"] != other["dedup_key"]
    assert start["dedup_key"].startswith("wait_window_exceeded:qqq")
    assert len(start["payload"]["summary"]) <= 1024


def test_alertmanager_keeps_a_hostile_queue_one_label_value(alertmanager: str) -> None:
    """A queue with quotes, braces, a Go template and a newline is one label value in a real
    Alertmanager, exactly as named: no label added, none changed, the annotation not templated."""
    async def go() -> list[Any]:
        async with aiohttp.ClientSession() as session:
            am = AlertmanagerReceiver(AlertmanagerSpec(kind="alertmanager", name="am", url=alertmanager),
                                      session)
            sent = changed(alarm(queue=JSON_HOSTILE), at=time.time() - 5, started_at=time.time() - 5)
            await am.send(sent, links(sent))
            async with session.get(f"{alertmanager}/api/v2/alerts") as r:
                firing: list[Any] = await r.json()
        return firing

    firing = [a for a in _run(go()) if a["labels"].get("queue") == JSON_HOSTILE]
    assert len(firing) == 1
    assert firing[0]["labels"] == {"alertname": "CallwatchWaitWindowExceeded", "queue": JSON_HOSTILE,
                                   "alarm": "wait_window_exceeded", "severity": "critical",
                                   "service": "callwatch"}
    assert firing[0]["annotations"]["summary"].startswith(JSON_HOSTILE + ": a caller has waited")
    assert firing[0]["annotations"]["wallboard"].endswith("var-queue=billing%22%2C%20%22alertname%22%3A%20%22x%22"
                                                          "%7D%20%7B%7B%20.CommonLabels%20%7D%7D%0A%3Cscript%3Ealert"
                                                          "%281%29%3C%2Fscript%3E")


def test_webhook_body_reads_back_the_hostile_name_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook's JSON, signed, parses back to the same alarm: the hostile name is a value, the link
    holds it URL-quoted, and the X-Callwatch-Id header holds the id percent-encoded instead of being
    refused for its line break (which lost the alarm)."""
    monkeypatch.setenv("CW_HOOK_SECRET", "hook-secret")

    async def go() -> list[Any]:
        server = await HttpReceiver().start()
        try:
            async with aiohttp.ClientSession() as session:
                hook = build_receiver(WebhookSpec(name="hook", url=server.url + "/hook",
                                                  secret_env="CW_HOOK_SECRET"), session)
                assert isinstance(hook, WebhookReceiver)
                sent = alarm(queue=JSON_HOSTILE)
                await hook.send(sent, links(sent))
        finally:
            await server.stop()
        return server.got

    (record,) = _run(go())
    assert record.headers["X-Callwatch-Signature"] == sign(b"hook-secret", record.body)
    back = LinkedAlarm.model_validate_json(record.body)
    fields = {k: v for k, v in dict(back).items() if k != "links"}
    assert back.queue == JSON_HOSTILE and Alarm.model_validate(fields) == alarm(queue=JSON_HOSTILE)
    assert back.links["wallboard"].endswith("%3Cscript%3Ealert%281%29%3C%2Fscript%3E")
    assert unquote(record.headers["X-Callwatch-Id"]) == back.id and "\n" not in record.headers["X-Callwatch-Id"]
