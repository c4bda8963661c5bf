# Two entry points: `make test` and `make demo`. Both build the virtualenv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Backstage catalog module (backstage/, TypeScript built by tsc from its own lockfile) and
# the real Backstage the test suite starts (tests/test_backstage_*.py), installed with `npm ci`
# from its committed lockfile; that install copies the module's packed files (a `file:`
# dependency with install-links), so the module is built first and a rebuilt module reinstalls
# it. Only where Node.js is installed (elsewhere those tests skip themselves, except on CI,
# where .ci/run requires Node.js).
MODULE := backstage
MODULE_DEPS := $(MODULE)/node_modules/.installed
MODULE_BUILT := $(MODULE)/node_modules/.built
MODULE_SOURCES := $(wildcard $(MODULE)/src/*.ts) $(MODULE)/config.d.ts $(MODULE)/tsconfig.json
BACKSTAGE := tests/backstage
BACKSTAGE_STAMP := $(BACKSTAGE)/node_modules/.installed
# The stand-in for Backstage's API page that `make ui-shots` photographs (swagger-ui-dist from
# its own lockfile; --ignore-scripts: nothing of it needs an install script).
SHOTS_PAGE := bench/backstage-api-page
SHOTS_PAGE_STAMP := $(SHOTS_PAGE)/node_modules/.installed
NODE := $(shell command -v node 2>/dev/null)
TEST_DEPS := $(STAMP) $(if $(NODE),$(BACKSTAGE_STAMP))

.PHONY: test demo lint bench clean ui-shots backstage-deps backstage-module-test deploy-check deploy-lock

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
	$(BIN)/hadolint Dockerfile

$(MODULE_DEPS): $(MODULE)/package.json $(MODULE)/package-lock.json
	cd $(MODULE) && npm ci --no-audit --no-fund
	touch $@

$(MODULE_BUILT): $(MODULE_DEPS) $(MODULE_SOURCES)
	cd $(MODULE) && npm run build
	touch $@

$(BACKSTAGE_STAMP): $(BACKSTAGE)/package.json $(BACKSTAGE)/package-lock.json $(MODULE_BUILT)
	cd $(BACKSTAGE) && npm ci --no-audit --no-fund
	touch $@

backstage-deps: $(BACKSTAGE_STAMP)

$(SHOTS_PAGE_STAMP): $(SHOTS_PAGE)/package.json $(SHOTS_PAGE)/package-lock.json
	cd $(SHOTS_PAGE) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# The module's own unit tests (node --test), a few seconds.
backstage-module-test: $(MODULE_DEPS)
	cd $(MODULE) && npm test

test: $(TEST_DEPS) lint $(if $(NODE),backstage-module-test)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m microcks_pipeline.cli demo

bench: $(STAMP)
	$(BIN)/python bench/catalog_scan.py
	$(BIN)/python bench/microcks_calls.py
	$(BIN)/python bench/sync_latency.py
	$(BIN)/python bench/remote_scan.py
	$(BIN)/python bench/scale_10k.py

# The production kit's offline checks alone (also part of `make test`): hadolint, values vs the
# chart, the rendered instance vs Dagster's schemas, manifests vs the Kubernetes schemas.
deploy-check: $(STAMP)
	$(BIN)/hadolint Dockerfile
	$(BIN)/python -m pytest -q tests/test_deploy_kit.py

# The image's pinned dependencies: `pip freeze` of a clean Python 3.11 venv (the image's Python)
# holding the project with its k8s extra.
LOCK_VENV := .deploy-lock-venv
PYTHON_IMAGE ?= python3.11
deploy-lock:
	rm -rf $(LOCK_VENV) build microcks_pipeline.egg-info
	$(PYTHON_IMAGE) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade pip
	$(LOCK_VENV)/bin/pip install -q '.[k8s]'
	{ echo "# Runtime dependencies of the image, pinned: \`pip freeze\` of a clean Python 3.11 venv after"; \
	  echo "# \`pip install '.[k8s]'\` (the project line left out). Regenerate with \`make deploy-lock\`."; \
	  $(LOCK_VENV)/bin/pip freeze --exclude microcks-pipeline --exclude pip --exclude setuptools --exclude wheel; \
	} > deploy/requirements.lock
	rm -rf $(LOCK_VENV) build microcks_pipeline.egg-info

# Screenshots of the Dagster UI into docs/ for the README (not part of `make test`).
ui-shots: $(STAMP) $(BACKSTAGE_STAMP) $(SHOTS_PAGE_STAMP)
	command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
	$(BIN)/python bench/ui_shots.py --out docs

clean:
	rm -rf $(VENV) .demo .pytest_cache $(BACKSTAGE)/node_modules $(MODULE)/node_modules \
		$(SHOTS_PAGE)/node_modules \
		$(MODULE)/dist $(MODULE)/.test-build .deploy-lock-venv
