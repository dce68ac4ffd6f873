# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: serve test lint bench install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"

## Install and start switchlog on the embedded default (SQLite under ./var/).
serve: install
	$(BIN)/switchlog serve

## Install everything the tests need and run the whole suite.
# pytest's status 5 ("no tests collected") fails the build: nothing would have been verified.
test: install-test
	$(BIN)/python -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning; \
	status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain

## Benchmarks (not part of the tests): prints a table of figures beside raw baselines.
bench: install-test
	$(BIN)/switchlog bench
