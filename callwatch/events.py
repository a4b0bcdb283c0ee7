"""The telephony event contract, version 1 (``shared/spec/EVENTS.md``), as pydantic models.

This is the only place that knows the wire format. Everything past :func:`decode` works on
validated models; everything that fails validation becomes an :class:`InvalidEvent` carrying the
original bytes, a code and a one-line reason, so that the stream can dead-letter it instead of stopping.

Hostile input is bounded here, before it can cost anything downstream: an event larger than
:attr:`InputLimits.max_event_bytes` is refused on its raw bytes, before parsing (``too_large``); a name
(queue, agent, source, team, reason, call id, customer…) longer than :attr:`InputLimits.max_name_chars`
(``name_too_long``) or holding a control character (``control_character``) is refused at validation —
any other Unicode is a legitimate name. Times are RFC 3339 text only (a number is not a time), and
numbers are finite.

The limits reach validation as its *context* (``decode(raw, limits)``), not through a module-level
setting: the worker and the offline replay each pass their own configured limits, two engines in one
process (the tests, a read side beside a worker) cannot change each other's, and a caller that passes
none gets :data:`DEFAULT_LIMITS`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic._internal._validators import max_length_validator, min_length_validator
from pydantic_core import PydanticCustomError, SchemaValidator


class InputLimits(BaseModel):
    """How large an input may be (``monitor.limits`` in the settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: an event's JSON, in bytes, checked on the raw bytes before parsing (a Kafka message, a log line)
    max_event_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    #: a name (queue, agent, source, team, reason, category, call id, customer…), in characters
    max_name_chars: Annotated[int, Field(ge=16, le=65536)] = 200


DEFAULT_LIMITS = InputLimits()

#: control characters (C0, DEL, C1): they forge log lines and break terminals, and no PBX names a queue with one
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: what ``str.splitlines`` splits on beyond the control characters
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: the start of an RFC 3339 date-time; pydantic parses the rest (and says what is wrong with it)
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
#: a reason longer than this is cut: it names what is wrong, it does not carry the input
REASON_CHARS = 300


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` as one printable line of at most ``limit`` characters: line breaks and other control
    characters escaped (a reason quotes input, and input must not forge a log line)."""
    flat = _LINE_BREAKS.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _name(value: str, info: ValidationInfo) -> str:
    context = info.context
    limits = context.get("limits", DEFAULT_LIMITS) if context.__class__ is dict else DEFAULT_LIMITS
    if limits is None:  # trusted: what this process validated and stored itself
        return value
    if len(value) <= limits.max_name_chars and value.isprintable():
        return value  # the common case, decided in C: no control character (nor any unprintable one)
    if len(value) > limits.max_name_chars:
        raise PydanticCustomError("name_too_long", "{length} characters, over the limit of {limit}",
                                  {"length": len(value), "limit": limits.max_name_chars})
    found = _CONTROL.search(value)
    if found is not None:
        raise PydanticCustomError("control_character", "control character {char} at position {at}",
                                  {"char": repr(found.group()), "at": found.start()})
    return value


def _time_text(value: Any) -> Any:
    # a number (or digits as text) would be read as epoch seconds: 1e10 is the year 2286
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_TIME.match(value)):
        return value
    raise PydanticCustomError("datetime_text", "a time is RFC 3339 text (2026-11-23T09:15:02.120Z), not {kind}",
                              {"kind": type(value).__name__ if not isinstance(value, str) else "this text"})


#: a name: bounded, no control characters, any other Unicode
Name = Annotated[str, AfterValidator(_name)]
RequiredName = Annotated[Name, Field(min_length=1)]
#: an instant: RFC 3339 text with a zone
Time = Annotated[AwareDatetime, BeforeValidator(_time_text)]


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
    # Numbers are finite everywhere: "Infinity" would otherwise be read as a float.
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    v: Literal[1]
    id: Annotated[Name, Field(min_length=1, max_length=128)]
    ts: Time
    source: Name | None = None

    @property
    def epoch(self) -> float:
        """Event time as POSIX seconds (the engine's time unit)."""
        return self.ts.timestamp()


class _ContactEvent(_Event):
    call_id: RequiredName
    queue: RequiredName
    channel: Channel = Channel.voice
    priority: Annotated[int, Field(ge=0, le=9)] = 0


class CallQueued(_ContactEvent):
    type: Literal["call.queued"]
    customer: Name | None = None
    waiting_since: Time | None = None


class CallAnswered(_ContactEvent):
    type: Literal["call.answered"]
    #: required, but null where the source's own record names nobody (some CDR exports): the contact
    #: counts in every queue figure and in no agent's
    agent: RequiredName | None


class CallAbandoned(_ContactEvent):
    type: Literal["call.abandoned"]


class CallDequeued(_ContactEvent):
    type: Literal["call.dequeued"]
    reason: Literal["timeout", "overflow", "callback", "voicemail", "other"]
    to_queue: Name | None = None


class CallTransferred(_ContactEvent):
    type: Literal["call.transferred"]
    agent: RequiredName
    to_queue: Name | None = None
    to_agent: Name | None = None


class CallEnded(_ContactEvent):
    type: Literal["call.ended"]
    #: null only after a ``call.answered`` whose agent is null
    agent: RequiredName | None
    ended_by: Literal["customer", "agent", "system"]
    hold_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class CallWrapped(_ContactEvent):
    type: Literal["call.wrapped"]
    agent: RequiredName


class CallDisposition(_ContactEvent):
    type: Literal["call.disposition"]
    agent: RequiredName
    resolved: bool
    complaint: bool | None = None
    category: Name | None = None


class AgentState(_Event):
    type: Literal["agent.state"]
    agent: RequiredName
    state: AgentStateName
    reason: Name | None = None
    queues: list[Name] | None = None
    team: Name | None = None


class SurveyOffered(_Event):
    type: Literal["survey.offered"]
    call_id: RequiredName
    agent: RequiredName
    queue: RequiredName
    channel: Channel = Channel.voice


class SurveyCompleted(_Event):
    type: Literal["survey.completed"]
    call_id: RequiredName
    agent: RequiredName
    queue: RequiredName
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
    source: RequiredName


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
_EVENT_CLASSES: tuple[type[_Event], ...] = (
    CallQueued, CallAnswered, CallAbandoned, CallDequeued, CallTransferred, CallEnded, CallWrapped, CallDisposition,
    AgentState, SurveyOffered, SurveyCompleted, SourceHeartbeat)


# The fast path. The checks above written in Python (a name's length and characters, a time's text,
# and the length bounds pydantic can then only apply in Python) cost a Python call per field, and make
# validation three times slower than pydantic's own. For given limits, each is also expressible as a
# constraint pydantic checks in Rust: a name is a ``str`` of at most ``max_name_chars`` characters
# none of which is a control character; a time is a ``str`` that starts as a date-time, then parsed as
# before. The fast validator is the same schema with those constraints in place of the functions: it
# builds the same model classes, and accepts exactly what the full one accepts (a pattern in place of
# ``isprintable``: the full one accepts an unprintable name that holds no control character too). Any
# input it refuses goes through the full validator, whose error (code, field and message) is the one
# reported: the two can differ only in how fast they say yes.
_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
_DATE_TIME_START = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}"
_fast: dict[int, SchemaValidator] = {}


def _fast_schema(node: Any, max_name_chars: int) -> Any:
    """``node`` (a core schema, or part of one) with the Python checks of names and times replaced by
    Rust constraints; a new structure, the full validator's schema is left as it is."""
    if isinstance(node, list):
        return [_fast_schema(n, max_name_chars) for n in node]
    if not isinstance(node, dict):
        return node
    out = {key: _fast_schema(value, max_name_chars) for key, value in node.items()}
    kind = out.get("type")
    func = out.get("function", {}).get("function") if kind in ("function-after", "function-before") else None
    if func is _name:
        return {"type": "str", "strict": True, "max_length": max_name_chars, "pattern": _NO_CONTROL}
    if func is _time_text:
        return {"type": "chain", "steps": [{"type": "str", "strict": True, "pattern": _DATE_TIME_START},
                                           out["schema"]]}
    bound = getattr(func, "keywords", None)
    inner = out.get("schema")
    if kind == "function-after" and isinstance(inner, dict) and inner.get("type") == "str" and bound:
        # min_length / max_length after a name: pydantic applies them in Python; here, to the str itself
        if getattr(func, "func", None) is min_length_validator and set(bound) == {"min_length"}:
            return {**inner, "min_length": max(inner.get("min_length", 0), bound["min_length"])}
        if getattr(func, "func", None) is max_length_validator and set(bound) == {"max_length"}:
            return {**inner, "max_length": min(inner.get("max_length", bound["max_length"]), bound["max_length"])}
    return out


def _fast_validator(limits: InputLimits) -> SchemaValidator:
    validator = _fast.get(limits.max_name_chars)
    if validator is None:
        schema = _fast_schema(_adapter.core_schema, limits.max_name_chars)
        left = _python_checks(schema)
        if left:  # a pydantic whose schemas changed shape: the fast path would not check what it must
            raise RuntimeError(f"the fast event validator still calls Python checks: {sorted(left)}")
        # pydantic-core reuses a model class's own (full) validator wherever a schema names the class;
        # marking the classes incomplete while this one is built makes it build them from ``schema``
        classes = [cls for cls in _EVENT_CLASSES if cls.__dict__.get("__pydantic_complete__")]
        try:
            for cls in classes:
                cls.__pydantic_complete__ = False
            validator = SchemaValidator(schema)
        finally:
            for cls in classes:
                cls.__pydantic_complete__ = True
        _fast[limits.max_name_chars] = validator
    return validator


def _python_checks(node: Any) -> set[str]:
    """Names of the Python validators left in a core schema (apart from the survey's own rule)."""
    if isinstance(node, list):
        return set().union(*(_python_checks(n) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found: set[str] = set().union(*(_python_checks(v) for v in node.values())) if node else set()
    func = node.get("function", {}).get("function") if str(node.get("type", "")).startswith("function") else None
    if func is not None and getattr(func, "__name__", "") != "_at_least_one_answer":
        name = getattr(func, "__name__", None) or getattr(getattr(func, "func", None), "__name__", None)
        found.add(str(name or repr(func)))
    return found


class InvalidEvent(Exception):
    """An input that is not a valid event: the original bytes, a code and a one-line reason."""

    def __init__(self, raw: bytes, reason: str, code: str) -> None:
        reason = one_line(reason)
        super().__init__(reason)
        self.raw = raw
        #: one printable line (escaped, at most REASON_CHARS): it goes to logs and dead letters as it is
        self.reason = reason
        #: a short, low-cardinality label for metrics (``not_json``, ``bad_version``, ``too_large``, …)
        self.code = code


#: validation errors of our own (see :func:`_name`) whose type is their code
_OWN_CODES = frozenset({"name_too_long", "control_character"})


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
    elif kind in _OWN_CODES:
        code = kind
    elif "datetime" in kind or "timezone" in kind:
        code = "bad_timestamp"
    else:
        code = "invalid_field"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return code, f"{loc or 'event'}: {first['msg']}{more}"


def decode(raw: bytes | str, limits: InputLimits | None = DEFAULT_LIMITS) -> Event:
    """Validate one JSON event within ``limits``. Raises :class:`InvalidEvent` with a code and a one-line
    reason instead of anything else.

    ``limits=None`` is for what this process validated and stored itself (held events in a stored state):
    the contract is checked, not the limits, which may have been lowered since it was written.
    """
    # surrogatepass: text that is not valid Unicode fails as JSON below, not as an encoding error here
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if limits is not None and len(data) > limits.max_event_bytes:
        # before parsing: a huge input costs no parse, and its dead letter carries an excerpt only
        raise InvalidEvent(data, f"{len(data)} bytes, over the limit of {limits.max_event_bytes}", "too_large")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(data, f"not JSON: {exc}", "not_json") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(data, f"not a JSON object but {type(obj).__name__}", "not_object")
    if limits is not None:
        try:
            return _fast_validator(limits).validate_python(obj)  # type: ignore[no-any-return]
        except ValidationError:
            pass  # the full validator says what is wrong
    try:
        return _adapter.validate_python(obj, context={"limits": limits})
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
