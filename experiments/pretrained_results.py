"""The README's table for the shipped controller: held-out workloads × initial LRs, 3 seeds each.

Runs ``lr-agent compare`` for every case and prints a markdown table of the
mean final validation loss of the shipped controller, constant, cosine, the LR
range test + cosine, and the best baseline schedule of the case.

    python experiments/pretrained_results.py [--out runs/results]
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

from lr_agent.compare import CompareOptions, compare

WORKLOADS = ["digits-cnn", "friedman-regression", "synthetic-classes-mlp"]
LRS = [0.001, 0.01, 0.1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/results"), help="folder for each case's CSV and PNG")
    args = parser.parse_args()
    lines = [
        "| workload | initial LR | shipped controller | constant | cosine | range test + cosine | best baseline |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for workload in WORKLOADS:
        for lr in LRS:
            options = CompareOptions(env=workload, lr=lr, out=args.out / f"{workload}-{lr:g}")
            with contextlib.redirect_stdout(io.StringIO()):
                rows = {row["policy"]: row for row in compare(options)}
            loss = {name: row["final_val_loss"] for name, row in rows.items()}
            best = min((n for n in loss if not n.startswith("controller")), key=loss.get)
            lines.append(
                f"| {workload} | {lr:g} | {loss['controller:pretrained']:.4f} | {loss['constant']:.4f} | "
                f"{loss['cosine']:.4f} | {loss['range-test-cosine']:.4f} | {best} {loss[best]:.4f} |"
            )
            print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
