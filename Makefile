# The two commands: `make demo` and `make test`. Everything else is their plumbing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SANDBOX_PORT ?= 8001

.PHONY: demo test soak install clean bench clean-bench

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) $(PY) scripts/demo.py

test: install
	$(PY) -m ruff check backoffice payments tests scripts
	$(PY) -m mypy payments backoffice
	scripts/with-postgres $(PY) -m pytest $(PYTEST_ARGS)

# The money state machine (tests/guarantees/test_money_machine.py) for long, with a one-line
# summary (README, "Tests"); not part of `make test`, which runs it briefly.
SOAK_EXAMPLES ?= 300
SOAK_STEPS ?= 40
soak: install
	SOAK_EXAMPLES=$(SOAK_EXAMPLES) SOAK_STEPS=$(SOAK_STEPS) scripts/with-postgres $(PY) -m pytest \
		tests/guarantees/test_money_machine.py -q --timeout=0 -p no:cacheprovider $(PYTEST_ARGS)

# The benchmark against a million orders (README, "Performance"); not part of `make test`.
bench: install
	PY=$(PY) scripts/bench $(BENCH_ARGS)

clean-bench:
	-scripts/bench-postgres stop
	rm -rf .bench-pg

clean:
	rm -rf $(VENV) db.sqlite3 .sandbox-state.json staticfiles exports
