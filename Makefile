# The two commands: `make run` (the product with a demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench install lint format check clean lock audit

# Installs exactly what requirements-dev.lock pins (hashes checked; pip itself comes from it too),
# then the project without its dependencies: a changed lock file reinstalls.
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
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

# After changing a dependency in pyproject.toml: `make lock`, then commit both lock files
# (tests/test_lockfile.py fails while they disagree). Python 3.11 on Linux, as the Dockerfile;
# the dev lock is compiled under the runtime pins, so tests run what the image installs. Pins
# move only when a range forces them; `make lock LOCK_ARGS=--upgrade` takes every newest release.
# Lock files in conflict after a merge: delete both, then `make -o $(VENV)/.installed lock`.
# Extras stay on the pins (`cachecontrol[filecache]==...`): pip's hash-checking mode refused the
# dev lock once a newer cachecontrol came out, pip-audit asking for it with the extra.
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform linux --no-strip-extras --custom-compile-command "make lock" $(LOCK_ARGS)
lock: install
	$(LOCK) pyproject.toml -o requirements.lock
	$(LOCK) pyproject.toml --extra dev -c requirements.lock -o requirements-dev.lock

# Known vulnerabilities in what the image installs (bin/audit-deps says what an unreachable
# vulnerability service does to the answer).
audit: install
	bin/audit-deps

clean:
	rm -rf $(VENV) var/db.sqlite3* var/celery var/celerybeat-schedule*
