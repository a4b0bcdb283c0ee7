"""URLs as they may be shown to people: credentials hidden.

A Redis or broker URL from the settings can carry a password (``redis://:s3cret@host:6379/0``,
``?password=s3cret``). Whatever prints or logs a URL passes it through :func:`redact_url` first; the
parsing is the standard library's, so that what is hidden is what a client would have sent.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

HIDDEN = "***"
#: query parameters whose value is a secret (redis-py reads ``?password=``; others take tokens)
SECRET_PARAMETERS = frozenset({"password", "passwd", "pass", "pwd", "secret", "token", "access_token", "api_key",
                               "apikey", "key", "sasl_password", "auth"})


def redact_url(url: str) -> str:
    """``url`` with its credentials hidden: the password of ``user:password@`` (a user name alone too,
    since it is often a token), and the values of query parameters that name a secret. Several URLs
    separated by commas (a bootstrap list) are each redacted; text without credentials comes back as it is."""
    if url.count("://") > 1:
        return ",".join(redact_url(part) for part in url.split(","))
    # what follows the scheme is parsed as an authority whatever the scheme is (``SASL_SSL://``, none
    # at all as in ``user:pw@host:9092``): the standard library only finds credentials after ``//``
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    try:
        parts = urlsplit("//" + rest)
    except ValueError:  # e.g. an unclosed IPv6 bracket: nothing of it can be shown safely
        return "(an unreadable URL, not shown)"
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{HIDDEN}@{host}" if colon else f"{HIDDEN}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in SECRET_PARAMETERS for name, _ in pairs):
            query = urlencode([(name, HIDDEN if name.lower() in SECRET_PARAMETERS else value) for name, value in pairs],
                              safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide: exactly as typed
    return (f"{scheme}{sep}{netloc}{parts.path}{'?' + query if query else ''}"
            f"{'#' + parts.fragment if parts.fragment else ''}")


def redact_text(text: str) -> str:
    """A message with every URL in it redacted (a word holding ``://`` or ``@``): for the text of an
    exception, which may quote a URL it was given."""
    return " ".join(redact_url(word) if "://" in word or "@" in word else word for word in text.split(" "))
