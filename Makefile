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

# The recipe of the shipped controller (lr_agent/data/default.lrc), an ensemble of four agents:
# seeds 1, 0 and 3 of experiments/train_default.toml and seed 2 of it on a broader mix of specs
# (about 1.5 hours alone on 2 cores; experiments/train_default.toml says more). The ensemble's
# range test suggests a tenth of the LR at the loss minimum, as its agents trained with
# (experiments/NOTES.md entry 11 tried a fifth), and on a plateau a tenth of the LR where the loss
# starts to rise (entry 12); a cosine tail anneals the LR over the budget's last quarter (entry 14;
# a half, chosen in entry 21, was undone in entry 22);
# a scale probe checks the range test's LR, each candidate training an epoch or 30% of the
# budget, whichever is longer, at its LR for three quarters of those steps and then annealed to
# zero (entry 25), and the probe walking up to two grid LRs
# past its best while that is the lowest or highest tried (entries 15 to 17 and 20), then climbing
# up to four more LRs while the loss still falls at every higher LR (entry 24).
MIX_SPECS := digits-mlp,wine-mlp,breast-cancer-mlp,diabetes-regression,moons-mlp,shapes-cnn,friedman3-regression
pretrained: setup
	rm -rf runs/default
	$(BIN)/lr-agent train --config experiments/train_default.toml --seed 1 --out runs/default/seed1
	$(BIN)/lr-agent train --config experiments/train_default.toml --seed 0 --out runs/default/seed0
	$(BIN)/lr-agent train --config experiments/train_default.toml --seed 3 --range-test-steps 121 --out runs/default/seed3
	$(BIN)/lr-agent train --config experiments/train_default.toml --seed 2 --range-test-steps 121 \
		--specs $(MIX_SPECS) --out runs/default/mix2
	for m in seed1 seed0 seed3 mix2; do $(BIN)/lr-agent export runs/default/$$m --out runs/default/$$m.lrc || exit 1; done
	$(BIN)/lr-agent ensemble runs/default/seed1.lrc,runs/default/seed0.lrc,runs/default/seed3.lrc,runs/default/mix2.lrc \
		--out lr_agent/data/default.lrc --range-test-extend 2 --range-test-fraction 0.1 --range-test-flat-fallback \
		--anneal-tail 0.25 --scale-probe-epochs 1 --scale-probe-fraction 0.3 --scale-probe-anneal \
		--scale-probe-walk 2 --scale-probe-climb 4 --scale-probe-hold 0.75

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
