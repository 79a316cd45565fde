# Switchboard: `make run` starts everything locally, `make test` runs the whole suite.
# Both install what is missing first (a virtual environment, the npm tools) and are idempotent.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
PYTEST_ARGS ?=
# `make test` spreads the test modules over one worker per core (pytest-xdist; a module's tests
# stay together, so its fixtures start once). PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto
PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile
# `make run PORT=7072` moves the app; `make run AZURITE_PORT=20000` moves Azurite (20000-20002).
PORT ?=
AZURITE_PORT ?=

# The suite runs on a second Python too: 3.13, where azure-functions 2.x runs (as on Azure's
# newest workers). PYTHON313 names it; else the first python3.13 that runs (PATH, pyenv).
# Without one, `make test` says so and runs on $(PYTHON) only; REQUIRE_PYTHON313=1 (CI) fails.
PYTHON313 ?=
REQUIRE_PYTHON313 ?=
VENV313 := .venv313
PY313 := $(VENV313)/bin/python
TESTS_313 ?= tests
# checkov (the offline scan of infra/) lives in its own environment: its pins would downgrade
# packages the app runs with (requirements-iac.txt says which).
VENV_IAC := .venv-iac
define find_python313
for candidate in $(PYTHON313) python3.13 "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
  "$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { echo "$$candidate"; break; }; \
done
endef

.DEFAULT_GOAL := help
.PHONY: screenshots help run test test-313 lint typecheck test-unit test-integration test-e2e test-contract test-reliability test-iac bench soak mutation clean install browser

help:
	@echo "make run     start Azurite, the Twilio stand-in (unless real credentials) and the function app"
	@echo "make test    lint, type check, then every test layer on Python 3.11 and on 3.13"
	@echo "make test-unit | test-integration | test-contract | test-e2e | test-reliability | test-iac   one layer"
	@echo "make test-313  the tests on Python 3.13 only (.venv313)"
	@echo "make soak    the long reliability runs (fuzzing, outages)"
	@echo "make bench   benchmarks (ratios measured side by side)"
	@echo "make mutation  mutation testing of the pure rules by the unit tests (long; not in make test)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the Python packages into $(VENV)/ (requirements-dev.txt; first run only, about 1 minute)"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "Node.js 20+ and npm are needed for Azurite and Prism: install them (apt-get install nodejs npm, or nodejs.org)"; exit 1; }
	@echo "Installing Azurite and Prism into node_modules/ (package-lock.json; first run only, about 30 seconds)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed

$(VENV_IAC)/.installed: requirements-iac.txt
	@test -x $(VENV_IAC)/bin/python || $(PYTHON) -m venv $(VENV_IAC)
	@echo "Installing checkov into $(VENV_IAC)/ (requirements-iac.txt; first run only, about 30 seconds)"
	$(VENV_IAC)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-iac.txt
	@touch $@

# The inbox's browser tests drive Debian's chromium (Playwright's own browser download cannot
# run offline). Installed here when missing and possible (root with apt-get); otherwise the
# tests are skipped with the command to run, except in CI (CI or REQUIRE_BROWSER set), where
# they fail.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser tests (apt-get install -y chromium)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "NOTE could not install chromium: the browser tests will say so"; \
	else \
	  echo "NOTE $(CHROMIUM) not found: the browser tests are skipped (install it: sudo apt-get install -y chromium)"; \
	fi

local.settings.json:
	cp local.settings.sample.json local.settings.json
	@echo "Created local.settings.json from local.settings.sample.json (kept out of git)."

run: install local.settings.json
	$(PY) -m devkit run $(if $(PORT),--port $(PORT)) $(if $(AZURITE_PORT),--azurite-port $(AZURITE_PORT))

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

test-e2e: install browser
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

test-reliability: install
	$(PYTEST) tests/reliability $(PYTEST_ARGS)

test-iac: $(VENV)/.installed $(VENV_IAC)/.installed
	$(PYTEST) tests/iac $(PYTEST_ARGS)

test: install browser $(VENV_IAC)/.installed lint typecheck
	$(PYTEST) tests $(PARALLEL) $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-313

# The tests on Python 3.13 (lint and mypy ran once, above). Its own virtual environment.
test-313: node_modules/.installed browser
	@main=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true); \
	if [ "$$main" = "3.13" ]; then echo "make test: $(VENV) is Python 3.13 already: no second run"; exit 0; fi; \
	found=$$($(find_python313)); \
	if [ -z "$$found" ]; then \
	  if [ -n "$(REQUIRE_PYTHON313)" ]; then \
	    echo "error: Python 3.13 is required (REQUIRE_PYTHON313 is set) but none was found: install it or set PYTHON313=/path/to/python3.13"; exit 1; \
	  fi; \
	  echo "make test: NOTE no Python 3.13 found (PATH, pyenv; or set PYTHON313=...): the tests ran on Python $$main only"; exit 0; \
	fi; \
	$(MAKE) --no-print-directory PYTHON313="$$found" $(VENV313)/.installed && \
	echo "$(PY313) -m pytest $(TESTS_313) $(PARALLEL) $(PYTEST_ARGS)" && $(PY313) -m pytest $(TESTS_313) $(PARALLEL) $(PYTEST_ARGS)

$(VENV313)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY313) || $(PYTHON313) -m venv $(VENV313)
	@echo "Installing the Python packages into $(VENV313)/ for the Python 3.13 run (first run only, about 1 minute)"
	$(PY313) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

bench: install
	$(PY) -m bench

# The README's inbox screenshots (docs/inbox/), taken by the browser tests in a real browser.
screenshots: install browser
	UPDATE_SCREENSHOTS=1 $(PYTEST) tests/e2e/test_inbox_browser.py tests/e2e/test_inbox_conversations_browser.py -k axe $(PYTEST_ARGS)

soak: install
	$(PYTEST) tests/reliability -m slow $(PYTEST_ARGS)

# Break the pure rules one small change at a time and count what the unit tests catch (the
# targets: devkit/mutation.py; the survivors explained: docs/MUTATION.md). Long: ~30 min.
mutation: $(VENV)/.installed
	$(PY) -m devkit mutation

clean:
	rm -rf $(VENV) $(VENV313) $(VENV_IAC) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis .azurite mutants
