"""streams.readout.SharedRead: what a server answering many people reads through — one read shared by
every caller, kept for a while, never a failure kept, never cancelled by one caller leaving."""

from __future__ import annotations

import asyncio

import pytest

from streams.readout import SharedRead


class Source:
    """A slow read that counts its calls and can be told to fail once."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.calls = 0
        self.fail_next = False

    async def read(self) -> int:
        self.calls += 1
        await asyncio.sleep(self.seconds)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("Redis away")
        return self.calls


def test_callers_at_once_share_one_read() -> None:
    """Fifty callers arriving together cause one read and all get its value and read time."""
    async def go() -> tuple[list[tuple[int, float]], int]:
        source = Source()
        shared = SharedRead(source.read, max_age_s=10)
        got = await asyncio.gather(*(shared.get() for _ in range(50)))
        return got, source.calls

    got, calls = asyncio.run(go())
    assert calls == 1 and {g for g in got} == {got[0]} and got[0][0] == 1


def test_a_value_is_kept_for_its_age_then_read_again() -> None:
    """Within max_age the kept value is returned without a read; after it, the next caller reads."""
    async def go() -> list[int]:
        now = [0.0]
        source = Source(0)
        shared = SharedRead(source.read, max_age_s=5, keep_s=100, clock=lambda: now[0])
        values = [(await shared.get())[0]]
        now[0] = 4.9
        values.append((await shared.get())[0])
        now[0] = 5.0
        values.append((await shared.get())[0])
        return values

    assert asyncio.run(go()) == [1, 1, 2]


def test_a_failed_read_reaches_every_waiter_and_is_not_kept() -> None:
    """Every caller waiting for a failed read gets its error; the next caller reads again."""
    async def go() -> tuple[list[BaseException | tuple[int, float]], int]:
        source = Source()
        source.fail_next = True
        shared = SharedRead(source.read, max_age_s=10)
        failed = await asyncio.gather(*(shared.get() for _ in range(3)), return_exceptions=True)
        value, _ = await shared.get()
        return failed, value

    failed, value = asyncio.run(go())
    assert all(isinstance(f, ConnectionError) for f in failed) and value == 2


def test_a_caller_that_leaves_does_not_cancel_the_read_for_the_others() -> None:
    """One caller cancelled mid-read (a closed browser) leaves the read going for the one still waiting."""
    async def go() -> tuple[int, int]:
        source = Source(0.1)
        shared = SharedRead(source.read, max_age_s=10)
        leaving = asyncio.create_task(shared.get())
        staying = asyncio.create_task(shared.get())
        await asyncio.sleep(0.02)
        leaving.cancel()
        value, _ = await staying
        return value, source.calls

    assert asyncio.run(go()) == (1, 1)


def test_a_value_is_forgotten_after_keep_s() -> None:
    """A large value (a floor's engine) is dropped keep_s after its read, so it does not stay in memory."""
    async def go() -> tuple[int, int]:
        source = Source(0)
        shared = SharedRead(source.read, max_age_s=10, keep_s=0.05)
        await shared.get()
        await asyncio.sleep(0.1)
        assert shared._value is None
        value, _ = await shared.get()
        return value, source.calls

    assert asyncio.run(go()) == (2, 2)


@pytest.mark.parametrize("callers", [1, 200])
def test_reads_are_counted(callers: int) -> None:
    """``reads`` counts the reads made, however many callers shared them."""
    async def go() -> int:
        source = Source()
        shared = SharedRead(source.read, max_age_s=10)
        await asyncio.gather(*(shared.get() for _ in range(callers)))
        return shared.reads

    assert asyncio.run(go()) == 1
