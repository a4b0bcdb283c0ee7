"""The Grafana dashboards, as code (grafana-foundation-sdk, pinned to the Grafana the compose file runs).

    python grafana/generate.py [--out grafana/dashboards]     # or: make dashboards

writes one JSON file per dashboard; the compose stack provisions them. Thresholds come from the
settings (``CALLWATCH_CONFIG``): the oldest wait turns amber at the queue's ``wait_warning_s`` (two
thirds of the window by default) and red at its ``wait_window_s``, service level is red under the
queue's target — so regenerate after changing them.
Every panel's description is the figure's definition from METRICS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizTextDisplayOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callwatch.config import MonitorConfig  # noqa: E402
from callwatch.settings import Settings  # noqa: E402

#: the Grafana the compose file runs; the SDK is pinned to the same version in pyproject.toml
GRAFANA_VERSION = "11.2.0"
DS = DataSourceRef(type_val="prometheus", uid="callwatch-prometheus")
GREEN, AMBER, RED, BLUE, GREY = "green", "orange", "red", "blue", "text"

DEF = {
    "waiting": "Contacts in the queue now: queued and not yet answered, abandoned or dequeued.",
    "oldest_wait": "Age in seconds of the longest-waiting contact now, counted from waiting_since if set, else "
                   "from its call.queued; 0 when none waits. Amber from {warn:g} s, red from the wait window "
                   "({window:g} s).",
    "service_level": "Answered within T / (answered + abandoned) by default; the queue's formula (answered_only, "
                     "abandons_neutral) is the series' formula label. Red under the target ({target:.0%}).",
    "abandonment": "Abandoned (wait ≥ S, short abandons excluded) / (answered + abandoned + dequeued). "
                   "The worldwide range is 5–8 %.",
    "agents": "Agents serving the queue (per their latest queues) in each state now: available, busy, wrap_up, "
              "away; staffed = not offline.",
    "predicted_wait": "Predicted wait of a caller entering the queue now: the running median wait of the callers "
                      "who entered with as many callers ahead (and the same priority). Amber from {warn:g} s, red "
                      "from the wait window ({window:g} s). A forecast, not a measured wait.",
    "agents_needed": "Agents needed now: the fewest agents whose Erlang C service level (last 15 min arrivals and "
                     "AHT, the queue's T) reaches the target; beside them the agents serving the queue now, one "
                     "serving several queues counted in each by its share of their offered load.",
    "offered": "Per 15 minutes: offered = call.queued events; answered = contacts answered; abandoned = "
               "abandoned with wait ≥ S (short abandons shown apart).",
    "wait_hist": "Waits of the contacts {what} over the window, by bucket (le = at most so many seconds).",
    "asa": "ASA (average speed of answer) = wait of answered / answered, over the window, by channel.",
    "aht": "AHT (average handle time) = (talk + ACW) / contacts that ended, over the window, by channel.",
    "windows": "The queue's figures over the rolling last 15 min and last 60 min and today (reset at the queue's "
               "configured time in its time zone).",
    "states": "Agents by their state now, each agent once (a queue panel counts an agent in each queue it serves).",
    "handled": "Contacts handled today (call.ended and transfers by the agent), the floor's day.",
    "agent_aht": "AHT today = (talk + ACW) / handled.",
    "acw": "After-contact work: from call.ended to call.wrapped (0 when none), mean per handled contact today.",
    "idle": "Idle time between contacts: available time between the end of one contact's ACW and the next "
            "answer, mean per gap today.",
    "occupancy": "Occupancy = (busy + wrap_up time) / (busy + wrap_up + available time), today.",
    "per_agent": "Per agent, today (exported only with monitor.per_agent_metrics: true, to keep series bounded).",
    "events": "Valid, non-duplicate events applied per second, by partition of the events topic.",
    "lag": "Messages of each partition not yet applied (the figures are behind by this many events).",
    "dead": "Invalid inputs sent to the dead-letter topic (with their reason), per 5 minutes.",
    "quality": "Late events (older than the watermark, still applied), duplicates (same id within 24 h, dropped) "
               "and inconsistent events (did not fit the contact's history), per 5 minutes.",
    "delay": "End-to-end delay: from an event's ts to its effect being committed to Redis (live workers).",
    "alerts": "Alarm messages delivered by the dispatcher per receiver, retried and dead-lettered (failed).",
    "alert_delay": "From the alarm's instant to the receiver's acceptance (the dispatcher's histogram).",
    "csat": "CSAT: completed surveys with satisfied ≥ 4 / completed surveys with satisfied (top-2-box), today.",
    "professionalism": "Professionalism: surveys with professional ≥ 4 / those with professional (top-2-box), today.",
    "unmet_need": "Unmet need: completed surveys with more_help = true / those that answered it, today.",
    "resolution": "Resolution ratio: call.disposition with resolved = true / dispositions. Worldwide 70–75 %.",
    "fcr": "First-contact resolution: resolved = true and no repeat contact within 72 h / dispositions. "
           "Provisional until the day's contacts have had their 72 h: it can still fall.",
    "repeat": "Repeat contact rate: contacts whose customer contacted again (any queue or channel) within 24 h "
              "and within 72 h / contacts with a known customer. Provisional for the same reason.",
    "surveys": "Survey offer rate = offered / contacts handled; response rate = completed / offered. A low "
               "offer rate on complaint contacts is what the survey-selection signal looks for.",
    "signals": "Integrity signals (METRICS.md, trust but verify): how many agents each signal flags over the "
               "last 30 days — evidence to look at, with the contacts behind it (callwatch integrity).",
}


#: the per-queue series (``callwatch_queue_*``, ``callwatch_window_*``): the ones a site filter applies to
PER_QUEUE = re.compile(r"\b(callwatch_(?:queue|window)_[a-z0-9_]+)(\{)?")
#: what the site filter adds to a per-queue selector. ``$site`` is ``.*`` for All, which also matches a
#: series without the label (a worker of a release that does not export it)
SITE_MATCHER = 'site=~"$site"'


def by_site(expr: str) -> str:
    """``expr`` with every per-queue selector filtered by the ``site`` variable."""
    return PER_QUEUE.sub(lambda m: f"{m.group(1)}{{{SITE_MATCHER}, " if m.group(2) else
                         f"{m.group(1)}{{{SITE_MATCHER}}}", expr)


def per_queue(selector: str, *by: str) -> str:
    """``max`` of ``selector`` per site and queue (and ``by``), each series labelled ``name``: the queue,
    and `` @ <site>`` when more than one of the sites shown has a queue of that name ("billing @ pbx-a"
    beside "billing @ pbx-b"; just "billing" otherwise: the page's rule, with the spaces a legend wants).

    Sites are events' sources, so two PBXs may each have a "billing" queue: grouped by queue alone, their
    series would fold into one. A series without a ``site`` label (events without a source) is named by
    its queue alone. Legends use ``{{name}}``."""
    keep = ", ".join(("site", "queue", *by))
    series = f"max by ({keep}) ({selector})"
    shared = f"count by (queue) (count by (site, queue) ({selector})) > 1"
    return (f'label_replace(label_join({series}, "name", " @ ", "queue", "site") and on (queue) {shared}, '
            f'"name", "$1", "name", "(.*) @ ") '
            f'or on ({keep}) label_join({series}, "name", "", "queue")')


def named(queue: str) -> str:
    """A regex (Grafana anchors it) for the display names :func:`per_queue` gives ``queue`` at any site."""
    return f"{re.escape(queue)}( @ .+)?"


def q(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(by_site(expr)).legend_format(legend or "__auto").ref_id(ref).datasource(DS)
    return query.instant() if instant else query.range()


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=v, color=c) for v, c in steps])


def big_stat(title: str, description: str, targets: Iterable[prometheus.Dataquery], unit: str,
             steps: list[tuple[float | None, str]], width: int, decimals: int = 0) -> stat.Panel:
    panel = (stat.Panel().title(title).description(description).datasource(DS).unit(unit).decimals(decimals)
             .span(width).height(6).thresholds(thresholds(*steps))
             .color_mode(common.BigValueColorMode.BACKGROUND).graph_mode(common.BigValueGraphMode.NONE)
             .text_mode(common.BigValueTextMode.VALUE_AND_NAME).justify_mode(common.BigValueJustifyMode.CENTER)
             .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
             .text(VizTextDisplayOptions().title_size(22).value_size(72)))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def site_variable() -> dashboard.QueryVariable:
    """The sites (a site is an event's ``source``: one PBX, one floor). All is ``.*``, not the list of
    the sites found, so that it also matches series without a ``site`` label."""
    return (dashboard.QueryVariable("site").label("Site").datasource(DS)
            .query({"query": "label_values(callwatch_queue_waiting_contacts, site)", "refId": "site"})
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(True).include_all(True).all_value(".*")
            .current(VariableOption(selected=True, text="All", value="$__all")))


def queue_variable(multi: bool) -> dashboard.QueryVariable:
    return (dashboard.QueryVariable("queue").label("Queue").datasource(DS)
            .query({"query": by_site("label_values(callwatch_queue_waiting_contacts, queue)"), "refId": "queue"})
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(multi).include_all(multi)
            .current(VariableOption(selected=True, text="All" if multi else "", value="$__all" if multi else "")))


def alarm_annotations(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Alarms as annotations: callwatch's own wait alarm and every firing Callwatch* Prometheus alert."""
    return (board
            .annotation(dashboard.AnnotationQuery().name("Wait alarm").datasource(DS).enable(True).icon_color(RED)
                        .expr(by_site("max by (site, queue) (callwatch_queue_wait_alarm_active) > 0")))
            .annotation(dashboard.AnnotationQuery().name("Callwatch alerts").datasource(DS).enable(True)
                        .icon_color(AMBER).expr('ALERTS{alertname=~"Callwatch.*", alertstate="firing"}')))


def base(uid: str, title: str, description: str, refresh: str, time_from: str) -> dashboard.Dashboard:
    return (dashboard.Dashboard(title).uid(uid).description(description).tags(["callwatch"]).refresh(refresh)
            .time(time_from, "now").timezone(common.TimeZoneBrowser).editable()
            .link(dashboard.DashboardLink("callwatch").type(DashboardLinkType.DASHBOARDS).tags(["callwatch"]).as_dropdown(True)
                  .include_vars(True).keep_time(True)))


def floor(config: MonitorConfig) -> dashboard.Dashboard:
    d = config.defaults
    oldest = big_stat("Oldest wait", DEF["oldest_wait"].format(warn=d.warning_s, window=d.wait_window_s),
                      [q(per_queue('callwatch_queue_oldest_wait_seconds{queue=~"$queue"}'), "{{name}}")],
                      "s", [(None, GREEN), (d.warning_s, AMBER), (d.wait_window_s, RED)], 5)
    sl = big_stat("Service level, last 15 min", DEF["service_level"].format(target=d.service_level_target),
                  [q(per_queue('callwatch_window_service_level_ratio{queue=~"$queue", channel="all", '
                               'window="last_15m"}'), "{{name}}")],
                  "percentunit", [(None, RED), (d.service_level_target, GREEN)], 5, decimals=0)
    for name in sorted(config.queues):  # a queue with settings of its own gets its own colours
        merged = config.for_queue(name)
        if (merged.wait_window_s, merged.warning_s) != (d.wait_window_s, d.warning_s):
            oldest = oldest.override_by_regexp(named(name), [DynamicConfigValue(id_val="thresholds", value=thresholds(
                (None, GREEN), (merged.warning_s, AMBER), (merged.wait_window_s, RED)).build())])
        if merged.service_level_target != d.service_level_target:
            sl = sl.override_by_regexp(named(name), [DynamicConfigValue(id_val="thresholds", value=thresholds(
                (None, RED), (merged.service_level_target, GREEN)).build())])
    row = (dashboard.Row("$queue").repeat("queue")
           .with_panel(big_stat("Waiting", DEF["waiting"],
                                [q(per_queue('callwatch_queue_waiting_contacts{queue=~"$queue"}'), "{{name}}")],
                                "none", [(None, GREEN), (5, AMBER), (10, RED)], 4))
           .with_panel(oldest).with_panel(sl)
           .with_panel(big_stat("Abandoned, last 30 min", DEF["abandonment"],
                                [q(per_queue('callwatch_window_abandonment_ratio{queue=~"$queue", '
                                             'channel="all", window="last_30m"}'), "{{name}}")],
                                "percentunit", [(None, GREEN), (0.05, AMBER), (0.08, RED)], 4, decimals=1))
           .with_panel(big_stat("Agents", DEF["agents"],
                                [q(per_queue(f'callwatch_queue_agents{{queue=~"$queue", state="{s}"}}'),
                                   "{{name}} " + s, ref=ref)
                                 for s, ref in zip(("available", "busy", "away"), "ABC", strict=True)],
                                "none", [(None, BLUE)], 6))
           .with_panel(big_stat("Predicted wait", DEF["predicted_wait"].format(warn=d.warning_s,
                                                                                window=d.wait_window_s),
                                [q(per_queue('callwatch_queue_predicted_wait_seconds{queue=~"$queue"}'),
                                   "{{name}}")],
                                "s", [(None, GREEN), (d.warning_s, AMBER), (d.wait_window_s, RED)], 12))
           .with_panel(big_stat("Agents needed / staffed", DEF["agents_needed"],
                                [q(per_queue('callwatch_queue_agents_needed{queue=~"$queue"}'), "{{name}} needed"),
                                 q(per_queue('callwatch_queue_agents_staffed_shared{queue=~"$queue"}'),
                                   "{{name}} staffed", ref="B")],
                                "none", [(None, BLUE)], 12)))
    board = (base("callwatch-floor", "callwatch — floor wallboard",
                  "Per queue, now: are we OK, and where not? For a TV in kiosk mode (?kiosk).", "5s", "now-1h")
             .with_variable(site_variable()).with_variable(queue_variable(multi=True)).with_row(row))
    return alarm_annotations(board)


def queue_detail(config: MonitorConfig) -> dashboard.Dashboard:
    sel = 'queue="$queue", channel="all"'
    window = (dashboard.CustomVariable("window").label("Window").values("last_15m,last_60m,today")
              .current(VariableOption(selected=True, text="last_60m", value="last_60m")))
    per15 = (timeseries.Panel().title("Offered, answered, abandoned per 15 min").description(DEF["offered"])
             .datasource(DS).unit("none").span(24).height(9).interval("15m")
             .draw_style(common.GraphDrawStyle.BARS).fill_opacity(60)
             .targets([q(per_queue(f'callwatch_window_{figure}_contacts{{{sel}, window="last_15m"}}'),
                         "{{name}} " + figure.replace("_", " "), ref=ref)
                       for figure, ref in (("offered", "A"), ("answered", "B"), ("abandoned", "C"),
                                           ("short_abandoned", "D"))]))

    def hist(what: str, metric: str) -> bargauge.Panel:
        return (bargauge.Panel().title(f"Wait of {what} contacts, {{$window}}".replace("{$window}", "$window"))
                .description(DEF["wait_hist"].format(what=what)).datasource(DS).unit("none").span(12).height(9)
                .orientation(common.VizOrientation.VERTICAL).display_mode(common.BarGaugeDisplayMode.BASIC)
                .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
                .with_target(q(per_queue(f'{metric}{{queue="$queue", window="$window"}}', "le"),
                               "{{name}} ≤ {{le}} s", instant=True)))

    def by_channel(title: str, description: str, metric: str, unit: str) -> timeseries.Panel:
        return (timeseries.Panel().title(title).description(description).datasource(DS).unit(unit).span(8).height(8)
                .with_target(q(per_queue(f'{metric}{{queue="$queue", window="$window"}}', "channel"),
                               "{{name}} {{channel}}")))

    windows = (table.Panel().title("Last 15 min, last 60 min, today").description(DEF["windows"]).datasource(DS)
               .span(24).height(7)
               .with_transformation(DataTransformerConfig(id_val="merge", options={}))
               .targets([q(per_queue(f"callwatch_window_{figure}{{{sel}}}", "window"), "", instant=True, ref=ref)
                         for figure, ref in (("offered_contacts", "A"), ("service_level_ratio", "B"),
                                             ("abandonment_ratio", "C"), ("asa_seconds", "D"),
                                             ("aht_seconds", "E"))]))
    board = (base("callwatch-queue", "callwatch — queue detail",
                  "One queue in depth: intervals, waits, service level, ASA and AHT by channel.", "30s", "now-6h")
             .with_variable(site_variable()).with_variable(queue_variable(multi=False)).with_variable(window)
             .with_panel(per15)
             .with_panel(hist("answered", "callwatch_window_answered_wait_contacts"))
             .with_panel(hist("abandoned", "callwatch_window_abandoned_wait_contacts"))
             .with_panel(by_channel("Service level by channel, $window",
                                    DEF["service_level"].format(target=config.defaults.service_level_target),
                                    "callwatch_window_service_level_ratio", "percentunit"))
             .with_panel(by_channel("ASA by channel, $window", DEF["asa"], "callwatch_window_asa_seconds", "s"))
             .with_panel(by_channel("AHT by channel, $window", DEF["aht"], "callwatch_window_aht_seconds", "s"))
             .with_panel(windows))
    return alarm_annotations(board)


def agents() -> dashboard.Dashboard:
    sums = "callwatch_agents_today"
    board = (base("callwatch-agents", "callwatch — agents", "The floor's agents: states now and today's work.",
                  "30s", "now-8h")
             .with_variable(site_variable())
             .with_panel(big_stat("Agents by state now", DEF["states"],
                                  [q(f'sum(callwatch_agents{{state="{s}"}})', s, ref=ref)
                                   for s, ref in zip(("available", "busy", "wrap_up", "away"), "ABCD", strict=True)],
                                  "none",
                                  [(None, BLUE)], 12))
             .with_panel(big_stat("Handled today", DEF["handled"], [q(f"sum({sums}_handled_contacts)", "handled")],
                                  "none", [(None, BLUE)], 4))
             .with_panel(big_stat("AHT today", DEF["agent_aht"],
                                  [q(f"sum({sums}_handle_seconds) / sum({sums}_handled_contacts)", "AHT")],
                                  "s", [(None, BLUE)], 4))
             .with_panel(big_stat("Occupancy today", DEF["occupancy"],
                                  [q(f'sum({sums}_state_seconds{{state=~"busy|wrap_up"}}) / '
                                     f'sum({sums}_state_seconds{{state=~"busy|wrap_up|available"}})', "occupancy")],
                                  "percentunit", [(None, BLUE)], 4, decimals=1))
             .with_panel(big_stat("ACW per contact today", DEF["acw"],
                                  [q(f"sum({sums}_acw_seconds) / sum({sums}_handled_contacts)", "ACW")],
                                  "s", [(None, BLUE)], 6))
             .with_panel(big_stat("Idle between contacts today", DEF["idle"],
                                  [q(f"sum({sums}_idle_between_seconds) / sum({sums}_idle_between_gaps)", "idle")],
                                  "s", [(None, BLUE)], 6))
             .with_panel(timeseries.Panel().title("Agents by state per queue").description(DEF["agents"])
                         .datasource(DS).unit("none").span(12).height(8)
                         .with_target(q(per_queue('callwatch_queue_agents{state!="staffed"}', "state"),
                                        "{{name}} {{state}}")))
             .with_panel(table.Panel().title("Per agent, today").description(DEF["per_agent"]).datasource(DS)
                         .span(24).height(10)
                         .with_transformation(DataTransformerConfig(id_val="merge", options={}))
                         .with_target(q("sum by (agent) (callwatch_agent_today_handled_contacts)", "", instant=True))
                         .with_target(q("sum by (agent) (callwatch_agent_today_handle_seconds) / sum by (agent) "
                                        "(callwatch_agent_today_handled_contacts)", "", instant=True, ref="B"))
                         .with_target(q('sum by (agent) (callwatch_agent_today_state_seconds{state=~"busy|wrap_up"})'
                                        ' / sum by (agent) (callwatch_agent_today_state_seconds'
                                        '{state=~"busy|wrap_up|available"})', "", instant=True, ref="C"))
                         .with_target(q("max by (agent, state) (callwatch_agent_state)", "", instant=True, ref="D"))))
    return board


def pipeline() -> dashboard.Dashboard:
    def ts(title: str, description: str, unit: str, *targets: prometheus.Dataquery) -> timeseries.Panel:
        panel = timeseries.Panel().title(title).description(description).datasource(DS).unit(unit).span(12).height(8)
        for target in targets:
            panel = panel.with_target(target)
        return panel

    board = (base("callwatch-pipeline", "callwatch — pipeline health",
                  "Is the monitor itself healthy? Throughput, lag, bad input, delay, alarm delivery.", "30s", "now-3h")
             .with_variable(site_variable())  # its sites' wait alarms as annotations
             .with_panel(ts("Events applied per second", DEF["events"], "ops",
                            q("sum by (partition) (rate(callwatch_events_total[1m]))", "partition {{partition}}")))
             .with_panel(ts("Consumer lag", DEF["lag"], "none",
                            q("sum by (partition) (callwatch_consumer_lag_messages)", "partition {{partition}}")))
             .with_panel(ts("Dead letters per 5 min", DEF["dead"], "none",
                            q("sum by (reason) (increase(callwatch_dead_letters_total[5m]))", "{{reason}}")))
             .with_panel(ts("Late, duplicate, inconsistent per 5 min", DEF["quality"], "none",
                            q("sum(increase(callwatch_events_late_total[5m]))", "late"),
                            q("sum(increase(callwatch_events_duplicate_total[5m]))", "duplicate", ref="B"),
                            q("sum by (reason) (increase(callwatch_events_inconsistent_total[5m]))",
                              "inconsistent: {{reason}}", ref="C")))
             .with_panel(ts("Event-to-Redis delay", DEF["delay"], "s",
                            q("histogram_quantile(0.5, sum by (le) (rate(callwatch_event_delay_seconds_bucket[5m])))",
                              "p50"),
                            q("histogram_quantile(0.99, sum by (le) (rate(callwatch_event_delay_seconds_bucket[5m])))",
                              "p99", ref="B")))
             .with_panel(ts("Alarm delivery", DEF["alerts"], "none",
                            q("sum by (receiver) (increase(callwatch_alerts_sent_total[5m]))", "sent {{receiver}}"),
                            q("sum by (receiver) (increase(callwatch_alerts_retried_total[5m]))",
                              "retried {{receiver}}", ref="B"),
                            q("sum by (receiver) (increase(callwatch_alerts_failed_total[5m]))",
                              "failed {{receiver}}", ref="C"),
                            q("sum by (receiver) (callwatch_alerts_pending)", "pending {{receiver}}", ref="D")))
             .with_panel(ts("Alarm delivery delay", DEF["alert_delay"], "s",
                            q("histogram_quantile(0.99, sum by (le, receiver) "
                              "(rate(callwatch_alerts_delivery_delay_seconds_bucket[15m])))", "p99 {{receiver}}"))))
    return alarm_annotations(board)


def expand_rows(board: dict[str, Any]) -> dict[str, Any]:
    """The SDK nests a row's panels (Grafana's form for a collapsed row); a wallboard's rows are open, and
    Grafana keeps an open row's panels right after it, at the top level."""
    flat: list[dict[str, Any]] = []
    for panel in board.get("panels", []):
        inner = panel.pop("panels", []) if panel.get("type") == "row" else []
        if panel.get("type") == "row":
            panel["collapsed"] = False
            panel["panels"] = []
        flat.append(panel)
        flat.extend(inner)
    for i, panel in enumerate(flat, start=1):
        panel["id"] = i
    return {**board, "panels": flat}


def quality() -> dashboard.Dashboard:
    def ratio_panel(title: str, description: str, metric: str, unit: str = "percentunit") -> timeseries.Panel:
        return (timeseries.Panel().title(title).description(description).datasource(DS).unit(unit).span(8).height(8)
                .min(0).with_target(q(per_queue(f'{metric}{{queue=~"$queue", channel="all", window="today"}}'),
                                      "{{name}}")))

    board = (base("callwatch-quality", "callwatch — quality and integrity",
                  "What the customer felt, and every metric checked against another source.", "1m", "now-24h")
             .with_variable(site_variable()).with_variable(queue_variable(multi=True))
             .with_panel(ratio_panel("CSAT (top-2-box), today", DEF["csat"], "callwatch_window_csat_ratio"))
             .with_panel(ratio_panel("Professionalism, today", DEF["professionalism"],
                                   "callwatch_window_professionalism_ratio"))
             .with_panel(ratio_panel("Unmet need, today", DEF["unmet_need"], "callwatch_window_unmet_need_ratio"))
             .with_panel(ratio_panel("Resolution ratio, today", DEF["resolution"], "callwatch_window_resolution_ratio"))
             .with_panel(ratio_panel("First-contact resolution (provisional), today", DEF["fcr"],
                                   "callwatch_window_fcr_ratio"))
             .with_panel(timeseries.Panel().title("Repeat contacts within 24 h and 72 h, today")
                         .description(DEF["repeat"]).datasource(DS).unit("percentunit").span(8).height(8).min(0)
                         .with_target(q(per_queue('callwatch_window_repeat_contact_24h_ratio{queue=~"$queue", '
                                                  'channel="all", window="today"}'), "{{name}} 24 h"))
                         .with_target(q(per_queue('callwatch_window_repeat_contact_72h_ratio{queue=~"$queue", '
                                                  'channel="all", window="today"}'), "{{name}} 72 h", ref="B")))
             .with_panel(timeseries.Panel().title("Survey offer and response rates, today").description(DEF["surveys"])
                         .datasource(DS).unit("percentunit").span(12).height(8).min(0)
                         .with_target(q(per_queue('callwatch_window_survey_offer_ratio{queue=~"$queue", '
                                                  'channel="all", window="today"}'), "{{name}} offered"))
                         .with_target(q(per_queue('callwatch_window_survey_response_ratio{queue=~"$queue", '
                                                  'channel="all", window="today"}'), "{{name}} responded", ref="B")))
             .with_panel(big_stat("Agents flagged by an integrity signal", DEF["signals"],
                                  [q("sum by (signal) (callwatch_integrity_signals)", "{{signal}}")], "none",
                                  [(None, GREEN), (1, AMBER)], 12)))
    return alarm_annotations(board)


def build_all(config: MonitorConfig) -> dict[str, dict[str, Any]]:
    boards = {"floor": floor(config), "queue": queue_detail(config), "agents": agents(), "pipeline": pipeline(),
              "quality": quality()}
    return {name: expand_rows(json.loads(JSONEncoder(sort_keys=True, indent=2).encode(b.build())))
            for name, b in boards.items()}


def panels(board: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every panel that shows data (rows are only headings)."""
    return (p for p in board.get("panels", []) if p.get("type") != "row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "grafana" / "dashboards")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, board in build_all(Settings().monitor).items():
        path = args.out / f"callwatch-{name}.json"
        path.write_text(json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        print(f"{path}: {sum(1 for _ in panels(board))} panels")


if __name__ == "__main__":
    main()
