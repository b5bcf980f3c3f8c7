# ShareMyShows — `make run` starts the whole system, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
TOOLS  := .tools
UV     := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV   := .venv
PY     := $(VENV)/bin/python
NPM    := $(shell command -v npm 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: help install run stop web test test-unit test-e2e test-web test-faults test-faults-shared test-faults-broker test-fuzz lint fmt bench compose-config k8s-render clean

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-15s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "ShareMyShows needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: uv.lock pyproject.toml shared/pyproject.toml $(wildcard services/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## Create the virtualenv and install everything from the lock file

web: ## Build the web app (needs Node.js 20+; the API runs without it)
	@if [ -z "$(NPM)" ]; then \
	  echo "Node.js/npm not found: the API works, but the web app is not built."; \
	  echo "Install Node.js 20 (e.g. 'apt-get install nodejs npm' or https://nodejs.org) and run 'make web'."; \
	elif [ -f web/package.json ]; then \
	  cd web && { [ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund; } && \
	  if [ -f dist/index.html ] && [ -z "$$(find src public index.html package.json package-lock.json tsconfig.json \
	       vite.config.ts -newer dist/index.html 2>/dev/null | head -n 1)" ]; then \
	    echo "web app up to date (web/dist is newer than its sources)"; \
	  else npm run build; fi; \
	fi

run: install ## Run the whole system (gateway on http://localhost:5000); Ctrl-C or `make stop` stops it
	@$(MAKE) --no-print-directory web || echo "(web app build failed; the API still runs)"
	$(PY) -m shared.stack run

stop: ## Stop a system started by `make run` (from another terminal)
	@$(PY) -m shared.stack stop

test: install ## Run every test: unit, API, end-to-end (PostgreSQL, RabbitMQ, S3, worker), web
	$(PY) -m pytest shared/tests services tests/deploy -n 2 -m "not e2e" $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory web
	$(PY) -m pytest tests/e2e -n 2 --dist loadfile $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-web

test-unit: install ## Unit and in-process API tests only (no servers needed)
	$(PY) -m pytest shared/tests services -m "not e2e" $(PYTEST_ARGS)

test-e2e: install ## End-to-end tests through the gateway against the real stack
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

test-web: ## Web app unit tests and type check (skipped with a notice without Node.js)
	@if [ -z "$(NPM)" ]; then echo "Node.js/npm not found: web tests skipped (install Node.js 20)."; \
	elif [ -f web/package.json ]; then cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run typecheck && npm test; fi

test-faults: install ## Fault-injection suite (broker restart, storage down, service down, lost events)
	@$(MAKE) --no-print-directory test-faults-shared test-faults-broker

test-faults-shared: install  # the faults that leave the shared servers up (two at a time)
	$(PY) -m pytest tests/faults -n 2 -m "not broker_restart" $(PYTEST_ARGS)

test-faults-broker: install  # restarts the shared RabbitMQ: nothing else may run meanwhile
	$(PY) -m pytest tests/faults -p no:xdist -m broker_restart $(PYTEST_ARGS)

test-fuzz: install ## Schemathesis fuzzing of every operation of the merged OpenAPI (FUZZ_EXAMPLES=50)
	$(PY) -m pytest tests/fuzz -p no:xdist $(PYTEST_ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check .

fmt: install ## ruff format + fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install ## Run every benchmark; figures in bench/results/*.json
	$(PY) bench/run_all.py $(BENCH_ARGS)

compose-config: ## Render docker-compose.yml with .env.example
	docker-compose --env-file .env.example config >/dev/null && echo "compose file OK"

k8s-render: ## Render the Kubernetes overlays
	@for o in deploy/k8s/overlays/*/; do echo "== $$o"; kubectl kustomize $$o >/dev/null || exit 1; done; echo "overlays OK"

clean: ## Remove local state (var/) and build outputs
	rm -rf var web/dist
