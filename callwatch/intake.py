"""What an input must be to reach the engine: the event contract within the configured limits, with
no personal identifier in it (:mod:`callwatch.identifiers`).

The live worker and the offline replay both take their events through :func:`admit`, with the same
:class:`~callwatch.config.MonitorConfig`, so that they refuse and pseudonymise alike — and give equal
figures.
"""

from __future__ import annotations

from collections.abc import Callable

from callwatch.config import MonitorConfig
from callwatch.events import Event, decode
from callwatch.identifiers import screen


def admit(raw: bytes, config: MonitorConfig) -> Event:
    """The event in ``raw`` as the engine may take it; :class:`~callwatch.events.InvalidEvent` (with a
    code and a one-line reason) for anything else."""
    return admitter(config)(raw)


def admitter(config: MonitorConfig) -> Callable[[bytes], Event]:
    """:func:`admit` with ``config`` read once (a replay admits every line of a log with the same)."""
    key = config.pseudonym_key
    secret = None if key is None else key.get_secret_value().encode()
    limits, policy = config.limits, config.personal_identifiers

    def admit_one(raw: bytes) -> Event:
        return screen(decode(raw, limits), secret, policy, raw)

    return admit_one
