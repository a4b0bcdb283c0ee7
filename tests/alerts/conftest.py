"""The real servers the receivers are tested against: an SMTP server that requires STARTTLS and AUTH,
and Debian's Alertmanager."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller

from console.embedded import free_port, stop_process, wait_for_port
from tests.alerts.receiver_kit import Inbox, smtp_authenticator


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    """aiosmtpd on a free port that requires STARTTLS before anything, and AUTH over TLS."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, auth_required=True, authenticator=smtp_authenticator)
    controller.start()
    try:
        yield inbox, port, ca_file
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's prometheus-alertmanager, started here."""
    work = tmp_path_factory.mktemp("alertmanager")
    (work / "am.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    port = free_port()
    with open(work / "log", "wb") as log:
        proc = subprocess.Popen(["prometheus-alertmanager", f"--config.file={work / 'am.yml'}",
                                 f"--storage.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
