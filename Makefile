# Two commands do all set-up on a fresh machine: `make reanalysis` and `make test`.
# Both create .venv (with Python >= 3.12) if missing and install the package into it.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# First interpreter >= 3.12 found on PATH or in pyenv's versions folder.
PYTHON ?= $(shell for p in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/bin/python3; do \
  if $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo $$p; break; fi; done)

.PHONY: reanalysis test test-slow lint bench clean

$(BIN)/.installed: pyproject.toml setup.py
	@if [ -z "$(PYTHON)" ]; then echo "error: no Python >= 3.12 found (set PYTHON=/path/to/python3.12)" >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

reanalysis: $(BIN)/.installed
	$(BIN)/imr-bayes reanalyze --out reports

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m slow

lint: $(BIN)/.installed
	$(BIN)/ruff check imr_bayes tests bench

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache build dist
