"""Real, tiny training runs through ``lr-agent train`` and ``lr-agent export``."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lr_agent.agents import EnvBuilder, TrainOptions, env_kwargs, export, load_run, train
from lr_agent.cli import main
from lr_agent.controller import Controller
from lr_agent.errors import SpecError
from tests.conftest import SEED

TINY = {
    "specs": ["wine-mlp", "moons-mlp"],
    "eval_specs": ["breast-cancer-mlp"],
    "envs": 1,
    "max_epochs": 3,
    "eval_every": 32,
    "eval_episodes": 1,
    "checkpoint_every": 32,
    "seed": SEED,
}
ALGO_KWARGS = {
    "ppo": {"n_steps": 32, "batch_size": 16, "n_epochs": 2},
    "a2c": {"n_steps": 8},
    "dqn": {"learning_starts": 16, "batch_size": 8},
    "sac": {"learning_starts": 16, "batch_size": 8},
}


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "sac"])
def test_each_algorithm_trains_exports_and_acts_like_the_agent(algo, tmp_path):
    probe = 20 if algo == "ppo" else 0  # one algorithm also trains from an LR range test
    extend = 1.0 if probe else 0.0  # ... extended past its span while the loss falls
    options = TrainOptions(
        **TINY, algo=algo, total_steps=64, out=tmp_path / "run", algo_kwargs=ALGO_KWARGS[algo], range_test_steps=probe,
        range_test_extend=extend, anchor_jitter=0.5 if probe else 0.0,
    )  # fmt: skip
    run_dir = train(options)
    if probe:  # from the command line, changing the range test
        flags = ["--range-test-extend", "2", "--range-test-fraction", "0.2", "--range-test-flat-fallback",
                 "--range-test-adaptive-fraction", "0.4", "--anneal-tail", "0.3", "--scale-probe-epochs", "0.5",
                 "--scale-probe-decades", "1", "--scale-probe-width", "2", "--scale-probe-fraction", "0.1",
                 "--scale-probe-anneal", "--scale-probe-walk", "1", "--scale-probe-climb", "2",
                 "--scale-probe-hold", "0.5"]  # fmt: skip
        assert main(["export", str(run_dir), "--out", str(tmp_path / "c.lrc"), *flags]) == 0
    else:
        export(run_dir, tmp_path / "c.lrc")
    loaded = Controller.load(tmp_path / "c.lrc")
    assert loaded.info["algorithm"] == algo
    assert loaded.range_test_steps == probe
    assert (loaded.range_test_extend, loaded.info["range_test_extend_in_training"]) == (2.0 if probe else 0.0, extend)
    assert (loaded.range_test_fraction, loaded.info["range_test_fraction_in_training"]) == (0.2 if probe else 0.1, 0.1)
    assert loaded.info["anchor_jitter_in_training"] == (0.5 if probe else 0.0)
    assert loaded.range_test_flat_fallback is bool(probe)
    assert loaded.range_test_adaptive_fraction == (0.4 if probe else None)
    assert loaded.anneal_tail == (0.3 if probe else 0.0)
    assert (loaded.scale_probe_epochs, loaded.scale_probe_decades) == ((0.5, 1.0) if probe else (0.0, 0.5))
    assert (loaded.scale_probe_width, loaded.scale_probe_fraction) == ((2, 0.1) if probe else (1, 0.0))
    assert loaded.scale_probe_anneal is bool(probe) and loaded.scale_probe_walk == (1 if probe else 0)
    assert loaded.scale_probe_climb == (2 if probe else 0) and loaded.scale_probe_hold == (0.5 if probe else 0.0)
    assert loaded.format_version == (12 if probe else 2)
    assert "anchor_jitter" not in env_kwargs(options)  # evaluation runs are as deployed
    assert env_kwargs(options, training=True).get("anchor_jitter") == (0.5 if probe else None)
    if not probe:
        changes = {"extend": 1.0, "fraction": 0.2, "flat-fallback": True, "adaptive-fraction": 0.4}
        for flag, change in ((f, {"range_test_" + f.replace("-", "_"): v}) for f, v in changes.items()):
            with pytest.raises(ValueError, match=f"--range-test-{flag}: .* trained without a range test"):
                export(run_dir, tmp_path / "x.lrc", **change)
        with pytest.raises(ValueError, match="--scale-probe-epochs: .* trained without a range test"):
            export(run_dir, tmp_path / "x.lrc", scale_probe_epochs=0.5)
    with pytest.raises(ValueError, match=r"--scale-probe-decades must be in \(0, 3\] decades, got 0"):
        export(run_dir, tmp_path / "x.lrc", scale_probe_decades=0)
    with pytest.raises(ValueError, match="--scale-probe-width must be 1, 2 or 3 grid LRs either side, got 5"):
        export(run_dir, tmp_path / "x.lrc", scale_probe_width=5)
    with pytest.raises(ValueError, match=r"--scale-probe-walk must be 0 \(no walk\) to 4 more grid LRs, got 5"):
        export(run_dir, tmp_path / "x.lrc", scale_probe_walk=5)
    with pytest.raises(ValueError, match=r"--scale-probe-hold must be in \[0, 1\) of a candidate's steps, got 1"):
        export(run_dir, tmp_path / "x.lrc", scale_probe_hold=1)
    with pytest.raises(ValueError, match="--scale-probe-hold 0.5 needs --scale-probe-anneal"):
        export(run_dir, tmp_path / "x.lrc", scale_probe_epochs=1.0, scale_probe_hold=0.5)
    with pytest.raises(ValueError, match=r"--scale-probe-climb must be 0 \(no climb\) to 6 more LRs, got 7"):
        export(run_dir, tmp_path / "x.lrc", scale_probe_climb=7)
    with pytest.raises(ValueError, match=r"--anneal-tail must be a share of the budget in \[0, 1\], got 2"):
        export(run_dir, tmp_path / "x.lrc", anneal_tail=2)
    with pytest.raises(ValueError, match="--range-test-extend must be 0 to 10 decades, got -1"):
        export(run_dir, tmp_path / "x.lrc", range_test_extend=-1.0)
    with pytest.raises(ValueError, match=r"--range-test-fraction must be in \(0, 1\], got 1.5"):
        export(run_dir, tmp_path / "x.lrc", range_test_fraction=1.5)
    assert loaded.info["env_steps"] >= 64
    assert loaded.info["evaluation"]["specs"] == ["breast-cancer-mlp"]
    assert loaded.info["evaluation"]["mean_return"]  # evaluated on held-out specs during training
    assert (run_dir / "logs" / "segment_0" / "progress.csv").exists()
    assert list((run_dir / "logs" / "segment_0").glob("events.out.tfevents.*"))
    _, model, normalizer = load_run(run_dir)
    raw = np.random.default_rng(0).normal(size=(32, 10)).astype(np.float32) * 2
    expected, _ = model.predict(normalizer.normalize_obs(raw), deterministic=True)
    got = [loaded.act(o) for o in raw]
    if loaded.action_mode == "discrete":
        assert got == expected.tolist()
    else:
        np.testing.assert_allclose(np.concatenate(got), expected.reshape(-1), atol=1e-5)


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    options = dict(TINY, total_steps=64, out=tmp_path / "run", algo_kwargs=ALGO_KWARGS["ppo"])
    train(TrainOptions(**options))
    with pytest.raises(ValueError, match="already holds checkpoints; pass --resume"):
        train(TrainOptions(**options))
    train(TrainOptions(**{**options, "total_steps": 128, "resume": True}))
    _, model, _ = load_run(tmp_path / "run")
    assert model.num_timesteps >= 128
    assert (tmp_path / "run" / "logs" / "segment_1" / "progress.csv").exists()


def test_a_killed_training_leaves_a_readable_checkpoint_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--specs", "wine-mlp", "--eval-specs", "moons-mlp", "--envs", "1", "--max-epochs", "3",
            "--total-steps", "100000", "--checkpoint-every", "32", "--eval-every", "100000", "--out", str(out),
            "--algo-kwargs", json.dumps(ALGO_KWARGS["ppo"])]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "lr_agent.cli", *args], stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # generous: a loaded machine imports torch slowly
    while time.time() < deadline and len(list((out / "checkpoints").glob("step_*"))) < 2:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    export(out, tmp_path / "c.lrc")  # the last complete checkpoint is readable
    steps = Controller.load(tmp_path / "c.lrc").info["env_steps"]
    assert steps >= 32
    assert main([*args[:args.index("--total-steps")], "--total-steps", str(steps + 64),
                 *args[args.index("--total-steps") + 2:], "--resume"]) == 0  # fmt: skip
    assert Controller.load(export(out, tmp_path / "d.lrc").save(tmp_path / "d.lrc")).info["env_steps"] >= steps + 64


def test_config_file_gives_options_and_flags_win(tmp_path):
    config = tmp_path / "train.toml"
    config.write_text('algo = "a2c"\ntotal_steps = 500\n[algo_kwargs]\nn_steps = 4\n')
    options = TrainOptions.from_toml(config, total_steps=10)
    assert (options.algo, options.total_steps, options.algo_kwargs) == ("a2c", 10, {"n_steps": 4})
    config.write_text("algo = 'ppo'\ntotal_step = 5\n")
    with pytest.raises(SpecError, match=r"train.toml: total_step: unknown key; valid: specs"):
        TrainOptions.from_toml(config)


def test_dqn_forces_discrete_and_sac_continuous_actions():
    assert TrainOptions(algo="dqn", action_mode="continuous").action_mode == "discrete"
    assert TrainOptions(algo="sac").action_mode == "continuous"
    with pytest.raises(ValueError, match="unknown algorithm 'td3'"):
        TrainOptions(algo="td3")
    with pytest.raises(ValueError, match="--anchor-jitter must be 0 to 3 decades, got 4"):
        TrainOptions(anchor_jitter=4)


def test_export_of_a_folder_that_is_no_run_is_a_clear_error(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "c.lrc")]) == 2
    assert "is not a training run folder" in capsys.readouterr().err


def test_resume_from_the_cli_keeps_the_runs_options_and_evaluations(tmp_path):
    out = tmp_path / "run"
    options = dict(TINY, total_steps=64, out=out, algo_kwargs=ALGO_KWARGS["ppo"], multipliers=(0.5, 1.0, 2.0))
    train(TrainOptions(**options))
    first = json.loads((out / "options.json").read_text())
    assert main(["train", "--out", str(out), "--resume", "--total-steps", "128"]) == 0
    resumed = json.loads((out / "options.json").read_text())
    assert resumed["specs"] == first["specs"] and resumed["multipliers"] == [0.5, 1.0, 2.0]
    info = export(out, tmp_path / "c.lrc").info
    assert info["trained_on"] == ["wine-mlp", "moons-mlp"]
    timesteps = info["evaluation"]["timesteps"]
    assert timesteps == sorted(timesteps) and timesteps[0] <= 64 < timesteps[-1]  # both segments kept
    with pytest.raises(ValueError, match="algo 'a2c' differs from the run's 'ppo'"):
        train(TrainOptions(**{**options, "algo": "a2c", "resume": True, "total_steps": 200}))
    with pytest.raises(ValueError, match="anchor_jitter 0.5 differs from the run's 0.0"):
        train(TrainOptions(**{**options, "anchor_jitter": 0.5, "resume": True, "total_steps": 200}))


def test_agents_see_the_budget_end_as_terminal_so_no_value_is_bootstrapped_through_it():
    env = EnvBuilder(("wine-mlp",), {"epochs": 2})()
    env.reset(seed=SEED)
    endings = [env.step(3)[2:4] for _ in range(2)]
    assert endings == [(False, False), (True, False)]  # the bare env says (False, True) at the end


def test_a_run_folder_from_before_the_range_test_keeps_training_without_one(tmp_path):
    options = TrainOptions(**TINY, out=tmp_path / "old")
    saved = options.to_json()
    for name in ("range_test_steps", "range_test_fraction", "range_test_span", "range_test_extend", "anchor_jitter"):
        del saved[name]
    options.out.mkdir()
    (options.out / "options.json").write_text(json.dumps(saved))
    restored = TrainOptions(**TrainOptions.saved(options.out))
    assert (restored.range_test_steps, restored.range_test_extend, restored.anchor_jitter) == (0, 0.0, 0.0)
