# Developer entry points. `make run` serves the API locally, `make test` runs
# the tests; both create the virtualenv and install the project on first use:
# `make run` what running needs (the `run` extra), the others the whole
# development set (the `dev` extra: tests, linters, SAM CLI).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per extra; each reinstalls only when pyproject.toml is newer.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# Two workers for two cores; registry fixtures start per worker.
PYTEST_ARGS ?= -n 2
# e.g. SAM_BUILD_ARGS=--use-container where python3.12 is not installed.
SAM_BUILD_ARGS ?=
BENCH_ARGS ?=

.PHONY: install run test lint build deploy bench dead-letters redrive

install: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[run]'
	touch $@

# The dev extra includes the run extra: both stamps are fresh after it.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/python -m devserver

test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

build: $(DEV_STAMP)
	$(BIN)/sam build $(SAM_BUILD_ARGS)

deploy: build
	$(BIN)/sam deploy --guided

# Writes bench/RESULTS.md; e.g. BENCH_ARGS='--runs 5' or '--quick'.
bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The import dead-letter queue of a deployed stack (README, "Operating it"):
# `make dead-letters STACK=imagestreams` shows each dead message and what a
# redrive would do; `make redrive STACK=imagestreams` moves them back to the
# import queue, and `make dead-letters` afterwards shows what is left.
dead-letters: $(RUN_STAMP)
	$(BIN)/python -m ops.dead_letters show --stack $(STACK)
	$(BIN)/python -m ops.dead_letters status --stack $(STACK)

redrive: $(RUN_STAMP)
	$(BIN)/python -m ops.dead_letters redrive --stack $(STACK)
