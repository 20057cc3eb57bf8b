"""Compare controllers and baseline schedules on identical runs of one workload (``lr-agent compare``)."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from lr_agent.controller import Controller
from lr_agent.env import TrainingRunEnv
from lr_agent.episodes import EpisodeResult, run_episode
from lr_agent.options import option
from lr_agent.schedules import make_schedule

BASELINES = ["constant", "step", "exponential", "cosine", "warmup-cosine", "plateau", "range-test-cosine"]


@dataclass
class CompareOptions:
    """Run controllers and baseline schedules on the same runs of a workload; print a table, write a plot."""

    env: str = option("synthetic-classes-mlp", "workload: catalogue name, Gymnasium id or spec file")
    controllers: list[str] = option(help="controller files (.lrc), or 'pretrained'", factory=lambda: ["pretrained"])
    schedules: list[str] = option(help="baseline schedules", factory=lambda: list(BASELINES))
    lr: float = option(0.01, "initial LR (absolute) of every run")
    epochs: int | None = option(None, "epoch budget; default: drawn from the spec")
    seeds: list[int] = option(
        help="seeds: each fixes one run (data split, weights, batches)", factory=lambda: [0, 1, 2]
    )
    out: Path = option(Path("runs/compare"), "folder for the table (CSV) and the plot (PNG)")


def load_controller(name: str) -> Controller:
    """``"pretrained"`` or a path to a controller file."""
    return Controller.pretrained() if name == "pretrained" else Controller.load(name)


def controller_env(workload: str, controller: Controller | None, device: str = "cpu") -> TrainingRunEnv:
    """An env whose actions and LR bounds are the controller's (the defaults for baselines)."""
    if controller is None:
        return TrainingRunEnv(workload, relative_lr_bounds=(1e-3, 1e3), device=device)
    return TrainingRunEnv(workload, device=device, **controller.env_kwargs())


def run_comparison(options: CompareOptions) -> dict[str, list[EpisodeResult]]:
    """Every policy on every seed; results by policy name."""
    overrides = {k: v for k, v in (("lr", options.lr), ("epochs", options.epochs)) if v is not None}
    policies: list[tuple[str, Any, TrainingRunEnv]] = []
    for name in options.controllers:
        controller = load_controller(name)
        label = "controller:" + ("pretrained" if name == "pretrained" else Path(name).stem)
        policies.append((label, controller.act, controller_env(options.env, controller)))
    baseline_env = controller_env(options.env, None)
    policies += [(name, make_schedule(name), baseline_env) for name in options.schedules]
    results: dict[str, list[EpisodeResult]] = {name: [] for name, _, _ in policies}
    with tqdm(total=len(policies) * len(options.seeds), desc="episodes", unit="run") as bar:
        for name, policy, env in policies:
            for seed in options.seeds:
                results[name].append(run_episode(env, policy, seed=seed, options=overrides, name=name))
                bar.update()
    return results


def summarise(results: dict[str, list[EpisodeResult]]) -> list[dict[str, Any]]:
    """One row per policy: mean and spread of the final validation loss and accuracy, divergences."""
    rows = []
    for name, episodes in results.items():
        finals = [e.final["val_loss"] if not e.diverged else math.inf for e in episodes]
        accs = [e.final["val_accuracy"] for e in episodes if e.final.get("val_accuracy") is not None]
        finite = [f for f in finals if math.isfinite(f)]
        rows.append(
            {
                "policy": name,
                "final_val_loss": statistics.fmean(finite) if len(finite) == len(finals) else math.inf,
                "val_loss_std": statistics.pstdev(finite) if len(finite) > 1 else 0.0,
                "final_val_accuracy": statistics.fmean(accs) if accs else None,
                "diverged": sum(e.diverged for e in episodes),
                "runs": len(episodes),
                "probe_steps": statistics.fmean(e.final["probe_steps"] for e in episodes),
            }
        )
    return sorted(rows, key=lambda r: (r["diverged"], r["final_val_loss"]))


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells as aligned text, the first row a header underlined with dashes."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as an aligned text table."""
    lines = [("policy", "final val loss", "± std", "val accuracy", "diverged")]
    for r in rows:
        acc = "-" if r["final_val_accuracy"] is None else f"{r['final_val_accuracy']:.4f}"
        lines.append(
            (r["policy"], f"{r['final_val_loss']:.4f}", f"{r['val_loss_std']:.4f}", acc, f"{r['diverged']}/{r['runs']}")
        )
    return text_table(lines)


def compare(options: CompareOptions) -> list[dict[str, Any]]:
    """Run the comparison, print the table, write ``summary.csv`` and ``curves.png`` to ``options.out``."""
    from lr_agent.plots import plot_episodes

    results = run_comparison(options)
    rows = summarise(results)
    first = next(iter(results.values()))[0]
    run = first.run or {}
    print(
        f"{options.env}: {run.get('optimizer')}, {run.get('model')} {run.get('model_params')}, "
        f"{run.get('epochs')} epochs, initial lr {run.get('lr'):.3g} (seed {options.seeds[0]}); "
        f"{len(options.seeds)} seeds per policy"
    )
    print(format_table(rows))
    options.out.mkdir(parents=True, exist_ok=True)
    with (options.out / "summary.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot = plot_episodes(
        [episodes[0] for episodes in results.values()],
        options.out / "curves.png",
        title=f"{options.env}, seed {options.seeds[0]}",
    )
    print(f"wrote {options.out / 'summary.csv'} and {plot}")
    return rows
