"""The wait alarm in real time, and the metrics as a real Prometheus scrapes them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.messages import iso
from callwatch.eventlog import read_raw
from console.embedded import free_port, wait_for_port
from streams.readout import live_figures
from tests.integration.harness import Stack, Worker, publish, read_topic, wait_until_applied
from tests.integration.harness import workers as workers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"
WINDOW_S = 2.0


def _event(kind: str, ts: float, eid: str, **fields: object) -> bytes:
    return orjson.dumps({"v": 1, "id": eid, "type": kind, "ts": iso(ts), "source": "pbx-live", **fields})


def test_wait_alarm_fires_within_a_second_of_the_crossing_and_resolves(
        kafka_bootstrap: str, redis_url: str, unique: str, workers: list[Worker], tmp_path: Path,
        artifacts: Path) -> None:
    """Live (wall clock): a caller waiting past the window raises the alarm within 1 s, once, then resolves."""
    stack = Stack(kafka_bootstrap, redis_url, unique, clock="wall",
                  extra_env={"CALLWATCH_MONITOR__DEFAULTS__WAIT_WINDOW_S": str(WINDOW_S)})
    workers.append(Worker(stack, tmp_path).start())
    queued_at = time.time()
    publish(stack, [_event("call.queued", queued_at, f"q-{unique}", call_id="c1", queue="sales")])
    time.sleep(WINDOW_S + 1.5)  # nothing else is sent: only the timer can notice the crossing
    answered_at = time.time()
    publish(stack, [_event("call.answered", answered_at, f"a-{unique}", call_id="c1", queue="sales",
                           agent="ann")])
    messages = read_topic(stack, stack.alerts_topic, expect=2)
    assert [m["status"] for _, m, _ in messages] == ["started", "resolved"]
    (_, started, published_ms), (_, resolved, _) = messages
    crossing = queued_at + WINDOW_S
    delay = published_ms / 1000 - crossing
    assert 0 <= delay < 1.0, f"alarm published {delay:.3f}s after the crossing"
    assert started["key"] == resolved["key"] == "wait_window_exceeded:sales@pbx-live"
    assert started["started_at"] == iso(crossing)
    assert resolved["at"] == iso(answered_at)
    (artifacts / "alarm-delay.json").write_text(json.dumps({"delay_after_crossing_s": delay}))


def _prometheus(tmp_path: Path, target_port: int) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is required (make test installs it)"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: callwatch
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
""")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))  # noqa: SIM115
    wait_for_port(port, proc=proc)
    return proc, port


def _query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def test_prometheus_scrapes_the_figures_the_wallboard_shows(
        kafka_bootstrap: str, redis_url: str, unique: str, workers: list[Worker], tmp_path: Path) -> None:
    """A real Prometheus scraping the worker sees the waiting, agents and pipeline figures of `stats --json`."""
    stack = Stack(kafka_bootstrap, redis_url, unique)
    worker = Worker(stack, tmp_path).start()
    workers.append(worker)
    # stop halfway through the story, while billing has callers waiting
    lines = list(read_raw(DEMO_LOG))
    cut = next(i for i, raw in enumerate(lines) if orjson.loads(raw)["ts"] >= "2026-11-23T08:52:30")
    sent = publish(stack, lines[:cut])
    wait_until_applied(stack)
    time.sleep(1.5)  # one snapshot interval
    figures = live_figures(stack.settings())
    families = {f.name: f for f in text_string_to_metric_families(worker.metrics())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in families.values() for s in fam.samples}
    for queue, live in figures["queues"].items():
        labels = (("queue", queue), ("site", live["site"]))  # every per-queue series names its site
        assert samples[("callwatch_queue_waiting_contacts", labels)] == live["waiting"]
        assert samples[("callwatch_queue_oldest_wait_seconds", labels)] == live["oldest_wait"]
    assert figures["queues"]["billing"]["waiting"] > 0
    prom, port = _prometheus(tmp_path, worker.port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _query(port, "callwatch_queue_waiting_contacts"):
                    break
            except urllib.error.HTTPError as exc:  # 503 until its storage is open
                assert exc.code == 503
            assert time.monotonic() < deadline, "Prometheus never scraped the worker"
            time.sleep(0.5)
        waiting = {r["metric"]["queue"]: float(r["value"][1])
                   for r in _query(port, "max by (queue) (callwatch_queue_waiting_contacts)")}
        assert waiting == {q: float(v["waiting"]) for q, v in figures["queues"].items()}
        events = _query(port, "sum(callwatch_events_total)")
        assert float(events[0]["value"][1]) == sent
        available = _query(port, 'sum by (queue) (callwatch_queue_agents{state="available"})')
        assert {r["metric"]["queue"]: float(r["value"][1]) for r in available} == \
            {q: float(v["agents"]["available"]) for q, v in figures["queues"].items()}
        sl = _query(port, 'callwatch_window_service_level_ratio{window="today",channel="all"}')
        assert {r["metric"]["formula"] for r in sl} == {"standard"}
    finally:
        prom.terminate()
        prom.wait(timeout=10)
