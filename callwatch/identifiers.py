"""Personal identifiers in events: what looks like one, and its keyed pseudonym.

The contract says ``customer`` is a pseudonym and no phone number or e-mail address reaches a Redis
key, a log line or an alert. The importers pseudonymise callers (``producers/privacy.py``, with this
module's :func:`pseudonym`); a producer that does not — a PBX sending the caller's number as
``customer``, a chat platform using the address as ``call_id`` — is caught here, before the engine:

- with a key (``CALLWATCH_PSEUDONYM_KEY``), an identifier that looks personal is replaced by its
  pseudonym — the importers' function and format, so one caller has one pseudonym whoever computed it,
  and an importer's pseudonym (``c-`` and 20 hex digits) is recognised and left alone;
- without a key, the event is refused (``personal_identifier``), or, if so configured, passed as it is.

What "looks like" means (:func:`personal_kind`), for ``customer`` and ``call_id``:

- an e-mail address: ``local@domain.tld`` (a ``mailto:`` or ``sip:`` URI too);
- a phone number: 7 to 15 digits (E.164 allows 15), optionally after ``+`` or ``tel:``, with only
  spaces, dots, dashes, slashes and brackets between them. Digits with one dot and nothing else
  (``1795424410.1``) are not one: that is an Asterisk call id (epoch seconds and a sequence).

A call id made only of 7 to 15 digits is taken for a number, and a SIP Call-ID (``random@host``) for an
address: a PBX whose call ids are such needs the key (the pseudonym then stands in for the id,
consistently) or ``personal_identifiers: pass``.

Pure: no environment, no I/O. The key comes in as bytes from the settings.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

from callwatch.events import Event, InvalidEvent, encode

#: what to do with a personal identifier when no key is configured
Policy = Literal["refuse", "pass"]
#: the dead letters' code for an event refused for a personal identifier
PERSONAL_IDENTIFIER = "personal_identifier"
#: the shortest key the importers accept (HMAC-SHA256 wants at least this much randomness)
MIN_KEY_BYTES = 16

_PSEUDONYM = re.compile(r"c-[0-9a-f]{20}")
_EMAIL = re.compile(r"(?:mailto:|sips?:)?[^@\s]+@[^@\s]+\.[^@\s.]{2,}", re.IGNORECASE)
_PHONE = re.compile(r"(?:tel:)?\+?[0-9 ./()\-]+", re.IGNORECASE)
_ASTERISK_ID = re.compile(r"[0-9]+\.[0-9]+")
_NOT_DIALLED = re.compile(r"[^0-9+]")
#: caller ids that name nobody (the importers give no pseudonym for them)
ANONYMOUS = frozenset({"anonymous", "unknown", "0", "none"})
#: the event fields screened
FIELDS = ("customer", "call_id")


def is_pseudonym(text: str) -> bool:
    """An importer's (or this module's) pseudonym: ``c-`` and 20 lowercase hex digits."""
    return _PSEUDONYM.fullmatch(text) is not None


def personal_kind(text: str) -> str | None:
    """``"e-mail address"`` or ``"phone number"`` when ``text`` looks like one, else None."""
    if is_pseudonym(text):
        return None
    if "@" in text and _EMAIL.fullmatch(text):
        return "e-mail address"
    if _PHONE.fullmatch(text) and not _ASTERISK_ID.fullmatch(text):
        digits = sum(c.isdigit() for c in text)
        if 7 <= digits <= 15:
            return "phone number"
    return None


def pseudonym(key: bytes, identity: str) -> str | None:
    """``c-`` and 20 hex digits of HMAC-SHA256(key, the identity normalised); None for an empty or
    anonymous caller id.

    A phone number is the same caller however it was punctuated (its digits and ``+``); an e-mail
    address is the same whatever its case. Other ids keep their letters (lowercased) unless they hold
    three digits or more, which are taken as a number dialled.
    """
    text = identity.strip()
    if not text or text.lower() in ANONYMOUS:
        return None
    if "@" in text and _EMAIL.fullmatch(text):
        # the whole address: its digits alone would make john1980@a and mary1980@b one customer
        normal = text.lower()
    else:
        digits = _NOT_DIALLED.sub("", text)
        normal = digits if len(digits) >= 3 else text.lower()
    return "c-" + hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()[:20]


def screen(event: Event, key: bytes | None, policy: Policy = "refuse", raw: bytes | None = None) -> Event:
    """The event with its personal identifiers pseudonymised (with a key), or refused (without one,
    unless ``policy`` is ``pass``). Raises :class:`InvalidEvent` (code ``personal_identifier``, with
    ``raw``, the event's original bytes, or the event encoded again); the reason names the field and
    the kind, never the value."""
    found: dict[str, str] = {}
    values = event.__dict__  # a model's fields (getattr on an event type without the field is slow)
    for field in FIELDS:
        value = values.get(field)
        if isinstance(value, str) and (kind := personal_kind(value)) is not None:
            found[field] = kind
    if not found:
        return event
    if key is None:
        if policy == "pass":
            return event
        what = ", ".join(f"{field} looks like a {kind}" for field, kind in found.items())
        raise InvalidEvent(raw if raw is not None else encode(event),
                           f"{what}: set CALLWATCH_PSEUDONYM_KEY to pseudonymise it", PERSONAL_IDENTIFIER)
    return event.model_copy(update={field: pseudonym(key, getattr(event, field)) for field in found})
