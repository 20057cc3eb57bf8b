"""What a controller's LR range test and scale probe chose at the start of one run, from each initial LR.

    python experiments/probe_trace.py arm-mlp --seed 3

For each start it prints the range test's anchor (the controller's range test alone), then the
probe's candidates with their validation losses and the LR it picked, as the controller's runs in
``lr-agent experiment`` begin (the same env and seed). NOTES.md entry 23 used it to read why the
shipped controller ended far from the grid's best on arm-mlp's seed 3 from 1e-4 and 1e-3.
"""

from __future__ import annotations

import argparse

from lr_agent.compare import controller_env, load_controller
from lr_agent.env import TrainingRunEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="a spec name (lr-agent envs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--starts", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2, 1e-1])
    parser.add_argument("--controller", default="pretrained", help="pretrained or a .lrc file")
    args = parser.parse_args()
    controller = load_controller(args.controller)
    if not controller.scale_probe_epochs and not controller.scale_probe_fraction:
        parser.error(f"{args.controller} has no scale probe")
    range_test_only = {k: v for k, v in controller.env_kwargs().items() if not k.startswith("scale_probe")}
    for start in args.starts:
        tested = TrainingRunEnv(args.workload, **range_test_only)
        tested.reset(seed=args.seed, options={"lr": start})
        env = controller_env(args.workload, controller)
        env.reset(seed=args.seed, options={"lr": start})
        probe = env.scale_probe_result
        tried = ", ".join(f"{lr:.3g}: {loss:.4f}" for lr, loss in zip(probe.lrs, probe.losses, strict=True))
        print(f"start {start:g}: initial val loss {env.initial_val_loss:.4f}, range test anchor {tested.anchor_lr:.3g}")
        print(f"  probe {tried} -> {probe.best_lr:.3g}")


if __name__ == "__main__":
    main()
