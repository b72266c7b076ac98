# Two commands: `make run` serves the demo, `make test` runs the whole suite. Both create .venv
# on first use and reuse it while the requirements files are unchanged.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQUIREMENTS := requirements.txt $(wildcard requirements/*.txt)
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: venv run test test-cluster lint typecheck browser clean-demo

$(VENV)/.installed: $(REQUIREMENTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

# Debian's chromium drives the browser tests (Playwright uses it through executable_path).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: venv
	@HOST=$(HOST) PORT=$(PORT) PY=$(PY) scripts/run-demo.sh

test: venv browser
	$(VENV)/bin/ruff check .
	DATABASE_URL=$(TEST_DATABASE_URL) MEDVTAB_TEST_REDIS_URL=$(TEST_REDIS_URL) \
	  MEDVTAB_VAR_DIR=$(CURDIR)/var/test SECRET_KEY=test-only-secret DEBUG=0 \
	  $(PY) -m pytest -m "not cluster" $(PYTEST_ARGS)
	# again on SQLite, whose primary keys restart after a rolled-back test: what a test leaves
	# keyed by a primary key or a counter shows up here and hides on PostgreSQL
	mkdir -p $(CURDIR)/var/test/sqlite
	DATABASE_URL=sqlite:///$(CURDIR)/var/test/sqlite/db.sqlite3 MEDVTAB_TEST_REDIS_URL=$(TEST_REDIS_URL) \
	  MEDVTAB_VAR_DIR=$(CURDIR)/var/test SECRET_KEY=test-only-secret DEBUG=0 \
	  $(PY) -m pytest tests/leaderboard $(PYTEST_ARGS)

# The multi-host test bed (docs/deploy.md): builds hosts as namespaces (root), runs
# tests/cluster, tears everything down even on failure, then checks that nothing is left.
test-cluster: venv
	$(PY) -m tests.cluster.bed --cleanup
	SECRET_KEY=test-only-secret DEBUG=0 OMP_NUM_THREADS=1 \
	  $(PY) -m pytest -m cluster tests/cluster -s -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  $(PY) -m tests.cluster.bed --cleanup --check || rc=1; exit $$rc

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy datasets evaluator reference_models leaderboard medvtab medvtab_client

clean-demo:
	rm -rf var/
