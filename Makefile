# The two commands of the README: `make demo` and `make test`. Both create the venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	PY=$(PY) bash scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(BIN)/muralist demo --out out/demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

pytest: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

test: lint typecheck pytest

# Every benchmark in its quick mode (each < 1 minute); see README "Benchmarks".
bench: setup
	$(BIN)/python -m bench.engine --quick
	$(BIN)/python -m bench.prompting --quick
	$(BIN)/python -m bench.safety --quick
	$(BIN)/python -m bench.safety_eval --quick
	$(BIN)/python -m bench.safety_images --quick
	$(BIN)/python -m bench.queue --quick
	$(BIN)/python -m bench.scale --quick
	$(BIN)/python -m bench.bot --quick
	$(BIN)/python -m bench.faults --quick

clean:
	rm -rf $(VENV) .cache out
