"""``callwatch demo``: an embedded broker and Redis (``console.embedded``), a worker, the wallboard page
and a live simulation, each its own process in its own process group, all stopped together.

What it starts it stops, whatever stops it: Ctrl-C (SIGINT), SIGTERM (a supervisor, ``kill``), its
worker dying (it says so and exits 1), or a failure while starting. It uses the ports it is given or
refuses, before starting anything, naming the port that is taken: a second demo beside the first must
not quietly run on other ports than the ones it printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Annotated

import typer
from rich.text import Text

from callwatch.urls import redact_url
from console.common import CommandError, err, safe

#: how often the demo looks whether its children still run
_POLL_S = 0.5


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived: stop everything started, then exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _callwatch(*args: str) -> list[str]:
    """The command line of a ``callwatch`` child process (this interpreter, whatever the PATH holds)."""
    return [sys.executable, "-m", "console", *args]


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT become :class:`_Stopped` in the main thread while the block runs."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signum)

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


#: what the built-in scenario with the demo's seed does (README, "The demo's story")
_STORY = """The story: billing falls behind (a burst while agents are on break): its
abandonment and service-level alarms start, one caller waits past three
minutes and the wait alarm fires; support alarms for half an hour too.
"""


def banner(broker_url: str, redis_url: str, board_port: int, web_port: int, workdir: Path, speed: float,
           story: bool = True) -> str:
    """Where to look, in lines that fit 80 columns: each command on a line of its own, to copy whole;
    the story when the day simulated is the demo's."""
    return f"""[bold]callwatch demo[/bold] — broker {safe(broker_url)}, Redis {safe(redis_url)}, at {speed:g}x
  wallboard page (for a TV)   http://127.0.0.1:{board_port}/
  Prometheus metrics          http://127.0.0.1:{web_port}/metrics
  logs                        {safe(workdir)}/
  alarms                      topic callwatch-alerts, and worker.log
The wallboard in another terminal:
  export CALLWATCH_REDIS_URL={safe(redis_url)}
  callwatch stats --watch
{_STORY if story else ""}Ctrl-C stops everything.
"""


def _refuse_taken(ports: dict[str, int]) -> None:
    from console.embedded import port_is_free

    taken = [f"{port} ({option})" for option, port in ports.items() if not port_is_free(port)]
    if taken:
        raise CommandError(f"port {', '.join(taken)} taken on 127.0.0.1 — is another demo running? Stop it, "
                           f"or give free ports with the options named")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def demo(
    speed: Annotated[float, typer.Option(help="log seconds per second of the simulation")] = 30.0,
    scenario: Annotated[str, typer.Option(help="the scenario to simulate live (file or built-in)")] = "demo",
    seed: Annotated[int, typer.Option(help="the simulation's seed")] = 8,
    web_port: Annotated[int, typer.Option(help="the worker's /metrics and /healthz")] = 6066,
    wallboard_port: Annotated[int, typer.Option(help="the wallboard page")] = 6068,
    kafka_port: Annotated[int, typer.Option(help="the embedded broker")] = 9092,
    redis_port: Annotated[int, typer.Option(help="the embedded Redis")] = 6379,
) -> None:
    """Start an embedded broker, Redis and a worker, simulate the example day live, and say where to look."""
    from console.embedded import Service, ServiceError, start_redis, start_tansu, stop_processes, wait_for_port

    _refuse_taken({"--web-port": web_port, "--wallboard-port": wallboard_port, "--kafka-port": kafka_port,
                   "--redis-port": redis_port})
    workdir = Path(os.environ.get("CALLWATCH_DEMO_DIR", ".demo")).resolve()
    workdir.mkdir(exist_ok=True)
    services: list[Service] = []
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []

    def child(name: str, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the child
        logs.append(log)
        # its own process group: stopped with whatever it starts, and a Ctrl-C reaches it through us
        procs.append(subprocess.Popen(_callwatch(*args), env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
        return procs[-1]

    status = 0
    with _stop_on_signals():
        try:
            try:
                services.append(start_tansu(kafka_port, workdir))
                services.append(start_redis(redis_port, workdir))
            except ServiceError as exc:
                raise CommandError(f"could not start the embedded services: {exc}") from exc
            broker, redis = services
            env = {**os.environ, "CALLWATCH_KAFKA_BOOTSTRAP": broker.url, "CALLWATCH_REDIS_URL": redis.url,
                   "CALLWATCH_CLOCK": "event", "CALLWATCH_WEB_PORT": str(web_port),
                   "CALLWATCH_TOPIC_PARTITIONS": "1"}
            worker = child("worker", "worker", env=env)
            board = child("wallboard", "wallboard", "--port", str(wallboard_port), "--host", "127.0.0.1", env=env)
            try:
                wait_for_port(web_port, timeout=90, proc=worker)
                wait_for_port(wallboard_port, timeout=30, proc=board)
            except ServiceError as exc:
                raise CommandError(f"the demo did not start: {exc} (logs in {workdir})") from exc
            err.print(banner(redact_url(broker.url), redact_url(redis.url), wallboard_port, web_port, workdir, speed,
                             story=(scenario, seed) == ("demo", 8)), soft_wrap=True)
            sim = child("simulator", "simulate", "--scenario", scenario, "--seed", str(seed), "--speed", str(speed),
                        env=env)
            told = False
            while True:
                for proc, name in ((worker, "worker"), (board, "wallboard page server")):
                    if proc.poll() is not None:
                        log_path = workdir / ("worker.log" if proc is worker else "wallboard.log")
                        err.print(Text(_tail(log_path), style="dim"))
                        raise CommandError(f"the {name} stopped (exit {proc.returncode}), so the demo stops "
                                           f"(its log: {log_path})")
                if not told and sim.poll() is not None:
                    told = True
                    if sim.returncode != 0:
                        err.print(f"[red]the simulation did not publish every event[/red] (see "
                                  f"{safe(workdir / 'simulator.log')})")
                    err.print("simulation done; the monitor keeps running — Ctrl-C stops everything.")
                time.sleep(_POLL_S)
        except _Stopped as stopped:
            err.print(f"{stopped} received: stopping everything the demo started")
            status = 128 + stopped.signum if stopped.signum == signal.SIGTERM else 0
        finally:
            # ignore a second Ctrl-C while cleaning up: an impatient one would leave the rest running
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            # ours first, together (the worker writes its last state while Redis and the broker still run)
            stop_processes(procs, timeout=15)
            stop_processes([service.proc for service in services])
            for log in logs:
                log.close()
    if status:
        raise typer.Exit(status)
