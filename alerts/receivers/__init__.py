"""The places an alarm can be delivered to, one module each, and the ``kind`` that selects them."""

from __future__ import annotations

from typing import Annotated

import aiohttp
from pydantic import Field

from alerts.receivers.alertmanager import AlertmanagerReceiver, AlertmanagerSpec
from alerts.receivers.base import DeliveryError, PermanentDeliveryError, Receiver
from alerts.receivers.pagerduty import PagerDutyReceiver, PagerDutySpec
from alerts.receivers.slack import SlackReceiver, SlackSpec
from alerts.receivers.smtp import EmailReceiver, EmailSpec
from alerts.receivers.webhook import WebhookReceiver, WebhookSpec

ReceiverSpec = Annotated[WebhookSpec | SlackSpec | PagerDutySpec | EmailSpec | AlertmanagerSpec,
                         Field(discriminator="kind")]


def build_receiver(spec: WebhookSpec | SlackSpec | PagerDutySpec | EmailSpec | AlertmanagerSpec,
                   session: aiohttp.ClientSession) -> Receiver:
    """The receiver for ``spec``; raises ValueError when a secret it names is not in the environment."""
    if isinstance(spec, WebhookSpec):
        return WebhookReceiver(spec, session)
    if isinstance(spec, SlackSpec):
        return SlackReceiver(spec, session)
    if isinstance(spec, PagerDutySpec):
        return PagerDutyReceiver(spec, session)
    if isinstance(spec, EmailSpec):
        return EmailReceiver(spec)
    return AlertmanagerReceiver(spec, session)


__all__ = [
    "AlertmanagerSpec", "DeliveryError", "EmailSpec", "PagerDutySpec", "PermanentDeliveryError", "Receiver",
    "ReceiverSpec", "SlackSpec", "WebhookReceiver", "WebhookSpec", "build_receiver",
]
