"""The dispatcher's rules: routing, silences, one lane per receiver, and its own metrics."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import generate_latest
from typer.testing import CliRunner

from alerts.delivery import DeliveryConfig, Dispatcher, MemoryDeliveredIds
from alerts.receivers import build_receiver
from alerts.silences import RedisSilences, Silence, new_silence
from callwatch.alarm import Alarm, LinkedAlarm
from console.main import app
from tests.alerts.receiver_kit import HttpReceiver, alarm, changed, lifecycle


def _config(*urls: str, **extra: Any) -> DeliveryConfig:
    return DeliveryConfig.model_validate({
        "receivers": [{"kind": "webhook", "name": f"r{i}", "url": u} for i, u in enumerate(urls)],
        "routes": [{"receivers": [f"r{i}" for i in range(len(urls))]}],
        "backoff_s": 0.02, "backoff_max_s": 0.1, **extra})


async def _nothing(alarm: Alarm, receiver: str, reason: str) -> None:
    raise AssertionError(f"dead letter {reason}")


def test_config_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"routes\[0\] names unknown receivers \['pager'\]"):
        DeliveryConfig.model_validate({"receivers": [{"kind": "webhook", "name": "a", "url": "http://x"}],
                                       "routes": [{"receivers": ["pager"]}]})
    with pytest.raises(ValueError, match=r"receivers\.0\.slack\.url_env"):
        DeliveryConfig.model_validate({"receivers": [{"kind": "slack", "name": "s"}], "routes": [{"receivers": ["s"]}]})


def test_routes_pick_receivers_by_severity_and_queue() -> None:
    """Routes match an alarm's severity, alarm and subject (a queue or a source, never an agent)."""
    config = DeliveryConfig.model_validate({
        "receivers": [{"kind": "webhook", "name": n, "url": "http://x"} for n in ("pager", "chat", "vip")],
        "routes": [{"receivers": ["vip"], "queues": ["vip"], "stop": True},
                   {"receivers": ["pager"], "severities": ["critical"]},
                   {"receivers": ["chat"]}]})
    d = Dispatcher(config, {}, MemoryDeliveredIds(), _nothing)
    assert d.targets(alarm(queue="billing")) == ["pager", "chat"]
    assert d.targets(alarm(queue="billing", severity="warning")) == ["chat"]
    assert d.targets(alarm(queue="vip")) == ["vip"]
    assert d.targets(alarm("feed_silent", queue="pbx-1", metric="silence")) == ["pager", "chat"]
    assert d.targets(alarm("feed_silent", queue="vip", metric="silence")) == ["vip"]  # a source named vip
    assert d.targets(alarm("integrity_short_hangups", queue="vip", severity="info")) == ["chat"]  # an agent


def test_a_silence_holds_pages_back_but_resolves_reach_whoever_was_paged() -> None:
    """Silenced starts and repeats are held back (and counted); the resolve goes only to receivers that
    heard of the incident; once the silence ends the next repeat pages."""
    start, repeat, resolve = lifecycle()
    other_start, _, other_resolve = lifecycle(queue="sales", started_at=1_790_000_100.0)
    now = {"t": 1_790_000_000.0}
    silences: list[Silence] = []

    async def load() -> list[Silence]:
        return silences

    async def go() -> list[Any]:
        server = await HttpReceiver().start()
        try:
            async with aiohttp.ClientSession() as session:
                config = _config(server.url + "/hook")
                d = Dispatcher(config, {s.name: build_receiver(s, session) for s in config.receivers},
                               MemoryDeliveredIds(), _nothing, silences=load, clock=lambda: now["t"])
                await d.deliver(start)                # paged before the silence
                silences.append(new_silence(queue="billing", alarm=None, duration_s=600, reason="PBX work",
                                            created_by="sam", now=now["t"]))
                now["t"] += 2
                await d.deliver(repeat)               # held back
                await d.deliver(other_start)          # sales is not silenced
                await d.deliver(resolve)              # billing's receiver was paged: the resolve goes
                silences.append(new_silence(queue="sales", alarm=None, duration_s=600, reason="x",
                                            created_by="sam", now=now["t"]))
                now["t"] += 2
                late = lifecycle(queue="sales", started_at=1_790_000_200.0)[0]
                await d.deliver(late)                 # a new sales incident during the silence: held
                await d.deliver(changed(late, status="resolved"))
                now["t"] += 700                       # the silences end
                await d.deliver(other_resolve)
                await d.close()
                assert d.stats.silenced == 3
        finally:
            await server.stop()
        return [orjson.loads(r.body)["id"] for r in server.got]

    ids = asyncio.run(go())
    assert ids == [start.id, other_start.id, resolve.id, other_resolve.id]


def test_a_down_receiver_holds_back_only_its_own_lane() -> None:
    """While one receiver refuses, the other gets every message at once; the first gets them all, in
    order, once it answers; the metrics count sent, retried and the delay."""
    async def go() -> tuple[list[Any], list[Any], bytes]:
        down = {"until": time.time() + 1.0}
        slow = await HttpReceiver(answer=lambda n: (503, "down", {}) if time.time() < down["until"]
                                  else (200, "ok", {})).start()
        fast = await HttpReceiver().start()
        try:
            async with aiohttp.ClientSession() as session:
                config = _config(slow.url, fast.url)
                d = Dispatcher(config, {s.name: build_receiver(s, session) for s in config.receivers},
                               MemoryDeliveredIds(), _nothing)
                messages = [changed(m, at=time.time()) for m in lifecycle()]
                futures = [await d.submit(m) for m in messages]
                await asyncio.sleep(0.3)
                assert len(fast.got) == 3 and slow.got and all(f.done() is False for f in futures)
                await asyncio.gather(*futures)
                await d.close()
                metrics = generate_latest(d.metrics.registry)
        finally:
            await slow.stop()
            await fast.stop()
        accepted = [r for r in slow.got if r.status == 200]
        return [orjson.loads(r.body)["status"] for r in accepted], fast.got, metrics

    accepted, _, metrics = asyncio.run(go())
    assert accepted == ["started", "repeated", "resolved"]
    text = metrics.decode()
    assert 'callwatch_alerts_sent_total{receiver="r0",status="started"} 1.0' in text
    assert 'callwatch_alerts_sent_total{receiver="r1",status="resolved"} 1.0' in text
    assert 'callwatch_alerts_delivery_delay_seconds_count{receiver="r0"} 3.0' in text
    retried = [line for line in text.splitlines() if line.startswith('callwatch_alerts_retried_total{receiver="r0"}')]
    assert retried and float(retried[0].split()[-1]) >= 2
    assert 'callwatch_alerts_failed_total{' not in text


@pytest.mark.integration
def test_silences_from_the_cli(redis_url: str, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`callwatch alerts silence` stores a silence every dispatcher reads; `silences` lists it with its
    reason; `unsilence` ends it; a silence without a reason or a scope is refused."""
    import redis

    monkeypatch.setenv("CALLWATCH_REDIS_URL", redis_url)
    monkeypatch.setenv("CALLWATCH_REDIS_PREFIX", f"cw-{unique}")
    runner = CliRunner()
    done = runner.invoke(app, ["alerts", "silence", "--queue", "billing", "--for", "1h",
                               "--reason", "PBX maintenance", "--by", "sam"])
    assert done.exit_code == 0, done.output
    silence_id = done.stdout.strip().splitlines()[-1]
    listed = json.loads(runner.invoke(app, ["alerts", "silences", "--json"]).stdout)
    assert [(s["id"], s["queue"], s["reason"], s["created_by"], s["active"]) for s in listed] == [
        (silence_id, "billing", "PBX maintenance", "sam", True)]
    assert abs(listed[0]["ends_at"] - listed[0]["starts_at"] - 3600) < 1e-6
    stored = RedisSilences(redis.Redis.from_url(redis_url), f"cw-{unique}").all()
    assert stored[0].matches(alarm("no_agents", queue="billing"), time.time())
    assert runner.invoke(app, ["alerts", "unsilence", silence_id]).exit_code == 0
    assert json.loads(runner.invoke(app, ["alerts", "silences", "--json"]).stdout) == []
    assert len(json.loads(runner.invoke(app, ["alerts", "silences", "--all", "--json"]).stdout)) == 1
    assert runner.invoke(app, ["alerts", "unsilence", "nope"]).exit_code == 1
    # ended silences are kept a week, then forgotten when the next one is set
    store = RedisSilences(redis.Redis.from_url(redis_url), f"cw-{unique}")
    store.expire(silence_id, time.time() - 8 * 86400)
    store.add(new_silence(queue="q", alarm=None, duration_s=60, reason="x", created_by="t", now=time.time()))
    assert [s.queue for s in store.all()] == ["q"]
    no_reason = runner.invoke(app, ["alerts", "silence", "--queue", "q", "--for", "1h", "--reason", " "])
    assert no_reason.exit_code == 2 and "say why" in no_reason.output
    bad = runner.invoke(app, ["alerts", "silence", "--queue", "q", "--for", "soon", "--reason", "x"])
    assert bad.exit_code == 2 and "duration like" in bad.output


@pytest.mark.integration
def test_alerts_test_sends_one_marked_message(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`callwatch alerts test --receiver NAME` delivers one test alarm (v2, with its links) and says so;
    exit 1 when the receiver cannot be reached, exit 2 for an unknown receiver."""
    monkeypatch.setenv("CALLWATCH_WALLBOARD_URL", "http://grafana.example/d/callwatch-floor")
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(HttpReceiver().start())
    import threading
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        config = tmp_path / "delivery.yaml"
        config.write_text(json.dumps({
            "receivers": [{"kind": "webhook", "name": "hook", "url": server.url + "/hook"},
                          {"kind": "webhook", "name": "gone", "url": "http://127.0.0.1:9/"}],
            "routes": [{"receivers": ["hook"]}]}))
        runner = CliRunner()
        ok = runner.invoke(app, ["alerts", "test", "--receiver", "hook", "--config", str(config), "--queue", "sales"])
        assert ok.exit_code == 0, ok.output
        assert len(server.got) == 1
        body = LinkedAlarm.model_validate_json(server.got[0].body)
        assert (body.alarm, body.status, body.queue, body.severity) == ("test", "started", "sales", "info")
        assert body.links == {"wallboard": "http://grafana.example/d/callwatch-floor?var-queue=sales"}
        failed = runner.invoke(app, ["alerts", "test", "--receiver", "gone", "--config", str(config)])
        assert failed.exit_code == 1 and "not delivered to gone" in failed.output
        unknown = runner.invoke(app, ["alerts", "test", "--receiver", "nope", "--config", str(config)])
        assert unknown.exit_code == 2 and "no receiver 'nope'" in unknown.output
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(server.stop())
        loop.close()


@pytest.mark.parametrize("path", ["alerts/delivery.example.yaml", "deploy/alerts/delivery.yaml"])
def test_shipped_delivery_configs_are_valid(path: str) -> None:
    """The shipped delivery configs load, and route every alarm (integrity signals and goals too)."""
    from alerts.dispatcher_app import load_delivery_config
    from tests.integration.harness import ROOT

    config = load_delivery_config(ROOT / path)
    d = Dispatcher(config, {}, MemoryDeliveredIds(), _nothing)
    # every alarm of METRICS.md reaches at least one receiver
    for name, severity in [("wait_window_exceeded", "critical"), ("abandonment_high", "warning"),
                           ("service_level_low", "warning"), ("no_agents", "critical"), ("feed_silent", "critical"),
                           ("integrity_cap_clustering", "info"), ("goal_missed", "info")]:
        assert d.targets(alarm(name, severity=severity)), name


def test_an_integrity_signal_reads_well_in_slack_and_email() -> None:
    """An integrity alarm names the agent, says why, lists the contacts behind it and links to the agent."""
    from alerts.receivers.slack import slack_payload
    from alerts.receivers.smtp import EmailSpec, email_message
    from tests.alerts.receiver_kit import links

    signal = Alarm(alarm="integrity_cap_clustering", status="started", queue="agent-b003", at=1.79e9,
                   started_at=1.79e9, severity="info", value=0.114, threshold=0.002, unit="ratio",
                   metric="cap_clustering", waiting=0, agents_available=0, service_level=None,
                   detail="agent-b003 ended 253 of 2211 calls (11.4 %) themselves in the last 30 s before "
                          "the 420 s handle-time cap; the rest of the floor: 0.2 %",
                   evidence=("call-1", "call-2"))
    slack = orjson.dumps(slack_payload(signal, links(signal))).decode()
    assert "INFO agent-b003" in slack and "11.4 %" in slack and "call-1, call-2" in slack
    assert "var-agent=agent-b003" in slack
    spec = EmailSpec(kind="email", name="m", host="h", from_addr="a@b", to=["c@d"])
    body = email_message(signal, spec, links(signal)).get_content()
    assert "Contacts: call-1, call-2" in body and "Threshold (floor baseline)  0.2 %" in body
    assert "Waiting" not in body  # an agent has no queue context
