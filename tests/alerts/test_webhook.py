"""Alarm delivery to a real HTTP receiver: signed, retried, dead-lettered, never twice; the body is the
engine's alarm (v2) plus the dispatcher's links."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from alerts.delivery import DeliveryConfig, Dispatcher, MemoryDeliveredIds
from alerts.links import Links
from alerts.receivers import WebhookReceiver, WebhookSpec
from callwatch.alarm import Alarm
from console.embedded import free_port
from tests.alerts.receiver_kit import WALLBOARD, alarm, changed

pytestmark = pytest.mark.integration
SECRET = "a-webhook-secret-for-tests"
MESSAGE = alarm()
#: what the receiver must get: the alarm's JSON and the dispatcher's links
BODY = {**orjson.loads(MESSAGE.model_dump_json()), "links": {"wallboard": f"{WALLBOARD}?var-queue=billing"}}


async def _run(failures: int, give_up_after_s: float, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], Dispatcher,
                                                                                            list[Any]]:
    monkeypatch.setenv("CW_TEST_SECRET", SECRET)
    received: list[Any] = []
    state = {"left": failures}

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        if state["left"] > 0:
            state["left"] -= 1
            return web.Response(status=503)
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert request.headers["X-Callwatch-Signature"] == expected
        received.append(orjson.loads(body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    dead: list[Any] = []

    async def dead_letter(alarm: Alarm, receiver: str, reason: str) -> None:
        dead.append((alarm.id, receiver, reason))

    config = DeliveryConfig.model_validate({
        "receivers": [{"kind": "webhook", "name": "hook", "url": f"http://127.0.0.1:{port}/hook",
                       "secret_env": "CW_TEST_SECRET"}],
        "routes": [{"receivers": ["hook"], "severities": ["critical"]}],
        "give_up_after_s": give_up_after_s, "backoff_s": 0.01, "backoff_max_s": 0.05,
    })
    try:
        async with aiohttp.ClientSession() as session:
            receiver = WebhookReceiver(config.receivers[0], session)
            dispatcher = Dispatcher(config, {"hook": receiver}, MemoryDeliveredIds(), dead_letter,
                                    links=Links.configured(None, WALLBOARD))
            await dispatcher.deliver(MESSAGE)
            await dispatcher.deliver(MESSAGE)  # the same id again: a redelivery after a restart
            await dispatcher.deliver(changed(MESSAGE, severity="info", queue="x"))  # routed nowhere
            await dispatcher.close()
    finally:
        await runner.cleanup()
    return received, dispatcher, dead


def test_signed_message_arrives_once_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver failing twice gets the message on the third try, signed, and exactly once."""
    received, dispatcher, dead = asyncio.run(_run(failures=2, give_up_after_s=30, monkeypatch=monkeypatch))
    assert received == [BODY]
    assert (dispatcher.stats.sent, dispatcher.stats.retried, dispatcher.stats.duplicates) == (1, 2, 1)
    assert dead == []


def test_a_message_that_keeps_failing_is_dead_lettered(monkeypatch: pytest.MonkeyPatch) -> None:
    """After its time runs out, the message goes to the dead letters with the reason, counted."""
    received, dispatcher, dead = asyncio.run(_run(failures=10**6, give_up_after_s=0.2, monkeypatch=monkeypatch))
    assert received == []
    assert dispatcher.stats.failed == 2  # the original and the redelivery, each retried for 0.2 s
    assert dispatcher.stats.retried >= 4
    assert dead[0] == (MESSAGE.id, "hook", "hook: HTTP 503")


def test_a_missing_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver configured with a secret variable that is not set refuses to start."""
    monkeypatch.delenv("CW_NOT_SET", raising=False)

    async def build() -> None:
        async with aiohttp.ClientSession() as session:
            WebhookReceiver(WebhookSpec(name="h", url="http://127.0.0.1:1/", secret_env="CW_NOT_SET"), session)

    with pytest.raises(ValueError, match=r"CW_NOT_SET \(signing secret\) is not set"):
        asyncio.run(build())
