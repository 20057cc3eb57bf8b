"""Overhead of the env: the same run trained by a plain PyTorch loop and through TrainingRunEnv.

Both train the same model on the same data with the same seed and a constant
LR, evaluating on the validation split after each epoch. Prints the median
time of each over several repetitions and the ratio env/plain (goal: at most
1.03 on a workload of at least 50 ms per epoch).

    python experiments/bench_overhead.py [--env digits-cnn] [--repeats 9] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from lr_agent.env import TrainingRunEnv
from lr_agent.specs import get_spec
from lr_agent.workloads import SupervisedWorkload


def plain_loop(config, seed: int) -> float:
    """Train as a user's own loop would: shuffle, batches, step; evaluate each epoch."""
    run = SupervisedWorkload(config, seed)  # the same data split, model and optimizer
    model, optimizer = run.model, run.optimizer
    generator = torch.Generator().manual_seed(seed)
    val_loss = float("nan")
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(run.x_train), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(run.x_train[batch]), run.y_train[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(nn.functional.cross_entropy(model(run.x_val), run.y_val))
    return val_loss


def through_env(config, seed: int) -> float:
    """The same run as env steps, keeping the LR (action x1.0)."""
    env = TrainingRunEnv(lambda rng: SupervisedWorkload(config, seed))
    env.reset(seed=seed)
    keep = env.multipliers.index(1.0)
    done, info = False, {}
    while not done:
        _, _, terminated, truncated, info = env.step(keep)
        done = terminated or truncated
    return info["val_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="digits-cnn", help="catalogue workload (a classification spec)")
    parser.add_argument("--repeats", type=int, default=9, help="timed repetitions of each (median reported)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run")
    args = parser.parse_args()
    overrides = dict(epochs=args.epochs, lr=0.01, optimizer="sgd", batch_size=32, subset=1.0)
    if args.env == "digits-cnn":
        overrides["model_params"] = {"width": 32, "depth": 2}
    config = get_spec(args.env).sample(np.random.default_rng(0), **overrides)
    seed = 0
    plain_loop(config, seed)  # warm-up: data load, allocator, kernels
    through_env(config, seed)
    times: dict[str, list[float]] = {"plain": [], "env": []}
    losses = {}
    for i in range(args.repeats):
        # alternate the order so drifting machine load hits both alike
        for name, fn in (("plain", plain_loop), ("env", through_env))[:: 1 if i % 2 == 0 else -1]:
            start = time.perf_counter()
            losses[name] = fn(config, seed)
            times[name].append(time.perf_counter() - start)
    plain, env = statistics.median(times["plain"]), statistics.median(times["env"])
    print(
        f"workload: {args.env}, {config.epochs} epochs, {config.model} {config.model_params}, batch {config.batch_size}"
    )
    print(f"plain loop: median {plain:.3f} s ({1000 * plain / config.epochs:.1f} ms/epoch)")
    print(f"env:        median {env:.3f} s ({1000 * env / config.epochs:.1f} ms/epoch)")
    same = losses["plain"] == losses["env"]
    print(f"final val loss: plain {losses['plain']:.6f}, env {losses['env']:.6f} (same run: {same})")
    print(f"ratio env/plain: {env / plain:.3f} (median of {args.repeats}; goal <= 1.03)")


if __name__ == "__main__":
    main()
