"""Asterisk ``queue_log`` → the event contract.

Line format: ``epoch|callid|queue|agent|event|data1|data2|…`` (some versions pad to five data fields).

| Asterisk event | becomes |
|---|---|
| ENTERQUEUE (url, callerid, position) | ``call.queued`` (customer: pseudonym of the caller id) |
| CONNECT (holdtime, bridged uniqueid, ringtime) | ``call.answered`` + ``agent.state`` busy |
| COMPLETECALLER / COMPLETEAGENT (holdtime, calltime, pos.) | ``call.ended`` by customer / agent, agent available |
| ABANDON (position, origposition, waittime) | ``call.abandoned`` |
| EXITWITHTIMEOUT (position, origposition, waittime) | ``call.dequeued`` reason ``timeout`` |
| EXITWITHKEY (key, position, …) | ``call.dequeued`` reason ``other`` (the caller chose an exit key) |
| EXITEMPTY (position, origposition, waittime) | ``call.dequeued`` reason ``other`` (no members) |
| BLINDTRANSFER / ATTENDEDTRANSFER / TRANSFER | ``call.transferred`` + ``agent.state`` available |
| AGENTLOGIN / AGENTCALLBACKLOGIN | ``agent.state`` available |
| AGENTLOGOFF / AGENTCALLBACKLOGOFF | ``agent.state`` offline |
| ADDMEMBER / REMOVEMEMBER | ``agent.state`` with the agent's queues updated (offline when none is left) |
| PAUSE / PAUSEALL (reason) | ``agent.state`` away with the reason |
| UNPAUSE / UNPAUSEALL | ``agent.state`` available |
| RINGNOANSWER | nothing: a member's phone rang unanswered; the caller still waits (counted) |
| QUEUESTART, CONFIGRELOAD | ``source.heartbeat`` (the PBX is alive) |
| DID, INFO, SYSCOMPAT, OUT* (dialler) | nothing (counted as ignored) |

Known traps: an attended transfer can arrive without a CONNECT (the engine counts it as inconsistent
rather than inventing a wait); a caller can re-enter a queue with the same callid (a new leg); a static
member (never logged in nor added) can answer — the adapter adds the queue to that agent's queues
when it sees the CONNECT. Agent interfaces are reduced to their number (``Agent/1127``,
``Local/1127@callback-agent`` and ``SIP/1127-0000a`` are all agent ``1127``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from callwatch.events import Event, build
from producers.conversion import ConversionError, contract_refusal

__all__ = ["ConversionError", "ConversionResult", "QueueLogConverter", "agent_id", "convert_file", "convert_lines",
           "follow"]

AGENT_EVENTS = {
    "CONNECT", "COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER", "AGENTLOGIN",
    "AGENTCALLBACKLOGIN", "AGENTLOGOFF", "AGENTCALLBACKLOGOFF", "ADDMEMBER", "REMOVEMEMBER", "PAUSE", "PAUSEALL",
    "UNPAUSE", "UNPAUSEALL",
}
IGNORED = {"DID", "INFO", "SYSCOMPAT", "ENTERQUEUEFROMEXTERNAL"}
#: lines that only say the PBX is alive
ALIVE = {"QUEUESTART", "CONFIGRELOAD"}


def agent_id(interface: str) -> str:
    """``Agent/1127``, ``Local/1127@ctx``, ``SIP/1127-0000a`` → ``1127``."""
    name = interface.split("/", 1)[-1]
    name = name.split("@", 1)[0]
    if "-" in name and interface.split("/", 1)[0].upper() in {"SIP", "PJSIP", "IAX2"}:
        name = name.rsplit("-", 1)[0]
    return name


@dataclass
class QueueLogConverter:
    source: str = "asterisk"
    pseudonymize: Callable[[str], str | None] | None = None
    members: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def convert(self, line: str, line_no: int) -> list[Event]:
        text = line.rstrip("\r\n")
        if not text.strip():
            return []
        parts = text.split("|")
        if len(parts) < 5:
            raise ConversionError(line_no, f"expected epoch|callid|queue|agent|event, got {len(parts)} fields",
                                  "fewer than five fields")
        raw_ts, callid, queue, agent_if, event, *data = parts
        while data and data[-1] == "":
            data.pop()  # the padded format's empty data fields
        try:
            ts = datetime.fromtimestamp(float(raw_ts), timezone.utc)
        except (ValueError, OverflowError, OSError):  # OSError: beyond what the platform's time can hold
            raise ConversionError(line_no, f"epoch {raw_ts!r} is not a time", "epoch is not a time") from None
        event = event.upper()
        self._count(event)
        # the id depends on the line's content without padding: native and padded logs agree
        canonical = "|".join([raw_ts, callid, queue, agent_if, event, *data])
        digest = hashlib.sha1(f"{self.source}|{canonical}".encode()).hexdigest()[:16]
        counter = iter(range(10))

        def make(**fields: Any) -> Event:
            try:
                return build(id=f"ast-{digest}-{next(counter)}", ts=ts, source=self.source, **fields)
            except ValueError as exc:
                raise ConversionError(line_no, f"{event}: {contract_refusal(exc)}",
                                      f"{event}: the event contract refuses it") from None

        def d(i: int) -> str:
            return data[i] if i < len(data) else ""

        agent = agent_id(agent_if) if agent_if and agent_if.upper() != "NONE" else None
        contact = {"call_id": callid, "queue": queue}
        if event.startswith("OUT") or event in IGNORED:
            return []
        if event in ALIVE:
            return [make(type="source.heartbeat")]
        if event in {"ENTERQUEUE", "CONNECT", "COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT",
                     "EXITWITHKEY", "EXITEMPTY", "BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER",
                     "RINGNOANSWER"} and (not queue or queue.upper() == "NONE" or not callid or callid == "NONE"):
            raise ConversionError(line_no, f"{event} without a queue or call id", "no queue or call id")
        if event == "ENTERQUEUE":
            customer = self.pseudonymize(d(1)) if self.pseudonymize and d(1) else None
            return [make(type="call.queued", customer=customer, **contact)]
        if event == "RINGNOANSWER":
            return []
        if event in {"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"}:
            if event == "ABANDON":
                return [make(type="call.abandoned", **contact)]
            reason = "timeout" if event == "EXITWITHTIMEOUT" else "other"
            return [make(type="call.dequeued", reason=reason, **contact)]
        if event not in AGENT_EVENTS:
            raise ConversionError(line_no, f"unknown event {event!r}", "unknown event")
        if agent is None:
            raise ConversionError(line_no, f"{event} without an agent", "no agent")
        if event == "CONNECT":
            out = [make(type="call.answered", agent=agent, **contact)]
            queues = self.members.setdefault(agent, set())
            if queue not in queues:  # a static member answering: it serves this queue
                queues.add(queue)
                return [*out, make(type="agent.state", agent=agent, state="busy", queues=sorted(queues))]
            return [*out, make(type="agent.state", agent=agent, state="busy")]
        if event in {"COMPLETECALLER", "COMPLETEAGENT"}:
            ended_by = "customer" if event == "COMPLETECALLER" else "agent"
            return [make(type="call.ended", agent=agent, ended_by=ended_by, **contact),
                    make(type="agent.state", agent=agent, state="available")]
        if event in {"BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER"}:
            target = d(0) if event != "ATTENDEDTRANSFER" else d(1)
            extra = {"to_agent": target} if target else {}
            return [make(type="call.transferred", agent=agent, **contact, **extra),
                    make(type="agent.state", agent=agent, state="available")]
        if event in {"AGENTLOGIN", "AGENTCALLBACKLOGIN"}:
            queues = self.members.setdefault(agent, set())
            return [make(type="agent.state", agent=agent, state="available", queues=sorted(queues))]
        if event in {"AGENTLOGOFF", "AGENTCALLBACKLOGOFF"}:
            return [make(type="agent.state", agent=agent, state="offline")]
        if event == "ADDMEMBER":
            queues = self.members.setdefault(agent, set())
            queues.add(queue)
            return [make(type="agent.state", agent=agent, state="available", queues=sorted(queues))]
        if event == "REMOVEMEMBER":
            queues = self.members.setdefault(agent, set())
            queues.discard(queue)
            state = "available" if queues else "offline"
            return [make(type="agent.state", agent=agent, state=state, queues=sorted(queues))]
        if event in {"PAUSE", "PAUSEALL"}:
            return [make(type="agent.state", agent=agent, state="away", reason=d(0) or "paused")]
        if event in {"UNPAUSE", "UNPAUSEALL"}:
            return [make(type="agent.state", agent=agent, state="available")]
        raise ConversionError(line_no, f"unknown event {event!r}", "unknown event")


@dataclass
class ConversionResult:
    events: list[Event]
    errors: list[ConversionError]
    counts: dict[str, int]


def convert_lines(lines: Iterable[str], converter: QueueLogConverter) -> Iterator[Event | ConversionError]:
    for n, line in enumerate(lines, 1):
        try:
            yield from converter.convert(line, n)
        except ConversionError as exc:
            yield exc


def convert_file(path: str | Path, converter: QueueLogConverter) -> ConversionResult:
    events: list[Event] = []
    errors: list[ConversionError] = []
    # split on "\n" only (a stray "\r" inside a line must not shift the line numbers the errors name)
    with open(path, "rb") as fh:
        for item in convert_lines((raw.decode("utf-8", errors="replace") for raw in fh), converter):
            (errors if isinstance(item, ConversionError) else events).append(item)  # type: ignore[arg-type]
    events.sort(key=lambda e: e.ts)  # a queue_log is written in order, but ties of one second are common
    return ConversionResult(events, errors, dict(converter.counts))


def follow(path: str | Path, stop: Callable[[], bool], poll_s: float = 0.2) -> Iterator[str]:
    """Tail a growing log, surviving rotation (renamed or truncated file): yields whole lines."""
    path = Path(path)
    fh = None
    inode = None
    buffer = ""
    while not stop():
        if fh is None:
            try:
                fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - held across polls
                inode = os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                time.sleep(poll_s)
                continue
        chunk = fh.read()
        if chunk:
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            yield from lines
            continue
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is None or st.st_ino != inode or st.st_size < fh.tell():
            # rotated: finish the old file, then start on the new one from its beginning
            rest = fh.read()
            if rest:
                buffer += rest
            if buffer.strip():
                yield buffer
            buffer = ""
            fh.close()
            fh = None
            continue
        time.sleep(poll_s)
    if fh is not None:
        fh.close()
