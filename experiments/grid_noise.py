"""How often does the grid search's own choice hold on other seeds? (NOTES.md entry 19)

The quality goal compares one run's final validation loss (the mean over seeds) with the best
seed mean of 14 grid runs on the same seeds. Part of that best is luck: the grid picks its LR and
schedule on the very seeds it is scored on. This script reads `anchor_rules.py`'s data (the
constant and cosine grids of every workload and seed) and prints the experiment report's section
*the grid search on held-out seeds* for them (`lr_agent.report.grid_on_held_out_seeds`): the grid
run with the best mean on one half of the seeds (in the order given), scored on the other half
by its mean there over that half's grid best, and each half in turn. Where that choice misses by
more than 2%, a fixed choice of LR and schedule made before the seeds' runs are seen would miss
too. It also scores, per seed, the best cosine LR of another seed (the whole runs' choice,
without the seed's own luck). Reads only: seconds.

    python experiments/anchor_rules.py experiments/select.toml --seeds 0 1 2 3 4 5
    python experiments/grid_noise.py experiments/select.toml --seeds 0 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import statistics
import tomllib
from pathlib import Path

from anchor_rules import best_cosine, read_cases

from lr_agent.report import grid_on_held_out_seeds


def grid_rows(cases: list[dict], order: list[int]) -> list[dict]:
    """The grid runs of ``cases`` as the experiment's result rows, each seed renumbered by its place
    in ``order`` (so that the report's halves are ``order``'s)."""
    return [
        {"group": "grid", "method": run.split("@")[0], "workload": case["workload"], "lr": float(run.split("@")[1]),
         "seed": order.index(case["seed"]), "final_val_loss": curve[-1], "diverged": curve[-1] == float("inf"),
         "optimizer_steps": 0}
        for case in cases
        for run, curve in case["curves"].items()
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", type=Path, help="experiment files (.toml) whose workloads to use")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4, 5], help="an even number of seeds")
    parser.add_argument("--rules-data", type=Path, default=Path("runs/anchor_rules.jsonl"), help="anchor_rules' OUT")
    args = parser.parse_args()
    if len(args.seeds) < 2 or len(args.seeds) % 2:
        raise SystemExit(f"--seeds: an even number of seeds (two halves), got {args.seeds}")
    sweeps = {(c["workload"], c["seed"]): c for c in read_cases(args.rules_data)}
    workloads = list(
        dict.fromkeys(w for file in args.experiments for w in tomllib.loads(file.read_text())["workloads"])
    )
    if missing := [(w, s) for w in workloads for s in args.seeds if (w, s) not in sweeps]:
        raise SystemExit(f"{args.rules_data} lacks {missing[0]}: run experiments/anchor_rules.py with these seeds")
    cases = [sweeps[(w, s)] for w in workloads for s in args.seeds]
    print(f"\n{len(workloads)} workloads, seeds {args.seeds}: the first half, then the second (numbered by place)\n")
    print("\n".join(grid_on_held_out_seeds(grid_rows(cases, args.seeds))))
    ratios = []
    for case in cases:
        own = {run: curve[-1] for run, curve in case["curves"].items()}
        for other in (c for c in cases if c["workload"] == case["workload"] and c is not case):
            ratios.append(own[f"cosine@{best_cosine(None, other)}"] / min(own.values()))
    near = sum(r <= 1.02 for r in ratios)
    print(f"Another seed's best cosine LR, scored per seed: within 2% in {near}/{len(ratios)}, "
          f"median ratio {statistics.median(ratios):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
