# The two commands the README promises: `make run` and `make test`, on a machine with only
# Python 3.11+ and make. Everything else (the virtual environment, the dependencies) is set up here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format bench bench-staff bench-export bench-pdf validate clean browser staff-texts

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m bot start

# The browser tests drive Debian's Chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests (needs apt-get and root)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

browser: $(CHROMIUM)

# Two pytest workers (pytest-xdist), a module's tests kept on one worker (its bot process is
# shared, see tests/support/fixtures.py); PYTEST_WORKERS=0 runs everything in this one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --dist loadscope)

test: $(STAMP) $(CHROMIUM)
	$(PY) -m ruff check bot tests benchmarks
	$(PY) -m ruff format --check bot tests benchmarks
	$(PY) -m bot validate flows/*.yaml
	$(PY) -m pytest $(PYTEST_PARALLEL)

# The quick round while working: engine, flow, store and the in-process channel tests; no bot
# process, no browser, nothing marked slow (pyproject.toml lists the markers). In one process:
# two workers measured no faster here.
test-fast: $(STAMP)
	$(PY) -m ruff check bot tests benchmarks
	$(PY) -m ruff format --check bot tests benchmarks
	$(PY) -m pytest -m "not e2e and not browser and not slow"

lint: $(STAMP)
	$(PY) -m ruff check bot tests benchmarks

format: $(STAMP)
	$(PY) -m ruff format bot tests benchmarks
	$(PY) -m ruff check --fix bot tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/engine_bench.py
	$(PY) benchmarks/telegram_bench.py
	$(PY) benchmarks/workers_bench.py

# A patient's turn while staff export 100,000 intakes in the same process (several minutes).
bench-staff: $(STAMP)
	$(PY) benchmarks/staff_bench.py

# Time and peak memory of each export format over 100,000 intakes, one process per format (a few
# minutes; the database is built once and kept in /tmp/export-bench).
bench-export: $(STAMP)
	$(PY) benchmarks/export_bench.py

# Intake PDFs: one alone, and a batch of 100 through `python -m bot export --format pdf` (about 2 minutes).
bench-pdf: $(STAMP)
	$(PY) benchmarks/pdf_bench.py

# The staff search at 100,000 intakes on SQLite and PostgreSQL, median and p95 (about two minutes).
.PHONY: bench-search
bench-search: $(STAMP)
	$(PY) benchmarks/search_bench.py

# Updates per second and p50/p99 turn latency through 1, 2 and 3 webhook workers on PostgreSQL,
# beside the SQLite single process (real bot processes, the fake Bot API; about two minutes).
.PHONY: bench-workers
bench-workers: $(STAMP)
	$(PY) benchmarks/workers_bench.py

validate: $(STAMP)
	$(PY) -m bot validate flows/*.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# The staff pages' words: find every marked string in bot/staff (templates and code) and bring each
# catalog in bot/staff/locale in step: new strings arrive empty, changed ones marked fuzzy (unused
# until a translator checks them). README "The staff pages in other languages" says the rest.
STAFF_POT := $(VENV)/staff-messages.pot
staff-texts: $(STAMP)
	$(VENV)/bin/pybabel -q extract -F bot/staff/babel.cfg -k N_ --no-location --sort-output -o $(STAFF_POT) .
	$(VENV)/bin/pybabel -q update -i $(STAFF_POT) -d bot/staff/locale --ignore-obsolete --ignore-pot-creation-date
