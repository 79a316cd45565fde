# Switchboard: `make run` starts everything locally, `make test` runs the whole suite.
# Both install what is missing first (a virtual environment, the npm tools) and are idempotent.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run test lint typecheck test-unit test-integration test-e2e test-contract test-reliability bench soak clean install

help:
	@echo "make run     start Azurite, the Twilio stand-in (unless real credentials) and the function app"
	@echo "make test    lint, type check, unit, integration, contract and end-to-end tests"
	@echo "make test-unit | test-integration | test-contract | test-e2e | test-reliability   one layer"
	@echo "make soak    the long reliability runs (fuzzing, outages)"
	@echo "make bench   benchmarks (ratios measured side by side)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "Node.js 20+ and npm are needed for Azurite and Prism: install them (apt-get install nodejs npm, or nodejs.org)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed

local.settings.json:
	cp local.settings.sample.json local.settings.json
	@echo "Created local.settings.json from local.settings.sample.json (kept out of git)."

run: install local.settings.json
	$(PY) -m devkit run

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed
	$(PY) -m mypy

test-unit: $(VENV)/.installed
	$(PYTEST) tests/unit $(PYTEST_ARGS)

test-integration: install
	$(PYTEST) tests/integration $(PYTEST_ARGS)

test-contract: install
	$(PYTEST) tests/contract -m contract $(PYTEST_ARGS)

test-e2e: install
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

test-reliability: install
	$(PYTEST) tests/reliability $(PYTEST_ARGS)

test: install lint typecheck
	$(PYTEST) tests $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

soak: install
	$(PYTEST) tests/reliability -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis .azurite
