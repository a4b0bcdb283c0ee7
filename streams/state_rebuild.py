"""``callwatch state info`` and ``callwatch state rebuild``: what the workers stored, and starting it over.

Where a worker resumes a partition is decided twice. Kafka's committed offset of the worker's consumer
group (the app id) is where its consumer starts fetching; the offset in Redis says which fetched records
the state already holds (those are skipped). Deleting the state in Redis alone would therefore make the
next worker start at the group's committed offset with an empty state: every figure would lack the
history before it, silently. A rebuild, for each partition of the events topic it is given:

1. refuses while the consumer group has members: a running worker keeps the state in memory and writes
   it back over the deletion. Stop every worker, let the group empty (a stopped worker leaves at once; a
   killed one after the session timeout), run it again;
2. refuses when the topic no longer holds the partition's offset 0: retention has deleted the oldest
   events, and history older than retention cannot be rebuilt (``--from-earliest-anyway`` rebuilds from
   what is retained, with the older figures gone);
3. sets the group's committed offset to the partition's first retained offset (the broker refuses it
   too if a member has joined meanwhile);
4. deletes the partition's state, its applied offset and its wallboard snapshot from Redis.

In that order: should 4 fail, the next worker re-reads from the start and skips what the state it still
has holds; nothing is counted twice. The next worker replays the partition from its first retained
offset and rebuilds every figure by event time (a ``wall`` worker goes by event time until it has
caught up). It publishes the replayed history's alarms and dead letters again: the dispatcher does not
deliver again an alarm it delivered within the last week, but older ones it would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import KafkaError, NoError
from kafka.structs import OffsetAndMetadata
from redis.exceptions import RedisError

from callwatch.settings import Settings
from streams.state_store import RedisStateStore
from streams.state_upgrade import UPGRADES, known_formats

Say = Callable[[str], None]


class RebuildRefused(Exception):
    """Why a rebuild did not start (one line); nothing was changed."""


# ----------------------------------------------------------------------------------------------- info


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _readable(stored: str | None) -> bool:
    return stored is None or (stored.isdigit() and int(stored) in UPGRADES)


async def partition_rows(settings: Settings) -> list[dict[str, Any]]:
    """Per partition with state in Redis: its format as stored, whether this version reads it, the
    applied offset, the newest event time, when it was written, its Redis keys and its entries (hash
    fields) in all and per container."""
    store = RedisStateStore(settings.redis_url, settings.redis_prefix)
    try:
        rows = []
        for p in await store.partitions(settings.events_topic):
            found = await store.inspect(settings.events_topic, p)
            rows.append({
                "partition": p,
                "format": found["format"] or "1",
                "format_marked": found["format"] is not None,
                "readable": _readable(found["format"]),
                "offset": found["offset"],
                "max_event_time": _iso(found["max_ts"]),
                "updated_at": _iso(found["updated_at"]),
                "keys": 1 + len(found["entries"]),  # the meta hash and each container hash with entries
                "entries": sum(found["entries"].values()),
                "entries_by_container": found["entries"],
            })
        return rows
    finally:
        await store.close()


def render_rows(settings: Settings, rows: list[dict[str, Any]]) -> str:
    head = (f"state of topic {settings.events_topic} in {settings.redis_url} (prefix {settings.redis_prefix}); "
            f"this version reads {known_formats()}")
    if not rows:
        return head + "\nno partition has state"
    lines = [head, f"{'partition':>9}  {'format':<14}  {'offset':>10}  {'newest event':<20}  {'keys':>4}  "
                   f"{'entries':>8}"]
    for r in rows:
        fmt = r["format"] + ("" if r["format_marked"] else " (unmarked)")
        if not r["readable"]:
            fmt += " UNREADABLE"
        lines.append(f"{r['partition']:>9}  {fmt:<14}  {r['offset'] if r['offset'] is not None else '-':>10}  "
                     f"{r['max_event_time'] or '-':<20}  {r['keys']:>4}  {r['entries']:>8}")
    if not all(r["readable"] for r in rows):
        lines.append("a worker will not start on an unreadable partition: run the callwatch that wrote it, or "
                     "`callwatch state rebuild --partition N` with the workers stopped")
    return "\n".join(lines)


def info_command(settings: Settings, as_json: bool, out: Say, err: Say) -> int:
    """``callwatch state info``; returns the exit code."""
    try:
        rows = asyncio.run(partition_rows(settings))
    except (RedisError, OSError) as exc:
        err(f"cannot read Redis at {settings.redis_url}: {exc}")
        return 1
    out(json.dumps(rows, indent=1) if as_json else render_rows(settings, rows))
    return 0


# -------------------------------------------------------------------------------------------- rebuild


class AdminClient(KafkaAdminClient):  # type: ignore[misc]
    """kafka-python's admin client, tolerant of a broker that reports ACL operations it has no name for
    (tansu does, in DescribeGroups): they are not used here."""

    def _process_acl_operations(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.pop("authorized_operations", None)
        return obj


def _admin(bootstrap: str) -> Any:
    try:
        return AdminClient(bootstrap_servers=bootstrap.split(","), client_id="callwatch-state-rebuild",
                      request_timeout_ms=15000)
    except KafkaError as exc:
        raise RebuildRefused(f"cannot reach Kafka at {bootstrap}: {exc}") from None


@dataclass
class RebuildPlan:
    topic: str
    group: str
    partitions: list[int]
    #: first retained offset per partition
    earliest: dict[int, int]
    #: the group's committed offset per partition (absent: none)
    committed: dict[int, int]
    #: what Redis holds per partition (``partition_rows``), for the ones that have state
    stored: dict[int, dict[str, Any]] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"rebuild of topic {self.topic}, consumer group {self.group}:"]
        for p in self.partitions:
            row = self.stored.get(p)
            held = (f"state format {row['format']}, applied up to offset {row['offset']} "
                    f"(newest event {row['max_event_time'] or '-'}), {row['entries']} entries"
                    if row else "no state")
            committed = self.committed.get(p)
            lines.append(f"  partition {p}: {held}; group at offset "
                         f"{'-' if committed is None else committed} → {self.earliest[p]} (first retained)")
        lines.append("The state above is deleted from Redis and the group's offsets are set to the first "
                     "retained ones: the next worker replays these partitions and rebuilds their figures. It "
                     "publishes their alarms again (the dispatcher skips those it delivered within a week).")
        return "\n".join(lines)


def retention_refusal(topic: str, earliest: dict[int, int]) -> str | None:
    """Why a rebuild from these first retained offsets would lose history (None: every partition still
    starts at offset 0)."""
    late = {p: o for p, o in earliest.items() if o > 0}
    if not late:
        return None
    where = ", ".join(f"partition {p} starts at offset {o}" for p, o in sorted(late.items()))
    return (f"topic {topic} no longer holds its oldest events ({where}): retention has deleted them, and history "
            "older than retention cannot be rebuilt; --from-earliest-anyway rebuilds from what is retained (the "
            "figures of the deleted events are lost)")


def group_members(settings: Settings) -> list[str]:
    """The members of the workers' consumer group now (client id @ host), for a rebuild's precondition."""
    admin = _admin(settings.kafka_bootstrap)
    try:
        return _group_members(admin, settings.app_id)
    finally:
        admin.close()


def _group_members(admin: Any, group: str) -> list[str]:
    described = admin.describe_groups([group]).get(group, {})
    return [f"{m.get('client_id')}@{m.get('client_host')}" for m in described.get("members") or []]


def plan_rebuild(settings: Settings, partitions: Iterable[int] | None, from_earliest_anyway: bool) -> RebuildPlan:
    """Check that the rebuild can be done and say what it will do; raises :class:`RebuildRefused`."""
    topic, group = settings.events_topic, settings.app_id
    admin = _admin(settings.kafka_bootstrap)
    try:
        described = admin.describe_topics([topic])
        if not described or described[0].get("error_code") or not described[0].get("partitions"):
            raise RebuildRefused(f"topic {topic} does not exist on {settings.kafka_bootstrap}: there is no history "
                                 "to rebuild from")
        in_topic = sorted(p["partition_index"] for p in described[0]["partitions"])
        chosen = sorted(set(partitions)) if partitions else in_topic
        missing = [p for p in chosen if p not in in_topic]
        if missing:
            raise RebuildRefused(f"topic {topic} has no partition {', '.join(map(str, missing))} "
                                 f"(it has {', '.join(map(str, in_topic))})")
        members = _group_members(admin, group)
        if members:
            raise RebuildRefused(
                f"consumer group {group} has {len(members)} active member(s) ({', '.join(members)}): stop every "
                f"`callwatch worker` of it, wait until the group is empty (up to the session timeout, "
                f"{settings.session_timeout_s:g} s, after a worker was killed) and run the command again")
        tps = {p: TopicPartition(topic, p) for p in chosen}
        found = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps.values()})
        earliest = {tp.partition: at.offset for tp, at in found.items() if tp.partition in tps}
        if sorted(earliest) != chosen:
            raise RebuildRefused(f"Kafka did not say where partitions {sorted(set(chosen) - set(earliest))} of "
                                 f"{topic} start")
        refusal = retention_refusal(topic, earliest)
        if refusal and not from_earliest_anyway:
            raise RebuildRefused(refusal)
        committed_all = admin.list_group_offsets({group: list(tps.values())}).get(group, {})
        committed = {tp.partition: om.offset for tp, om in committed_all.items()
                     if tp.partition in tps and om is not None and om.offset >= 0}
    except KafkaError as exc:
        raise RebuildRefused(f"Kafka at {settings.kafka_bootstrap} did not answer as needed: {exc!r}") from None
    finally:
        admin.close()
    plan = RebuildPlan(topic, group, chosen, earliest, committed)
    plan.stored = {r["partition"]: r for r in asyncio.run(partition_rows(settings)) if r["partition"] in chosen}
    return plan


def execute_rebuild(settings: Settings, plan: RebuildPlan) -> list[str]:
    """Reset the group's offsets, then delete the state in Redis; returns what was done, line by line."""
    admin = _admin(settings.kafka_bootstrap)
    try:
        members = _group_members(admin, plan.group)
        if members:
            raise RebuildRefused(f"consumer group {plan.group} has active member(s) again ({', '.join(members)}): "
                                 "nothing was changed")
        offsets = {TopicPartition(plan.topic, p): OffsetAndMetadata(plan.earliest[p], "", None)
                   for p in plan.partitions}
        result = admin.alter_group_offsets(plan.group, offsets)
    except KafkaError as exc:
        raise RebuildRefused(f"the group's offsets were not reset ({exc!r}): nothing was changed") from None
    finally:
        admin.close()
    failed = {tp.partition: err.__name__ for tp, err in result.items() if err is not NoError}
    if failed:
        raise RebuildRefused(f"the broker refused to reset the offsets of consumer group {plan.group} "
                             f"({', '.join(f'partition {p}: {e}' for p, e in sorted(failed.items()))}); is a "
                             "worker running? The state in Redis was not deleted")
    done = [f"consumer group {plan.group}: partition {p} will be read from offset {plan.earliest[p]}"
            for p in plan.partitions]

    async def delete() -> list[str]:
        store = RedisStateStore(settings.redis_url, settings.redis_prefix)
        try:
            return [f"partition {p}: {await store.delete(plan.topic, p)} key(s) deleted from Redis"
                    for p in plan.partitions]
        finally:
            await store.close()

    try:
        return done + asyncio.run(delete())
    except (RedisError, OSError) as exc:
        # safe as it is (the next worker re-reads from the start and skips what the state holds), but
        # not rebuilt: say so
        raise RebuildRefused(f"the group's offsets were reset, but deleting the state in Redis failed ({exc}): "
                             "run the command again before starting the workers") from None


def rebuild_command(settings: Settings, partitions: list[int] | None, yes: bool, from_earliest_anyway: bool,
                    confirm: Callable[[str], bool], out: Say, err: Say) -> int:
    """``callwatch state rebuild``; returns the exit code."""
    try:
        plan = plan_rebuild(settings, partitions, from_earliest_anyway)
        out(plan.describe())
        if not yes and not confirm("Delete this state and reset the offsets?"):
            err("nothing was changed")
            return 1
        for line in execute_rebuild(settings, plan):
            out(line)
    except RebuildRefused as exc:
        err(f"state rebuild refused: {exc}")
        return 1
    except (RedisError, OSError) as exc:
        err(f"cannot use Redis at {settings.redis_url}: {exc}")
        return 1
    out("start the workers: they rebuild the state from the events topic")
    return 0
