"""Does a run over the whole budget's epochs on a share of the training data rank the LRs as the
whole run does? (NOTES.md entry 19)

Extends `anchor_rules.py`'s data (its OUT file: the range test's LR from each start and the
constant and cosine grids of every workload and seed): for each pair, a cosine run at each grid
LR over the run's whole epochs on a tenth, a fifth, 30% and half of the training split (the same
validation split, the same run otherwise). Each such run costs about that share of the whole run's
optimizer steps, as a short annealed run over that share of the epochs does (`probe_horizon.py`),
but it sees each sample as many times as the whole run does. Then, offline, a probe of 3, 5 or
7 candidates around the range test's LR (the anchor) picks the one whose run ends lowest, scored
as in `anchor_rules.py`: by the cosine grid's final loss at that LR over the grid's best. Pairs
are appended to OUT as they finish and skipped when run again.

    python experiments/anchor_rules.py experiments/select.toml --seeds 0 1
    python experiments/data_share.py experiments/select.toml
"""

from __future__ import annotations

import math

from anchor_rules import GRID, best_cosine, extend, nearest, report, study_parser

SHARES = [0.1, 0.2, 0.3, 0.5]
"""Shares of the training split."""


def share_factory(workload: str, lr: float, share: float):
    """A workload factory for `TrainingRunEnv` that draws the run a one-spec env draws for the same
    seed (the spec, the config, the run's seed) and keeps ``share`` of its training split."""
    from lr_agent.specs import get_spec
    from lr_agent.workloads import SupervisedWorkload

    spec = get_spec(workload)

    def make(np_random):
        np_random.integers(1)  # the env's draw of one spec from one
        config = spec.sample(np_random, lr=lr)
        run = SupervisedWorkload(config, int(np_random.integers(2**31 - 1)))
        keep = max(run.batch_size, round(len(run.x_train) * share))  # the split is in random order
        run.x_train, run.y_train = run.x_train[:keep], run.y_train[:keep]
        run.steps_per_epoch = math.ceil(len(run.x_train) / run.batch_size)
        return run

    return make


def measure(workload: str, seed: int) -> dict:
    """The final validation loss of a cosine run on each share of the training split, at each grid LR."""
    import torch

    from lr_agent import schedules
    from lr_agent.env import TrainingRunEnv
    from lr_agent.episodes import run_episode

    torch.set_num_threads(1)  # as the experiments' trials run
    case: dict = {"workload": workload, "seed": seed}
    for share in SHARES:
        for lr in GRID:
            env = TrainingRunEnv(share_factory(workload, lr, share), relative_lr_bounds=(1e-3, 1e3))
            last = run_episode(env, schedules.make_schedule("cosine"), seed=seed).records[-1]
            case[f"share{share}@{lr}"] = math.inf if last["diverged"] else last["val_loss"]
    return case


def probe(short: dict, test: dict, width: int, share: float) -> float:
    """The candidate (the anchor's grid LR and ``width`` either side) whose run on ``share`` ends lowest."""
    return min(nearest(test["anchor"], width), key=lambda lr: (short[f"share{share}@{lr}"], lr))


def main() -> None:
    args = study_parser(__doc__, "runs/data_share.jsonl").parse_args()
    cases, done = extend(args, measure)
    rules = {}
    for share in SHARES:
        for width in (1, 2, 3):
            rules[f"{2 * width + 1} candidates, {share:.0%} of the data"] = lambda test, case, s=share, w=width: probe(
                done[(case["workload"], case["seed"])], test, w, s
            )
    rules["the grid's best cosine LR (an oracle)"] = best_cosine
    report(cases, ", ".join(file.stem for file in args.experiments), rules)


if __name__ == "__main__":
    main()
