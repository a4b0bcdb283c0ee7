# The two commands: `make demo` (a working monitor on embedded parts) and `make test`.
# Both set up everything on a fresh Debian machine: apt packages, a virtual environment, pip.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SUDO    = $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: all deps venv test test-unit demo bench bench-bank bench-pipeline bench-alerts bench-integrity bench-predict bench-agents bench-scale dashboards lint clean example-log

all: test

# redis-server, prometheus (a real server and promtool), Alertmanager (and amtool) and chromium (the
# wallboard page's browser test) come from Debian
deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

test: deps venv lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest tests/unit tests/replay $(PYTEST_ARGS)

demo: deps venv
	$(BIN)/callwatch demo

# the engine and the offline replay on the bank's three real months (needs ../shared/reference-data or
# CALLWATCH_BANK_DIR), then the live pipeline (Kafka → Faust → Redis) on this machine
bench: bench-bank bench-pipeline

bench-bank: venv
	$(BIN)/python bench/bank_bench.py

bench-pipeline: deps venv
	$(BIN)/python bench/pipeline_bench.py

# how long after a caller crosses the wait window the page reaches a receiver (100 alarms)
bench-alerts: deps venv
	$(BIN)/python bench/alert_delay_bench.py
	$(BIN)/python bench/alert_delay_bench.py --redis-hang 8

# the dashboards' generator is checked apart: the Grafana SDK is written for Python 3.11 (StrEnum,
# typing.Self), which a 3.10 reading of its types turns into Any
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy callwatch streams producers alerts console
	$(BIN)/mypy --python-version 3.11 grafana/generate.py

# precision and recall of the integrity signals on three simulated months with planted behaviours
bench-integrity: venv
	$(BIN)/python bench/integrity_eval.py

# mean absolute error of the predicted wait at entry against the naive 15-minute mean, on the bank's
# three months; the early warning's warnings there, and its lead and false warnings on simulated ramps
# and steady days
bench-predict: venv
	$(BIN)/python bench/predict_eval.py
	$(BIN)/python bench/warning_bank.py
	$(BIN)/python bench/warning_eval.py

# memory and time of 120 days of per-agent history for 1,000 agents
bench-agents: venv
	$(BIN)/python bench/agent_history_bench.py

# one, two and three workers draining one multi-site log; a worker killed, one stopped, one added while events
# flow (time to the first event applied after it); Redis memory of one site's state (docs/scaling.md)
bench-scale: deps venv
	$(BIN)/python bench/scale_bench.py

# the Grafana dashboards from grafana/generate.py (thresholds from CALLWATCH_CONFIG's queue settings)
dashboards: venv
	$(BIN)/python grafana/generate.py

example-log: venv
	$(BIN)/callwatch simulate --scenario demo --seed 8 --out producers/data/demo-day.jsonl.gz

clean:
	rm -rf $(VENV) .demo tests/artifacts .pytest_cache .hypothesis
