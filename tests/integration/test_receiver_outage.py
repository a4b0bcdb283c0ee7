"""A receiver down for a long outage loses nothing: the real dispatcher (`callwatch alerts run`) on the
real broker keeps every message, delivers each once and in order after the receiver is back, and its own
metrics say what happened.

"Long" is measured in the dispatcher's own backoff: the outage lasts 15 times its longest wait between
retries, so every lane has long reached the cap and retried many times at it. Time is scaled through the
delivery config (a 1 s cap for 15 s rather than the 4 s cap for 60 s this test once used): the same
retries, the same order and the same catch-up bound in units of the cap, at a quarter of the wall time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaProducer

from callwatch.alarm import Alarm
from console.embedded import free_port, stop_process, wait_for_port
from tests.alerts.receiver_kit import changed, lifecycle
from tests.integration.harness import ROOT, HookServer, Stack, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BACKOFF_S = 0.05
BACKOFF_MAX_S = 1.0
DOWN_S = 15 * BACKOFF_MAX_S
INCIDENTS = 10


def dispatcher_figures(metrics_port: int) -> dict[str, float]:
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
            if line.startswith("callwatch_alerts_") and not line.startswith("#")}


def test_receiver_down_long_past_the_backoff_cap_loses_nothing(kafka_bootstrap: str, redis_url: str, unique: str,
                                                                tmp_path: Path, artifacts: Path) -> None:
    hook_port, metrics_port = free_port(), free_port()
    stack = Stack(kafka_bootstrap, redis_url, unique)
    config = tmp_path / "delivery.yaml"
    config.write_text(json.dumps({
        "receivers": [{"kind": "webhook", "name": "hook", "url": f"http://127.0.0.1:{hook_port}/"}],
        "routes": [{"receivers": ["hook"]}], "backoff_s": BACKOFF_S,
        "backoff_max_s": BACKOFF_MAX_S}))
    log = tmp_path / "dispatcher.log"
    with open(log, "ab") as out:
        dispatcher = subprocess.Popen(
            [sys.executable, "-m", "console", "alerts", "run", "--config", str(config),
             "--metrics-port", str(metrics_port)], cwd=ROOT, env=stack.env(free_port()), stdout=out,
            stderr=subprocess.STDOUT)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    sent: list[Alarm] = []
    try:
        wait_for_port(metrics_port, proc=dispatcher)
        # the receiver is down (nothing listens on its port) for DOWN_S while incidents start and end;
        # the outage counts from when the dispatcher has joined its group and read the first incident
        # (rather than a fixed sleep for the join: the embedded broker waits half a session)
        down_from = time.time()
        for i in range(INCIDENTS):
            start, _, resolve = lifecycle(queue=f"q{i}", started_at=time.time())
            resolve = changed(resolve, at=time.time() + 1)
            for alarm in (start, resolve):
                producer.send(stack.alerts_topic, alarm.model_dump_json().encode(), key=alarm.key.encode())
                sent.append(alarm)
            producer.flush()
            if i == 0:
                joined_by = time.time() + 60
                while dispatcher_figures(metrics_port).get("callwatch_alerts_received_total", 0) < 2:
                    assert time.time() < joined_by and dispatcher.poll() is None, log.read_text()[-2000:]
                    time.sleep(0.1)
                down_from = time.time()
            time.sleep(DOWN_S / INCIDENTS / 2)
        time.sleep(max(0.0, down_from + DOWN_S - time.time()))
        back_at = time.time()
        hook = HookServer(hook_port).start()
        deadline = time.time() + 30
        while len(hook.got) < len(sent) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # anything more would be a duplicate
        figures = dispatcher_figures(metrics_port)
        hook.stop()
    finally:
        producer.close()
        stop_process(dispatcher, timeout=20)
    got_ids = [m["id"] for _, m in hook.got]
    assert sorted(got_ids) == sorted(m.id for m in sent), log.read_text()[-2000:]
    assert len(got_ids) == len(set(got_ids)), "a message arrived twice"
    assert got_ids == [m.id for m in sent], "one lane per receiver keeps the order"
    caught_up = max(t for t, _ in hook.got) - back_at
    assert figures['callwatch_alerts_sent_total{receiver="hook",status="started"}'] == INCIDENTS
    assert figures['callwatch_alerts_sent_total{receiver="hook",status="resolved"}'] == INCIDENTS
    assert figures['callwatch_alerts_retried_total{receiver="hook"}'] > 10
    assert not any(k.startswith("callwatch_alerts_failed_total{") for k in figures)
    assert figures['callwatch_alerts_pending{receiver="hook"}'] == 0
    assert read_topic(stack, f"{stack.alerts_topic}-dead-letters", timeout=3) == []
    (artifacts / "receiver-outage.json").write_text(json.dumps({
        "down_s": round(back_at - down_from, 3), "backoff_max_s": BACKOFF_MAX_S, "messages": len(sent),
        "delivered": len(got_ids),
        "all_delivered_after_back_s": round(caught_up, 3),
        "retries": figures['callwatch_alerts_retried_total{receiver="hook"}']}))
    # at most one capped wait, then the 20 posts (the 2 s of slack this test always allowed)
    assert caught_up < BACKOFF_MAX_S + 2.0, f"caught up {caught_up:.1f}s after the receiver came back"
