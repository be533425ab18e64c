# The two commands: `make run` (the product with a demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench install lint format check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py seed_demo
	DEBUG=true bin/run-local

test: install
	bin/system-deps
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=tests.settings
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks (docs/benchmarks.md): a few minutes; BENCH_ARGS=--full for the 1M-event scale run.
bench: install
	bench/run-all $(BENCH_ARGS)

# mypy fails on any error not in mypy-baseline.txt and on baselined ones that are gone (fixed, or
# the module moved): then `$(BIN)/mypy | $(BIN)/mypy-baseline sync` and review the file's diff.
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy | $(BIN)/mypy-baseline filter
	$(BIN)/lint-imports --no-cache  # the one-way layout: .importlinter, docs/architecture.md

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var/db.sqlite3* var/celery var/celerybeat-schedule*
