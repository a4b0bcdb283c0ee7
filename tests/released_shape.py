"""What a stored-state fixture records, in the shape it recorded it: shared by the script that writes the
fixtures (``tests/data/make_state_fixture.py``) and the test that upgrades them
(``tests/integration/test_state_upgrade.py``), so that both compare the same things."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson

from callwatch.engine.report import report
from callwatch.engine.snapshot import snapshot, without_learned


def plain(value: Any) -> Any:
    """What a JSON file gives back for ``value`` (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value))


def alarm_dict(alarm: Any) -> dict[str, Any]:
    """An alarm as plain JSON data: its fields (a dataclass's in 0.1.0, a model's since), tuples as lists;
    without its site (format 2), which 0.1.0's alarms did not have."""
    names = getattr(type(alarm), "model_fields", None) or [f.name for f in dataclasses.fields(alarm)]
    return json.loads(orjson.dumps({name: getattr(alarm, name) for name in names if name != "site"}))


def released_report(engine: Any) -> dict[str, Any]:
    """The report in the shape every fixture records (0.1.0's): the merged figures, without the per-site
    breakdown and the kept alarms of format 2 (the alarms are recorded as the runner raised them)."""
    return plain({k: v for k, v in report(engine).items() if k not in ("sites", "alarms")})


def released_snapshot(engine: Any, now: float) -> dict[str, Any]:
    """The wallboard snapshot in the one-site shape the fixtures record: the site's queues, the floor's
    alarms and agents; without what the forecast learns (a state from before it carries none of it, so
    after an upgrade it starts from what the worker sees next: ``snapshot.without_learned``)."""
    snap = plain(snapshot(engine, now))
    (site,) = snap["sites"].values()
    # badges carry their severity since stop 19 (the early warning's badge is amber): not in the fixtures
    alarms = [{k: v for k, v in a.items() if k not in ("site", "severity")} for a in snap["alarms"]]
    queues = {name: {**q, "alarms": [{k: v for k, v in a.items() if k != "severity"} for a in q["alarms"]]}
              for name, q in site["queues"].items()}
    return without_learned({"now": snap["now"], "queues": queues, "alarms": alarms, "agents": snap["agents"]})
