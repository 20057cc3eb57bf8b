"""A selection round counted from finished experiments' results (NOTES.md entries 17 and 20).

A round can run in pieces, to reuse the grid of an earlier one: a candidate runs with
`lr-agent experiment` on a file with only itself and a one-LR grid, and its seed means are then
scored over the grid of the earlier round's `results.csv`, as the experiment report scores them
(each cell's mean over seeds, infinite when a seed diverged, over the best mean of the workload's
grid). For each method given: the cases within 2% and 10% of the grid's best, the median ratio,
and a row per workload; the one-LR grid's runs are checked against the full grid's, to the bit.

    python experiments/round_ratios.py --grid runs/experiments/select/results.csv \\
        --runs runs/experiments/walk20/results.csv --method controller:$PWD/runs/walk2.lrc

(results.csv names a controller file by its full path.)

A round cut short (``lr-agent experiment --report-only`` after a stop) is counted on the
workloads it finished: ``--workloads`` names them, and each must have every seed of every
method and of the grid.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from collections import defaultdict
from pathlib import Path


def read(paths: list[Path]) -> list[dict]:
    """The rows of results files, each run once (a file given twice, or in both lists, counts once)."""
    rows = {}
    for path in paths:
        with path.open() as file:
            for row in csv.DictReader(file):
                rows[(row["group"], row["method"], row["workload"], row["lr"], row["seed"])] = row
    return list(rows.values())


def final_loss(row: dict) -> float:
    return math.inf if row["diverged"] == "True" else float(row["final_val_loss"])


def seed_means(rows: list[dict], keep) -> dict[tuple, float]:
    """The mean final loss over seeds of each (workload, method, LR) of the rows ``keep`` accepts."""
    losses = defaultdict(list)
    for row in rows:
        if keep(row):
            losses[(row["workload"], row["method"], float(row["lr"]))].append(final_loss(row))
    return {key: statistics.mean(values) for key, values in losses.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", nargs="+", type=Path, required=True, help="results.csv files with the full grid")
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="results.csv files with the candidates")
    parser.add_argument("--method", nargs="+", required=True, help="methods to count, as results.csv names them")
    parser.add_argument("--workloads", nargs="+", help="count only these workloads (default: all)")
    args = parser.parse_args()
    grid_rows = read(args.grid)
    if args.workloads:
        grid_rows = [row for row in grid_rows if row["workload"] in args.workloads]
    grid = seed_means(grid_rows, lambda row: row["group"] == "grid")
    best: dict[str, float] = {}
    for (workload, _, _), loss in grid.items():
        best[workload] = min(best.get(workload, math.inf), loss)
    full = {
        (r["workload"], r["method"], r["lr"], r["seed"]): r["final_val_loss"] for r in grid_rows if r["group"] == "grid"
    }
    for path in (path for path in args.runs if path not in args.grid):
        again = [r for r in read([path]) if r["group"] == "grid"]
        same = sum(full.get((r["workload"], r["method"], r["lr"], r["seed"])) == r["final_val_loss"] for r in again)
        print(f"{path}: {len(again)} grid runs, {same} the same as the full grid's to the last bit")
    every_row = read(args.runs + args.grid)
    if args.workloads:
        every_row = [row for row in every_row if row["workload"] in args.workloads]
        seeds = {row["seed"] for row in every_row}
        for workload in args.workloads:
            for method in [*args.method, "constant", "cosine"]:
                runs = [row for row in every_row if row["workload"] == workload and row["method"] == method]
                lrs = {row["lr"] for row in runs}
                if len(runs) != len(seeds) * len(lrs) or not runs:
                    raise SystemExit(f"{workload}: {method} has {len(runs)} runs, not every seed at every LR")
    for method in args.method:
        means = seed_means(every_row, lambda row, m=method: row["method"] == m)
        if not means:
            raise SystemExit(f"no runs of {method!r} in {', '.join(map(str, args.runs + args.grid))}")
        ratios = {(workload, lr): loss / best[workload] for (workload, _, lr), loss in means.items()}
        values = list(ratios.values())
        steps = sum(int(row["optimizer_steps"]) for row in every_row if row["method"] == method)
        print(f"\n{method}: within 2% {sum(v <= 1.02 for v in values)}/{len(values)}, within 10% "
              f"{sum(v <= 1.10 for v in values)}/{len(values)}, median {statistics.median(values):.4f}, "
              f"optimizer steps {steps:,}")  # fmt: skip
        lrs = sorted({lr for _, lr in ratios})
        print("| workload | " + " | ".join(f"LR {lr:g}" for lr in lrs) + " |")
        print("| --- |" + " --- |" * len(lrs))
        for workload in dict.fromkeys(w for w, _ in ratios):
            cells = " | ".join(f"{ratios[(workload, lr)]:.3f}" if (workload, lr) in ratios else "" for lr in lrs)
            print(f"| {workload} | {cells} |")


if __name__ == "__main__":
    main()
