"""Redis clients from the one ``redis_url`` setting: a single Redis, or a Redis Cluster.

``redis://`` and ``rediss://`` (and ``unix://``) name one Redis. ``redis+cluster://host:port`` (or
``rediss+cluster://`` for TLS) names a Redis Cluster by any one of its nodes: the client asks that node
for the cluster's slots and talks to every master from then on (redis-py's ``RedisCluster``). A cluster
has no databases: a path other than ``/`` or ``/0`` is refused.

What callwatch writes together sits on one slot (the keys of a partition share the hash tag
``{topic:partition}``, see ``streams/state_store.py``), so a partition's batch write stays one
``MULTI``/``EXEC`` on a cluster too; every other key is written alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

AsyncRedis = aioredis.Redis | aioredis.RedisCluster
SyncRedis = redis.Redis | redis.RedisCluster


class RedisUrlError(ValueError):
    """A Redis URL this module cannot use (one line; the URL is not quoted: it may hold a password)."""


def cluster_url(url: str) -> str | None:
    """The ``redis://`` URL redis-py's cluster client takes, when ``url`` names a cluster; else None."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower()) if sep else None
    if plain is None:
        return None
    path = urlsplit(f"//{rest}").path
    if path not in ("", "/", "/0"):
        raise RedisUrlError("a Redis Cluster has only database 0: give its URL without a database number")
    return f"{plain}://{rest}"


def is_cluster(url: str) -> bool:
    return cluster_url(url) is not None


def async_client(url: str, timeout_s: float | None = None) -> AsyncRedis:
    """An asyncio client; with ``timeout_s``, a command or a connection not answered within it fails."""
    options: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    plain = cluster_url(url)
    if plain is not None:
        return aioredis.RedisCluster.from_url(plain, **options)
    return aioredis.Redis.from_url(url, **options)


async def transaction(client: AsyncRedis) -> Any:
    """A ``MULTI``/``EXEC`` pipeline (every key on one slot, on a cluster).

    On a cluster the client must know the cluster's slots first, here: redis-py's cluster transaction
    queues each command from a thread of its own with an event loop of its own (about 0.6 ms a command),
    and a client that learnt the slots there would keep connections tied to that loop, dead once it ends.
    """
    if isinstance(client, aioredis.RedisCluster):
        await client.initialize()
    return client.pipeline(transaction=True)


def sync_client(url: str) -> SyncRedis:
    """A blocking client (the console's commands: goals, silences)."""
    plain = cluster_url(url)
    if plain is not None:
        return redis.RedisCluster.from_url(plain)
    return redis.Redis.from_url(url)
