"""Silences: "do not page about this queue (or alarm) until then, because …", set by a person.

A silence holds back starts and repeats of the alarms it matches; a resolve still reaches the receivers
that were told of the incident, so nobody is left with an open page. When a silence ends while an
incident is still on, the incident's next repeat pages as usual. Silences live in Redis (one hash,
read by every dispatcher), are listed with their reason and author, and are kept a week after they end.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from callwatch.alarm import Alarm
    from streams.redis_client import SyncRedis

KEEP_ENDED_S = 7 * 86400


@dataclass(frozen=True)
class Silence:
    id: str
    queue: str | None
    alarm: str | None
    reason: str
    created_by: str
    starts_at: float
    ends_at: float

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    @classmethod
    def from_json(cls, raw: bytes | str) -> Silence:
        return cls(**orjson.loads(raw))

    def matches(self, alarm: Alarm, now: float) -> bool:
        # ``queue`` names a queue or a source (an agent is not a queue)
        subject = alarm.queue if alarm.subject_kind != "agent" else None
        return (self.active(now) and (self.queue is None or subject == self.queue)
                and (self.alarm is None or alarm.alarm == self.alarm))


def new_silence(*, queue: str | None, alarm: str | None, duration_s: float, reason: str, created_by: str,
                now: float) -> Silence:
    if queue is None and alarm is None:
        raise ValueError("a silence needs a queue, an alarm or both")
    if duration_s <= 0:
        raise ValueError("a silence must last longer than zero")
    if not reason.strip():
        raise ValueError("say why (--reason): the next person on call reads it")
    return Silence(id=secrets.token_hex(4), queue=queue, alarm=alarm, reason=reason.strip(),
                   created_by=created_by, starts_at=now, ends_at=now + duration_s)


class RedisSilences:
    """The silences of one deployment (``<prefix>:silences``), shared by the CLI and every dispatcher."""

    def __init__(self, client: SyncRedis, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}:silences"

    def add(self, silence: Silence) -> None:
        """Stores a silence, and forgets those that ended more than a week before it starts."""
        self.purge(silence.starts_at)
        self.redis.hset(self.key, silence.id, orjson.dumps(asdict(silence)))

    def all(self) -> list[Silence]:
        raw: dict[bytes, bytes] = self.redis.hgetall(self.key)  # type: ignore[assignment]
        return sorted((Silence.from_json(v) for v in raw.values()), key=lambda s: (s.starts_at, s.id))

    def expire(self, silence_id: str, now: float) -> Silence | None:
        """Ends a silence now; None if there is no such silence."""
        raw = self.redis.hget(self.key, silence_id)
        if raw is None:
            return None
        silence = replace(Silence.from_json(raw), ends_at=now)
        self.redis.hset(self.key, silence_id, orjson.dumps(asdict(silence)))
        return silence

    def purge(self, now: float) -> int:
        """Forgets silences that ended more than a week ago."""
        old = [s.id for s in self.all() if s.ends_at < now - KEEP_ENDED_S]
        if old:
            self.redis.hdel(self.key, *old)
        return len(old)
