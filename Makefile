# 社保合规助手 — the two set-up commands are `make demo` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_EMPLOYEES ?= 3000
DEMO_SEED ?= 2026
export SHEBAO_INSTANCE_DIR ?= $(CURDIR)/instance

.PHONY: demo test lint bench install install-test system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Re-install only when the project's metadata changed.
$(VENV)/.stamp-install: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-install
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.stamp-install
install-test: $(VENV)/.stamp-test system-deps

# Browser and PDF tests need Debian packages; install them when we can (root on Debian).
system-deps:
	@bash scripts/system-deps.sh

demo: install
	@bash scripts/system-deps.sh pdf
	$(BIN)/shebao migrate --no-input -v 0
	$(BIN)/shebao seed --employees $(DEMO_EMPLOYEES) --seed $(DEMO_SEED) --ledger-months 36 --demo-users
	SHEBAO_ALLOW_PRIVATE_URLS=1 SHEBAO_DEMO=1 $(BIN)/shebao up --host 127.0.0.1 --port 8000

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check src bench
	$(BIN)/ruff format --check src bench

bench: install-test
	$(BIN)/python bench/run.py
	$(BIN)/python bench/import_run.py
	$(BIN)/python bench/ledger_run.py
	$(BIN)/python bench/rules_run.py
	$(BIN)/python bench/evidence_run.py

clean:
	rm -rf $(VENV) test-output .pytest_cache
