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
    """Observations within 3 standard deviations of every member's normaliser (no clipping binds)."""
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
    members[0] = dataclasses.replace(members[0], range_test_steps=121)
    path = ensemble(members, range_test_extend=2.0).save(tmp_path / "both.lrc")
    loaded = Controller.load(path)
    assert (loaded.range_test_steps, loaded.range_test_extend) == (121, 2.0)
    assert [len(w) for w, _ in loaded.layers] == [32, 32]
    assert loaded.info["trained_on"] == ["spec-0", "shared-spec", "spec-1"]
    assert [m["fingerprint"] for m in loaded.info["members"]] == [m.fingerprint for m in members]
    for obs in observations_near(members, count=20):
        assert loaded.act(obs) == ensemble(members, range_test_extend=2.0).act(obs)


def test_members_that_cannot_be_combined_are_refused_naming_what_differs():
    one, other = deep_controller(0), deep_controller(1)
    with pytest.raises(ValueError, match="at least two"):
        ensemble([one])
    with pytest.raises(ValueError, match="controller 2 has multipliers"):
        ensemble([one, dataclasses.replace(other, multipliers=(0.5, 0.75, 0.9, 1.0, 1.1, 1.3, 2.0))])
    with pytest.raises(ValueError, match="controller 2 has 1 hidden layers"):
        ensemble([one, random_controller(1)])
    with pytest.raises(ValueError, match="no range test to extend"):
        ensemble([one, other], range_test_extend=1.0)


def test_the_ensemble_command_writes_a_file_that_loads(tmp_path, capsys):
    paths = [deep_controller(seed).save(tmp_path / f"m{seed}.lrc") for seed in range(2)]
    out = tmp_path / "ens.lrc"
    assert main(["ensemble", ",".join(map(str, paths)), "--out", str(out)]) == 0
    assert "the mean of 2 controllers" in capsys.readouterr().out
    assert Controller.load(out).info["algorithm"] == "ensemble of 2"
    assert main(["ensemble", str(paths[0]), "--out", str(out)]) == 2
    assert "at least two" in capsys.readouterr().err
