"""Drive real workers (subprocesses), publish logs, and read topics and Redis, for the integration tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from callwatch.settings import Settings
from console.embedded import free_port, stop_process, wait_for_port
from producers.replay import make_producer, prepare, replay
from streams.state_store import RedisStateStore

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    """One test's names on the shared broker and Redis: topics, consumer group, key prefix."""

    bootstrap: str
    redis_url: str
    name: str
    clock: str = "event"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return f"events-{self.name}"

    @property
    def alerts_topic(self) -> str:
        return f"alerts-{self.name}"

    @property
    def dead_letter_topic(self) -> str:
        return f"dead-{self.name}"

    def env(self, web_port: int) -> dict[str, str]:
        return {
            **os.environ,
            "CALLWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "CALLWATCH_REDIS_URL": self.redis_url,
            "CALLWATCH_EVENTS_TOPIC": self.topic,
            "CALLWATCH_ALERTS_TOPIC": self.alerts_topic,
            "CALLWATCH_DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "CALLWATCH_APP_ID": f"cw-{self.name}",
            "CALLWATCH_REDIS_PREFIX": f"cw-{self.name}",
            "CALLWATCH_CLOCK": self.clock,
            "CALLWATCH_WEB_PORT": str(web_port),
            "CALLWATCH_WEB_HOST": "127.0.0.1",
            "CALLWATCH_SESSION_TIMEOUT_S": "4",
            "CALLWATCH_TOPIC_PARTITIONS": "2",
            **self.extra_env,
        }

    def settings(self) -> Settings:
        env = self.env(0)
        return Settings(
            kafka_bootstrap=self.bootstrap, redis_url=self.redis_url, events_topic=self.topic,
            alerts_topic=self.alerts_topic, dead_letter_topic=self.dead_letter_topic,
            redis_prefix=env["CALLWATCH_REDIS_PREFIX"],
        )


class Worker:
    """``callwatch worker`` as its own process, so that a test can SIGKILL it."""

    def __init__(self, stack: Stack, log_dir: Path) -> None:
        self.stack = stack
        self.port = free_port()
        self.log_path = log_dir / f"worker-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> Worker:
        return self.launch().ready(timeout)

    def launch(self) -> Worker:
        """Start the process and return at once (workers launched together join the group's first
        generation together; :meth:`ready` waits for a partition)."""
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "console", "worker"], cwd=ROOT,
                                         env=self.stack.env(self.port), stdout=log, stderr=subprocess.STDOUT)
        return self

    def partitions(self) -> list[int]:
        """The partitions the worker owns now (its /healthz)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return list(orjson.loads(r.read())["partitions"])
        except urllib.error.HTTPError as exc:  # 503 while a condition is on: the body still says
            return list(orjson.loads(exc.read())["partitions"])
        except OSError:  # not listening yet, or gone
            return []

    def ready(self, timeout: float = 90.0) -> Worker:
        """Until the worker owns a partition."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if orjson.loads(r.read())["partitions"]:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready: {self.log_path.read_text()[-3000:]}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=20)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """The workers a test starts (append them), stopped when it ends, whatever happened. A test module uses it
    with ``from tests.integration.harness import workers as workers``."""
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


@dataclass
class RedisClusterNodes:
    """A Redis Cluster of Debian's ``redis-server`` processes, one master each, all slots assigned."""

    ports: list[int]
    procs: list[subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    import socket

    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def start_redis_cluster(work: Path, masters: int = 3, timeout: float = 60.0) -> RedisClusterNodes:
    """``masters`` cluster-enabled ``redis-server`` processes joined by ``redis-cli --cluster create``; returns
    once every node says ``cluster_state:ok``."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    assert binary and cli, "Debian's redis-server (and redis-cli) is required (make test installs it)"
    nodes = RedisClusterNodes([], [])
    try:
        for _ in range(masters):
            port = _cluster_port()
            data = work / f"node-{port}"
            data.mkdir(parents=True)
            nodes.procs.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
                 "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "5000", "--logfile", str(data / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
            nodes.ports.append(port)
            wait_for_port(port, proc=nodes.procs[-1])
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in nodes.ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + timeout
        for port in nodes.ports:
            while b"cluster_state:ok" not in subprocess.run([cli, "-p", str(port), "cluster", "info"],
                                                            capture_output=True, timeout=10).stdout:
                assert time.monotonic() < deadline, f"the cluster's node {port} never became ok"
                time.sleep(0.2)
    except BaseException:
        nodes.stop()
        raise
    return nodes


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the producers' default partitioner gives a key (Kafka's murmur2)."""
    from kafka.partitioner.default import murmur2

    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def sites_on_partitions(partitions: int, per_partition: int = 1) -> list[str]:
    """Site names (an event's ``source``: its key) that land ``per_partition`` on each partition."""
    found: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while any(len(v) < per_partition for v in found.values()):
        name = f"site-{n:03d}"
        n += 1
        bucket = found[partition_of(name.encode(), partitions)]
        if len(bucket) < per_partition:
            bucket.append(name)
    return [name for p in range(partitions) for name in found[p]]


def site_events(sites: Iterable[str], hours: float, scale: float = 1.0,
                scenario_name: str = "demo") -> dict[str, list[bytes]]:
    """Per site, a simulated floor of a built-in scenario (its own seed) whose queues, agents, contacts
    and customers carry the site's name: one PBX per site, as callwatch's partitioning expects."""
    from datetime import datetime, timezone

    from callwatch.events import encode
    from producers.scenario import Scenario
    from producers.simulator import simulate

    out: dict[str, list[bytes]] = {}
    start = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    for seed, site in enumerate(sites, start=1):
        scenario = Scenario.builtin(scenario_name).model_copy(update={"source": site, "start": start, "hours": hours})
        events, _ = simulate(scenario.scaled(scale) if scale != 1.0 else scenario, seed=seed)
        lines = []
        for e in events:
            doc = orjson.loads(encode(e))
            for name in ("queue", "to_queue", "agent", "to_agent", "call_id", "customer"):
                if isinstance(doc.get(name), str):
                    doc[name] = f"{site}/{doc[name]}"
            if isinstance(doc.get("queues"), list):
                doc["queues"] = [f"{site}/{q}" for q in doc["queues"]]
            lines.append(orjson.dumps(doc))
        out[site] = lines
    return out


def interleave(per_site: dict[str, list[bytes]]) -> list[bytes]:
    """The sites' events as one log, in time order (each site's own order kept), as they would arrive."""
    import heapq

    def keyed(site: str, lines: list[bytes]) -> Iterator[tuple[str, int, bytes]]:
        return ((orjson.loads(raw)["ts"], i, raw) for i, raw in enumerate(lines))

    return [raw for _, _, raw in heapq.merge(*(keyed(s, v) for s, v in per_site.items()))]


def publish(stack: Stack, lines: Iterable[bytes], speed: float | None = None) -> int:
    producer = make_producer(stack.bootstrap)
    result = replay(prepare(lines), producer, stack.topic, speed)
    producer.close()  # type: ignore[attr-defined]
    assert result.ok, result
    return result.sent


def end_offsets(stack: Stack, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def applied_offsets(stack: Stack) -> dict[int, int]:
    async def read() -> dict[int, int]:
        store = RedisStateStore(stack.redis_url, f"cw-{stack.name}")
        try:
            return {p.partition: p.offset for p in await store.load_all(stack.topic)}
        finally:
            await store.close()

    return asyncio.run(read())


def wait_until_applied(stack: Stack, timeout: float = 120.0) -> None:
    """Until Redis holds every message of the events topic (last offset = end offset - 1).

    The end offsets are read again once they are reached, until they hold still: right after a publish
    the broker may still report an older end (the embedded one did: a test saw 16 of 40 events applied
    and took them for all)."""
    ends = end_offsets(stack, stack.topic)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        applied = applied_offsets(stack)
        if all(applied.get(p, -1) >= end - 1 for p, end in ends.items() if end > 0):
            again = end_offsets(stack, stack.topic)
            if again == ends:
                return
            ends = again
            continue
        time.sleep(0.2)
    raise TimeoutError(f"not applied: ends {ends}, applied {applied_offsets(stack)}")


def read_topic(stack: Stack, topic: str, expect: int | None = None, timeout: float = 30.0) -> list[Any]:
    """Every message of a topic, decoded from JSON (waits for ``expect`` messages when given)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msg in consumer:
                out.append((msg.key, orjson.loads(msg.value), msg.timestamp))
            if expect is None or len(out) >= expect:
                break
    finally:
        consumer.close()
    return out


def start_prometheus(work: Path, jobs: dict[str, list[int]], rule_files: Iterable[Path] = ()) -> tuple[
        subprocess.Popen[bytes], int]:
    """Debian's Prometheus scraping ``jobs`` (job name → local ports) every second."""
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is required (make test installs it)"
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}]}
                           for job, ports in jobs.items()],
    }))
    with open(work / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=log)
    wait_for_port(port, proc=proc)
    return proc, port


def prom_query(port: int, expr: str) -> list[dict[str, Any]]:
    """An instant query; fails the test when Prometheus rejects it (a parse error says so)."""
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{expr!r}: HTTP {exc.code} {exc.read()[:300]!r}") from None
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def wait_for_scrapes(port: int, expr: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if prom_query(port, expr):
                return
        except AssertionError as exc:  # 503 until its storage is open
            assert "HTTP 503" in str(exc), exc
        assert time.monotonic() < deadline, f"Prometheus never returned {expr}"
        time.sleep(0.5)


class HookServer:
    """A real HTTP receiver on a thread: records (arrival time, JSON body) of every POST it accepts.

    ``answer(path, n)`` gives the status of the n-th request (from 1) to ``path``; 204 by default.
    """

    def __init__(self, port: int | None = None, answer: Callable[[str, int], int] = lambda path, n: 204) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.port = port or free_port()
        self.got: list[tuple[float, dict[str, Any]]] = []
        got = self.got
        calls: dict[str, int] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls[self.path] = calls.get(self.path, 0) + 1  # per path: receivers' requests race
                status = answer(self.path, calls[self.path])
                if status < 300:
                    got.append((time.time(), orjson.loads(body)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    def start(self) -> HookServer:
        import threading

        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
