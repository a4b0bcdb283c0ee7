"""E-mail over SMTP: STARTTLS (or implicit TLS) with credentials from the environment.

Each message carries a ``Message-ID`` built from the alarm id, and repeats and the resolve refer to the
start's (``In-Reply-To``), so a mail client shows one incident as one thread. SMTP replies in 4xx are
temporary (retried), 5xx permanent (dead-lettered at once).

Names in a mail come from events (queues, sources, agents, contact ids), so none may shape it: the
headers are set through :class:`email.message.EmailMessage` with the default policy, which encodes and
folds them (RFC 5322's line limits, RFC 2047 for what is not ASCII) and refuses a value holding CR or
LF — so every line break a name holds is turned into a space first (:func:`one_line`): a queue named
``billing<CR><LF>Bcc: someone`` is a subject, not a second header, and its alarm is still delivered. Each
line of the body is flattened the same way, so that a name cannot forge a line of its own (a fake
"Wallboard:" link). The body is plain text: there is no HTML part to escape.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field

from alerts.links import Link
from alerts.messages import facts, headline
from alerts.receivers.base import DeliveryError, PermanentDeliveryError, Redactor, secret_from_env
from callwatch.alarm import Alarm, iso_ms


class EmailSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["email"]
    name: str
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    #: starttls (submission, port 587), tls (implicit, port 465) or none (a relay on localhost only)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    from_addr: str
    to: list[str] = Field(min_length=1)
    #: a CA bundle for a server with a private certificate; the system's trust store otherwise
    ca_file: str | None = None
    timeout_s: float = Field(default=15.0, gt=0)


def one_line(text: str) -> str:
    """``text`` on one line: every line boundary Python knows (CR, LF, VT, FF, the file, group and
    record separators, NEL, U+2028, U+2029) becomes a space."""
    return " ".join(text.splitlines()) if text else text


#: the longest left part of a Message-ID kept as it is; SMTP refuses a line over 998 characters and a
#: msg-id cannot be folded, so a longer one (a queue named at length) is shortened with a digest
MSGID_LEFT_MAX = 100


def _msgid(alarm_id: str) -> str:
    # a msg-id's left part is a dot-atom (RFC 5322): no colons, so the id's separators become dots
    left = re.sub(r"[^A-Za-z0-9_-]+", ".", alarm_id).strip(".")
    if len(left) > MSGID_LEFT_MAX:
        left = f"{left[:MSGID_LEFT_MAX - 65].rstrip('.')}.{hashlib.sha256(alarm_id.encode()).hexdigest()}"
    return f"<{left}@callwatch>"


def email_message(alarm: Alarm, spec: EmailSpec, links: Sequence[Link] = ()) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = one_line(f"[callwatch] {headline(alarm)}")
    mail["From"] = spec.from_addr
    mail["To"] = ", ".join(spec.to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = _msgid(alarm.id)
    if alarm.status in ("repeated", "resolved"):
        # a repeat and the resolve reply to the start, whose id is <key>:<started ms>:started
        thread = _msgid(f"{alarm.incident}:started")
        mail["In-Reply-To"] = thread
        mail["References"] = thread
    rows = facts(alarm)
    width = max((len(label) for label, _ in rows), default=0)
    lines = [alarm.summary, "", *(f"{label:<{width}}  {text}" for label, text in rows), ""]
    if alarm.evidence:  # an integrity signal: the contacts to listen to
        lines += ["Contacts: " + ", ".join(alarm.evidence), ""]
    if links:
        lines += [*(f"{link.text}: {link.url}" for link in links), ""]
    lines += [f"Alarm: {alarm.alarm} ({alarm.status}, severity {alarm.severity})",
              f"Key: {alarm.key}", f"At: {iso_ms(alarm.at)}"]
    mail.set_content("\n".join(one_line(line) for line in lines) + "\n")
    return mail


class EmailReceiver:
    def __init__(self, spec: EmailSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self._username = secret_from_env(spec.name, spec.username_env, "SMTP user name")
        self._password = secret_from_env(spec.name, spec.password_env, "SMTP password")
        if (self._username is None) != (self._password is None):
            raise ValueError(f"receiver {spec.name!r}: give both username_env and password_env, or neither")
        self._redact = Redactor([self._password])
        self._tls = ssl.create_default_context(cafile=spec.ca_file)

    async def send(self, alarm: Alarm, links: Sequence[Link] = ()) -> None:
        spec = self.spec
        try:
            await aiosmtplib.send(
                email_message(alarm, spec, links), hostname=spec.host, port=spec.port,
                username=self._username, password=self._password,
                use_tls=spec.security == "tls", start_tls=spec.security == "starttls",
                tls_context=self._tls if spec.security != "none" else None, timeout=spec.timeout_s)
        except aiosmtplib.SMTPResponseException as exc:
            reason = self._redact(f"{self.name}: SMTP {exc.code} {exc.message}")
            raise (PermanentDeliveryError if exc.code >= 500 else DeliveryError)(reason) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [err.code for err in exc.recipients]
            reason = self._redact(f"{self.name}: recipients refused {codes}")
            raise (PermanentDeliveryError if all(c >= 500 for c in codes) else DeliveryError)(reason) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(self._redact(f"{self.name}: {type(exc).__name__}: {exc}")) from None
