"""Time of one controller decision on a CPU, for a controller loaded from its file.

Loads the controller (default: the shipped one) from disk and times
``Controller.act`` on recorded-looking observations, one call at a time, with
torch on one thread as a training loop's scheduler would see it. Prints the
median and the 99th percentile (goal: median under 100 µs).

    python experiments/bench_decision.py [--controller FILE.lrc] [--calls 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from lr_agent.controller import Controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(str(resources.files("lr_agent"))) / "data" / "default.lrc"
    parser.add_argument("--controller", type=Path, default=default, help="controller file (.lrc)")
    parser.add_argument("--calls", type=int, default=20_000, help="timed decisions")
    args = parser.parse_args()
    torch.set_num_threads(1)
    controller = Controller.load(args.controller)
    observations = np.random.default_rng(0).normal(size=(args.calls, len(controller.features))).astype(np.float32)
    for obs in observations[:1000]:  # warm-up
        controller.lr_factor(obs)
    times = []
    for obs in observations:
        start = time.perf_counter_ns()
        controller.lr_factor(obs)
        times.append(time.perf_counter_ns() - start)
    median = statistics.median(times) / 1000
    p99 = np.percentile(times, 99) / 1000
    hidden = [w.shape[0] for w, _ in controller.layers]
    print(f"controller: {args.controller.name} ({controller.info.get('algorithm')}, hidden layers {hidden})")
    print(f"decision time: median {median:.1f} µs, p99 {p99:.1f} µs over {args.calls} calls (goal: median < 100 µs)")


if __name__ == "__main__":
    main()
