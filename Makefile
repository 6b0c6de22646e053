# quant_platform — every set-up step lives here so a fresh clone needs only `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: venv demo test ui bench lint clean-data

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel; a bare requirement would pull several GB of CUDA packages.
	$(PY) -m pip install -q "torch==2.13.0"
	# the nautilus extra: the parity tests run blueprints in NautilusTrader's BacktestEngine
	$(PY) -m pip install -q -e ".[dev,nautilus]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m quant_platform.defs.demo

test: $(STAMP)
	$(PY) -m pytest -n 2 quant_platform_tests

ui: $(STAMP)
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -w workspace.yaml

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[peers]" || echo "peers extra unavailable: peer comparisons will be skipped"
	$(PY) -m bench.run

lint: $(STAMP)
	$(VENV)/bin/ruff check quant_platform quant_platform_tests bench
	$(VENV)/bin/ruff format --check quant_platform quant_platform_tests bench

clean-data:
	rm -rf data .dagster_home/storage .dagster_home/history .dagster_home/schedules .dagster_home/logs
