"""The baseline: a Faust agent that batches like the worker and does nothing else.

Run by ``pipeline_bench.py`` as ``python bench/noop_app.py worker`` with BENCH_* in the environment;
it writes the time of its first and last event to BENCH_OUT once it has seen BENCH_COUNT events.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.transport import CallwatchApp

COUNT = int(os.environ["BENCH_COUNT"])
OUT = os.environ["BENCH_OUT"]
app = CallwatchApp(
    os.environ["BENCH_APP_ID"], broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}", value_serializer="raw",
    key_serializer="raw", web_port=int(os.environ["BENCH_WEB_PORT"]), web_host="127.0.0.1",
    consumer_auto_offset_reset="earliest", store="memory://", broker_session_timeout=4,
    broker_heartbeat_interval=0.8, broker_rebalance_timeout=4, stream_buffer_maxsize=4096,
)
topic = app.topic(os.environ["BENCH_TOPIC"], value_serializer="raw", key_serializer="raw")
state: dict[str, Any] = {"n": 0, "first": None}


@app.agent(topic)
async def noop(stream: Any) -> None:
    async for events in stream.take_events(2000, within=0.05):
        if state["first"] is None:
            state["first"] = time.time()
        state["n"] += len(events)
        if state["n"] >= COUNT:
            with open(OUT, "w") as fh:
                json.dump({"first": state["first"], "last": time.time(), "n": state["n"]}, fh)


if __name__ == "__main__":
    app.main()
