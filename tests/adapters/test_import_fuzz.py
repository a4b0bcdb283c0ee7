"""The importers on random and mutated lines (hypothesis): no exception escapes them, every line they
refuse has a reason, and every event they produce is valid.

The lines mutated are those of the real samples (``shared/reference-data``) when present, and of the
hand-made samples in ``tests/golden`` always.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwatch.events import decode, encode
from producers.asterisk import QueueLogConverter, convert_file
from producers.cdr import CdrConverter, CdrMapping
from producers.conversion import ConversionError
from producers.privacy import Pseudonymizer
from tests.adapters.reference import reference_dir

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
PSEUDO = Pseudonymizer(b"test-key-of-sixteen-bytes-or-more")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _lines(*paths: Path, limit: int = 400) -> list[str]:
    """The first lines of each sample that exists (a records file without its header)."""
    out: list[str] = []
    for path in paths:
        if path.is_file():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            out += lines[1 if path.suffix in {".csv", ".txt"} else 0:][:limit]
    return [line for line in out if line.strip()]


ASTERISK_LINES = _lines(GOLDEN / "queue_log", GOLDEN / "queue_log_bad",
                        reference_dir("asterisk-queue-log") / "sample_queue_log",
                        reference_dir("asterisk-queue-log") / "sample_queue_log_padded")
BANK = reference_dir("anonymous-bank") / "1999-10.txt"
CDR_SAMPLES = [(GOLDEN / "cdr-mapping.yaml", GOLDEN / "cdr.csv")] + (
    [(ROOT / "producers" / "mappings" / "anonymous-bank.yaml", BANK)] if BANK.is_file() else [])

#: values that break parsers: numbers out of range, not numbers, empty, the "none" words, markup
NASTY = st.sampled_from(["", " ", "nan", "inf", "-inf", "1e309", "-1", "0", "99999999999999999999", "1e-320",
                         "NONE", "None", "0:00:00", "24:00:00", "99:99:99", "23:59:60", "-1:00:00", "1:2",
                         "::", "999999", "[/]", "\x00", "é", "AGENT", "HANG", "PHANTOM", "ENTERQUEUE", "CONNECT",
                         "SIP/", "Agent/", "|", "\t", ",", "\r"])


def _mutate(line: str, separator: str) -> st.SearchStrategy[str]:
    """A real line with one field replaced, a piece cut, characters inserted, or fields shuffled."""
    fields = line.split(separator)
    replace_field = st.tuples(st.integers(0, len(fields) - 1), NASTY | st.text(max_size=12)).map(
        lambda t: separator.join([*fields[:t[0]], t[1], *fields[t[0] + 1:]]))
    cut = st.tuples(st.integers(0, len(line)), st.integers(0, len(line))).map(
        lambda t: line[:min(t)] + line[max(t):])
    insert = st.tuples(st.integers(0, len(line)), st.text(max_size=6)).map(lambda t: line[:t[0]] + t[1] + line[t[0]:])
    shuffled = st.permutations(fields).map(separator.join)
    return st.one_of(replace_field, cut, insert, shuffled, st.just(line))


def _check_events(events: list[object]) -> None:
    for event in events:
        assert decode(encode(event)) == event  # type: ignore[arg-type]


def _check_refusals(errors: list[ConversionError], n_lines: int) -> None:
    for e in errors:
        assert isinstance(e, ConversionError)
        assert e.reason.strip() and e.kind.strip(), e
        assert 1 <= e.line_no <= n_lines + 1, e


def _asterisk_line() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=80), st.sampled_from(ASTERISK_LINES).flatmap(lambda line: _mutate(line, "|")))


@FUZZ
@given(st.lists(_asterisk_line(), min_size=1, max_size=20))
def test_asterisk_lines_never_raise_and_refusals_have_reasons(lines: list[str]) -> None:
    """Random and mutated queue_log lines: each converts to valid events or is refused with a reason."""
    converter = QueueLogConverter(source="fuzz", pseudonymize=PSEUDO)
    for n, line in enumerate(lines, 1):
        try:
            _check_events(converter.convert(line, n))  # type: ignore[arg-type]
        except ConversionError as exc:
            _check_refusals([exc], len(lines))


@FUZZ
@given(st.lists(_asterisk_line(), min_size=1, max_size=20), st.binary(max_size=20))
def test_an_asterisk_file_of_broken_lines_never_raises(lines: list[str], junk: bytes) -> None:
    """A whole file of them, with bytes that are not UTF-8 in it: converted or refused, line by line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queue_log"
        content = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n" + junk
        path.write_bytes(content)
        result = convert_file(path, QueueLogConverter(source="fuzz", pseudonymize=PSEUDO))
    _check_events(result.events)  # type: ignore[arg-type]
    _check_refusals(result.errors, content.count(b"\n"))  # numbered as an editor numbers them


def _cdr_file() -> st.SearchStrategy[tuple[Path, list[bytes]]]:
    def rows(sample: tuple[Path, Path]) -> st.SearchStrategy[tuple[Path, list[bytes]]]:
        mapping, data = sample
        spec = CdrMapping.from_yaml(mapping)
        header = data.read_text(encoding="utf-8").splitlines()[0]
        lines = _lines(data, limit=300)
        mutated = st.sampled_from(lines).flatmap(lambda line: _mutate(line, spec.delimiter))
        row = st.one_of(st.text(max_size=60), mutated)
        encoded = row.map(lambda text: text.encode("utf-8", "surrogatepass"))
        return st.lists(encoded | st.binary(max_size=30), min_size=1, max_size=15).map(
            lambda body: (mapping, [header.encode(), *body]))

    return st.sampled_from(CDR_SAMPLES).flatmap(rows)


@FUZZ
@given(_cdr_file())
def test_cdr_rows_never_raise_and_refusals_have_reasons(sample: tuple[Path, list[bytes]]) -> None:
    """Random, mutated and undecodable records under each mapping: every row converts to valid events,
    is kept with its gaps named, or is refused with a reason; nothing escapes."""
    mapping, lines = sample
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.csv"
        path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
        result = CdrConverter(CdrMapping.from_yaml(mapping), PSEUDO).convert_file(path)
    _check_events(result.events)  # type: ignore[arg-type]
    _check_refusals(result.errors, len(lines))
    assert all(i.reason.strip() for i in result.incomplete)
    refused = {e.line_no for e in result.errors}
    assert not refused & {i.line_no for i in result.incomplete}  # a row is kept or refused, not both
