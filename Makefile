# resilient-fetch: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
PYODIDE_WHEELS := .cache/pyodide-wheels

.PHONY: demo test bench setup build lint pyodide-wheels chromium redis test-fast clean typecheck-js screenshot

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

setup: $(VENV)/.installed node_modules/.installed

build: setup
	$(PY) build.py

$(PYODIDE_WHEELS)/.installed: tests/pyodide/requirements.txt $(VENV)/.installed
	rm -rf $(PYODIDE_WHEELS) && mkdir -p $(PYODIDE_WHEELS)
	$(PY) -m pip download --quiet --only-binary=:all: --platform any --python-version 3.14 \
	  --implementation py --abi none -d $(PYODIDE_WHEELS) -r tests/pyodide/requirements.txt
	touch $@

pyodide-wheels: $(PYODIDE_WHEELS)/.installed

chromium:
	@scripts/ensure-chromium.sh >/dev/null

redis:
	@scripts/ensure-redis.sh

demo: build
	$(PY) -m demo_backend --host $(HOST) --port $(PORT)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

test: build pyodide-wheels chromium redis lint typecheck-js
	CHROMIUM_PATH="$${CHROMIUM_PATH:-$$(scripts/ensure-chromium.sh)}" $(PY) -m pytest tests e2e

# The shim's TypeScript declarations: a typed example must compile (strict), and
# each of its @ts-expect-error lines must fail with the code written on it.
typecheck-js: node_modules/.installed
	node_modules/.bin/tsc -p types/tsconfig.json
	node types/check-expected-errors.mjs

bench: build chromium
	CHROMIUM_PATH="$${CHROMIUM_PATH:-$$(scripts/ensure-chromium.sh)}" $(PY) -m bench.run

# docs/dashboard.png for the README, taken by Playwright from the real page.
screenshot: build chromium
	CHROMIUM_PATH="$${CHROMIUM_PATH:-$$(scripts/ensure-chromium.sh)}" $(PY) scripts/dashboard_screenshot.py

test-fast: setup
	$(PY) -m pytest tests/unit tests/integration -q

clean:
	rm -rf dist $(VENV) node_modules .cache .pytest_cache .mypy_cache .ruff_cache
