# Two entry points: `make test` and `make demo`. Both build the virtualenv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real Backstage the test suite starts (tests/test_backstage_real.py), installed with
# `npm ci` from its committed lockfile; only where Node.js is installed (elsewhere the module
# skips itself, except on CI, where .ci/run requires Node.js).
BACKSTAGE := tests/backstage
BACKSTAGE_STAMP := $(BACKSTAGE)/node_modules/.installed
NODE := $(shell command -v node 2>/dev/null)
TEST_DEPS := $(STAMP) $(if $(NODE),$(BACKSTAGE_STAMP))

.PHONY: test demo lint bench clean ui-shots backstage-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check microcks_pipeline tests bench
	$(BIN)/ruff format --check microcks_pipeline tests bench
	$(BIN)/lint-imports

$(BACKSTAGE_STAMP): $(BACKSTAGE)/package.json $(BACKSTAGE)/package-lock.json
	cd $(BACKSTAGE) && npm ci --no-audit --no-fund
	touch $@

backstage-deps: $(BACKSTAGE_STAMP)

test: $(TEST_DEPS) lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m microcks_pipeline.cli demo

bench: $(STAMP)
	$(BIN)/python bench/catalog_scan.py
	$(BIN)/python bench/microcks_calls.py
	$(BIN)/python bench/sync_latency.py
	$(BIN)/python bench/remote_scan.py

# Screenshots of the Dagster UI into docs/ for the README (not part of `make test`).
ui-shots: $(STAMP)
	command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
	$(BIN)/python bench/ui_shots.py --out docs

clean:
	rm -rf $(VENV) .demo .pytest_cache $(BACKSTAGE)/node_modules
