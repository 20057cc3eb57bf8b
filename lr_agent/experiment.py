"""Distributed experiments on Ray Tune (``lr-agent experiment experiments/NAME.toml``).

An experiment runs a grid of method × workload × initial LR × seed, one Tune
trial per training run, plus a per-workload reference grid search over
``grid_lrs`` × ``grid_schedules``. A method is a baseline schedule name, a
controller (``controller:pretrained`` or ``controller:PATH.lrc``), one of the
LR-free optimizers (``schedulefree``: Schedule-Free AdamW, ``prodigy``: Prodigy,
each at its own default LR), or ``pbt``: Ray Tune's Population Based Training
over the LR of a constant schedule. Every trial reports each epoch to Tune;
Tune keeps the results, so running an interrupted experiment again resumes it
and skips the trials that finished; a PBT population that was cut short is moved
aside and starts again (Tune cannot resume synchronous PBT). A folder holds one
set of trials: running it with a changed file (other methods, workloads, LRs or
seeds) is an error that names the file to remove, never a silent report on the
old set.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lr_agent.controller import atomic_write
from lr_agent.errors import ExperimentChangedError, SpecError
from lr_agent.options import from_toml, option

logger = logging.getLogger(__name__)

LR_FREE = {"schedulefree": ("schedulefree-adamw", 0.0025), "prodigy": ("prodigy", 1.0)}
"""LR-free methods: the optimizer they swap in and the LR it is used at (its default)."""


@dataclass
class ExperimentConfig:
    """An experiment: what to run, and where Tune keeps it."""

    name: str = option("experiment", "name of the experiment (its folder under storage)")
    workloads: list[str] = option(help="workload specs", factory=lambda: ["wine-mlp"])
    lrs: list[float] = option(help="initial LRs each method starts from", factory=lambda: [1e-3, 1e-2])
    seeds: list[int] = option(help="seeds (each fixes one run per workload)", factory=lambda: [0, 1, 2])
    methods: list[str] = option(
        help="methods compared", factory=lambda: ["constant", "cosine", "controller:pretrained"]
    )
    epochs: int | None = option(None, "epoch budget of every run (default: drawn from each spec)")
    grid_lrs: list[float] = option(
        help="LRs of the reference grid search", factory=lambda: np.logspace(-4, -1, 7).tolist()
    )
    grid_schedules: list[str] = option(help="schedules of the reference grid", factory=lambda: ["constant", "cosine"])
    pbt_population: int | None = option(
        None, "Population Based Training: runs in the population (default: as many as the grid has, same compute)"
    )
    pbt_interval: int = option(2, "Population Based Training: epochs between exploit/explore steps")
    storage: Path = option(Path("runs/experiments"), "folder Tune keeps experiments in")
    cpus_per_trial: float = option(1.0, "CPUs Ray reserves per trial (a PBT member is a trial; members take turns)")
    gpus_per_trial: float = option(0.0, "GPU fraction per trial (a PBT member is a trial; members take turns)")

    @classmethod
    def from_toml(cls, path: str | Path) -> ExperimentConfig:
        """Read an experiment file; a mistake names the file and the key."""
        config = from_toml(cls, path)
        config.storage = Path(config.storage)
        config.check(str(path))
        return config

    def check(self, origin: str = "<config>") -> None:
        """Every method, workload and number must be usable before any trial starts."""
        from lr_agent.schedules import SCHEDULES
        from lr_agent.specs import get_spec

        # Trials run in their own folders (and maybe other machines): make file paths absolute.
        self.workloads = [str(Path(w).resolve()) if w.endswith(".toml") else w for w in self.workloads]
        self.methods = [
            f"controller:{Path(m.removeprefix('controller:')).resolve()}"
            if m.startswith("controller:") and m != "controller:pretrained"
            else m
            for m in self.methods
        ]
        for workload in self.workloads:
            try:
                get_spec(workload)
            except ValueError as exc:
                raise SpecError(origin, "workloads", str(exc)) from None
        valid = [*SCHEDULES, *LR_FREE, "pbt", "controller:pretrained", "controller:PATH.lrc"]
        for schedule in self.grid_schedules:
            if schedule not in SCHEDULES:
                raise SpecError(
                    origin, "grid_schedules", f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}"
                )
        for method in self.methods:
            if method.startswith("controller:"):
                name = method.removeprefix("controller:")
                if name != "pretrained" and not Path(name).exists():
                    raise SpecError(origin, "methods", f"controller file {name!r} does not exist")
            elif method not in SCHEDULES and method not in LR_FREE and method != "pbt":
                raise SpecError(origin, "methods", f"unknown method {method!r}; valid: {', '.join(valid)}")
        if not all(0 < lr < math.inf for lr in [*self.lrs, *self.grid_lrs]):  # also False for NaN
            raise SpecError(origin, "lrs", "every LR must be positive and finite")

    def trials(self) -> list[dict[str, Any]]:
        """One dict per training run of the grid (the PBT populations are run apart)."""
        runs = []
        for workload in self.workloads:
            for seed in self.seeds:
                for method in self.methods:
                    if method == "pbt":
                        continue
                    lrs = [LR_FREE[method][1]] if method in LR_FREE else self.lrs
                    runs += [dict(group="method", method=method, workload=workload, lr=lr, seed=seed) for lr in lrs]
                for schedule in self.grid_schedules:
                    runs += [
                        dict(group="grid", method=schedule, workload=workload, lr=lr, seed=seed) for lr in self.grid_lrs
                    ]
        for run in runs:
            run["epochs"] = self.epochs
        return runs


def build_run(trial: dict[str, Any], device: str = "cpu"):
    """The env, the policy and the reset options of one trial."""
    from lr_agent.compare import controller_env, load_controller
    from lr_agent.schedules import make_schedule

    options: dict[str, Any] = {"lr": trial["lr"]}
    if trial.get("epochs"):
        options["epochs"] = trial["epochs"]
    method = trial["method"]
    if method.startswith("controller:"):
        controller = load_controller(method.removeprefix("controller:"))
        return controller_env(trial["workload"], controller, device), controller.act, options
    if method in LR_FREE:
        options["optimizer"] = LR_FREE[method][0]
        return controller_env(trial["workload"], None, device), make_schedule("constant"), options
    return controller_env(trial["workload"], None, device), make_schedule(method), options


def epoch_metrics(info: dict[str, Any], done: bool, optimizer_steps: int) -> dict[str, Any]:
    """What a trial reports to Tune after each epoch (``done`` marks its last report)."""
    return {
        "val_loss": info["val_loss"] if math.isfinite(info["val_loss"]) else 1e30,
        "train_loss": info["train_loss"],
        "val_accuracy": info["val_accuracy"] if info["val_accuracy"] is not None else float("nan"),
        "lr": info["lr"],
        "epoch": info["epoch"],
        "optimizer_steps": optimizer_steps,
        "diverged": bool(info["diverged"]),
        "done": done,
    }


def trial_device() -> str:
    """The device of the trial running in this process: ``cuda`` where Ray gave it a GPU."""
    import ray

    return "cuda" if ray.get_gpu_ids() else "cpu"


def run_trial(config: dict[str, Any]) -> None:
    """Tune trainable: one training run, reported epoch by epoch."""
    import torch
    from ray import tune

    from lr_agent.episodes import run_episode

    torch.set_num_threads(1)
    trial = config["trial"]
    env, policy, options = build_run(trial, trial_device())

    def report(info: dict[str, Any]) -> None:
        done = info["diverged"] or info["step"] >= env.total_steps
        tune.report(epoch_metrics(info, done, info["step"] + info["probe_steps"]))

    run_episode(env, policy, seed=trial["seed"], options=options, on_step=report)


SPACE_FILE = "lr_agent_trials.json"
"""Written beside Tune's files: the trials a folder was started with, checked on every resume."""


def _canonical(value: Any) -> Any:
    """A search space as JSON reads it back, with every list of trials in one order (order is not a change)."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _tuner(
    path: Path, trainable, param_space: dict[str, Any], resources: dict[str, float], folder: Path, **tune_config: Any
):
    """A Tuner for ``path``, restored (finished trials kept) when an earlier run left one there.

    Raises:
        ExperimentChangedError: the earlier run at ``path`` had other trials, or ran them with
            another trainable (``folder``: the experiment's folder, which the message says to remove).
    """
    from ray import tune

    trainable = tune.with_resources(trainable, resources)
    space = _canonical(param_space)
    saved = path / SPACE_FILE
    if tune.Tuner.can_restore(str(path)):
        if not saved.exists():
            logger.warning("%s has no record of its trials (%s): resuming without checking them", path, SPACE_FILE)
        elif _canonical(json.loads(saved.read_text())) != space:
            raise ExperimentChangedError(
                f"{path} holds the trials of an earlier version of this experiment (other methods, workloads, "
                f"LRs, seeds or settings), and Tune can only resume the same trials; give the experiment "
                f"another name, or remove {folder} to start it afresh"
            )
        try:
            return tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
        except ValueError as error:  # Tune names the trainable the folder was made with
            raise ExperimentChangedError(
                f"{path} was run by another version of lr-agent ({error}); remove {folder} to start it afresh"
            ) from error
    atomic_write(saved, json.dumps(param_space, indent=1).encode())
    run_config = tune.RunConfig(name=path.name, storage_path=str(path.parent), verbose=1)
    return tune.Tuner(
        trainable, param_space=param_space, run_config=run_config, tune_config=tune.TuneConfig(**tune_config)
    )


def _rows(result_grid, config_of) -> list[dict[str, Any]]:
    rows = []
    for result in result_grid:
        if result.error is not None or not (result.metrics or {}).get("done"):
            logger.warning("trial %s did not finish; left out of the results", result.path)
            continue
        trial = config_of(result.config)
        metrics = result.metrics
        rows.append(
            {
                **{k: trial[k] for k in ("group", "method", "workload", "lr", "seed")},
                "final_val_loss": math.inf if metrics["diverged"] else metrics["val_loss"],
                "final_val_accuracy": metrics["val_accuracy"],
                "epochs": metrics["epoch"],
                "optimizer_steps": metrics["optimizer_steps"],
                "diverged": metrics["diverged"],
                "finished_at": metrics.get("timestamp"),
            }
        )
    return rows


def _results(make_tuner, path: Path, report_only: bool):
    """Fit the tuner, or with ``report_only`` read what finished at ``path`` (None when nothing ran there)."""
    from ray import tune

    if not report_only:
        return make_tuner().fit()
    if not tune.Tuner.can_restore(str(path)):
        return None
    try:
        return make_tuner().get_results()
    except RuntimeError:  # the folder was made, but no trial ran there
        return None


def run_experiment(config: ExperimentConfig, report_only: bool = False) -> Path:
    """Run (or resume) the experiment, then write ``results.csv``, ``report.md`` and PNG plots beside it.

    ``report_only``: train nothing; write the report from the trials an earlier,
    interrupted run finished (unfinished PBT populations are left out).
    """
    from lr_agent.distributed import init_ray

    folder = config.storage.resolve() / config.name
    started = init_ray()
    resources = {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial}
    try:
        from ray import tune

        trials = config.trials()
        space = {"trial": tune.grid_search(trials)}
        grid = functools.partial(_tuner, folder / "grid", run_trial, space, resources, folder, reuse_actors=True)
        results = _results(grid, folder / "grid", report_only)
        rows = _rows(results, lambda c: c["trial"]) if results is not None else []
        if "pbt" in config.methods:
            rows += _run_pbt(config, folder, resources, report_only)
    finally:
        if started:
            import ray

            ray.shutdown()
    from lr_agent.report import write_report

    rows.sort(key=lambda r: (r["workload"], r["group"], r["method"], r["lr"], r["seed"]))

    write_report(config, rows, folder)
    return folder


def pbt_scheduler(config: ExperimentConfig):
    """Tune's Population Based Training over the grid's LR range, in its synchronous mode.

    Every run waits at each perturbation until the whole population is there, so an exploit
    copies a checkpoint from the same point: no run is ever moved back or forward, and the sum
    of the runs' final step counts is exactly what PBT trained. Tune's asynchronous mode
    restores a donor's last checkpoint wherever it lies; on spirals-mlp, runs that trained past
    a point where the rest of the population was paused scored a little worse there and were
    restored to it again and again (5,386 exploits in 20 minutes for one population), retraining
    steps that no final count held (``experiments/NOTES.md``, entry 11).
    """
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    return PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=config.pbt_interval,
        hyperparam_mutations={"lr": tune.loguniform(min(config.grid_lrs), max(config.grid_lrs))},
        synch=True,
    )


def _run_pbt(
    config: ExperimentConfig, folder: Path, resources: dict[str, float], report_only: bool = False
) -> list[dict[str, Any]]:
    """One PBT population per workload × seed over the grid's LR range (by default, as many runs as the grid)."""
    from ray import tune

    from lr_agent.pbt_member import PBTMember

    rows = []
    low, high = min(config.grid_lrs), max(config.grid_lrs)
    population = config.pbt_population or len(config.grid_lrs) * len(config.grid_schedules)
    for workload in config.workloads:
        for seed in config.seeds:
            pbt = pbt_scheduler(config)
            starts = np.logspace(math.log10(low), math.log10(high), population).tolist()
            space = {
                "workload": workload,
                "seed": seed,
                "epochs": config.epochs,
                "interval": config.pbt_interval,  # the scheduler's, kept in the trials file that resumes check
                "lr": tune.grid_search(starts),
            }
            path = folder / f"pbt-{workload}-{seed}"
            tuner = functools.partial(
                _tuner,
                path,
                PBTMember,
                space,
                resources,  # members take turns in these slots; a paused one's process takes on the next
                folder,
                scheduler=pbt,
                metric="val_loss",
                mode="min",
                reuse_actors=True,
            )
            if not report_only and _interrupted(tuner, path, population):
                aside = path.with_name(f"{path.name}.interrupted-{time.strftime('%Y%m%d-%H%M%S')}")
                logger.warning(
                    "PBT population %s was interrupted; Tune cannot resume synchronous PBT (its runs would stay "
                    "paused), so it starts again; the interrupted one is kept in %s",
                    path,
                    aside,
                )
                path.rename(aside)
            results = _results(tuner, path, report_only)
            if results is None:
                continue
            members = _rows(
                results, lambda c: dict(group="pbt", method="pbt", workload=c["workload"], lr=0.0, seed=c["seed"])
            )
            if len(members) < population:
                logger.warning("PBT population %s-%s did not finish; left out of the report", workload, seed)
            elif members:
                best = min(members, key=lambda r: r["final_val_loss"])
                best["optimizer_steps"] = sum(m["optimizer_steps"] for m in members)
                rows.append(best)
    return rows


def _interrupted(make_tuner, path: Path, population: int) -> bool:
    """Whether ``path`` holds a PBT population that an earlier run left with members unfinished.

    Tune restores such a population with its synchronous PBT scheduler's state lost, and every
    member then waits, paused, for a perturbation that never comes (ray-project/ray#48616).
    """
    from ray import tune

    if not tune.Tuner.can_restore(str(path)):
        return False
    try:
        results = make_tuner().get_results()
    except RuntimeError:  # the folder was made, but no member ran there
        return True
    settled = sum(r.error is not None or bool((r.metrics or {}).get("done")) for r in results)
    return settled < population  # Tune retries an errored member itself (resume_errored)


def summarise(rows: list[dict[str, Any]]) -> tuple[dict, dict]:
    """Mean final validation loss per (method, workload, lr) over seeds, and the grid-search best per workload."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["group"], row["method"], row["workload"], row["lr"])].append(row)
    means = {}
    for key, members in groups.items():
        finite = [m["final_val_loss"] for m in members if math.isfinite(m["final_val_loss"])]
        means[key] = {
            "mean": statistics.fmean(finite) if len(finite) == len(members) else math.inf,  # a divergence is inf
            "std": statistics.pstdev(finite) if len(finite) > 1 else 0.0,
            "diverged": sum(m["diverged"] for m in members),
            "runs": len(members),
            "steps": statistics.fmean(m["optimizer_steps"] for m in members),
        }
    grid_best = {}
    for (group, method, workload, lr), stats in means.items():
        if group == "grid" and stats["mean"] < grid_best.get(workload, (math.inf,))[0]:
            grid_best[workload] = (stats["mean"], method, lr)
    return means, grid_best
