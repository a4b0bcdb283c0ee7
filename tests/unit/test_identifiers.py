"""Personal identifiers in events: phone numbers and e-mail addresses as customer or call_id are pseudonymised
with the key (as the importers do) or refused without it, alike in the worker and the offline replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from callwatch.config import MonitorConfig
from callwatch.engine.report import report
from callwatch.events import InvalidEvent
from callwatch.identifiers import is_pseudonym, personal_kind, pseudonym
from callwatch.intake import admit
from callwatch.offline import replay_log
from callwatch.settings import Settings
from producers.privacy import Pseudonymizer
from streams.monitor import MonitorService, RecordingPublisher
from streams.state_store import MemoryStateStore

KEY = "0123456789abcdef-test-key"
GOOD: dict[str, Any] = {"v": 1, "id": "e1", "type": "call.queued", "ts": "2026-11-23T09:15:02.120Z",
                        "call_id": "c1", "queue": "sales", "source": "pbx"}


@pytest.mark.parametrize(("text", "kind"), [
    ("+351 912 345 678", "phone number"), ("(555) 123-4567", "phone number"), ("00351912345678", "phone number"),
    ("tel:+15550001234", "phone number"), ("912.345.678", "phone number"), ("9664491", "phone number"),
    ("Ana.Silva@Example.PT", "e-mail address"), ("mailto:a@b.io", "e-mail address"),
    ("sip:+351912345678@pbx.example.com", "e-mail address"),
    ("1795424410.1", None), ("call-0000001", None), ("cust-001310", None), ("c-0123456789abcdef0123", None),
    ("c-01234567890123456789", None), ("12345", None), ("AA0101-990101-33116", None), ("Local/201@agents", None),
    ("1234567890123456", None), ("anonymous", None),
])
def test_what_looks_personal(text: str, kind: str | None) -> None:
    """Phone numbers (7–15 digits, + and punctuation) and e-mail addresses look personal; Asterisk call ids,
    simulator ids, pseudonyms, short counters and agent interfaces do not."""
    assert personal_kind(text) == kind


def test_the_worker_pseudonymises_as_the_importers_do() -> None:
    """With the key, a number sent raw gets the pseudonym the Asterisk/CDR importers give the same caller, and
    an importer's pseudonym passes untouched (not hashed twice)."""
    config = MonitorConfig(pseudonym_key=KEY)
    importer = Pseudonymizer(KEY.encode())
    raw = admit(orjson.dumps({**GOOD, "customer": "+351 912 345 678", "call_id": "ana@example.pt"}), config)
    assert raw.customer == importer("+351912345678") == pseudonym(KEY.encode(), "+351-912-345-678")
    assert raw.call_id == importer("ANA@example.pt") and is_pseudonym(raw.call_id)
    already = importer("+351912345678")
    assert admit(orjson.dumps({**GOOD, "customer": already}), config).customer == already


def test_e_mail_addresses_with_the_same_digits_are_two_customers() -> None:
    """An address is hashed whole (lowercased), not by its digits: john1980@a and mary1980@b stay apart."""
    assert pseudonym(b"k" * 16, "john1980@a.pt") != pseudonym(b"k" * 16, "mary1980@b.pt")
    assert pseudonym(b"k" * 16, "John1980@A.pt") == pseudonym(b"k" * 16, "john1980@a.pt")


def test_without_the_key_a_personal_identifier_is_refused_without_repeating_it() -> None:
    """No key: refused as personal_identifier, the reason naming the field and the kind, never the value;
    with personal_identifiers=pass it is kept as it is."""
    raw = orjson.dumps({**GOOD, "customer": "+351 912 345 678"})
    with pytest.raises(InvalidEvent) as info:
        admit(raw, MonitorConfig())
    assert info.value.code == "personal_identifier" and info.value.raw == raw
    assert "customer looks like a phone number" in info.value.reason and "912" not in info.value.reason
    assert admit(raw, MonitorConfig(personal_identifiers="pass")).customer == "+351 912 345 678"


def test_the_key_comes_from_the_importers_variable_and_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """CALLWATCH_PSEUDONYM_KEY reaches the engine's configuration; it is in no dump or repr, and a short key
    is refused as the importers refuse it."""
    monkeypatch.setenv("CALLWATCH_PSEUDONYM_KEY", KEY)
    settings = Settings()
    assert settings.monitor.pseudonym_key is not None
    assert settings.monitor.pseudonym_key.get_secret_value() == KEY
    assert KEY not in repr(settings) and KEY not in str(settings.monitor.model_dump())
    monkeypatch.setenv("CALLWATCH_PSEUDONYM_KEY", "short")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Settings()


def _log(tmp_path: Path) -> tuple[Path, list[bytes]]:
    lines = []
    for i in range(6):
        number = f"+35191234567{i % 3}"
        t = f"2026-11-23T09:{10 + i:02d}:00Z"
        lines.append(orjson.dumps({**GOOD, "id": f"q{i}", "ts": t, "call_id": f"ana{i}@example.pt",
                                   "customer": number}))
        lines.append(orjson.dumps({"v": 1, "id": f"a{i}", "type": "call.answered", "ts": t.replace(":00Z", ":20Z"),
                                   "call_id": f"ana{i}@example.pt", "queue": "sales", "agent": "ag", "source": "pbx"}))
    path = tmp_path / "personal.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines


@pytest.mark.parametrize("key", [KEY, None])
def test_worker_and_offline_replay_give_equal_figures(tmp_path: Path, key: str | None) -> None:
    """The same log through the worker's runner and the offline replay gives the same report: with the key
    (pseudonymised, repeat contacts found by the pseudonym), and without it (all refused, counted alike)."""
    path, lines = _log(tmp_path)
    settings = Settings(clock="event", pseudonym_key=key)

    async def live() -> dict[str, Any]:
        svc = MonitorService(settings, store := MemoryStateStore(), publisher := RecordingPublisher())
        await svc.handle({0: list(enumerate(lines))})
        assert len(publisher.dead) == (0 if key else len(lines))
        assert all("+351" not in str(v) and "@" not in str(v) for v in store.parts[(settings.events_topic, 0)]
                   .containers.get("legs", {}).values())
        return report(svc.runners[0].engine)

    rep = asyncio.run(live())
    _, offline = replay_log(path, settings.monitor)
    assert rep == offline
    if key:
        assert rep["pipeline"]["invalid"] == {}
        total = offline["queues"]["sales"]["total"]
        # three callers, twice each: their pseudonyms find the repeats, as the raw numbers would have
        assert (total["offered"], total["repeat_contact_rate_24h"]) == (6, 0.5)
    else:
        assert offline["pipeline"]["invalid"] == {"personal_identifier": len(lines)}
