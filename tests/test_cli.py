import csv

import pytest

from lr_agent.cli import main


def test_envs_lists_the_catalogue(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    ids = [line.split()[0] for line in out.splitlines() if line.startswith("lr_agent/")]
    assert len(ids) >= 6
    assert "lr_agent/digits-cnn-v0" in ids


def test_baseline_prints_the_epochs_and_writes_plot_and_csv(tmp_path, capsys):
    args = ["baseline", "--env", "wine-mlp", "--schedule", "step", "--lr", "0.05", "--epochs", "3"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "epoch" in out and "final val loss" in out
    png = tmp_path / "wine-mlp-step-seed0.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((tmp_path / "wine-mlp-step-seed0.csv").open()))
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.05, 0.005, 0.0005])  # every third of 3 epochs


def test_unknown_env_is_a_clear_error_not_a_traceback(capsys):
    assert main(["baseline", "--env", "nope"]) == 2
    assert "unknown workload 'nope'; valid:" in capsys.readouterr().err


def test_help_of_every_command_says_what_it_does(capsys):
    for command in ("envs", "baseline"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    assert "baseline LR schedule" in capsys.readouterr().out


def test_compare_runs_controllers_and_baselines_on_the_same_runs(tmp_path, capsys):
    args = ["compare", "--env", "wine-mlp", "--epochs", "3", "--seeds", "0,1", "--schedules", "constant,cosine"]
    assert main([*args, "--controllers", "pretrained", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("controller:pretrained", "constant", "cosine"):
        assert name in out
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert {r["policy"] for r in rows} == {"controller:pretrained", "constant", "cosine"}
    assert all(r["runs"] == "2" for r in rows)
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
