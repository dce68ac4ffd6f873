# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Only the command line sets these (`make serve HOST=0.0.0.0 PORT=9000`): a shell's own
# HOST variable must not move the server.
HOST    = 127.0.0.1
PORT    = 8000

.PHONY: serve test lint bench install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamps in the venv: install again only when pyproject.toml changed (the install is
# editable, so code changes need none), and never on every `make serve`.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## Install (if needed) and start switchlog on the embedded default (SQLite under ./var/).
serve: $(VENV)/.installed
	$(BIN)/switchlog serve --host $(HOST) --port $(PORT)

## Install everything the tests need (if needed) and run the whole suite.
# pytest's status 5 ("no tests collected") fails the build: nothing would have been verified.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning; \
	status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain

## Benchmarks (not part of the tests): prints a table of figures beside raw baselines.
bench: $(VENV)/.installed-test
	$(BIN)/switchlog bench
