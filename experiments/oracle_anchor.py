"""How good is the controller's shape when its scale is right? (NOTES.md entry 17)

Reads the grid search of a finished `lr-agent experiment` (its folder), and for each workload
runs the controller with its range test and scale probe off, started at the grid's best cosine
LR (the seed mean's) and half a decade either side of it, on the experiment's seeds. Each run's
final validation loss is appended to OUT (skipped when run again: remove OUT after a change);
the report gives, for each start, how many workloads come within 2% of the grid's best and the
median ratio, as `lr-agent experiment`'s report counts them (seed means).

    python experiments/oracle_anchor.py runs/experiments/select
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from anchor_rules import read_cases
from tqdm import tqdm

SHIFTS = {0: "the grid's best cosine LR", -1: "half a decade below it", 1: "half a decade above it"}


def run(controller_path: str, workload: str, seed: int, lr: float) -> float:
    """The controller's final validation loss from ``lr``, with no range test or probe (inf if it diverged)."""
    import torch

    from lr_agent.compare import load_controller
    from lr_agent.env import TrainingRunEnv
    from lr_agent.episodes import run_episode

    torch.set_num_threads(1)  # as the experiments' trials run
    controller = load_controller(controller_path)
    settings = controller.env_kwargs() | {"range_test_steps": 0, "scale_probe_epochs": 0.0}
    settings |= {"scale_probe_width": 1, "scale_probe_fraction": 0.0, "range_test_flat_fallback": False}
    settings |= {"scale_probe_anneal": False, "scale_probe_walk": 0, "range_test_adaptive_fraction": None}
    settings |= {"scale_probe_hold": 0.0, "scale_probe_climb": 0}
    episode = run_episode(TrainingRunEnv(workload, **settings), controller.act, seed=seed, options={"lr": lr})
    last = episode.records[-1]
    return math.inf if last["diverged"] else last["val_loss"]


def grid_means(folder: Path) -> dict[tuple[str, str, float], list[float]]:
    """The grid's final validation losses by (workload, schedule, LR), one per seed."""
    losses = defaultdict(list)
    for params in sorted(folder.glob("grid/*/params.json")):
        trial = json.loads(params.read_text())["trial"]
        lines = (params.parent / "result.json").read_text().split("\n")
        rows = [json.loads(line) for line in lines if line.strip()]
        if trial["group"] != "grid" or not rows or not rows[-1].get("done"):
            continue
        losses[(trial["workload"], trial["method"], trial["lr"])].append(
            math.inf if rows[-1]["diverged"] else rows[-1]["val_loss"]
        )
    if not losses:
        raise SystemExit(f"{folder}: no finished grid trials under grid/ (run `lr-agent experiment` on it first)")
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", type=Path, help="a finished experiment's folder (runs/experiments/NAME)")
    parser.add_argument("--controller", default="pretrained", help="controller file (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=Path("runs/oracle_anchor.jsonl"))
    parser.add_argument("--jobs", type=int, default=2, help="processes (one core each)")
    args = parser.parse_args()
    losses = grid_means(args.experiment)
    mean = statistics.fmean
    workloads = sorted({w for w, _, _ in losses})
    seeds = range(min(len(v) for v in losses.values()))
    best = {w: min(mean(v) for (x, _, _), v in losses.items() if x == w) for w in workloads}
    cosine = {}  # the grid's best cosine LR of each workload
    for w in workloads:
        lrs = [lr for (x, schedule, lr) in losses if x == w and schedule == "cosine"]
        cosine[w] = min(lrs, key=lambda lr, w=w: mean(losses[(w, "cosine", lr)]))
    done = {(row["workload"], row["seed"], row["shift"]): row["loss"] for row in read_cases(args.out)}
    todo = [(w, s, k) for k in SHIFTS for w in workloads for s in seeds if (w, s, k) not in done]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as pool, tqdm(total=len(todo), desc="runs", unit="run") as bar:
        futures = {pool.submit(run, args.controller, w, s, cosine[w] * 10 ** (k / 2)): (w, s, k) for w, s, k in todo}
        for future in as_completed(futures):
            w, s, k = futures[future]
            done[(w, s, k)] = future.result()
            with args.out.open("a") as out:
                out.write(json.dumps({"workload": w, "seed": s, "shift": k, "loss": done[(w, s, k)]}) + "\n")
            bar.update()
    print(f"\n{args.controller} from the grid's best cosine LR, {len(workloads)} workloads x {len(seeds)} seeds")
    print("| start | within 2% | median ratio | ratios |\n| --- | --- | --- | --- |")
    for k, label in SHIFTS.items():
        ratios = {w: mean(done[(w, s, k)] for s in seeds) / best[w] for w in workloads}
        listed = ", ".join(f"{w} {r:.2f}" for w, r in ratios.items())
        print(f"| {label} | {sum(r <= 1.02 for r in ratios.values())}/{len(ratios)} "
              f"| {statistics.median(ratios.values()):.3f} | {listed} |")  # fmt: skip


if __name__ == "__main__":
    main()
