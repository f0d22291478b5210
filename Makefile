# knflow: `make demo` and `make test` work on a fresh machine (uv comes from PyPI when missing).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
PORT ?= 8080
QUICK ?=
MINUTES ?= 2

.PHONY: install ui demo test test-unit test-integration test-e2e lint bench chaos services-up services-down clean

$(UV):
	$(PYTHON) -m pip install --user --quiet uv

# Bytecode is compiled at install time: cold starts must not depend on PYTHONDONTWRITEBYTECODE.
install: $(UV) ui
	$(UV) sync --python $(PYTHON) --quiet --compile-bytecode
	$(VENV)/bin/python -m compileall -q sdk/src function-runtime/src eventing/src control-plane/src

# The web UI (docs/ui.md): exact versions from package.json, built into the control plane's package.
ui:
	cd control-plane/ui && npm install --no-package-lock --no-audit --no-fund --loglevel=error && npm run --silent build

demo: install
	$(VENV)/bin/python examples/demo.py --port $(PORT)

services-up:
	bash scripts/services/up.sh

services-down:
	bash scripts/services/down.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy sdk/src function-runtime/src control-plane/src eventing/src tests bench
	cd control-plane/ui && npm run --silent typecheck && npm run --silent lint

# The services start while the install runs (a fresh machine builds the API server meanwhile); Debian's
# chromium (the web UI's tests) after them, so that its apt-get never races theirs for dpkg's lock.
# Two pytest workers, a file's tests on one (tests/conftest.py: which files wait for each other's end).
test: $(UV)
	@mkdir -p .knflow; \
	KNFLOW_WITH_KAFKA=1 bash scripts/services/up.sh > .knflow/services.env & services=$$!; \
	$(MAKE) --no-print-directory install || { wait $$services; exit 1; }; \
	wait $$services || { echo "make test: the test services did not start" >&2; exit 1; }; \
	bash scripts/chromium.sh > .knflow/chromium.env || { echo "make test: chromium (the UI tests' browser) did not install" >&2; exit 1; }; \
	set -a; eval "$$(grep -h "^export " .knflow/services.env .knflow/chromium.env)"; set +a; \
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=25

# KNFLOW_PG_DURABLE=1: Postgres as in production (fsync on), so a commit is one that survives power loss.
bench: install
	set -a; eval "$$(KNFLOW_PG_DURABLE=1 bash scripts/services/up.sh | grep "^export ")"; set +a; \
	$(VENV)/bin/python bench/run.py $(if $(QUICK),--quick,)

# The chaos run (tests/chaos): MINUTES of workload under faults on SQLite, then on Postgres with its own
# Postgres and Kafka (ports 25432/29092: the shared test services are never restarted); `make chaos MINUTES=30` soaks.
chaos: install
	$(VENV)/bin/python -m tests.chaos.runner --database sqlite --minutes $(MINUTES)
	$(VENV)/bin/python -m tests.chaos.runner --database postgres --minutes $(MINUTES)

clean:
	rm -rf .knflow $(VENV)
