"""Which short run predicts the LR a whole cosine run wants? (NOTES.md entries 17 to 19)

Extends `anchor_rules.py`'s data (its OUT file: the range test's LR from each start and the
constant and cosine grids of every workload and seed): for each pair, a cosine run from scratch
over a tenth, a fifth, 30% and half of the run's epochs at each grid LR. Then, offline, a probe
of 3, 5 or 7 candidates around the range test's LR (the anchor) picks the one whose short run
(at a constant LR, or annealed along a cosine) ends lowest, or whose annealed runs' losses,
extrapolated along a power law in the horizon to the whole run, are lowest, or that a logistic
regression over the candidates' annealed runs, fitted with the workload held out (or, with
`--learn-from`, on another experiment file's workloads, where gradient-boosted trees are fitted
too: entry 19), rates likeliest to be the whole run's best, or that the library's walking probe
(`scale_probe_walk`: entry 20) ends on; each is scored as in
`anchor_rules.py`: by the cosine grid's final loss at that LR over the grid's best. Pairs are
appended to OUT as they finish and skipped when run again.

    python experiments/anchor_rules.py experiments/select.toml experiments/quality.toml --seeds 0 1
    python experiments/probe_horizon.py experiments/select.toml
    python experiments/probe_horizon.py experiments/select.toml --learn-from experiments/learn_mix.toml
"""

from __future__ import annotations

import argparse
import math
import tomllib
from pathlib import Path

from anchor_rules import GRID, best_cosine, extend, nearest, report, study_parser

FRACTIONS = [0.1, 0.2, 0.3, 0.5]


def measure(workload: str, seed: int, epochs: int) -> dict:
    """The final validation loss of a cosine run over each fraction of ``epochs``, at each grid LR."""
    import torch

    from lr_agent import schedules
    from lr_agent.compare import controller_env
    from lr_agent.episodes import run_episode

    torch.set_num_threads(1)  # as the experiments' trials run
    env = controller_env(workload, None)
    case: dict = {"workload": workload, "seed": seed}
    for fraction in FRACTIONS:
        for lr in GRID:
            short = {"lr": lr, "epochs": math.ceil(fraction * epochs)}
            last = run_episode(env, schedules.make_schedule("cosine"), seed=seed, options=short).records[-1]
            case[f"cosine{fraction}@{lr}"] = math.inf if last["diverged"] else last["val_loss"]
    return case


def constant_after(case: dict, lr: float, fraction: float, epochs: int) -> float:
    curve = case["curves"][f"constant@{lr}"]  # shorter where the run diverged
    return curve[min(math.ceil(fraction * epochs), len(curve)) - 1]


def probe(case: dict, short: dict, test: dict, width: int, fraction: float, annealed: bool) -> float:
    """The candidate (the anchor's grid LR and ``width`` either side) whose short run ends lowest."""

    def loss(lr: float) -> float:
        return short[f"cosine{fraction}@{lr}"] if annealed else constant_after(case, lr, fraction, test["epochs"])

    return min(nearest(test["anchor"], width), key=lambda lr: (loss(lr), lr))


def walking(short: dict, test: dict, fraction: float, walk: int) -> tuple[float, int]:
    """The LR the library's walking probe (:func:`lr_agent.scale_probe.scale_probe`) ends on, 3
    annealed candidates around the anchor and up to ``walk`` more grid LRs past the best (within
    the grid: where the library's walk would go on past 1e-4 or 0.1, this one stops), and how
    many LRs it tried."""
    from lr_agent.scale_probe import scale_probe

    def neighbour(lr: float, direction: int) -> float | None:
        i = GRID.index(lr) + direction
        return GRID[i] if 0 <= i < len(GRID) else None

    result = scale_probe(lambda lr: short[f"cosine{fraction}@{lr}"], nearest(test["anchor"], 1), walk, neighbour)
    return result.best_lr, len(result.lrs)


def extrapolated(short: dict, lr: float, fractions: list[float]) -> float:
    """The loss a power law in the horizon, fitted to the annealed runs over ``fractions`` of the
    budget at ``lr``, predicts for the whole run (the longest run's loss where it does not fall)."""
    losses = [short[f"cosine{fraction}@{lr}"] for fraction in fractions]
    if not all(math.isfinite(loss) and loss > 0 for loss in losses):
        return math.inf
    xs, ys = [math.log(f) for f in fractions], [math.log(loss) for loss in losses]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
    return math.exp(mean_y - slope * mean_x) if slope < 0 else losses[-1]


DIVERGED_FEATURE = 5.0
"""The learned rule's log loss ratio for a candidate whose run diverged (e^5: 150 times the best's)."""


def candidate_features(short: dict, case: dict, lr: float, candidates: list[float]) -> list[float]:
    """What the learned rule sees of a candidate: its annealed losses over 10%, 20% and 30% of the
    budget (log, over the best candidate's), its grid steps from the 30% winner, the budget (log
    epochs) and whether the optimizer is SGD (plain or with Nesterov momentum)."""
    features = []
    for fraction in (0.1, 0.2, 0.3):
        losses = {c: short[f"cosine{fraction}@{c}"] for c in candidates}
        best = min(losses.values())
        features.append(math.log(losses[lr] / best) if math.isfinite(losses[lr]) else DIVERGED_FEATURE)
    winner = min(candidates, key=lambda c: short[f"cosine0.3@{c}"])
    features.append(GRID.index(lr) - GRID.index(winner))
    features.append(math.log(case["tests"][0]["epochs"]))
    features.append(float(case["optimizer"] in ("sgd", "nesterov")))
    return features


def learned_picks(
    cases: list[dict], done: dict, width: int, learn_from: list[dict] | None = None, boosted: bool = False
) -> dict:
    """Per (workload, seed, start): the candidate that a logistic regression (``boosted``: gradient
    boosted trees of depth 3) rates likeliest to be the whole cosine run's best grid LR, fitted
    on ``learn_from``'s cases or, without them, on the other workloads' cases."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    def rows(case: dict, test: dict) -> tuple[list[float], list[list[float]]]:
        candidates = nearest(test["anchor"], width)
        short = done[(case["workload"], case["seed"])]
        return candidates, [candidate_features(short, case, lr, candidates) for lr in candidates]

    if learn_from is None:
        workloads = dict.fromkeys(case["workload"] for case in cases)
        folds = [
            ([c for c in cases if c["workload"] != w], [c for c in cases if c["workload"] == w]) for w in workloads
        ]
    else:
        folds = [(learn_from, cases)]
    picks = {}
    for fitted_on, judged in folds:
        xs, ys = [], []
        for case in fitted_on:
            best = best_cosine(None, case)
            for test in case["tests"]:
                candidates, features = rows(case, test)
                xs += features
                ys += [lr == best for lr in candidates]
        model = (
            HistGradientBoostingClassifier(max_depth=3, random_state=0)
            if boosted
            else LogisticRegression(max_iter=1000)
        )
        model.fit(xs, ys)
        for case in judged:
            for test in case["tests"]:
                candidates, features = rows(case, test)
                likely = model.predict_proba(features)[:, 1]
                picks[(case["workload"], case["seed"], test["start"])] = candidates[int(likely.argmax())]
    return picks


def main() -> None:
    parser = study_parser(__doc__, "runs/probe_horizon.jsonl")
    parser.add_argument("--learn-from", type=Path, help="also fit the learned rule on this experiment file's workloads")
    parser.add_argument("--learn-seeds", nargs="+", type=int, default=list(range(10)), help="their seeds")
    args = parser.parse_args()
    if args.learn_from:
        judged = {w for file in args.experiments for w in tomllib.loads(file.read_text())["workloads"]}
        if shared := set(tomllib.loads(args.learn_from.read_text())["workloads"]) & judged:
            raise SystemExit(f"--learn-from {args.learn_from} holds workloads it is judged on: {sorted(shared)}")
    cases, done = extend(args, measure, lambda sweep: sweep["tests"][0]["epochs"])
    learn_from = None
    if args.learn_from:
        learning = argparse.Namespace(**{**vars(args), "experiments": [args.learn_from], "seeds": args.learn_seeds})
        learn_from, done = extend(learning, measure, lambda sweep: sweep["tests"][0]["epochs"])
    rules = {}
    for annealed in (False, True):
        for fraction in FRACTIONS:
            for width in (1, 2, 3):
                name = f"{2 * width + 1} candidates, {'cosine' if annealed else 'constant'}, {fraction:.0%}"
                rules[name] = lambda test, case, a=annealed, f=fraction, w=width: probe(
                    case, done[(case["workload"], case["seed"])], test, w, f, a
                )
    for fractions in ([0.1, 0.2, 0.3], [0.3, 0.5]):
        for width in (1, 2, 3):
            name = f"{2 * width + 1} candidates, cosine, extrapolated from {', '.join(f'{f:.0%}' for f in fractions)}"
            rules[name] = lambda test, case, f=fractions, w=width: min(
                nearest(test["anchor"], w),
                key=lambda lr: (extrapolated(done[(case["workload"], case["seed"])], lr, f), lr),
            )
    for width in (1, 2, 3):
        picks = learned_picks(cases, done, width)
        name = f"{2 * width + 1} candidates, cosine, learned from 10%, 20%, 30% (each workload held out)"
        rules[name] = lambda test, case, p=picks: p[(case["workload"], case["seed"], test["start"])]
        for boosted in (False, True) if learn_from else ():
            picks = learned_picks(cases, done, width, learn_from, boosted)
            kind = "boosted trees" if boosted else "logistic"
            name = f"{2 * width + 1} candidates, cosine, learned from 10%, 20%, 30% on {args.learn_from.stem} ({kind})"
            rules[name] = lambda test, case, p=picks: p[(case["workload"], case["seed"], test["start"])]
    tried = {}
    for fraction in (0.1, 0.2, 0.3):
        for walk in (1, 2, 4):
            name = f"3 candidates, cosine, {fraction:.0%}, walking up to {walk} more"
            rules[name] = lambda test, case, f=fraction, k=walk: walking(
                done[(case["workload"], case["seed"])], test, f, k
            )[0]
            tried[name] = [
                walking(done[(case["workload"], case["seed"])], test, fraction, walk)[1]
                for case in cases
                for test in case["tests"]
            ]
    rules["the grid's best cosine LR (an oracle)"] = best_cosine
    report(cases, ", ".join(file.stem for file in args.experiments), rules)
    print("\nLRs each probe trained, on average (the grid's ends clip the candidates):")
    for width in (1, 2, 3):
        counts = [len(nearest(test["anchor"], width)) for case in cases for test in case["tests"]]
        print(f"- {2 * width + 1} candidates: {sum(counts) / len(counts):.2f}")
    for name, counts in tried.items():
        print(f"- {name}: {sum(counts) / len(counts):.2f}")


if __name__ == "__main__":
    main()
