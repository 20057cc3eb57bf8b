"""The ``lr-agent`` command line. Each command's options are one dataclass, the same one Python code uses."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lr_agent.agents import TrainOptions
from lr_agent.compare import CompareOptions, compare, text_table
from lr_agent.errors import LRAgentError
from lr_agent.options import add_arguments, option
from lr_agent.schedules import SCHEDULES as SCHEDULE_NAMES


@dataclass
class EnvsOptions:
    """List the training-run environments of the catalogue."""


@dataclass
class BaselineOptions:
    """Run one episode of an environment with a baseline LR schedule; print its epochs and plot them."""

    env: str = option("digits-mlp", "environment: a catalogue name, a Gymnasium id or a spec file (.toml)")
    schedule: str = option("cosine", "baseline schedule", choices=sorted(SCHEDULE_NAMES))
    lr: float | None = option(None, "initial LR (absolute); default: drawn from the spec's range")
    seed: int = option(0, "seed of the episode: fixes the drawn run, the weights and the batch order")
    epochs: int | None = option(None, "epoch budget; default: drawn from the spec's range")
    out: Path = option(Path("runs"), "folder for the PNG plot and the CSV of the epochs")


def run_envs(options: EnvsOptions) -> None:
    """Print the catalogue as a table."""
    from lr_agent.specs import catalogue

    rows = [("id", "data", "model", "optimizer", "epochs", "initial lr")]
    for spec in catalogue().values():
        model = spec.fixed["model"]
        width = spec.model_params.get("width")
        rows.append(
            (
                spec.gym_id,
                spec.fixed["source"],
                f"{model} width {width.describe()}" if width else model,
                spec.params["optimizer"].describe(),
                spec.params["epochs"].describe(),
                spec.params["lr"].describe(),
            )
        )
    print(text_table(rows))


def run_baseline(options: BaselineOptions) -> None:
    """Run the episode, print the table, write the plot and the CSV."""
    import gymnasium as gym

    from lr_agent.env import TrainingRunEnv
    from lr_agent.episodes import run_episode
    from lr_agent.plots import plot_episodes
    from lr_agent.schedules import make_schedule

    env = gym.wrappers.PassiveEnvChecker(TrainingRunEnv(options.env))
    overrides = {k: v for k, v in (("lr", options.lr), ("epochs", options.epochs)) if v is not None}
    result = run_episode(env, make_schedule(options.schedule), seed=options.seed, options=overrides, progress=True)
    name = env.unwrapped.workload_spec.name
    rows = [("epoch", "lr", "train loss", "val loss", "val acc")]
    for r in result.records:
        acc = "-" if r["val_accuracy"] is None else f"{r['val_accuracy']:.3f}"
        rows.append((f"{r['epoch']:g}", f"{r['lr']:.3g}", f"{r['train_loss']:.4g}", f"{r['val_loss']:.4g}", acc))
    run = result.run or {}
    print(
        f"{name}: {options.schedule} from lr {run.get('lr', float('nan')):.3g}, seed {options.seed}, "
        f"{run.get('optimizer')}, {run.get('model')} {run.get('model_params')}, batch {run.get('batch_size')}"
    )
    print(text_table(rows))
    status = "diverged" if result.diverged else f"final val loss {result.final['val_loss']:.4g}"
    print(f"{status}; return {result.total_reward:.3f}")
    stem = options.out / f"{name}-{options.schedule}-seed{options.seed}"
    plot = plot_episodes([result], stem.with_suffix(".png"), title=f"{name}: {options.schedule}")
    with stem.with_suffix(".csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(result.records[0]))
        writer.writeheader()
        writer.writerows(result.records)
    print(f"wrote {plot} and {stem.with_suffix('.csv')}")


@dataclass
class ControllerFileOptions:
    """Settings of a controller file that need no training: its range test, scale probe and anneal tail."""

    range_test_extend: float | None = option(
        None, "decades the range test may go on past its span while the loss falls; None: unchanged"
    )
    range_test_fraction: float | None = option(
        None, "the range test suggests this fraction of the LR at its loss minimum; None: unchanged"
    )
    range_test_flat_fallback: bool = option(
        False, "where the range test's loss never falls beyond its noise, suggest from where it starts to rise"
    )
    range_test_adaptive_fraction: float | None = option(
        None, "the fraction the range test suggests when the optimizer is adaptive (Adam, RMSprop, Adagrad...)"
    )
    anneal_tail: float | None = option(
        None, "share of the budget (0 to 1) at whose end the controller's LR is multiplied by a cosine down to 0"
    )
    scale_probe_epochs: float | None = option(
        None, "epochs each scale-probe candidate trains at least (the test's LR, grid LRs either side); 0: no probe"
    )
    scale_probe_decades: float | None = option(
        None, "the scale probe's grid spacing in decades; None: unchanged (0.5 in a new file)"
    )
    scale_probe_width: int | None = option(
        None, "grid LRs either side of the range test's LR that the scale probe tries (1 to 3); None: unchanged"
    )
    scale_probe_fraction: float | None = option(
        None, "share of the run's epochs each scale-probe candidate trains at least (0 to under 1); None: unchanged"
    )
    scale_probe_anneal: bool = option(
        False, "each scale-probe candidate's LR falls along a cosine to zero over its steps (default: unchanged)"
    )
    scale_probe_hold: float | None = option(
        None,
        "share of each annealed scale-probe candidate's steps (0 to under 1) at its LR before the cosine; "
        "None: unchanged",
    )
    scale_probe_walk: int | None = option(
        None,
        "grid LRs (0 to 4) the scale probe may try past its best while it is the lowest or highest; None: unchanged",
    )
    scale_probe_climb: int | None = option(
        None,
        "LRs (0 to 6) the scale probe may try above its walk while its best is the highest and the loss falls "
        "at every higher LR; None: unchanged",
    )

    def file_settings(self) -> dict[str, Any]:
        """The settings as keyword arguments of ``export`` and ``ensemble`` (None: unchanged)."""
        return {
            "range_test_extend": self.range_test_extend,
            "range_test_fraction": self.range_test_fraction,
            "range_test_flat_fallback": self.range_test_flat_fallback or None,
            "range_test_adaptive_fraction": self.range_test_adaptive_fraction,
            "anneal_tail": self.anneal_tail,
            "scale_probe_epochs": self.scale_probe_epochs,
            "scale_probe_decades": self.scale_probe_decades,
            "scale_probe_width": self.scale_probe_width,
            "scale_probe_fraction": self.scale_probe_fraction,
            "scale_probe_anneal": self.scale_probe_anneal or None,
            "scale_probe_hold": self.scale_probe_hold,
            "scale_probe_walk": self.scale_probe_walk,
            "scale_probe_climb": self.scale_probe_climb,
        }


@dataclass
class ExportOptions(ControllerFileOptions):
    """Export the latest checkpoint of a training run as a controller file (.lrc)."""

    run_dir: Path = option(None, "training run folder (written by lr-agent train)", positional=True)
    out: Path = option(Path("controller.lrc"), "controller file to write")
    onnx: bool = option(False, "also write an ONNX model of the policy beside it (.onnx)")


def run_train(options: TrainOptions) -> None:
    """Train, then print where the run went and how to export it."""
    from lr_agent.agents import train

    out = train(options)
    print(f"run folder: {out}  (TensorBoard: tensorboard --logdir {out / 'logs'})")
    print(f"export it:  lr-agent export {out} --out {out / 'controller.lrc'}")


def run_export(options: ExportOptions) -> None:
    """Export and describe the controller."""
    from lr_agent.agents import export

    controller = export(options.run_dir, options.out, **options.file_settings())
    info = controller.info
    steps, mode = info["env_steps"], controller.action_mode
    print(f"wrote {options.out}: {info['algorithm']} after {steps} env steps, {mode} actions")
    if options.onnx:
        from lr_agent.onnx_export import export_onnx

        path = export_onnx(controller, Path(options.out).with_suffix(".onnx"))
        print(f"wrote {path}")


@dataclass
class EnsembleOptions(ControllerFileOptions):
    """Combine controller files into one that acts on the mean of their outputs (see lr_agent.ensemble)."""

    members: list[str] = option(
        None, "controller files (.lrc), comma-separated; the first's settings are kept", positional=True
    )
    out: Path = option(Path("ensemble.lrc"), "controller file to write")
    onnx: bool = option(False, "also write an ONNX model of the ensemble beside it (.onnx)")


def run_ensemble(options: EnsembleOptions) -> None:
    """Load the members, write the ensemble, say what it holds."""
    from lr_agent.controller import Controller
    from lr_agent.ensemble import ensemble

    members = [Controller.load(path) for path in options.members]
    controller = ensemble(members, names=options.members, flags=True, **options.file_settings())
    controller.save(options.out)
    print(f"wrote {options.out}: the mean of {len(members)} controllers ({controller.fingerprint})")
    for path, member in zip(options.members, members, strict=True):
        print(f"  {path}: {member.info.get('algorithm', '?')}, fingerprint {member.fingerprint}")
    if options.onnx:
        from lr_agent.onnx_export import export_onnx

        print(f"wrote {export_onnx(controller, Path(options.out).with_suffix('.onnx'))}")


@dataclass
class ExperimentOptions:
    """Run an experiment config on Ray Tune: methods × workloads × initial LRs × seeds; a report and plots."""

    config: Path = option(None, "experiment file (TOML), e.g. experiments/quick.toml", positional=True)
    report_only: bool = option(False, "train nothing: write the report from the trials an interrupted run finished")
    address: str | None = option(None, "address of a running Ray cluster to join; default: a local instance")


def run_experiment_command(options: ExperimentOptions) -> None:
    """Run (or resume) the experiment and say where its report went."""
    from lr_agent.distributed import init_ray
    from lr_agent.experiment import ExperimentConfig, run_experiment

    config = ExperimentConfig.from_toml(options.config)
    if options.address:
        init_ray(options.address)
    folder = run_experiment(config, report_only=options.report_only)
    print((folder / "report.md").read_text())
    print(f"wrote {folder / 'results.csv'}, {folder / 'report.md'} and {folder / 'ratios.png'}")


def run_compare(options: CompareOptions) -> None:
    """Run the comparison (it prints its table)."""
    compare(options)


COMMANDS = {
    "envs": (EnvsOptions, run_envs),
    "baseline": (BaselineOptions, run_baseline),
    "train": (TrainOptions, run_train),
    "export": (ExportOptions, run_export),
    "ensemble": (EnsembleOptions, run_ensemble),
    "compare": (CompareOptions, run_compare),
    "experiment": (ExperimentOptions, run_experiment_command),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lr-agent`` console script."""
    parser = argparse.ArgumentParser(prog="lr-agent", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (options, _) in COMMANDS.items():
        doc = (options.__doc__ or "").strip()
        command_parser = sub.add_parser(name, help=doc, description=doc)
        add_arguments(command_parser, options)
        if options is TrainOptions:
            command_parser.add_argument("--config", type=Path, help="TOML file of these options; flags given win")
    args = vars(parser.parse_args(argv))
    options, command = COMMANDS[args.pop("command")]
    config = args.pop("config", None) if options is TrainOptions else None
    if options is TrainOptions and args.get("resume"):  # a resumed run keeps its own options
        args = {**TrainOptions.saved(args.get("out", TrainOptions().out)), **args}
    try:
        command(options.from_toml(config, **args) if config else options(**args))
    except (LRAgentError, ValueError) as exc:
        print(f"lr-agent: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
