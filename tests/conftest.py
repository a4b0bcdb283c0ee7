"""Shared fixtures: real services, chosen in the order the project promises.

Broker: ``KAFKA_BOOTSTRAP`` if set, testcontainers' Kafka if a Docker engine answers, else an embedded
tansu started here. Redis: ``REDIS_URL``, testcontainers, else Debian's ``redis-server`` started here.
A missing service is started, never skipped.

A run leaves nothing behind in the repository: what is there after the session that was not before it
(``git status --porcelain --ignored``, and empty directories, which git does not show) fails the
session, apart from the test and tool caches below; new empty directories are removed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.embedded import start_redis, start_tansu

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
#: what a run may leave: the caches of pytest, hypothesis and Python, and the artifacts kept for people
#: (tests/artifacts, ignored by git, removed by `make clean`)
ALLOWED_LEFTOVERS = (".pytest_cache/", ".hypothesis/", "tests/artifacts/")
#: not walked for empty directories (git's own, the environment, caches)
_NOT_WALKED = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
               "node_modules"}


_BEFORE = pytest.StashKey[set[str]]()


def _in_repository() -> set[str]:
    """What git does not track in the repository, ignored files included, and every empty directory."""
    done = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    found = {line[3:] for line in done.stdout.splitlines() if line[:2] in {"??", "!!"}}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _NOT_WALKED]
        if not dirs and not files:
            found.add(os.path.relpath(folder, ROOT) + "/")
    return {p for p in found if "__pycache__/" not in p and not p.startswith(ALLOWED_LEFTOVERS)}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = _in_repository()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the Erlang C agreement's replications in the background when that test is selected: the
    suite's one long CPU-bound computation then uses the cores the other tests leave idle
    (tests/replay/erlang_runs.py says how and why)."""
    from tests.replay import erlang_runs

    if any(item.nodeid == erlang_runs.TEST for item in session.items):
        erlang_runs.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.replay import erlang_runs

    erlang_runs.stop()
    before = session.config.stash.get(_BEFORE, None)
    if before is None:
        return
    litter = sorted(_in_repository() - before)
    if not litter:
        return
    for path in litter:  # an empty directory holds nothing anyone could miss, nor do its emptied parents
        folder = ROOT / path
        with contextlib.suppress(OSError):
            while path.endswith("/") and folder != ROOT and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_sep("=", f"the tests left {len(litter)} path(s) in the repository (empty directories "
                                f"removed): {', '.join(litter[:20])}", red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED



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
