"""Can pruning whole runs pick the LR with less compute than the grid? (NOTES.md entry 18)

Offline, on `anchor_rules.py`'s data (its OUT file: the range test's LR from each start and a
constant and a cosine run at each of 7 grid LRs, each run's validation loss per epoch kept).
Successive halving starts several whole runs (cosine over the full budget, or constant too) at
the grid LRs around the range test's LR, and at given points of the budget keeps the ones with
the lowest validation loss so far; the survivors go on with their own weights, so the result is
the last survivor's final loss, exactly what the grid's run at its LR reached. Each rule is
scored by that loss over the grid's best (as in `anchor_rules.py`, one seed at a time) and
charged the share of a run that its runs trained, summed (a single run is 1; the grid is 14).

    python experiments/anchor_rules.py experiments/select.toml --seeds 0 1
    python experiments/successive_halving.py experiments/select.toml
"""

from __future__ import annotations

import argparse
import math
import statistics
import tomllib
from pathlib import Path

from anchor_rules import GRID, nearest, read_cases

# (name, grid LRs either side of the anchor's (fewer at the grid's ends: "7" is up to 7), schedules,
#  [(share of the budget, runs kept), ...])
RULES = [
    ("3 cosine, keep 1 at 1/3", 1, ("cosine",), [(1 / 3, 1)]),
    ("3 cosine, keep 1 at 1/2", 1, ("cosine",), [(1 / 2, 1)]),
    ("5 cosine, keep 1 at 1/3", 2, ("cosine",), [(1 / 3, 1)]),
    ("5 cosine, keep 1 at 1/2", 2, ("cosine",), [(1 / 2, 1)]),
    ("5 cosine, keep 2 at 1/3, 1 at 2/3", 2, ("cosine",), [(1 / 3, 2), (2 / 3, 1)]),
    ("7 cosine, keep 1 at 1/3", 3, ("cosine",), [(1 / 3, 1)]),
    ("7 cosine, keep 1 at 1/2", 3, ("cosine",), [(1 / 2, 1)]),
    ("7 cosine, keep 3 at 1/4, 1 at 1/2", 3, ("cosine",), [(1 / 4, 3), (1 / 2, 1)]),
    ("7 cosine, keep 3 at 1/3, 1 at 2/3", 3, ("cosine",), [(1 / 3, 3), (2 / 3, 1)]),
    ("3 cosine + 3 constant, keep 2 at 1/3, 1 at 2/3", 1, ("cosine", "constant"), [(1 / 3, 2), (2 / 3, 1)]),
    (
        "7 cosine + 7 constant, keep 4 at 1/4, 2 at 1/2, 1 at 3/4",
        3,
        ("cosine", "constant"),
        [(1 / 4, 4), (1 / 2, 2), (3 / 4, 1)],
    ),
    ("7 cosine, all to the end", 3, ("cosine",), []),
    ("all 7 grid LRs, cosine, to the end (the grid's cosine half)", len(GRID), ("cosine",), []),
]


def loss_after(curve: list[float], epoch: int) -> float:
    """The validation loss after ``epoch`` epochs (1-based); infinite once the run has diverged."""
    return curve[epoch - 1] if epoch <= len(curve) else math.inf


def successive_halving(case: dict, runs: list[str], rungs: list[tuple[float, int]], epochs: int) -> tuple[float, float]:
    """The final loss of the run that survives ``rungs``, and the compute spent, in runs."""
    alive, spent, done = list(runs), 0.0, 0
    for share, keep in rungs:
        epoch = max(1, math.ceil(share * epochs))
        spent += len(alive) * (epoch - done) / epochs
        alive = sorted(alive, key=lambda run: loss_after(case["curves"][run], epoch))[:keep]
        done = epoch
    spent += len(alive) * (epochs - done) / epochs
    return min(loss_after(case["curves"][run], epochs) for run in alive), spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", type=Path, help="experiment files (.toml) whose workloads to use")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--rules-data", type=Path, default=Path("runs/anchor_rules.jsonl"), help="anchor_rules' OUT")
    args = parser.parse_args()
    cases = {(c["workload"], c["seed"]): c for c in read_cases(args.rules_data)}
    workloads = [w for file in args.experiments for w in tomllib.loads(file.read_text())["workloads"]]
    wanted = [(w, s) for w in dict.fromkeys(workloads) for s in args.seeds]
    if missing := [key for key in wanted if key not in cases]:
        raise SystemExit(f"{args.rules_data} lacks {missing[0]}: run experiments/anchor_rules.py on these files")
    title = ", ".join(file.stem for file in args.experiments)
    print(f"\n{title}: {len(wanted)} workload x seed pairs, {sum(len(cases[key]['tests']) for key in wanted)} cases")
    print("| rule | within 2% | within 10% | median ratio | compute, in runs |\n| --- | --- | --- | --- | --- |")
    for name, width, schedules, rungs in RULES:
        ratios, spent = [], []
        for case in map(cases.get, wanted):
            epochs = case["tests"][0]["epochs"]
            best = min(loss_after(curve, epochs) for curve in case["curves"].values())
            for test in case["tests"]:
                runs = [f"{schedule}@{lr}" for schedule in schedules for lr in nearest(test["anchor"], width)]
                final, cost = successive_halving(case, runs, rungs, epochs)
                ratios.append(final / best)
                spent.append(cost)
        n = len(ratios)
        print(f"| {name} | {sum(r <= 1.02 for r in ratios)}/{n} | {sum(r <= 1.10 for r in ratios)}/{n} "
              f"| {statistics.median(ratios):.3f} | {statistics.mean(spent):.2f} |")  # fmt: skip
    print(f"(the grid: {len(GRID)} LRs x 2 schedules = 14 runs)")


if __name__ == "__main__":
    main()
