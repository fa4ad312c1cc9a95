# Postroom: `make demo` runs the main job end to end; `make test` runs the tests. Both set up everything.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= train,cpu,dev,bench

# No model hub: everything loads from local paths (a hub id without these hangs ~100 s before failing).
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-slow test-postgres lint bench clean-demo help

help:
	@echo "make demo   - install, initialise the store, ingest the demo corpus, print its summary"
	@echo "make test   - install dev dependencies, run ruff and pytest"
	@echo "make bench  - run the benchmarks (results in docs/benchmarks/)"

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -c "from postroom.runtime import check_onnxruntime as c; print('onnxruntime build:', c())"
	@touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/postroom init
	$(BIN)/postroom ingest examples/demo/corpus.jsonl
	$(BIN)/postroom summary

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest

test-slow: install
	$(BIN)/python -m pytest -m slow

bench: install
	$(BIN)/postroom bench clean

clean-demo:
	rm -rf var
