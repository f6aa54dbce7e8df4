# Each target works on a fresh machine: it creates .venv, installs torch==2.13.0 first (from pip's configured
# index: the CPU build where that index serves it, see README), then the project, and Debian's graphviz and g++
# (the fused CPU kernels) when missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=
# Tests run on every core (pytest-xdist; each worker gets its share of torch's threads, tests/conftest.py);
# `make test TEST_WORKERS=0` runs them in one process.
TEST_WORKERS ?= auto

.PHONY: test test-e2e lint demo setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v dot >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 || { \
	  echo "installing graphviz (dot) and g++ (the fused CPU kernels)"; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q graphviz g++; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,report,ray,parquet,tensorboard,export,optuna]"
	@echo "building the fused CPU kernels (about a minute, once per machine)"
	$(BIN)/python -c "from nasrec.compiler.fused import extension; extension()"
	touch $(STAMP)

# `make test`: every test but the end-to-end runs (marker e2e: the tutorials, torchrun, a benchmark script: whole
# commands in subprocesses, each paying torch's start-up), within ~6 minutes on 2 cores; `make test-e2e` runs
# those. CI runs both.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not slow and not e2e" $(PYTEST_ARGS)

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "e2e and not slow" $(PYTEST_ARGS)

# The lint gate CI runs before the tests: ruff (lint and format) and mypy (config in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/nasrec demo

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
