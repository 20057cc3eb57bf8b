"""Experiments on Ray Tune, with tiny budgets, on the session's Ray instance."""

import csv
import dataclasses
import json
import re
import tomllib
from pathlib import Path

import pytest
from ray import tune

from lr_agent import Controller
from lr_agent.errors import ExperimentChangedError, SpecError
from lr_agent.experiment import ExperimentConfig, _tuner, pbt_scheduler, run_experiment
from lr_agent.pbt_member import PBTMember
from lr_agent.specs import get_spec

TINY = """
name = "tiny"
workloads = ["wine-mlp"]
lrs = [0.01]
seeds = [0]
epochs = 4
methods = ["constant", "range-test-cosine", "controller:pretrained", "schedulefree", "prodigy", "pbt"]
grid_lrs = [0.001, 0.1]
grid_schedules = ["constant", "cosine"]
pbt_population = 2
pbt_interval = 2
cpus_per_trial = 0.5
"""


def test_experiment_runs_every_method_writes_report_and_resumes(ray_instance, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY + f'storage = "{tmp_path / "store"}"\n')
    config = ExperimentConfig.from_toml(path)
    folder = run_experiment(config)
    rows = list(csv.DictReader((folder / "results.csv").open()))
    methods = {r["method"] for r in rows if r["group"] != "grid"}
    assert methods == {"constant", "range-test-cosine", "controller:pretrained", "schedulefree", "prodigy", "pbt"}
    assert sum(r["group"] == "grid" for r in rows) == 4
    assert all(float(r["epochs"]) == 4 for r in rows)
    members = list((folder / "pbt-wine-mlp-0").glob("PBTMember_*"))
    assert len(members) == 2
    for member in members:  # every epoch reported; the LR changes only at a perturbation, every 2 epochs
        reports = [json.loads(line) for line in (member / "result.json").read_text().splitlines()]
        assert [r["epoch"] for r in reports] == [1, 2, 3, 4]
        assert reports[0]["lr"] == reports[1]["lr"] and reports[2]["lr"] == reports[3]["lr"]
    assert list((folder / "pbt-wine-mlp-0").glob("PBTMember_*/checkpoint_*/state.pt"))  # saved where PBT paused
    report = (folder / "report.md").read_text()
    assert "Grid-search best" in report and "| prodigy | own |" in report
    assert (folder / "ratios.png").read_bytes()[:4] == b"\x89PNG"
    assert all(r["finished_at"] for r in rows)
    run_experiment(config)  # again: Tune restores the experiment and runs no finished trial twice
    assert list(csv.DictReader((folder / "results.csv").open())) == rows  # same trials, same finish times
    assert "the quality goal" in report and "## Compute" in report
    rivals = "beats, case by case: range-test-cosine at the same start [01]/1, schedulefree [01]/1, prodigy [01]/1, pbt"
    assert re.search(rivals, report)
    (folder / "report.md").unlink()
    run_experiment(config, report_only=True)  # trains nothing, reads the finished trials back
    assert list(csv.DictReader((folder / "results.csv").open())) == rows
    assert (folder / "report.md").read_text() == report
    reordered = dataclasses.replace(config, methods=config.methods[::-1], grid_lrs=config.grid_lrs[::-1])
    run_experiment(reordered)  # the same trials in another order: resumed, nothing runs again
    assert list(csv.DictReader((folder / "results.csv").open())) == rows
    grid_space = {"trial": tune.grid_search(config.trials())}
    with pytest.raises(ExperimentChangedError, match=f"{folder / 'grid'} was run by another version of lr-agent"):
        _tuner(folder / "grid", PBTMember, grid_space, {"cpu": 0.5, "gpu": 0.0}, folder)  # as an older library's folder
    changed = dataclasses.replace(config, methods=["constant", "cosine"])
    with pytest.raises(ExperimentChangedError, match=f"{folder / 'grid'} holds the trials of an earlier version"):
        run_experiment(changed)  # Tune would resume the old trials and report on methods the file no longer names
    assert list(csv.DictReader((folder / "results.csv").open())) == rows


def test_a_pbt_population_cut_short_starts_again_instead_of_waiting_for_ever(ray_instance, tmp_path, monkeypatch):
    import os
    import signal

    from ray.tune.schedulers import PopulationBasedTraining

    on_trial_result, interrupted = PopulationBasedTraining.on_trial_result, []

    def ctrl_c_after_the_second_perturbation(self, tune_controller, trial, result):  # in the driver: a fixed point
        if result["training_iteration"] >= 5 and not interrupted:
            interrupted.append(trial)
            os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C: Tune saves its state and stops
        return on_trial_result(self, tune_controller, trial, result)

    path = tmp_path / "pbt.toml"
    path.write_text(TINY.replace("epochs = 4", "epochs = 8") + f'storage = "{tmp_path}"\n')
    config = dataclasses.replace(ExperimentConfig.from_toml(path), methods=["pbt"])
    monkeypatch.setattr(PopulationBasedTraining, "on_trial_result", ctrl_c_after_the_second_perturbation)
    monkeypatch.delenv("TUNE_DISABLE_SIGINT_HANDLER", raising=False)  # Tune's handler takes the SIGINT, not pytest
    sigint = signal.getsignal(signal.SIGINT)
    try:
        folder = run_experiment(config)
    finally:
        signal.signal(signal.SIGINT, sigint)  # Tune leaves its own handler behind
    assert interrupted
    assert not any(r["group"] == "pbt" for r in csv.DictReader((folder / "results.csv").open()))
    monkeypatch.undo()

    def hung(*_):
        raise TimeoutError("the resumed PBT population is still running after 4 minutes")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(240)  # a failure, not a hung test run, if the population waits for ever again
    try:
        run_experiment(config)  # Tune's restore would leave every member paused for ever
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert [r["method"] for r in rows if r["group"] == "pbt"] == ["pbt"]
    assert [float(r["epochs"]) for r in rows if r["group"] == "pbt"] == [8]
    assert len(list(folder.glob("pbt-wine-mlp-0.interrupted-*/lr_agent_trials.json"))) == 1  # kept, not deleted


def test_report_only_on_an_experiment_that_never_ran_writes_an_empty_report(ray_instance, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY + f'storage = "{tmp_path / "store"}"\n')
    folder = run_experiment(ExperimentConfig.from_toml(path), report_only=True)
    assert "0 training runs" in (folder / "report.md").read_text()
    assert not (folder / "grid").exists()


def test_experiment_file_mistakes_name_the_file_and_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nmethod = ["cosine"]\n')
    with pytest.raises(SpecError, match=r"bad.toml: method: unknown key; valid: name"):
        ExperimentConfig.from_toml(path)
    path.write_text('name = "x"\nmethods = ["cosinus"]\n')
    with pytest.raises(SpecError, match=r"bad.toml: methods: unknown method 'cosinus'; valid: constant"):
        ExperimentConfig.from_toml(path)
    path.write_text('name = "x"\nlrs = [0.01, nan]\n')
    with pytest.raises(SpecError, match=r"bad.toml: lrs: every LR must be positive and finite"):
        ExperimentConfig.from_toml(path)


def test_the_shipped_controller_and_its_recipe_never_train_on_the_selection_or_test_workloads():
    experiments = Path(__file__).resolve().parent.parent / "experiments"

    def names(file, key):  # catalogue names; get_spec also fails on a name not in the catalogue
        return {get_spec(n).name for n in tomllib.loads((experiments / file).read_text())[key]}

    test, selection = names("quality.toml", "workloads"), names("select.toml", "workloads")
    assert len(test) >= 4 and len(selection) >= 4 and not selection & test
    for trained_on in (
        {get_spec(n).name for n in Controller.pretrained().info["trained_on"]},
        names("train_default.toml", "specs"),
    ):
        assert trained_on and not trained_on & (test | selection)
    assert not names("train_default.toml", "eval_specs") & test  # not even watched during training


def test_population_based_training_waits_for_the_population_instead_of_rewinding_a_run():
    from types import SimpleNamespace

    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    config = ExperimentConfig(name="x", workloads=["wine-mlp"], methods=["pbt"], pbt_interval=2)
    ahead, behind = Trial("run", stub=True, config={"lr": 0.1}), Trial("run", stub=True, config={"lr": 0.2})
    paused, trials = [], [ahead, behind]
    controller = SimpleNamespace(
        search_alg=None,
        get_trials=trials.copy,
        get_live_trials=trials.copy,
        pause_trial=lambda t, **_: paused.append(t),
    )
    pbt = pbt_scheduler(config)
    pbt.set_search_properties("val_loss", "min")  # as the experiment's TuneConfig sets them
    for trial in trials:
        pbt.on_trial_add(controller, trial)
    # both passed the perturbation at iteration 2; the better run has its checkpoint there
    pbt._next_perturbation_sync = 4
    pbt._trial_state[ahead].last_perturbation_time = 2
    behind_state = pbt._trial_state[behind]
    behind_state.last_perturbation_time = behind_state.last_train_time = 2
    behind_state.last_score, behind_state.last_checkpoint = -0.5, object()
    # the worse run reaches iteration 4 first: Tune's asynchronous PBT would restore it to the
    # better run's checkpoint at 2; this one holds it there until the other run reaches 4
    decision = pbt.on_trial_result(controller, ahead, {"training_iteration": 4, "val_loss": 1.0})
    assert decision == TrialScheduler.PAUSE and not paused and ahead.config == {"lr": 0.1}


def test_the_report_counts_beating_constant_and_cosine_only_where_both_ran():
    from lr_agent.report import controller_summary

    def stats(mean):
        return {"mean": mean}

    means = {("grid", "cosine", "w", 0.01): stats(1.0)}
    means |= {("method", "controller:x", "w", lr): stats(v) for lr, v in ((0.001, 1.01), (0.1, float("inf")))}
    grid_best = {"w": (1.0, "cosine", 0.01)}
    alone = "\n".join(controller_summary("controller:x", means, grid_best, ["w"], [0.001, 0.1]))
    assert "within 2% of the grid-search best: **1/2**" in alone
    assert "constant and cosine at the same start: not measured (they did not both run)" in alone
    assert "did not: not measured (constant did not run)" in alone
    means |= {("method", "constant", "w", lr): stats(v) for lr, v in ((0.001, 1.2), (0.1, 3.0))}
    means |= {("method", "cosine", "w", 0.001): stats(1.1)}  # cosine ran from one start only
    both = "\n".join(controller_summary("controller:x", means, grid_best, ["w"], [0.001, 0.1]))
    assert "beats both constant and cosine at the same start: **1/1**" in both
    assert "diverged where a constant LR at the same start did not: **1**" in both


def test_the_report_scores_the_grids_choice_on_the_seeds_it_did_not_choose_on():
    from lr_agent.report import grid_on_held_out_seeds

    def row(method, lr, seed, loss, workload="w", group="grid"):
        return {"group": group, "method": method, "workload": workload, "lr": lr, "seed": seed,
                "final_val_loss": loss, "diverged": loss == float("inf"), "optimizer_steps": 10}  # fmt: skip

    def rows_of(losses, workload="w"):
        return [
            row(m, lr, seed, loss, workload) for (m, lr), values in losses.items() for seed, loss in enumerate(values)
        ]

    # seeds 0 and 1 favour cosine at 0.1 (lucky there); seeds 2 and 3 favour constant at 0.01
    losses = {("cosine", 0.1): [0.9, 1.1, 1.4, 1.6], ("constant", 0.01): [1.0, 1.2, 1.1, 1.3]}
    controller = [row("controller:x", 0.1, seed, 0.5, group="method") for seed in range(4)]  # not the grid's
    report = "\n".join(grid_on_held_out_seeds(rows_of(losses) + controller))
    assert "| w | 0, 1 / 2, 3 | cosine at 0.1: 1.250 | constant at 0.01: 1.100 |" in report  # 1.5/1.2, 1.1/1.0
    assert "within 2% of the held-out seeds' grid best: **0/2** choices" in report
    assert "the same run chosen on both halves: 0/1 workloads" in report
    losses[("constant", 0.01)] = [1.0, 1.2, 1.5, float("inf")]  # diverged on seed 3: cosine is best on both
    report = "\n".join(grid_on_held_out_seeds(rows_of(losses)))
    assert "**2/2** choices" in report and "1/1 workloads" in report
    # a run missing on one seed (an errored trial) takes no part; a workload with one seed has no halves
    partial = rows_of({("cosine", 0.1): [1.0, 1.0], ("constant", 0.01): [0.5]}, "v") + rows_of(
        {("cosine", 0.1): [1.0]}, "u"
    )
    assert "| v | 0 / 1 | cosine at 0.1: 1.000 | cosine at 0.1: 1.000 |" in "\n".join(grid_on_held_out_seeds(partial))
    assert "| u |" not in "\n".join(grid_on_held_out_seeds(partial))
    assert grid_on_held_out_seeds(rows_of(losses)[:1]) == []  # one seed: nothing to hold out
