# The two commands the README promises: `make run` and `make test`, on a machine with only
# Python 3.11+ and make. Everything else (the virtual environment, the dependencies) is set up here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m bot start

test: $(STAMP)
	$(PY) -m ruff check bot tests benchmarks
	$(PY) -m ruff format --check bot tests benchmarks
	$(PY) -m bot validate flows/*.yaml
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check bot tests benchmarks

format: $(STAMP)
	$(PY) -m ruff format bot tests benchmarks
	$(PY) -m ruff check --fix bot tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/engine_bench.py

validate: $(STAMP)
	$(PY) -m bot validate flows/*.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
