"""`callwatch demo` as a new user meets it: it refuses ports that are taken, and whatever stops it —
SIGTERM, or its worker dying — nothing it started is left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
#: the machine is shared and slow: starting the broker, Redis and a worker can take a while
START_TIMEOUT_S = 150


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _start_demo(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, dict[str, int]]:
    ports = {"--web-port": free_port(), "--wallboard-port": free_port(), "--kafka-port": free_port(),
             "--redis-port": free_port()}
    log = tmp_path / "demo.err"
    args = [arg for option, port in ports.items() for arg in (option, str(port))]
    proc = subprocess.Popen([sys.executable, "-m", "console", "demo", *args], cwd=tmp_path,
                            env={**os.environ, "CALLWATCH_DEMO_DIR": str(tmp_path / "demo"), "COLUMNS": "80"},
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115 - the child's
    deadline = time.monotonic() + START_TIMEOUT_S
    while "wallboard page" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    # the simulator (at 30x, for minutes) starts right after the banner
    while not any(" simulate " in _command(p) for p in _descendants(proc.pid)):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc, log, ports


def _stopped_all(proc: subprocess.Popen[bytes], started: set[int], timeout: float = 60) -> None:
    proc.wait(timeout=timeout)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {p: _command(p) for p in started if _alive(p)}
    assert not left, f"still running after the demo exited: {left}"


def test_the_demo_refuses_a_port_that_is_taken(tmp_path: Path) -> None:
    """A port in use (another demo, say) is refused before anything starts: exit 1, the port and its
    option named, nothing started, no other port chosen."""
    from typer.testing import CliRunner

    from console.main import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = CliRunner().invoke(app, ["demo", "--redis-port", str(port)],
                                  env={"CALLWATCH_DEMO_DIR": str(tmp_path / "demo"), "COLUMNS": "200"})
    assert done.exit_code == 1, done.output
    said = " ".join(done.output.split())
    assert f"port {port} (--redis-port) taken" in said and "another demo" in said
    assert not (tmp_path / "demo").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_sigterm_stops_everything_the_demo_started(tmp_path: Path) -> None:
    """SIGTERM to `callwatch demo` stops the broker, Redis, the worker, the page server and the
    simulation with it: no process it started survives, and its ports are free again."""
    proc, log, ports = _start_demo(tmp_path)
    started = _descendants(proc.pid)
    assert len(started) >= 5, {p: _command(p) for p in started}
    proc.send_signal(signal.SIGTERM)
    _stopped_all(proc, started)
    assert proc.returncode == 128 + signal.SIGTERM, log.read_text()
    assert "stopping everything the demo started" in log.read_text()
    for port in ports.values():
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


@pytest.mark.integration
@pytest.mark.slow
def test_the_demo_stops_when_its_worker_dies(tmp_path: Path) -> None:
    """The worker killed (SIGKILL): the demo says so, naming its log, stops the rest and exits 1."""
    proc, log, _ = _start_demo(tmp_path)
    started = _descendants(proc.pid)
    worker = next(p for p in started if _command(p).rstrip().endswith("console worker"))
    os.kill(worker, signal.SIGKILL)
    _stopped_all(proc, started)
    said = " ".join(log.read_text().split())
    assert proc.returncode == 1 and "the worker stopped (exit -9), so the demo stops" in said, said
    assert "worker.log" in said
