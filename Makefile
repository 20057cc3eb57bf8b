# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo pretrained test test-all lint format bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# torch first, from a wheel pip already has locally (find-links) when there is one;
	@# otherwise the plain install below takes torch from the index (a CUDA build on Linux).
	$(BIN)/python -m pip install -q --no-index --no-deps torch 2>/dev/null || true
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The main job: train a small controller (a few minutes), then compare it, the shipped controller
# and the baseline schedules on a workload neither was trained on. Starts afresh in runs/demo.
demo: setup
	rm -rf runs/demo
	$(BIN)/lr-agent train --config experiments/demo.toml
	$(BIN)/lr-agent export runs/demo/agent --out runs/demo/demo.lrc
	$(BIN)/lr-agent compare --env digits-cnn --controllers runs/demo/demo.lrc,pretrained --out runs/demo

# The recipe of the shipped controller (lr_agent/data/default.lrc); see experiments/train_default.toml.
pretrained: setup
	rm -rf runs/default
	$(BIN)/lr-agent train --config experiments/train_default.toml
	$(BIN)/lr-agent export runs/default --out lr_agent/data/default.lrc --range-test-extend 2

test: setup
	$(BIN)/python -m pytest

test-all: setup
	$(BIN)/python -m pytest -m ""

lint: setup
	$(BIN)/ruff check lr_agent tests experiments
	$(BIN)/ruff format --check lr_agent tests experiments

format: setup
	$(BIN)/ruff format lr_agent tests experiments
	$(BIN)/ruff check --fix lr_agent tests experiments

bench: setup
	$(BIN)/python experiments/bench_overhead.py
	$(BIN)/python experiments/bench_decision.py
	$(BIN)/python experiments/bench_scaling.py
