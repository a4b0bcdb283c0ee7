"""The compose stack, checked without a Docker engine: its services, health checks, restart policies and
volumes; that every command, setting, port, file and metric it names exists in the code; and that its
Prometheus and Alertmanager configurations pass their own tools."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
#: long-running services (the simulator and the replay run and finish)
LONG_RUNNING = {"kafka", "redis", "worker", "dispatcher", "wallboard", "prometheus", "alertmanager", "grafana"}
#: the callwatch services that others reach across the compose network, and the setting that binds each
#: (every one defaults to 127.0.0.1, which nothing outside the container reaches)
BINDS = {"worker": "CALLWATCH_WEB_HOST", "dispatcher": "CALLWATCH_ALERTS_METRICS_HOST",
         "wallboard": "CALLWATCH_WALLBOARD_HOST"}
#: where a port may be published on the host: this machine only, or where PUBLISH_ADDRESS says (.env)
PUBLISH_DEFAULT = "${PUBLISH_ADDRESS:-127.0.0.1}"


def test_the_whole_stack_is_there() -> None:
    assert set(SERVICES) == LONG_RUNNING | {"simulator", "replay", "goals"}
    assert SERVICES["goals"]["restart"] == "unless-stopped" and "goals check" in SERVICES["goals"]["entrypoint"][-1]
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")  # Apache Kafka, KRaft
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "--appendonly" in SERVICES["redis"]["command"]  # persistence
    assert "ports" not in SERVICES["worker"] and "container_name" not in SERVICES["worker"], \
        "a fixed host port or name would stop `docker compose up --scale worker=3`"


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_long_running_services_have_health_checks_and_restart(name: str) -> None:
    service = SERVICES[name]
    assert service.get("restart") == "unless-stopped", name
    check = service.get("healthcheck", {})
    assert check.get("test") and check.get("interval") and check.get("retries"), name


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(COMPOSE["volumes"])
    used = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert used == declared
    for s in SERVICES.values():
        for volume in s.get("volumes", []):
            if volume.startswith("./"):
                assert (ROOT / volume.split(":")[0]).exists(), volume


def test_no_secret_in_the_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for key, value in re.findall(r"(\w*(?:PASSWORD|SECRET|TOKEN|KEY)\w*):\s*(\S+)", text):
        assert value.startswith("${"), f"{key} has a literal value"


def _settings_env() -> set[str]:
    from callwatch.settings import Settings

    return {f"CALLWATCH_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_it_names_exists() -> None:
    known = _settings_env()
    env = COMPOSE["x-callwatch-env"]
    assert set(env) <= known, set(env) - known
    for name, service in SERVICES.items():
        named = {k for k in service.get("environment", {}) if k.startswith("CALLWATCH_")}
        assert named <= known, (name, named - known)
    example = yaml.safe_load((ROOT / "alerts" / "delivery.example.yaml").read_text())
    secret_vars = {v for r in example["receivers"] for k, v in r.items() if k.endswith("_env")}
    substituted = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name = line.split("=", 1)[0]
            assert name in known | secret_vars | substituted, f".env.example: {name} is used nowhere"


def test_every_reachable_service_opts_into_its_bind() -> None:
    """Every callwatch service that exposes or publishes a port sets its bind setting to 0.0.0.0: the
    default, loopback, would leave Prometheus (or the published port) talking to nothing."""
    reachable = {name for name, s in SERVICES.items() if s.get("build") and (s.get("expose") or s.get("ports"))}
    assert reachable == set(BINDS), reachable ^ set(BINDS)
    for name, variable in BINDS.items():
        assert SERVICES[name]["environment"].get(variable) == "0.0.0.0", (name, variable)
    for name, service in SERVICES.items():  # and no other service opens a bind it does not need
        opened = {k for k, v in service.get("environment", {}).items() if v == "0.0.0.0"}
        assert opened <= {BINDS.get(name)}, (name, opened)


def test_the_bind_settings_default_to_loopback() -> None:
    """Outside the compose file (a `callwatch` started by hand) every bind is 127.0.0.1."""
    from callwatch.settings import Settings

    defaults = Settings()
    for variable in set(BINDS.values()):
        assert getattr(defaults, variable.removeprefix("CALLWATCH_").lower()) == "127.0.0.1", variable


def test_the_worker_metrics_bind_is_a_setting() -> None:
    """The worker's metrics bind, which the compose file opts into, is a setting and defaults to loopback."""
    from callwatch.settings import Settings

    assert "CALLWATCH_WEB_HOST" in _settings_env()
    assert Settings().web_host == "127.0.0.1"


def test_ports_are_published_on_this_machine_unless_opted_in() -> None:
    """No port is published on every interface by default: the wallboard and Grafana on PUBLISH_ADDRESS
    (127.0.0.1 unless .env says otherwise), Prometheus and Alertmanager, which have no login, on 127.0.0.1."""
    for name, service in SERVICES.items():
        for published in service.get("ports", []):
            host = published.rsplit(":", 2)[0]
            allowed = {"127.0.0.1"} if name in {"prometheus", "alertmanager"} else {"127.0.0.1", PUBLISH_DEFAULT}
            assert published.count(":") >= 2 and host in allowed, (name, published)


def test_the_wallboard_token_comes_from_env_only() -> None:
    """The wallboard gets its token from .env (empty: per-agent pages closed), never a literal."""
    assert SERVICES["wallboard"]["environment"]["CALLWATCH_WALLBOARD_TOKEN"] == "${CALLWATCH_WALLBOARD_TOKEN:-}"


def _help(*command: str) -> str:
    done = subprocess.run([sys.executable, "-m", "console", *command, "--help"], capture_output=True, text=True,
                          cwd=ROOT, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", ["worker", "dispatcher", "simulator", "replay", "wallboard"])
def test_every_command_and_option_exists(name: str) -> None:
    command = SERVICES[name]["command"]
    words = [w for w in command if not w.startswith("-") and not w.startswith("/") and "${" not in w
             and not re.fullmatch(r"[\d.]+", w)]
    sub = words[:2] if words[0] == "alerts" else words[:1]
    text = _help(*sub)
    for option in (w for w in command if w.startswith("--")):
        assert option in text, f"{name}: {' '.join(sub)} has no {option}"


def test_ports_match_the_code() -> None:
    from callwatch.settings import Settings

    assert "6066" in SERVICES["worker"]["expose"] and Settings().web_port == 6066
    assert "--metrics-port" in SERVICES["dispatcher"]["command"]
    assert "6067" in SERVICES["dispatcher"]["expose"] and "default: 6067" in _help("alerts", "run")
    assert f"{PUBLISH_DEFAULT}:6068:6068" in SERVICES["wallboard"]["ports"] and "default: 6068" in _help("wallboard")
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert targets["callwatch"]["dns_sd_configs"][0] == {"names": ["worker"], "type": "A", "port": 6066}
    assert targets["callwatch-alerts"]["static_configs"][0]["targets"] == ["dispatcher:6067"]
    alerting = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == ["alertmanager:9093"] and "127.0.0.1:9093:9093" in SERVICES["alertmanager"]["ports"]
    # the rules' job names are the scrape jobs'
    rules = (ROOT / "alerts" / "prometheus" / "callwatch-rules.yml").read_text()
    assert set(re.findall(r'job="([\w-]+)"', rules)) == set(targets)


def test_grafana_runs_the_version_the_dashboards_are_built_for() -> None:
    image = SERVICES["grafana"]["image"]
    generate = (ROOT / "grafana" / "generate.py").read_text()
    version = re.search(r'GRAFANA_VERSION = "([\d.]+)"', generate)
    assert version and image == f"grafana/grafana:{version.group(1)}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'grafana-foundation-sdk==' in pyproject and f"!{version.group(1)}\"" in pyproject
    volumes = SERVICES["grafana"]["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards/callwatch:ro" in volumes
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/callwatch.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/callwatch"


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """promtool checks the stack's Prometheus config with the rules file where compose mounts it."""
    promtool = shutil.which("promtool")
    assert promtool
    config = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    rules = ROOT / "alerts" / "prometheus" / "callwatch-rules.yml"
    local = tmp_path / "prometheus.yml"
    local.write_text(config.replace("/etc/prometheus/rules/callwatch-rules.yml", str(rules)))
    done = subprocess.run([promtool, "check", "config", str(local)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    mounted = next(v for v in SERVICES["prometheus"]["volumes"] if "callwatch-rules.yml" in v)
    assert mounted.split(":")[1] == "/etc/prometheus/rules/callwatch-rules.yml"


def test_kafka_keeps_its_log_in_its_volume() -> None:
    """Kafka writes its log where the named volume is mounted (its image's default, under /tmp, is not
    kept), formatted for a fixed cluster id that is a UUID in base64 as KRaft requires."""
    kafka = SERVICES["kafka"]
    mounted = {v.split(":")[1] for v in kafka["volumes"] if v.startswith("kafka-data:")}
    assert kafka["environment"]["KAFKA_LOG_DIRS"] in mounted
    cluster_id = kafka["environment"]["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 and len(cluster_id) == 22


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions in order, as (INSTRUCTION, arguments)."""
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [(ins.upper(), rest.strip()) for ins, _, rest in (line.partition(" ") for line in lines)
            if ins and not ins.startswith("#")]


def test_the_image_gives_its_user_the_data_dir_settings_name() -> None:
    """The image runs as `nobody`, sets the worker's data directory (Settings.data_dir, which Faust's
    data directory goes in) to a directory it creates and gives to that user, and works there; no
    service moves it elsewhere."""
    from callwatch.settings import Settings

    steps = _dockerfile()
    env = dict(rest.split("=", 1) for ins, rest in steps if ins == "ENV")
    data_dir = env["CALLWATCH_DATA_DIR"]
    assert Settings(data_dir=data_dir).data_dir == Path(data_dir)
    runs = " && ".join(rest for ins, rest in steps if ins == "RUN")
    assert f"mkdir -p {data_dir}" in runs and f"chown nobody:nogroup {data_dir}" in runs
    assert [rest for ins, rest in steps if ins == "USER"] == ["nobody"]
    assert [rest for ins, rest in steps if ins == "WORKDIR"][-1] == data_dir  # a cwd it can write
    for name, service in SERVICES.items():
        if service.get("build"):
            assert "CALLWATCH_DATA_DIR" not in service.get("environment", {}), name


def test_the_image_user_can_write_where_the_worker_writes() -> None:
    """The image's situation outside Docker: the user `nobody` (or, not as root, this user), a working
    directory it cannot write, CALLWATCH_DATA_DIR a directory it owns. The worker's app creates Faust's
    data directories there, and nothing in the working directory (where Faust's default put them, which
    failed with PermissionError in the image)."""
    root = Path(tempfile.mkdtemp(prefix="callwatch-image-"))  # not under pytest's 0700 directory
    try:
        root.chmod(0o755)
        app_dir, data_dir = root / "app", root / "var-lib-callwatch"
        app_dir.mkdir()
        data_dir.mkdir()
        as_user: list[str] = []
        if os.geteuid() == 0:
            os.chown(data_dir, 65534, 65534)
            as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        app_dir.chmod(0o555)
        script = ("from callwatch.settings import Settings; from streams.app import create_app; "
                  "app, _ = create_app(Settings()); app._create_directories(); print(app.conf.tabledir)")
        env = {"PATH": os.environ["PATH"], "HOME": str(data_dir), "CALLWATCH_DATA_DIR": str(data_dir),
               "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run([*as_user, sys.executable, "-c", script], cwd=app_dir, capture_output=True, text=True,
                              env=env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert Path(done.stdout.strip()).is_dir() and Path(done.stdout.strip()).is_relative_to(data_dir)
        assert list(app_dir.iterdir()) == []
    finally:
        (root / "app").chmod(0o755)
        shutil.rmtree(root)


def test_the_image_ships_every_file_the_packages_read() -> None:
    """Every file in the installed packages that is not Python (scenarios, mappings, the example day, the
    page) is package data, so the image's `pip install .` has them; the demo profile's log path is where
    the image's Python installs it."""
    from fnmatch import fnmatch

    # the [tool.setuptools.package-data] table, one `package = [globs]` a line (no tomllib on Python 3.10)
    table = (ROOT / "pyproject.toml").read_text().split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    globs = {name.strip(): re.findall(r'"([^"]+)"', value)
             for name, _, value in (line.partition("=") for line in table.splitlines())
             if value and not name.strip().startswith("#")}
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for path in tracked.splitlines():
        package, _, inner = path.partition("/")
        if package in {"callwatch", "streams", "producers", "alerts", "console"} and not path.endswith(".py"):
            assert any(fnmatch(inner, g) for g in globs.get(package, [])), f"{path} is not package data"
    python = re.fullmatch(r"python:(\d+\.\d+)-slim", next(rest for ins, rest in _dockerfile() if ins == "FROM"))
    log = SERVICES["replay"]["command"][1]
    site = f"/usr/local/lib/python{python.group(1) if python else '?'}/site-packages/"
    assert log.startswith(site) and (ROOT / log.removeprefix(site)).is_file(), log


def test_the_demo_profile_replays_in_real_time_into_wall_clock_workers() -> None:
    """The workers run on the wall clock, which refuses events ahead of it: the demo profile replays the
    example day rebased to now at 1x (a faster replay sends events from the future), and the README
    says so, with the commands the compose file's header gives."""
    assert COMPOSE["x-callwatch-env"]["CALLWATCH_CLOCK"] == "${CALLWATCH_CLOCK:-wall}"
    command = SERVICES["replay"]["command"]
    assert command[command.index("--speed") + 1] == "1" and "--rebase-now" in command
    readme = (ROOT / "README.md").read_text()
    assert "docker compose stop simulator && docker compose --profile demo up -d replay" in readme
    assert "docker compose up -d --scale worker=3" in readme
    assert "in real time" in readme[readme.index("--profile demo"):][:600]
