"""Where the agents' goals are kept: one Redis hash, ``{prefix}:goals``, goal id -> the goal as JSON.

The rule of a goal (its progress, when the supervisor is told) is ``callwatch.goals``; this is only
its storage, beside the workers' state and read by every ``callwatch goals`` command.
"""

from __future__ import annotations

from dataclasses import asdict

import orjson

from callwatch.goals import Goal
from streams.redis_client import SyncRedis, sync_client


class RedisGoals:
    def __init__(self, client: SyncRedis, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}:goals"

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisGoals:
        return cls(sync_client(url), prefix)

    def put(self, goal: Goal) -> None:
        self.redis.hset(self.key, goal.id, orjson.dumps(asdict(goal)))

    def all(self) -> list[Goal]:
        raw: dict[bytes, bytes] = self.redis.hgetall(self.key)  # type: ignore[assignment]
        return sorted((Goal(**orjson.loads(v)) for v in raw.values()), key=lambda g: (g.agent, g.set_on, g.id))

    def get(self, goal_id: str) -> Goal | None:
        raw = self.redis.hget(self.key, goal_id)
        return None if raw is None else Goal(**orjson.loads(raw))
