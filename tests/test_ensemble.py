import dataclasses

import numpy as np
import pytest
import torch

from lr_agent.cli import main
from lr_agent.controller import Controller
from lr_agent.ensemble import ensemble
from tests.conftest import random_controller


def deep_controller(seed: int, **kwargs) -> Controller:
    """A random controller with two hidden layers, as the trained ones have."""
    base = random_controller(seed, **kwargs)
    g = torch.Generator().manual_seed(100 + seed)
    second = (torch.randn(16, 16, generator=g), torch.randn(16, generator=g))
    info = {"algorithm": "ppo", "trained_on": [f"spec-{seed}", "shared-spec"], "env_steps": 10}
    return dataclasses.replace(base, layers=[*base.layers, second], info=info)


def observations_near(controllers, count=200, seed=0):
    """Observations within 2 of the smallest standard deviations of the members' mean (no clipping binds)."""
    rng = np.random.default_rng(seed)
    mean = torch.stack([c.obs_mean for c in controllers]).mean(0).numpy()
    std = torch.stack([c.obs_var for c in controllers]).min(0).values.sqrt().numpy()
    return [mean + rng.uniform(-2, 2, size=mean.shape) * std for _ in range(count)]


@pytest.mark.parametrize("output", ["argmax", "tanh"])
def test_the_ensemble_outputs_the_mean_of_its_members_outputs(output):
    members = [deep_controller(seed, output=output) for seed in range(3)]
    combined = ensemble(members)
    decisions = set()
    for obs in observations_near(members):
        expected = torch.stack([m.outputs(obs) for m in members]).mean(0)
        torch.testing.assert_close(combined.outputs(obs), expected, atol=1e-4, rtol=1e-4)
        decisions.add(round(combined.lr_factor(obs), 6))
    assert len(decisions) > 1  # the members' random weights disagree, so the mean is not trivial


def test_the_ensemble_is_an_ordinary_controller_file(tmp_path):
    members = [deep_controller(seed) for seed in range(2)]
    members = [dataclasses.replace(m, range_test_steps=steps) for m, steps in zip(members, (121, 120), strict=True)]
    path = ensemble(members, range_test_extend=2.0, range_test_fraction=0.2).save(tmp_path / "both.lrc")
    loaded = Controller.load(path)
    assert (loaded.range_test_steps, loaded.range_test_extend, loaded.range_test_fraction) == (121, 2.0, 0.2)
    assert [m["range_test"]["fraction"] for m in loaded.info["members"]] == [0.1, 0.1]  # the members' files' own
    assert [len(w) for w, _ in loaded.layers] == [32, 32]
    assert loaded.info["trained_on"] == ["spec-0", "shared-spec", "spec-1"]
    assert [m["fingerprint"] for m in loaded.info["members"]] == [m.fingerprint for m in members]
    for obs in observations_near(members, count=20):
        assert loaded.act(obs) == ensemble(members, range_test_extend=2.0).act(obs)


def test_members_that_cannot_be_combined_are_refused_naming_what_differs():
    one, other = deep_controller(0), deep_controller(1)
    names = ["a.lrc", "b.lrc"]
    with pytest.raises(ValueError, match="at least two"):
        ensemble([one])
    with pytest.raises(ValueError, match=r"b.lrc differs from a.lrc: multipliers \(0.5, 0.75"):
        ensemble([one, dataclasses.replace(other, multipliers=(0.5, 0.75, 0.9, 1.0, 1.1, 1.3, 2.0))], names=names)
    with pytest.raises(ValueError, match="controller 2 differs from controller 1: 1 hidden layers"):
        ensemble([one, random_controller(1)])
    with pytest.raises(ValueError, match="range_test_span"):
        ensemble([one, dataclasses.replace(other, range_test_span=(1e-3, 1e5))])
    with pytest.raises(ValueError, match="range_test num_steps 120"):  # one probes, the other does not
        ensemble([one, dataclasses.replace(other, range_test_steps=120)])
    with pytest.raises(ValueError, match="algorithm 'dqn'"):  # Q-values and logits do not average
        ensemble([one, dataclasses.replace(other, info={**other.info, "algorithm": "dqn"})])
    with pytest.raises(ValueError, match="b.lrc has the same weights as a.lrc"):
        ensemble([one, one], names=names)
    with pytest.raises(ValueError, match="b.lrc has no hidden layer"):
        ensemble([one, dataclasses.replace(other, layers=[], head=(torch.ones(7, 10), torch.ones(7)))], names=names)
    with pytest.raises(ValueError, match="no range test to change"):
        ensemble([one, other], range_test_extend=1.0)
    with pytest.raises(ValueError, match="range_test_extend must be 0 to 10 decades, got 11"):
        ensemble([one, other], range_test_extend=11)
    with pytest.raises(ValueError, match="a.lrc has no range test"):
        ensemble([one, other], names=names, range_test_fraction=0.2)
    with pytest.raises(ValueError, match=r"range_test_fraction must be in \(0, 1\], got 0"):
        ensemble([one, other], range_test_fraction=0)


def test_members_may_differ_in_their_range_tests_number_of_steps_and_the_first_ones_is_kept():
    members = [
        dataclasses.replace(deep_controller(seed), range_test_steps=steps) for seed, steps in ((0, 120), (1, 121))
    ]
    combined = ensemble(members)
    assert combined.range_test_steps == 120
    assert [m["range_test"]["num_steps"] for m in combined.info["members"]] == [120, 121]


def test_the_ensemble_command_writes_a_file_that_loads(tmp_path, capsys):
    paths = [deep_controller(seed).save(tmp_path / f"m{seed}.lrc") for seed in range(2)]
    out = tmp_path / "ens.lrc"
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out)]) == 0
    assert "the mean of 2 controllers" in capsys.readouterr().out
    assert Controller.load(out).info["algorithm"] == "ensemble of 2"
    assert main(["ensemble", str(paths[0]), "--out", str(out)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out), "--range-test-extend", "50"]) == 2
    assert "--range-test-extend must be 0 to 10 decades, got 50" in capsys.readouterr().err
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out), "--range-test-fraction", "2"]) == 2
    assert "--range-test-fraction must be in (0, 1], got 2.0" in capsys.readouterr().err
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out), "--range-test-fraction", "0.2"]) == 2
    assert "--range-test-fraction: " in capsys.readouterr().err  # the members have no range test to change
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out), "--range-test-flat-fallback"]) == 2
    assert "--range-test-flat-fallback: " in capsys.readouterr().err
    flag = "--range-test-adaptive-fraction"
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out), flag, "0.3"]) == 2
    assert "--range-test-adaptive-fraction: " in capsys.readouterr().err
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out), "--anneal-tail", "1.5"]) == 2
    assert "--anneal-tail must be a share of the budget in [0, 1], got 1.5" in capsys.readouterr().err
    tail = ["--anneal-tail", "0.3"]  # needs no range test
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out), *tail]) == 0
    assert Controller.load(out).anneal_tail == 0.3 and Controller.load(paths[0]).anneal_tail == 0.0
    probed = [dataclasses.replace(Controller.load(p), range_test_steps=120).save(p) for p in paths]
    assert main(["ensemble", ",".join(map(str, probed)), "--out", str(out), "--range-test-flat-fallback"]) == 0
    assert Controller.load(out).range_test_flat_fallback and not Controller.load(probed[0]).range_test_flat_fallback
    assert main(["ensemble", ",".join(map(str, probed)), "--out", str(out), flag, "2"]) == 2
    assert "--range-test-adaptive-fraction must be in (0, 1], got 2.0" in capsys.readouterr().err
    assert main(["ensemble", ",".join(map(str, probed)), "--out", str(out), flag, "0.3"]) == 0
    assert Controller.load(out).range_test_adaptive_fraction == 0.3


def test_the_ensemble_command_writes_an_onnx_model_with_the_same_actions(tmp_path):
    import onnxruntime as ort

    members = [deep_controller(seed) for seed in range(2)]
    paths = [m.save(tmp_path / f"m{i}.lrc") for i, m in enumerate(members)]
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(tmp_path / "ens.lrc"), "--onnx"]) == 0
    session = ort.InferenceSession(str(tmp_path / "ens.onnx"))
    combined = Controller.load(tmp_path / "ens.lrc")
    batch = np.stack(observations_near(members, count=20)).astype(np.float32)
    assert session.run(None, {"observation": batch})[0].tolist() == [combined.act(o) for o in batch]
