# Two entry points (see README): `make demo` runs the default suite, `make test` runs the tests.
# Both create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test,dask,tune]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mlbench run baselines/quick.yaml

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only -p no:randomly -o addopts=""

lint: $(BIN)/.installed
	$(BIN)/ruff check mlbench tests && $(BIN)/ruff format --check mlbench tests
