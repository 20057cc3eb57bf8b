"""Do two versions of the LR range test anchor the runs of experiments alike?

Resets every (workload, initial LR, seed) case of the given experiment files with each
controller's range test, and runs the range test + cosine baseline's probe, once with
``lr_range_test`` as of a git commit and once as in the working tree; prints every case
whose LR differs. When none does, the experiments' results carry over from one version to
the other (the rest of each run is the same code, seeded alike).

    python experiments/compare_anchors.py 3885018 experiments/quality.toml experiments/select.toml
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from tqdm import tqdm

import lr_agent.env
from lr_agent import schedules
from lr_agent.compare import controller_env, load_controller
from lr_agent.experiment import ExperimentConfig


def range_test_at(commit: str):
    """``lr_range_test`` from ``lr_agent/schedules.py`` as of ``commit``."""
    source = subprocess.run(
        ["git", "show", f"{commit}:lr_agent/schedules.py"], check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "schedules_at_commit.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("schedules_at_commit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.lr_range_test


def anchor(workload: str, controller: str | None, lr: float, seed: int) -> float:
    """The run's anchor LR (a controller) or the LR the baseline's probe suggests (``None``)."""
    env = controller_env(workload, load_controller(controller) if controller else None)
    env.reset(seed=seed, options={"lr": lr})
    return env.anchor_lr if controller else env.lr_range_test()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", help="git commit of the other version")
    parser.add_argument("experiments", nargs="+", type=Path, help="experiment files (.toml)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the experiments' trials run
    versions = (range_test_at(args.commit), schedules.lr_range_test)
    cases = []
    for file in args.experiments:
        for trial in ExperimentConfig.from_toml(file).trials():
            method = trial["method"]
            if trial["group"] == "method" and (method.startswith("controller:") or method == "range-test-cosine"):
                controller = method.removeprefix("controller:") if method != "range-test-cosine" else None
                cases.append((trial["workload"], controller, trial["lr"], trial["seed"]))
    differ = 0
    for workload, controller, lr, seed in tqdm(cases, desc="range tests"):
        lrs = []
        for version in versions:
            lr_agent.env.lr_range_test = version
            lrs.append(anchor(workload, controller, lr, seed))
        if lrs[0] != lrs[1]:
            differ += 1
            tqdm.write(
                f"{workload} lr={lr} seed={seed} {controller or 'range-test-cosine'}: {lrs[0]:.4g} -> {lrs[1]:.4g}"
            )
    print(f"{len(cases)} cases, each run with both versions: {differ} differ")


if __name__ == "__main__":
    main()
