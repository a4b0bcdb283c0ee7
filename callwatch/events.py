"""The telephony event contract, version 1 (``shared/spec/EVENTS.md``), as pydantic models.

This is the only place that knows the wire format. Everything past :func:`decode` works on
validated models; everything that fails validation becomes an :class:`InvalidEvent` carrying the
original bytes and a reason, so that the stream can dead-letter it instead of stopping.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)


class Channel(str, Enum):
    voice = "voice"
    chat = "chat"
    email = "email"
    social = "social"
    callback = "callback"


class AgentStateName(str, Enum):
    offline = "offline"
    available = "available"
    busy = "busy"
    wrap_up = "wrap_up"
    away = "away"


class _Event(BaseModel):
    # Unknown extra fields are ignored (the contract is forward compatible); models are frozen
    # because the engine keeps some of them (held out-of-order events) and must not see them change.
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1]
    id: Annotated[str, Field(min_length=1, max_length=128)]
    ts: AwareDatetime
    source: str | None = None

    @property
    def epoch(self) -> float:
        """Event time as POSIX seconds (the engine's time unit)."""
        return self.ts.timestamp()


class _ContactEvent(_Event):
    call_id: Annotated[str, Field(min_length=1)]
    queue: Annotated[str, Field(min_length=1)]
    channel: Channel = Channel.voice
    priority: Annotated[int, Field(ge=0, le=9)] = 0


class CallQueued(_ContactEvent):
    type: Literal["call.queued"]
    customer: str | None = None
    waiting_since: AwareDatetime | None = None


class CallAnswered(_ContactEvent):
    type: Literal["call.answered"]
    #: required, but null where the source's own record names nobody (some CDR exports): the contact
    #: counts in every queue figure and in no agent's
    agent: Annotated[str, Field(min_length=1)] | None


class CallAbandoned(_ContactEvent):
    type: Literal["call.abandoned"]


class CallDequeued(_ContactEvent):
    type: Literal["call.dequeued"]
    reason: Literal["timeout", "overflow", "callback", "voicemail", "other"]
    to_queue: str | None = None


class CallTransferred(_ContactEvent):
    type: Literal["call.transferred"]
    agent: Annotated[str, Field(min_length=1)]
    to_queue: str | None = None
    to_agent: str | None = None


class CallEnded(_ContactEvent):
    type: Literal["call.ended"]
    #: null only after a ``call.answered`` whose agent is null
    agent: Annotated[str, Field(min_length=1)] | None
    ended_by: Literal["customer", "agent", "system"]
    hold_s: Annotated[float, Field(ge=0)] | None = None


class CallWrapped(_ContactEvent):
    type: Literal["call.wrapped"]
    agent: Annotated[str, Field(min_length=1)]


class CallDisposition(_ContactEvent):
    type: Literal["call.disposition"]
    agent: Annotated[str, Field(min_length=1)]
    resolved: bool
    complaint: bool | None = None
    category: str | None = None


class AgentState(_Event):
    type: Literal["agent.state"]
    agent: Annotated[str, Field(min_length=1)]
    state: AgentStateName
    reason: str | None = None
    queues: list[str] | None = None
    team: str | None = None


class SurveyOffered(_Event):
    type: Literal["survey.offered"]
    call_id: Annotated[str, Field(min_length=1)]
    agent: Annotated[str, Field(min_length=1)]
    queue: Annotated[str, Field(min_length=1)]
    channel: Channel = Channel.voice


class SurveyCompleted(_Event):
    type: Literal["survey.completed"]
    call_id: Annotated[str, Field(min_length=1)]
    agent: Annotated[str, Field(min_length=1)]
    queue: Annotated[str, Field(min_length=1)]
    channel: Channel = Channel.voice
    satisfied: Annotated[int, Field(ge=1, le=5)] | None = None
    professional: Annotated[int, Field(ge=1, le=5)] | None = None
    more_help: bool | None = None

    @model_validator(mode="after")
    def _at_least_one_answer(self) -> SurveyCompleted:
        if self.satisfied is None and self.professional is None and self.more_help is None:
            raise ValueError("needs at least one of satisfied, professional, more_help")
        return self


class SourceHeartbeat(_Event):
    type: Literal["source.heartbeat"]
    source: Annotated[str, Field(min_length=1)]


Event = Annotated[
    CallQueued | CallAnswered | CallAbandoned | CallDequeued | CallTransferred | CallEnded | CallWrapped
    | CallDisposition | AgentState | SurveyOffered | SurveyCompleted | SourceHeartbeat,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[str, ...] = (
    "call.queued", "call.answered", "call.abandoned", "call.dequeued", "call.transferred", "call.ended",
    "call.wrapped", "call.disposition", "agent.state", "survey.offered", "survey.completed",
    "source.heartbeat",
)

_adapter: TypeAdapter[Event] = TypeAdapter(Event)


class InvalidEvent(Exception):
    """An input that is not a valid event: the original bytes and a one-line reason."""

    def __init__(self, raw: bytes, reason: str, code: str) -> None:
        super().__init__(reason)
        self.raw = raw
        self.reason = reason
        #: a short, low-cardinality label for metrics (``not_json``, ``bad_version``, ``invalid``, …)
        self.code = code


def _summarise(err: ValidationError) -> tuple[str, str]:
    first = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first["loc"])
    kind = first["type"]
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        code = "unknown_type" if kind == "union_tag_invalid" else "missing_type"
    elif loc == "v" or loc.endswith(".v"):
        code = "bad_version"
    elif kind == "missing":
        code = "missing_field"
    elif "datetime" in kind or "timezone" in kind:
        code = "bad_timestamp"
    else:
        code = "invalid_field"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return code, f"{loc or 'event'}: {first['msg']}{more}"


def decode(raw: bytes | str) -> Event:
    """Validate one JSON event. Raises :class:`InvalidEvent` with a reason instead of anything else."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(data, f"not JSON: {exc}", "not_json") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(data, f"not a JSON object but {type(obj).__name__}", "not_object")
    try:
        return _adapter.validate_python(obj)
    except ValidationError as exc:
        code, reason = _summarise(exc)
        raise InvalidEvent(data, reason, code) from None


#: fields written even when null: required, but nullable (the contract's ``agent: null``), so that
#: leaving them out would make the event invalid when it is read back
_KEEP_NULL: dict[type[_Event], tuple[str, ...]] = {CallAnswered: ("agent",), CallEnded: ("agent",)}


def encode(event: _Event) -> bytes:
    """Serialise an event to its contract JSON (no nulls for unset optional fields)."""
    data = event.model_dump(mode="json", exclude_none=True)
    for name in _KEEP_NULL.get(type(event), ()):
        data.setdefault(name, None)
    return orjson.dumps(data)


def build(**fields: Any) -> Event:
    """Construct a validated event from Python values (used by producers and tests)."""
    if isinstance(fields.get("ts"), datetime):
        fields["ts"] = fields["ts"].isoformat()
    fields.setdefault("v", 1)
    return _adapter.validate_python(fields)
