"""``callwatch demo``: an embedded broker and Redis (``console.embedded``), a worker, the wallboard page
and a live simulation, each its own ``callwatch`` process, stopped together on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from callwatch.urls import redact_url
from console.common import CommandError, err, safe


def _callwatch(*args: str) -> list[str]:
    """The command line of a ``callwatch`` child process (this interpreter, whatever the PATH holds)."""
    return [sys.executable, "-m", "console", *args]


def demo(
    speed: Annotated[float, typer.Option(help="log seconds per second of the replay")] = 30.0,
    scenario: Annotated[str, typer.Option(help="the scenario to simulate live (file or built-in)")] = "demo",
    seed: Annotated[int, typer.Option(help="the simulation's seed")] = 8,
    web_port: int = 6066,
    wallboard_port: int = 6068,
    kafka_port: int = 9092,
    redis_port: int = 6379,
) -> None:
    """Start an embedded broker, Redis and a worker, simulate the example day live, and say where to look."""
    from console.embedded import ServiceError, port_or_free, start_redis, start_tansu, stop_process, wait_for_port

    workdir = Path(os.environ.get("CALLWATCH_DEMO_DIR", ".demo")).resolve()
    workdir.mkdir(exist_ok=True)
    web_port = port_or_free(web_port)
    try:
        broker = start_tansu(port_or_free(kafka_port), workdir)
        redis = start_redis(port_or_free(redis_port), workdir)
    except ServiceError as exc:
        raise CommandError(f"could not start the embedded services: {exc}") from exc
    env = {**os.environ, "CALLWATCH_KAFKA_BOOTSTRAP": broker.url, "CALLWATCH_REDIS_URL": redis.url,
           "CALLWATCH_CLOCK": "event", "CALLWATCH_WEB_PORT": str(web_port),
           "CALLWATCH_TOPIC_PARTITIONS": "1"}
    worker_log = open(workdir / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
    worker_proc = subprocess.Popen(_callwatch("worker"), env=env, stdout=worker_log, stderr=subprocess.STDOUT)
    board_port = port_or_free(wallboard_port)
    board_log = open(workdir / "wallboard.log", "wb")  # noqa: SIM115 - lives as long as the page server
    board_proc = subprocess.Popen(_callwatch("wallboard", "--port", str(board_port), "--host", "127.0.0.1"),
                                  env=env, stdout=board_log, stderr=subprocess.STDOUT)
    procs = [worker_proc, board_proc]
    try:
        wait_for_port(web_port, timeout=60, proc=worker_proc)
        wait_for_port(board_port, timeout=30, proc=board_proc)
        broker_url, redis_url = safe(redact_url(broker.url)), safe(redact_url(redis.url))
        err.print(f"""[bold]callwatch demo[/bold] — embedded broker {broker_url}, Redis {redis_url}
  wallboard page (for a TV):   http://127.0.0.1:{board_port}/
  wallboard in this terminal:  CALLWATCH_REDIS_URL={redis_url} callwatch stats --watch
  figures as JSON:             CALLWATCH_REDIS_URL={redis_url} callwatch stats --json
  Prometheus metrics:          http://127.0.0.1:{web_port}/metrics
  alarms topic:                callwatch-alerts (also logged in {safe(workdir / 'worker.log')})
The story: billing falls behind mid-morning (a burst while agents are on break); callers abandon,
one waits past three minutes and the wait alarm fires; support stays healthy. At {speed:g}x.
""")
        sim = subprocess.run(_callwatch("simulate", "--scenario", scenario, "--seed", str(seed), "--speed", str(speed)),
                             env=env, check=False)
        if sim.returncode != 0:
            err.print("[red]the simulation did not publish every event[/red]")
        err.print("simulation done; the monitor keeps running — Ctrl-C stops everything.")
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            stop_process(p, timeout=15)
        broker.stop()
        redis.stop()
