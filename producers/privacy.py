"""Pseudonyms for callers: a keyed hash (HMAC-SHA256), so that the same caller maps to the same
pseudonym across days and adapters, and nobody without the key can go back to the number.

The key comes from the environment (``CALLWATCH_PSEUDONYM_KEY``); adapters refuse to run without it
rather than fall back to something guessable. Raw numbers are never logged.
"""

from __future__ import annotations

import os

from callwatch.identifiers import pseudonym

ENV_KEY = "CALLWATCH_PSEUDONYM_KEY"


class MissingKey(RuntimeError):
    pass


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise MissingKey(f"{ENV_KEY} must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_env(cls) -> Pseudonymizer:
        key = os.environ.get(ENV_KEY)
        if not key:
            raise MissingKey(f"set {ENV_KEY} (16+ random bytes) to pseudonymise callers")
        return cls(key.encode())

    def __call__(self, identity: str) -> str | None:
        """``c-`` and 20 hex digits; None for an empty or anonymous caller id (the worker's function: one
        caller has one pseudonym whoever computed it)."""
        return pseudonym(self._key, identity)

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"
