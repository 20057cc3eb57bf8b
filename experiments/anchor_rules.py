"""Which rule puts the LR's scale nearest the grid search's best? (NOTES.md entry 14)

For every workload of the given experiment files and seed: the shipped controller's range test
from each of 4 initial LRs (the whole sweep kept), and a grid of constant and cosine runs over
7 LRs (each run's validation loss per epoch kept). Then, offline, each rule picks an LR per
(workload, start, seed) from the sweep, or from the first epochs of the grid's constant runs
(a short-run probe), and is scored by the cosine run's final validation loss at that LR
(log-linear between grid LRs, clamped at the grid's ends) over the grid's best: what the range
test + cosine would reach from that anchor, roughly. Cases are appended to OUT as they finish
and skipped when run again (with the same controller and grid: remove OUT after a change).

    python experiments/anchor_rules.py experiments/select.toml experiments/quality.toml --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

GRID = [1e-4, 3.16e-4, 1e-3, 3.16e-3, 1e-2, 3.16e-2, 1e-1]
STARTS = [1e-4, 1e-3, 1e-2, 1e-1]


def measure(workload: str, seed: int) -> dict:
    """The controller's sweeps from every start and the constant/cosine grid, for one workload and seed."""
    import torch

    import lr_agent.env
    from lr_agent import schedules
    from lr_agent.compare import controller_env
    from lr_agent.controller import Controller
    from lr_agent.episodes import run_episode

    torch.set_num_threads(1)  # as the experiments' trials run
    sweeps = []

    def recording(*args, **kwargs):
        result = schedules.lr_range_test(*args, **kwargs)
        sweeps.append(result)
        return result

    lr_agent.env.lr_range_test = recording  # the env's own range test, with its sweep kept
    env = controller_env(workload, Controller.pretrained())
    env.scale_probe_epochs = 0  # the range test's own LR: the rules below stand in for the probe
    tests = []
    for start in STARTS:
        sweeps.clear()
        _, info = env.reset(seed=seed, options={"lr": start})
        (sweep,) = sweeps
        tests.append(
            {"start": start, "anchor": info["lr"], "lrs": sweep.lrs, "losses": sweep.losses,
             "min_lr": sweep.best_lr, "flat": sweep.flat, "epochs": info["run"]["epochs"]}
        )  # fmt: skip
    baseline = controller_env(workload, None)
    curves = {}  # one validation loss per epoch: every spec acts once an epoch (steps_per_action 0)
    for name in ("constant", "cosine"):
        for lr in GRID:
            episode = run_episode(baseline, schedules.make_schedule(name), seed=seed, options={"lr": lr}, name=name)
            curves[f"{name}@{lr}"] = [r["val_loss"] if not r["diverged"] else math.inf for r in episode.records]
    return {"workload": workload, "seed": seed, "optimizer": info["run"]["optimizer"], "tests": tests, "curves": curves}


def steepest(test: dict, lag: int = 5) -> float | None:
    """The LR where the smoothed loss falls fastest per decade (over ``lag`` steps), before its minimum."""
    lrs, losses = test["lrs"], test["losses"]
    end = lrs.index(test["min_lr"]) if test["min_lr"] in lrs else len(lrs) - 1
    best, where = 0.0, None
    for i in range(10 + lag, end + 1):
        slope = (losses[i] - losses[i - lag]) / math.log10(lrs[i] / lrs[i - lag])
        if slope < best:
            best, where = slope, math.sqrt(lrs[i] * lrs[i - lag])
    return where


def read_cases(path: Path) -> list[dict]:
    """The rows of a JSON-lines file (empty if it does not exist), without a last line cut short
    by a run killed while writing it."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def study_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """The command line of a study that extends this script's OUT file (``out``: its own OUT)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", type=Path, help="experiment files (.toml) whose workloads to use")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--rules-data", type=Path, default=Path("runs/anchor_rules.jsonl"), help="anchor_rules' OUT")
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--jobs", type=int, default=2, help="processes (one core each)")
    return parser


def extend(args: argparse.Namespace, measure, *extra) -> tuple[list[dict], dict]:
    """Run ``measure(workload, seed, *(f(sweep) for f in extra))`` for each (workload, seed) of
    ``args`` not yet in ``args.out``, appending each result as it finishes; return this script's
    cases for those pairs and the study's results by pair."""
    if not args.rules_data.exists():
        raise SystemExit(f"{args.rules_data} does not exist: run experiments/anchor_rules.py first")
    sweeps = {(c["workload"], c["seed"]): c for c in read_cases(args.rules_data)}
    workloads = [w for file in args.experiments for w in tomllib.loads(file.read_text())["workloads"]]
    wanted = [(w, s) for w in dict.fromkeys(workloads) for s in args.seeds]
    if missing := [key for key in wanted if key not in sweeps]:
        raise SystemExit(f"{args.rules_data} lacks {missing[0]}: run experiments/anchor_rules.py on these files")
    done = {(c["workload"], c["seed"]): c for c in read_cases(args.out)}
    todo = [key for key in wanted if key not in done]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as pool, tqdm(total=len(todo), desc="workload x seed", unit="pair") as bar:
        futures = [pool.submit(measure, w, s, *(f(sweeps[(w, s)]) for f in extra)) for w, s in todo]
        for future in as_completed(futures):
            case = future.result()
            with args.out.open("a") as out:
                out.write(json.dumps(case) + "\n")
            done[(case["workload"], case["seed"])] = case
            bar.update()
    return [sweeps[key] for key in wanted], done


def nearest(lr: float, k: int = 0) -> list[float]:
    """The grid LR nearest ``lr``, with ``k`` grid LRs either side."""
    i = min(range(len(GRID)), key=lambda j: abs(math.log10(GRID[j] / lr)))
    return GRID[max(0, i - k) : i + k + 1]


def short_runs(case: dict, candidates: list[float], epochs: int, margin: float = 0.0) -> float:
    """The lowest candidate whose constant run's validation loss after ``epochs`` epochs is within
    ``margin`` (a fraction) of the lowest candidate's (0: the lowest loss wins)."""

    def loss(lr: float) -> float:
        curve = case["curves"][f"constant@{lr}"]  # shorter where the run diverged
        return curve[min(epochs, len(curve)) - 1]

    best = min(loss(lr) for lr in candidates)
    return min(lr for lr in candidates if loss(lr) <= best * (1 + margin))


RULES = {
    "shipped: 0.1 x the minimum's LR, flat fallback": lambda t, c: t["anchor"],
    "shipped, snapped to the nearest grid LR": lambda t, c: nearest(t["anchor"])[0],
    "0.3 x the minimum's LR": lambda t, c: 0.3 * t["min_lr"],
    "the steepest fall": lambda t, c: steepest(t) or t["anchor"],
    "3 short runs around the anchor, 1 epoch": lambda t, c: short_runs(c, nearest(t["anchor"], 1), 1),
    "3 short runs around the anchor, 10% of the budget": lambda t, c: short_runs(
        c, nearest(t["anchor"], 1), math.ceil(0.1 * t["epochs"])
    ),
    "5 short runs around the anchor, 1 epoch": lambda t, c: short_runs(c, nearest(t["anchor"], 2), 1),
    "3 short runs a decade apart, 1 epoch": lambda t, c: short_runs(c, nearest(t["anchor"], 2)[::2], 1),
    "3 short runs, 1 epoch, lowest within 5%": lambda t, c: short_runs(c, nearest(t["anchor"], 1), 1, 0.05),
    "5 short runs, 1 epoch, lowest within 2%": lambda t, c: short_runs(c, nearest(t["anchor"], 2), 1, 0.02),
    "5 short runs, 1 epoch, lowest within 5%": lambda t, c: short_runs(c, nearest(t["anchor"], 2), 1, 0.05),
    "5 short runs, 1 epoch, lowest within 10%": lambda t, c: short_runs(c, nearest(t["anchor"], 2), 1, 0.10),
    "5 short runs, 2 epochs": lambda t, c: short_runs(c, nearest(t["anchor"], 2), 2),
    "5 short runs, 2 epochs, lowest within 5%": lambda t, c: short_runs(c, nearest(t["anchor"], 2), 2, 0.05),
    "all 7 grid LRs, 1 epoch": lambda t, c: short_runs(c, GRID, 1),
}


def cosine_at(case: dict, lr: float) -> float:
    """The cosine grid's final validation loss at ``lr``, log-linear between grid LRs."""
    finals = [case["curves"][f"cosine@{g}"][-1] for g in GRID]
    x = min(max(math.log10(lr), math.log10(GRID[0])), math.log10(GRID[-1]))
    for i in range(len(GRID) - 1):
        low, high = math.log10(GRID[i]), math.log10(GRID[i + 1])
        if low <= x <= high:
            w = (x - low) / (high - low)
            if math.inf in finals[i : i + 2]:
                return finals[i] if w < 0.5 else finals[i + 1]
            return math.exp((1 - w) * math.log(finals[i]) + w * math.log(finals[i + 1]))
    raise ValueError(lr)


def best_cosine(test: dict | None, case: dict) -> float:
    """The grid's best cosine LR for the case's seed: an oracle rule (``test`` unused), the most a
    probe can reach."""
    return min(GRID, key=lambda lr: case["curves"][f"cosine@{lr}"][-1])


def report(cases: list[dict], title: str, rules: dict | None = None) -> None:
    """Each rule's (``RULES`` by default) cases within 2% and 10% of the grid's best, and median ratio."""
    print(f"\n{title}: {len(cases)} workload x seed pairs, {4 * len(cases)} cases")
    print("| rule | within 2% | within 10% | median ratio |\n| --- | --- | --- | --- |")
    for name, rule in (rules or RULES).items():
        ratios = []
        for case in cases:
            best = min(curve[-1] for curve in case["curves"].values())
            ratios += [cosine_at(case, rule(test, case)) / best for test in case["tests"]]
        n = len(ratios)
        print(f"| {name} | {sum(r <= 1.02 for r in ratios)}/{n} | {sum(r <= 1.10 for r in ratios)}/{n} "
              f"| {statistics.median(ratios):.3f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", type=Path, help="experiment files (.toml) whose workloads to use")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("runs/anchor_rules.jsonl"))
    parser.add_argument("--jobs", type=int, default=2, help="processes (one core each)")
    args = parser.parse_args()
    groups = {file.stem: tomllib.loads(file.read_text())["workloads"] for file in args.experiments}
    wanted = list(dict.fromkeys((w, s) for workloads in groups.values() for w in workloads for s in args.seeds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {(case["workload"], case["seed"]): case for case in read_cases(args.out)}
    todo = [key for key in wanted if key not in done]
    with ProcessPoolExecutor(args.jobs) as pool, tqdm(total=len(todo), desc="workload x seed", unit="pair") as bar:
        for future in as_completed([pool.submit(measure, *key) for key in todo]):
            case = future.result()
            with args.out.open("a") as out:
                out.write(json.dumps(case) + "\n")
            done[(case["workload"], case["seed"])] = case
            bar.update()
    for name, workloads in groups.items():
        report([done[(w, s)] for w in workloads for s in args.seeds], name)


if __name__ == "__main__":
    main()
