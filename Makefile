# Two entry points: `make test` and `make demo`. Both build the virtualenv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint bench clean ui-shots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check microcks_pipeline tests bench
	$(BIN)/ruff format --check microcks_pipeline tests bench

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m microcks_pipeline.cli demo

bench: $(STAMP)
	$(BIN)/python bench/catalog_scan.py
	$(BIN)/python bench/microcks_calls.py
	$(BIN)/python bench/sync_latency.py

# Screenshots of the Dagster UI into docs/ for the README (not part of `make test`).
ui-shots: $(STAMP)
	command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
	$(BIN)/python bench/ui_shots.py --out docs

clean:
	rm -rf $(VENV) .demo .pytest_cache
