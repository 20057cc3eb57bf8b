"""How close does the grid search's own choice come to the grid's best on other seeds? (NOTES.md
entry 19)

The quality goal compares one run's final validation loss (the mean over seeds) with the best
seed mean of 14 grid runs on the same seeds. Part of that best is luck: the grid picks its LR and
schedule on the very seeds it is scored on. This script reads `anchor_rules.py`'s data (the
constant and cosine grids of every workload and seed) and splits the seeds in two halves: the grid
run with the best mean on one half (its choice) is scored on the other half, as a controller's
run would be, by its mean there over the other half's grid best; and each half in turn. Where the
choice misses by more than 2%, no method that must choose before it sees the seeds' whole runs
can count on being within 2%. It also scores, per seed, the best cosine LR of another seed (the
whole runs' choice, without the seed's own luck). Reads only: seconds.

    python experiments/anchor_rules.py experiments/select.toml --seeds 0 1 2 3 4 5
    python experiments/grid_noise.py experiments/select.toml --seeds 0 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import math
import statistics
import tomllib
from pathlib import Path

from anchor_rules import read_cases


def seed_means(cases: list[dict]) -> dict[str, float]:
    """The mean final validation loss over ``cases`` (one workload's seeds) of each grid run; a run
    that diverged in any seed is infinite."""
    return {run: statistics.fmean(case["curves"][run][-1] for case in cases) for run in cases[0]["curves"]}


def transfer_ratio(chooser: list[dict], judge: list[dict]) -> float:
    """The judge seeds' mean of the grid run the chooser seeds' means rank best, over the judge
    seeds' best mean."""
    chosen, judged = seed_means(chooser), seed_means(judge)
    pick = min(chosen, key=chosen.get)
    return judged[pick] / min(judged.values())


def summary(label: str, ratios: list[float]) -> str:
    finite = [r for r in ratios if math.isfinite(r)]
    return (
        f"| {label} | {sum(r <= 1.02 for r in ratios)}/{len(ratios)} | {sum(r <= 1.10 for r in ratios)}/{len(ratios)} "
        f"| {statistics.median(ratios):.3f} | {max(finite):.3f} |"
    )


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
    half = len(args.seeds) // 2
    first, second = args.seeds[:half], args.seeds[half:]
    halves, cosine = [], []
    for workload in workloads:
        a, b = ([sweeps[(workload, s)] for s in seeds] for seeds in (first, second))
        halves += [transfer_ratio(a, b), transfer_ratio(b, a)]
        for case in a + b:
            for other in (c for c in a + b if c is not case):
                own = {run: curve[-1] for run, curve in case["curves"].items()}
                pick = min(
                    (r for r in other["curves"] if r.startswith("cosine@")), key=lambda r: other["curves"][r][-1]
                )
                cosine.append(own[pick] / min(own.values()))
    print(f"\n{len(workloads)} workloads, seeds {first} and {second}")
    print("| choice | within 2% | within 10% | median ratio | worst finite |\n| --- | --- | --- | --- | --- |")
    print(summary(f"the grid's best mean on {half} seeds, scored on the other {half}", halves))
    print(summary("another seed's best cosine run's LR, scored per seed", cosine))


if __name__ == "__main__":
    main()
