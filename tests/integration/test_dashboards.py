"""Every dashboard panel's PromQL and every shipped rule, run against a real Prometheus scraping a worker
fed by a replay of two sites and the alert dispatcher: each parses and returns data, each per-queue panel
shows the two sites' billing queues apart, and the wallboard's waiting and oldest-wait values equal what
`callwatch stats --json` says."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kafka import KafkaProducer
from typer.testing import CliRunner

from alerts.messages import iso
from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.eventlog import read_raw
from callwatch.events import decode
from console.embedded import free_port, stop_process, wait_for_port
from console.main import app
from tests.alerts.receiver_kit import lifecycle
from tests.integration.harness import (
    ROOT,
    HookServer,
    Stack,
    Worker,
    prom_query,
    publish,
    start_prometheus,
    wait_for_scrapes,
    wait_until_applied,
)

pytestmark = pytest.mark.integration
DASHBOARDS = ROOT / "grafana" / "dashboards"
RULES = ROOT / "alerts" / "prometheus" / "callwatch-rules.yml"
DEMO_LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"
QUEUE = "billing"
#: the second site: the demo's morning again, from another PBX, whose support queue is called sales — so
#: billing is at two sites (named with their site) and support and sales at one (named alone)
OTHER_SITE = "pbx-b"
RENAMED = {"support": "sales"}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("callwatch_grafana_generate", ROOT / "grafana" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _boards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def _exprs(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def _other_site(raw: bytes) -> bytes:
    """``raw`` as the second site sends it: its own source, event, call and agent ids and queue names."""
    event = orjson.loads(raw)
    event["source"] = OTHER_SITE
    for key in ("id", "call_id", "agent"):
        if key in event:
            event[key] = f"{OTHER_SITE}-{event[key]}"
    if "queue" in event:
        event["queue"] = RENAMED.get(event["queue"], event["queue"])
    if "queues" in event:
        event["queues"] = [RENAMED.get(q, q) for q in event["queues"]]
    return orjson.dumps(event)


def _per_queue(expr: str) -> bool:
    """Whether a panel's query reads per-queue series (those with a ``site`` label)."""
    return re.search(r"\bcallwatch_(?:queue|window)_", expr) is not None


def _substitute(expr: str) -> str:
    return expr.replace("$queue", QUEUE).replace("$window", "last_60m").replace("$site", ".*")


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    """grafana/dashboards/*.json are generated (grafana/generate.py with the default settings), and every
    panel has a description, uses the provisioned data source and gives each query its own refId."""
    from callwatch.config import MonitorConfig

    generated = _generator().build_all(MonitorConfig())
    committed = _boards()
    assert set(committed) == {f"callwatch-{n}" for n in generated}
    for name, board in generated.items():
        assert committed[f"callwatch-{name}"] == json.loads(json.dumps(board)), f"regenerate: make dashboards ({name})"
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for board in committed.values():
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert len(panel.get("description", "")) > 30, panel["title"]
            assert panel["datasource"]["uid"] == uid
            # Grafana keeps one result per refId: a second query with the same one is lost
            refs = [t["refId"] for t in panel.get("targets", [])]
            assert len(refs) == len(set(refs)), (panel["title"], refs)


def test_thresholds_follow_the_queue_settings() -> None:
    """The oldest wait is amber from the warning and red from the window; a queue with a window of its
    own gets its own colours, at every site ("vip" and "vip @ pbx-a", not "vipers")."""
    from callwatch.config import MonitorConfig

    config = MonitorConfig.model_validate({"queues": {"vip": {"wait_window_s": 60}}})
    floor = _generator().build_all(config)["floor"]
    oldest = next(p for p in floor["panels"] if p["title"] == "Oldest wait")
    steps = [(s["value"], s["color"]) for s in oldest["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [(None, "green"), (120, "orange"), (180, "red")]
    override = oldest["fieldConfig"]["overrides"][0]
    assert override["matcher"] == {"id": "byRegexp", "options": "vip( @ .+)?"}
    # Grafana anchors a byRegexp matcher at both ends
    matches = re.compile(override["matcher"]["options"]).fullmatch
    assert matches("vip") and matches("vip @ pbx-a") and not matches("vipers") and not matches("vip @ ")
    assert [(s["value"], s["color"]) for s in override["properties"][0]["value"]["steps"]] == [
        (None, "green"), (40, "orange"), (60, "red")]


def test_a_queue_is_named_with_its_site_only_when_another_site_has_its_name(tmp_path: Path) -> None:
    """per_queue's names, evaluated by promtool: billing at pbx-a and at pbx-b is "billing @ pbx-a" and
    "billing @ pbx-b"; billing without a site beside them is "billing"; sales, at one site, is "sales"."""
    expr = _generator().per_queue('callwatch_queue_agents{state="busy"}', "state")
    series = {'site="pbx-a", queue="billing"': 1, 'site="pbx-b", queue="billing"': 2, 'queue="billing"': 3,
              'site="pbx-a", queue="sales"': 4}
    expected = {'site="pbx-a", queue="billing", name="billing @ pbx-a"': 1,
                'site="pbx-b", queue="billing", name="billing @ pbx-b"': 2,
                'queue="billing", name="billing"': 3, 'site="pbx-a", queue="sales", name="sales"': 4}
    (tmp_path / "names.yml").write_text(yaml.safe_dump({"rule_files": [], "tests": [{
        "interval": "1m",
        "input_series": [{"series": f'callwatch_queue_agents{{{labels}, state="busy"}}', "values": str(v)}
                         for labels, v in series.items()],
        "promql_expr_test": [{"expr": expr, "eval_time": "0m",
                              "exp_samples": [{"labels": f'{{{labels}, state="busy"}}', "value": v}
                                              for labels, v in expected.items()]}]}]}))
    done = subprocess.run(["promtool", "test", "rules", "names.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_panel_and_rule_runs_on_real_prometheus(kafka_bootstrap: str, redis_url: str, unique: str,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = Stack(kafka_bootstrap, redis_url, unique,
                  extra_env={"CALLWATCH_MONITOR__PER_AGENT_METRICS": "true"})
    worker = Worker(stack, tmp_path).start()
    hook_port, dispatcher_port = free_port(), free_port()
    # the hook's first try fails (a retry to count); the "refusing" receiver is refused for good
    server = HookServer(hook_port, lambda path, n: 400 if path == "/refusing" else 503 if n == 1 else 204).start()
    config = tmp_path / "delivery.yaml"
    config.write_text(json.dumps({
        "receivers": [{"kind": "webhook", "name": "hook", "url": f"http://127.0.0.1:{hook_port}/"},
                      {"kind": "webhook", "name": "refusing", "url": f"http://127.0.0.1:{hook_port}/refusing"}],
        "routes": [{"receivers": ["hook", "refusing"]}], "backoff_s": 0.05}))
    with open(tmp_path / "dispatcher.log", "wb") as log:
        dispatcher = subprocess.Popen([sys.executable, "-m", "console", "alerts", "run", "--config", str(config),
                                       "--metrics-port", str(dispatcher_port)], cwd=ROOT, env=stack.env(free_port()),
                                      stdout=log, stderr=subprocess.STDOUT)
    prom = None
    try:
        lines = list(read_raw(DEMO_LOG))
        cut = next(i for i, raw in enumerate(lines) if orjson.loads(raw)["ts"] >= "2026-11-23T08:52:30")
        # bad input for the pipeline panels: not JSON, invalid, and — late, so applied at once — a second
        # call.queued for a caller who is still waiting (inconsistent: queued_twice)
        engine = Engine(MonitorConfig())
        for raw in lines[:cut]:
            engine.step(decode(raw))
        queue, call_id = next((q, c) for q, waiting in sorted(engine.waiting.items()) for c in sorted(waiting))
        ghost = orjson.dumps({"v": 1, "id": "queued-again", "type": "call.queued", "ts": iso(engine.watermark - 1),
                              "source": "pbx-demo", "call_id": call_id, "queue": queue})
        other = [_other_site(raw) for raw in lines[:cut]]
        publish(stack, [*lines[:cut], *other, b"this is not JSON", b'{"v": 1, "type": "call.queued"}', ghost])
        wait_until_applied(stack)
        wait_for_port(dispatcher_port, proc=dispatcher)
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        producer.send(stack.alerts_topic, lifecycle(queue=QUEUE, started_at=time.time())[0].model_dump_json().encode())
        producer.close()
        prom, port = start_prometheus(tmp_path, {"callwatch": [worker.port], "callwatch-alerts": [dispatcher_port]},
                                      rule_files=[RULES])
        wait_for_scrapes(port, 'callwatch_alerts_failed_total{receiver="refusing"}', timeout=60)
        wait_for_scrapes(port, 'callwatch_alerts_retried_total{receiver="hook"}', timeout=30)
        time.sleep(3)  # rates need two samples
        missing: list[str] = []
        folded: list[str] = []
        both = {f"{QUEUE} @ pbx-demo", f"{QUEUE} @ {OTHER_SITE}"}
        for name, board in _boards().items():
            for title, expr in _exprs(board):
                found = prom_query(port, _substitute(expr))
                if not found:
                    missing.append(f"{name} / {title}: {expr}")
                # billing at both sites: two series (per le, channel, state, window), one per site, named
                # by it; a panel of every queue also has support and sales, each at one site, named alone
                names = {r["metric"].get("name") for r in found} - {"support", "sales"}
                if _per_queue(expr) and names != both:
                    folded.append(f"{name} / {title}: {sorted(map(str, names))}")
            for variable in board.get("templating", {}).get("list", []):
                if variable["type"] == "query":
                    metric = re.search(r"label_values\((\w+)", variable["query"]["query"])
                    assert metric and prom_query(port, metric.group(1)), variable
            for annotation in board.get("annotations", {}).get("list", []):
                prom_query(port, annotation["expr"])  # parses; shows data only while an alarm fires
        assert not missing, "panels without data:\n" + "\n".join(missing)
        assert not folded, "per-queue panels without one series per site:\n" + "\n".join(folded)
        # every rule parses, and every callwatch series it reads exists
        names = {m["metric"]["__name__"] for m in prom_query(port, 'count by (__name__) ({__name__=~"callwatch_.+"})')}
        for group in yaml.safe_load(RULES.read_text())["groups"]:
            for rule in group["rules"]:
                prom_query(port, rule["expr"])
                used = set(re.findall(r"\bcallwatch_[a-z_]+", rule["expr"]))
                assert used <= names, (rule["alert"], used - names)
        # the wallboard's big numbers are what `callwatch stats --json` says
        monkeypatch.setenv("CALLWATCH_REDIS_URL", redis_url)
        monkeypatch.setenv("CALLWATCH_REDIS_PREFIX", f"cw-{stack.name}")
        monkeypatch.setenv("CALLWATCH_EVENTS_TOPIC", stack.topic)
        stats = json.loads(CliRunner().invoke(app, ["stats", "--json"]).stdout)
        floor = _boards()["callwatch-floor"]
        exprs = {p["title"]: p["targets"][0]["expr"].replace('queue=~"$queue"', 'queue=~".+"').replace("$site", ".*")
                 for p in floor["panels"] if p["type"] == "stat"}
        # the page and `stats` name a queue at several sites "billing@pbx-b"; the dashboards "billing @ pbx-b"
        waiting = {r["metric"]["name"].replace(" @ ", "@"): float(r["value"][1])
                   for r in prom_query(port, exprs["Waiting"])}
        oldest = {r["metric"]["name"].replace(" @ ", "@"): float(r["value"][1])
                  for r in prom_query(port, exprs["Oldest wait"])}
        assert set(waiting) == {f"{QUEUE}@pbx-demo", f"{QUEUE}@{OTHER_SITE}", "support", "sales"}
        assert waiting == {q: float(v["waiting"]) for q, v in stats["queues"].items()}
        assert oldest == {q: float(v["oldest_wait"]) for q, v in stats["queues"].items()}
        assert waiting[f"{QUEUE}@{OTHER_SITE}"] > 0 and oldest[f"{QUEUE}@{OTHER_SITE}"] > 0
    finally:
        if prom is not None:
            stop_process(prom)
        stop_process(dispatcher, timeout=20)
        worker.stop()
        server.stop()
