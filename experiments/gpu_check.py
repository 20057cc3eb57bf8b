"""GPU check: Ray places 4 sub-environments on fractions of the GPU and a short PPO run trains on CUDA.

Prints where each actor ran and the env steps per second beside the same run on
CPU actors. Without a GPU it says so and exits 0. Finishes in a few minutes on
a one-GPU machine.

    python experiments/gpu_check.py [--steps 2048]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch


def run(num_gpus_per_env: float, steps: int) -> tuple[list[dict], float]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from lr_agent.agents import EnvBuilder
    from lr_agent.distributed import RayVecEnv

    builder = EnvBuilder(("digits-cnn",), {"epochs": 10, "subset": 1.0})
    venv = RayVecEnv([builder] * 4, num_gpus_per_env=num_gpus_per_env, num_cpus_per_env=1.0)
    try:
        places = venv.placements()
        model = PPO("MlpPolicy", VecNormalize(venv), n_steps=64, batch_size=128, seed=0, device="cpu")
        start = time.perf_counter()
        model.learn(steps)
        return places, model.num_timesteps / (time.perf_counter() - start)
    finally:
        venv.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2048, help="PPO env steps per run")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to check (run this where a GPU is present)")
        return 0
    import ray

    from lr_agent.distributed import init_ray

    init_ray(num_cpus=8)
    print(f"cluster resources: {ray.cluster_resources()}")
    for label, share in (("GPU actors (0.25 GPU each)", 0.25), ("CPU actors", 0.0)):
        places, sps = run(share, args.steps)
        for i, place in enumerate(places):
            print(f"{label}: actor {i} pid {place['pid']} on {place['device']}")
        print(f"{label}: {sps:.1f} env steps/s")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
