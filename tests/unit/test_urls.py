"""URLs shown to people: credentials hidden, everything else exactly as typed."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwatch.urls import redact_text, redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
    ("redis://ops:s3cret@cache/0", "redis://ops:***@cache/0"),
    ("rediss://ops:p%40ss@cache:6380/1", "rediss://ops:***@cache:6380/1"),
    ("redis://token@cache", "redis://***@cache"),
    ("redis://cache:6379/0?password=s3cret&db=1", "redis://cache:6379/0?password=***&db=1"),
    ("unix:///run/redis.sock?password=s3cret", "unix:///run/redis.sock?password=***"),
    ("ops:s3cret@broker-1:9092,broker-2:9092", "ops:***@broker-1:9092,broker-2:9092"),
    ("SASL_SSL://u:s3cret@b1:9093,SASL_SSL://u:s3cret@b2:9093", "SASL_SSL://u:***@b1:9093,SASL_SSL://u:***@b2:9093"),
    ("http://[::1", "(an unreadable URL, not shown)"),
])
def test_credentials_are_hidden(url: str, shown: str) -> None:
    """A password (or a lone user name, often a token) and secret query parameters are replaced by ***."""
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "localhost:9092,kafka-2:9092", "kafka:9092",
                                 "http://localhost:3000/d/callwatch-floor?var-queue=billing#top",
                                 "https://example.com/@team/page"])
def test_urls_without_credentials_are_shown_as_typed(url: str) -> None:
    """Nothing to hide: the URL comes back exactly as it was given."""
    assert redact_url(url) == url


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30),
       st.sampled_from(["redis://ops:{}@cache:6379/0", "redis://:{}@cache/0", "{0}@broker:9092"]))
def test_no_password_survives(password: str, template: str) -> None:
    """Whatever the password (quoted as a client needs it), it is not in what is shown."""
    secret = "PW" + quote(password, safe="")
    assert secret not in redact_url(template.format(secret))


def test_urls_inside_a_message_are_redacted() -> None:
    """An exception's text that quotes a URL shows it without the password; the rest of the text stays."""
    text = "cannot connect to 'redis://ops:s3cret@cache:6379/0', giving up"
    assert redact_text(text) == "cannot connect to 'redis://ops:***@cache:6379/0', giving up"
