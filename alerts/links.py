"""Links from an alarm to the dashboards that show it, added by the dispatcher when it renders.

The engine knows no URL: an alarm names its subject, and the dispatcher's ``links`` setting (in the
delivery config) turns it into URLs. Each link is a template; its placeholders are URL-quoted:

``{subject}`` (also ``{queue}``)  the alarm's subject: a queue, a source or an agent
``{alarm}``                       the alarm's name
``{started_ms}``, ``{at_ms}``      the incident's start and this message's instant, epoch milliseconds
``{from_ms}``, ``{to_ms}``         a time range for a dashboard: an hour before the start, 15 min after ``at``

A link applies to the subjects (``queue``, ``source``, ``agent``), and optionally the queues and
alarms, it names. Without a ``links`` setting there is one link, ``wallboard``: the settings'
``wallboard_url`` with ``?var-queue=<subject>`` for a queue or a source and ``?var-agent=<agent>`` for
an agent — what v1 messages carried as ``link``.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callwatch.alarm import Alarm, SubjectKind

SUBJECTS: tuple[SubjectKind, ...] = ("queue", "source", "agent")
PLACEHOLDERS = ("subject", "queue", "alarm", "started_ms", "at_ms", "from_ms", "to_ms")


class LinkSpec(BaseModel):
    """One link template of the delivery config's ``links``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the key in a webhook's ``links`` (``wallboard``, ``queue_dashboard``)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    #: what people read: the Slack button, the e-mail line, PagerDuty's link text
    text: str = Field(min_length=1)
    url: str
    subjects: list[SubjectKind] = Field(default_factory=lambda: list(SUBJECTS), min_length=1)
    #: only for these subjects (queue, source or agent names); every one when left out
    queues: list[str] | None = None
    alarms: list[str] | None = None

    @field_validator("url")
    @classmethod
    def _placeholders(cls, url: str) -> str:
        for _, field, _, _ in string.Formatter().parse(url):
            if field is not None and field not in PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{field}}}; known: {', '.join(PLACEHOLDERS)}")
        return url

    def applies(self, alarm: Alarm) -> bool:
        return (alarm.subject_kind in self.subjects
                and (self.queues is None or alarm.queue in self.queues)
                and (self.alarms is None or alarm.alarm in self.alarms))

    def render(self, alarm: Alarm) -> str:
        started, at = round(alarm.started_at * 1000), round(alarm.at * 1000)
        subject = quote(alarm.queue, safe="")
        return self.url.format(subject=subject, queue=subject, alarm=quote(alarm.alarm, safe=""),
                               started_ms=started, at_ms=at, from_ms=started - 3_600_000, to_ms=at + 900_000)


@dataclass(frozen=True)
class Link:
    name: str
    text: str
    url: str


def default_links(wallboard_url: str) -> list[LinkSpec]:
    """v1's ``link``: the wallboard at the alarm's queue (or agent)."""
    if not wallboard_url:
        return []
    base = wallboard_url.replace("{", "{{").replace("}", "}}")
    join = "&" if "?" in wallboard_url else "?"
    return [LinkSpec(name="wallboard", text="Wallboard", url=f"{base}{join}var-queue={{subject}}",
                     subjects=["queue", "source"]),
            LinkSpec(name="wallboard", text="Wallboard", url=f"{base}{join}var-agent={{subject}}",
                     subjects=["agent"])]


class Links:
    """The links of an alarm: the first matching template of each name, in the order given."""

    def __init__(self, specs: Sequence[LinkSpec]) -> None:
        self.specs = list(specs)

    @classmethod
    def configured(cls, specs: Sequence[LinkSpec] | None, wallboard_url: str) -> Links:
        """The delivery config's ``links``, or the default wallboard link when it has none."""
        return cls(default_links(wallboard_url) if specs is None else specs)

    def __call__(self, alarm: Alarm) -> tuple[Link, ...]:
        found: dict[str, Link] = {}
        for spec in self.specs:
            if spec.name not in found and spec.applies(alarm):
                found[spec.name] = Link(spec.name, spec.text, spec.render(alarm))
        return tuple(found.values())


def as_mapping(links: Sequence[Link]) -> dict[str, str]:
    """A webhook's ``links``: name → URL."""
    return {link.name: link.url for link in links}
