"""Scaling of RayVecEnv: env steps per second with N actors, divided by N × the one-actor figure.

Two workloads: a real one (digits-mlp epochs on the CPU, N up to the cores of the
machine) and a simulated one whose epoch waits a fixed time without using the
CPU, for N beyond the machine's cores, so that the round-trip cost of the
design is visible: once with one run per actor (one Ray call per run per step),
once with ``--envs-per-actor`` runs per actor (one call per actor). Goal: a
ratio of at least 0.9 at every N.

    python experiments/bench_scaling.py [--real 1,2] [--simulated 1,8,16,32] [--seconds 20] [--envs-per-actor 4]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

from lr_agent.agents import EnvBuilder
from lr_agent.distributed import RayVecEnv, init_ray
from lr_agent.observation import CLIP, FEATURES


class WaitingEnv(gym.Env):
    """An env whose epoch takes ``epoch_seconds`` of waiting, not of computing."""

    def __init__(self, epoch_seconds: float, epochs: int = 20) -> None:
        self.observation_space = gym.spaces.Box(-CLIP, CLIP, (len(FEATURES),), np.float32)
        self.action_space = gym.spaces.Discrete(7)
        self.epoch_seconds, self.epochs = epoch_seconds, epochs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(len(FEATURES), np.float32), {}

    def step(self, action):
        time.sleep(self.epoch_seconds)
        self.t += 1
        return np.zeros(len(FEATURES), np.float32), 0.0, False, self.t >= self.epochs, {}


class Waiting:
    def __init__(self, epoch_seconds: float) -> None:
        self.epoch_seconds = epoch_seconds

    def __call__(self, device: str = "cpu") -> gym.Env:
        return WaitingEnv(self.epoch_seconds)


def steps_per_second(factory, n: int, seconds: float, cpus_per_env: float | None, envs_per_actor: int = 1) -> float:
    venv = RayVecEnv([factory] * n, num_cpus_per_env=cpus_per_env, monitor=False, envs_per_actor=envs_per_actor)
    try:
        venv.seed(0)
        venv.reset()
        keep = np.full(n, 3)
        for _ in range(3):  # warm-up
            venv.step(keep)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            venv.step(keep)
            steps += n
        return steps / (time.perf_counter() - start)
    finally:
        venv.close()


def report(
    label: str, factory, counts: list[int], seconds: float, cpus_per_env: float | None, envs_per_actor: int = 1
) -> float:
    """Print the ratio at each N (the first N is the base); return the base's steps per second per env."""
    base = None
    for n in counts:
        k = min(envs_per_actor, n)
        sps = steps_per_second(factory, n, seconds, cpus_per_env, k)
        base = base if base is not None else sps / n
        actors = f"{-(-n // k)} actors" if k > 1 else ""
        print(f"{label:<32} N={n:<3} {actors:<10} {sps:9.1f} env steps/s   ratio {sps / (n * base):.3f}", flush=True)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="1,2", help="actor counts on the real workload")
    parser.add_argument("--simulated", default="1,8,16,32", help="actor counts on the waiting workload")
    parser.add_argument("--epoch-seconds", type=float, default=0.05, help="wait of one simulated epoch")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per measurement")
    parser.add_argument("--envs-per-actor", type=int, default=4, help="runs per actor in the batched measurement")
    args = parser.parse_args()
    real = [int(n) for n in args.real.split(",") if n]
    simulated = [int(n) for n in args.simulated.split(",") if n]
    init_ray(num_cpus=max([*real, *simulated]))
    real_env = EnvBuilder(("digits-mlp",), {"epochs": 20, "batch_size": 64, "subset": 1.0})
    report("real (digits-mlp epochs)", real_env, real, args.seconds, 1.0)
    label = f"simulated ({1000 * args.epoch_seconds:g} ms wait)"
    report(label, Waiting(args.epoch_seconds), simulated, args.seconds, 1.0)
    k = args.envs_per_actor
    report(f"{label}, {k} runs/actor", Waiting(args.epoch_seconds), simulated, args.seconds, 1.0 / k, k)


if __name__ == "__main__":
    main()
