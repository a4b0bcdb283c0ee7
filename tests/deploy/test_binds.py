"""callwatch's own servers listen on loopback unless told otherwise: the wallboard page server and the
alert dispatcher's metrics, each with its setting to opt in (the compose file does, for its network).

Whether a server took 127.0.0.1 or 0.0.0.0 is seen from a second loopback address: on Linux all of
127.0.0.0/8 reaches this machine, so 127.0.0.2 reaches a server bound to 0.0.0.0 and is refused by one
bound to 127.0.0.1 — as a connection from another machine would be."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alerts.dispatcher_app import serve_metrics
from callwatch.settings import Settings
from console.embedded import free_port, stop_process, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
#: an address of this machine that is not 127.0.0.1 (what "from elsewhere" looks like here)
OTHER = "127.0.0.2"


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect((host, port))
        except OSError:
            return False
        return True


@contextmanager
def _wallboard(tmp_path: Path, port: int, **env: str) -> Iterator[None]:
    """``callwatch wallboard --port PORT`` as an operator starts it: no --host, no settings file."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
             "CALLWATCH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", **env}
    with open(tmp_path / "wallboard.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "console", "wallboard", "--port", str(port)], cwd=tmp_path,
                                env=clean, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=proc)
        yield
    finally:
        stop_process(proc)


def test_the_wallboard_listens_on_loopback_by_default(tmp_path: Path) -> None:
    """Started without --host, the page server answers on 127.0.0.1 and refuses another address."""
    port = free_port()
    with _wallboard(tmp_path, port):
        assert _reachable("127.0.0.1", port)
        assert not _reachable(OTHER, port), "the wallboard listens on every interface"


def test_the_wallboard_opts_into_every_interface_by_its_setting(tmp_path: Path) -> None:
    """CALLWATCH_WALLBOARD_HOST=0.0.0.0 (what the compose file sets) makes it reachable from elsewhere."""
    port = free_port()
    with _wallboard(tmp_path, port, CALLWATCH_WALLBOARD_HOST="0.0.0.0"):
        assert _reachable(OTHER, port)


@pytest.mark.parametrize(("host", "from_elsewhere"), [(None, False), ("0.0.0.0", True)])
def test_the_dispatcher_metrics_listen_where_the_setting_says(host: str | None, from_elsewhere: bool) -> None:
    """The dispatcher's /metrics listens on 127.0.0.1 by default, on every interface when
    CALLWATCH_ALERTS_METRICS_HOST says 0.0.0.0."""
    settings = Settings() if host is None else Settings(alerts_metrics_host=host)
    port = free_port()
    server, thread = serve_metrics(settings, port, CollectorRegistry())
    try:
        assert _reachable("127.0.0.1", port)
        assert _reachable(OTHER, port) is from_elsewhere
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
