"""Shared fixtures: real services, chosen in the order the project promises.

Broker: ``KAFKA_BOOTSTRAP`` if set, testcontainers' Kafka if a Docker engine answers, else an embedded
tansu started here. Redis: ``REDIS_URL``, testcontainers, else Debian's ``redis-server`` started here.
A missing service is started, never skipped.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.embedded import start_redis, start_tansu

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def _docker_answers() -> bool:
    with contextlib.suppress(Exception):
        import docker

        docker.from_env(timeout=2).ping()
        return True
    return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield os.environ["KAFKA_BOOTSTRAP"]
    elif _docker_answers():
        from testcontainers.community.kafka import KafkaContainer  # type: ignore[import-not-found]

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        broker = start_tansu(log_dir=tmp_path_factory.mktemp("tansu"))
        try:
            yield broker.url
        finally:
            broker.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
    elif _docker_answers():
        from testcontainers.community.redis import RedisContainer  # type: ignore[import-not-found]

        with RedisContainer() as r:
            yield f"redis://{r.get_container_host_ip()}:{r.get_exposed_port(6379)}/0"
    else:
        server = start_redis(data_dir=tmp_path_factory.mktemp("redis"))
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture
def unique() -> str:
    """A fresh name for this test's topics, consumer group and Redis prefix."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
