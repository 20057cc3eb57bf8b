# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-all lint format bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# torch first, from a wheel pip already has locally (find-links) when there is one;
	@# otherwise the plain install below takes torch from the index (a CUDA build on Linux).
	$(BIN)/python -m pip install -q --no-index --no-deps torch 2>/dev/null || true
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/lr-agent envs
	$(BIN)/lr-agent baseline --env digits-mlp --schedule cosine --lr 0.01 --seed 0 --out runs/demo

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
