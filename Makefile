# Two entry points (see README): `make demo` runs the default suite, `make test` runs the tests.
# Both create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint gpu-check

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test,dask,tune,boosters]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mlbench run baselines/quick.yaml

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only -p no:randomly -o addopts=""

lint: $(BIN)/.installed
	$(BIN)/ruff check mlbench tests && $(BIN)/ruff format --check mlbench tests

# On a machine with a CUDA GPU: the gpu-marked tests, then the trainer and KNN benchmarks.
gpu-check: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m gpu -p no:randomly
	$(BIN)/python -m pytest tests/benchmarks/test_trainer_speed.py tests/benchmarks/test_knn_speed.py \
		--benchmark-enable --benchmark-only -p no:randomly -o addopts=""
