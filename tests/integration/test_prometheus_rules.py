"""The shipped Prometheus rules: valid, and every rule tested firing and not firing with promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "alerts" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool comes with Debian's prometheus package (make test installs it)"
    return subprocess.run([binary, *args], cwd=RULES, capture_output=True, text=True, check=False)


def test_rules_are_valid() -> None:
    """promtool check rules accepts the rules file."""
    done = _promtool("check", "rules", "callwatch-rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 12 rules found" in done.stdout


def test_every_rule_fires_and_stays_quiet_as_tested() -> None:
    """promtool test rules passes, and every rule has a case where it fires and one where it does not."""
    done = _promtool("test", "rules", "callwatch-rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    rules = {r["alert"] for g in yaml.safe_load((RULES / "callwatch-rules.yml").read_text())["groups"]
             for r in g["rules"]}
    cases = [c for t in yaml.safe_load((RULES / "callwatch-rules.test.yml").read_text())["tests"]
             for c in t["alert_rule_test"]]
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert firing == rules and quiet == rules


def test_alertmanager_example_routes_the_wait_alarm_without_group_wait() -> None:
    """The example Alertmanager route for the wait alarm sends at once (no 30 s group wait)."""
    config = yaml.safe_load((RULES / "alertmanager.yml").read_text())
    route = next(r for r in config["route"]["routes"] if 'alarm="wait_window_exceeded"' in r["matchers"])
    assert route["group_wait"] == "0s"
    assert {r["name"] for r in config["receivers"]} >= {route["receiver"]}


@pytest.mark.parametrize(("labels", "receiver"), [
    ({"alarm": "wait_window_exceeded", "severity": "critical", "queue": "billing"}, "on-call"),
    ({"alarm": "no_agents", "severity": "critical", "queue": "billing"}, "on-call"),
    ({"alarm": "abandonment_high", "severity": "warning", "queue": "billing"}, "floor-team"),
    ({"alarm": "worker_down", "severity": "critical"}, "platform"),
    ({"alarm": "alerts_undelivered", "severity": "critical", "receiver": "hook"}, "platform"),
])
def test_alertmanager_example_is_valid_and_routes_as_documented(labels: dict[str, str], receiver: str) -> None:
    """amtool (Debian's Alertmanager) accepts the example and routes callwatch's labels — the rules' and
    those `callwatch alerts run` sends to Alertmanager — to the receiver the comments promise."""
    config = str(RULES / "alertmanager.yml")
    subprocess.run(["amtool", "check-config", config], check=True, capture_output=True)
    routed = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={config}",
                             *(f"{k}={v}" for k, v in labels.items())], check=True, capture_output=True, text=True)
    assert routed.stdout.strip() == receiver


def test_what_the_dispatcher_sends_alertmanager_routes_like_the_rules() -> None:
    """The labels of a callwatch-delivered wait alarm take the wait alarm's route (no group wait)."""
    from alerts.receivers.alertmanager import alertmanager_alert
    from tests.alerts.receiver_kit import lifecycle

    labels = alertmanager_alert(lifecycle()[0], {}, 3600)["labels"]
    routed = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={RULES / 'alertmanager.yml'}",
                             "--verify.receivers=on-call", *(f"{k}={v}" for k, v in labels.items())],
                            capture_output=True, text=True)
    assert routed.returncode == 0, routed.stdout + routed.stderr


def test_what_the_dispatcher_sends_alertmanager_keeps_two_sites_apart() -> None:
    """Two sites' billing wait alarms reach Alertmanager as two alerts (labels differ by site, as the
    rules' do) and both take the wait alarm's route; an alarm without a site has no site label."""
    from alerts.receivers.alertmanager import alertmanager_alert
    from tests.alerts.receiver_kit import lifecycle

    start = lifecycle()[0]
    a, b = (alertmanager_alert(start.model_copy(update={"site": site}), {}, 3600)["labels"]
            for site in ("pbx-a", "pbx-b"))
    assert a != b and (a["site"], b["site"]) == ("pbx-a", "pbx-b")
    assert "site" not in alertmanager_alert(start, {}, 3600)["labels"]
    routed = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={RULES / 'alertmanager.yml'}",
                             "--verify.receivers=on-call", *(f"{k}={v}" for k, v in a.items())],
                            capture_output=True, text=True)
    assert routed.returncode == 0, routed.stdout + routed.stderr
