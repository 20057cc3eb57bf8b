import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import lr_agent
from lr_agent import datasets
from lr_agent.env import TrainingRunEnv
from lr_agent.observation import FEATURES
from lr_agent.schedules import range_test_sweep
from lr_agent.workloads import Evaluation, SupervisedWorkload
from tests.conftest import SEED

IDS = lr_agent.register_envs()


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("action_mode", ["discrete", "continuous"])
def test_every_registered_id_passes_both_env_checkers(env_id, action_mode):
    env = gym.make(env_id, action_mode=action_mode, epochs=3, subset=0.3)
    gym_check_env(env.unwrapped)
    sb3_check_env(env.unwrapped, warn=True)


def rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    trajectory = [obs]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trajectory.append((obs, reward, info["train_loss"], info["val_loss"], info["lr"]))
        if terminated or truncated:
            break
    return trajectory


def test_same_seed_and_actions_give_the_same_trajectory_bit_for_bit():
    env = gym.make("lr_agent/digits-mlp-v0", epochs=4)
    actions = [5, 3, 0, 3]
    first, second = rollout(env, SEED, actions), rollout(env, SEED, actions)
    np.testing.assert_array_equal(first[0], second[0])
    for a, b in zip(first[1:], second[1:], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
    other = rollout(env, SEED + 1, actions)
    assert other[1][1:] != first[1][1:]


def test_step_trains_one_epoch_and_budget_truncates():
    env = gym.make("lr_agent/wine-mlp-v0", epochs=3, lr=0.01)
    obs, info = env.reset(seed=SEED)
    assert obs.shape == (len(FEATURES),) and info["epoch"] == 0
    ends = []
    for expected_epoch in (1, 2, 3):
        obs, _reward, terminated, truncated, info = env.step(3)
        ends.append((terminated, truncated))
        assert info["epoch"] == expected_epoch
        assert info["lr"] == pytest.approx(0.01)
        assert 0 <= info["val_accuracy"] <= 1
    assert ends == [(False, False), (False, False), (False, True)]


def test_steps_per_action_splits_epochs_into_chunks():
    env = gym.make("lr_agent/wine-mlp-v0", epochs=2, batch_size=16, steps_per_action=3)
    env.reset(seed=SEED)
    inner = env.unwrapped
    steps = inner.workload.steps_per_epoch
    count, truncated, info = 0, False, {}
    while not truncated:
        _, _, _, truncated, info = env.step(3)
        count += 1
    assert info["step"] == 2 * steps
    assert count == math.ceil(2 * steps / 3)


def test_return_equals_log_improvement_of_final_validation_loss():
    env = gym.make("lr_agent/digits-mlp-v0", epochs=4, lr=0.01)
    _, info = env.reset(seed=SEED)
    initial = info["val_loss"]
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(4)
        total += reward
        done = terminated or truncated
    assert total == pytest.approx(math.log(initial / info["val_loss"]), rel=1e-9)


def test_actions_move_the_lr_by_their_factor_within_bounds():
    env = gym.make("lr_agent/wine-mlp-v0", epochs=5, lr=0.01, action_mode="continuous")
    env.reset(seed=SEED)
    lrs = [env.step(np.array([a], dtype=np.float32))[4]["lr"] for a in (1.0, -0.5, 0.0, 1.0, 1.0)]
    assert lrs == pytest.approx([0.1, 0.1 * 10**-0.5, 0.1 * 10**-0.5, 10**-0.5, 1.0])


def test_divergence_terminates_with_the_penalty_and_never_raises():
    env = gym.make(
        "lr_agent/diabetes-regression-v0", epochs=10, optimizer="sgd", lr=1.0, lr_bounds=(1e-6, 1e6), batch_size=16
    )
    obs, _ = env.reset(seed=SEED)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(6)  # x10 every epoch
        total += reward
        steps += 1
        assert np.all(np.isfinite(obs))
        if terminated or truncated:
            break
    assert terminated and not truncated and info["diverged"]
    assert steps < 10
    assert total == pytest.approx(-env.unwrapped.divergence_penalty)


class ScaledLoss:
    """A user's Workload: another workload whose losses are reported ×scale."""

    def __init__(self, inner: SupervisedWorkload, scale: float):
        self.inner, self.scale = inner, scale
        self.optimizer, self.steps_per_epoch = inner.optimizer, inner.steps_per_epoch
        self.epochs, self.lr_bounds = inner.epochs, inner.lr_bounds

    def train(self, num_steps):
        return self.inner.train(num_steps) * self.scale

    def evaluate(self):
        return Evaluation(self.inner.evaluate().loss * self.scale)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def scaled_env(scale):
    spec = lr_agent.get_spec("digits-mlp")

    def factory(rng):
        return ScaledLoss(SupervisedWorkload(spec.sample(rng, epochs=4, lr=0.01), seed=SEED), scale)

    return TrainingRunEnv(factory)


def test_observation_and_reward_are_unchanged_when_losses_are_multiplied_by_ten():
    plain, scaled = rollout(scaled_env(1.0), SEED, [5, 3, 1, 3]), rollout(scaled_env(10.0), SEED, [5, 3, 1, 3])
    assert isinstance(scaled_env(1.0).factory(np.random.default_rng(0)), lr_agent.Workload)
    for a, b in zip(plain[1:], scaled[1:], strict=True):
        np.testing.assert_allclose(a[0], b[0], atol=1e-5)
        assert a[1] == pytest.approx(b[1], abs=1e-6)
        assert b[3] == pytest.approx(10 * a[3], rel=1e-6)


def test_param_groups_keep_their_ratios():
    spec = lr_agent.get_spec("wine-mlp")

    def factory(rng):
        run = SupervisedWorkload(spec.sample(rng, epochs=2, lr=0.01), seed=SEED)
        params = list(run.model.parameters())
        run.optimizer = torch.optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.001}], lr=0.01)
        return run

    env = TrainingRunEnv(factory)
    env.reset(seed=SEED)
    env.step(5)  # x2
    assert [g["lr"] for g in env.workload.optimizer.param_groups] == pytest.approx([0.02, 0.002])


def test_data_sets_load_once_per_process():
    env = gym.make("lr_agent/wine-mlp-v0", epochs=1)
    env.reset(seed=SEED)
    misses = datasets.load.cache_info().misses
    for seed in range(3):
        env.reset(seed=seed)
    assert datasets.load.cache_info().misses == misses


def test_state_dict_resumes_an_episode_exactly():
    env = TrainingRunEnv("wine-mlp", epochs=6, lr=0.01)
    env.reset(seed=SEED)
    env.step(5)
    saved = env.state_dict()
    first = [env.step(a)[:2] for a in (1, 3, 4)]
    env.reset(seed=SEED)
    env.load_state_dict(saved)
    again = [env.step(a)[:2] for a in (1, 3, 4)]
    for (oa, ra), (ob, rb) in zip(first, again, strict=True):
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb


def test_bad_arguments_are_refused_with_the_value():
    with pytest.raises(ValueError, match="action_mode must be 'discrete' or 'continuous', got 'box'"):
        TrainingRunEnv("wine-mlp", action_mode="box")
    with pytest.raises(ValueError, match="contain 1.0"):
        TrainingRunEnv("wine-mlp", multipliers=(0.5, 2.0))
    with pytest.raises(gym.error.ResetNeeded):
        TrainingRunEnv("wine-mlp").step(0)


def test_range_test_anchors_the_run_and_leaves_the_weights_as_they_were():
    plain = TrainingRunEnv("wine-mlp", relative_lr_bounds=(1e-4, 1e4), epochs=3)
    probed = TrainingRunEnv("wine-mlp", relative_lr_bounds=(1e-4, 1e4), epochs=3, range_test_steps=60)
    keep = probed.multipliers.index(1.0)
    for lr in (1e-3, 1e-2):
        _, plain_info = plain.reset(seed=0, options={"lr": lr})
        _, info = probed.reset(seed=0, options={"lr": lr})
        assert plain.anchor_lr == lr and plain_info["probe_steps"] == 0
        assert info["probe_steps"] > 0 and info["lr"] == probed.anchor_lr != lr
        assert info["val_loss"] == plain_info["val_loss"]  # the probe's steps were undone
        assert probed.lr_bounds == pytest.approx((probed.anchor_lr * 1e-4, probed.anchor_lr * 1e4))
        _, _, _, _, step = probed.step(keep)
        assert step["lr"] == pytest.approx(probed.anchor_lr) and step["step"] == probed.workload.steps_per_epoch


def test_on_a_plateau_the_flat_fallback_anchors_where_the_loss_starts_to_rise():
    # circles-mlp from 1e-4, seed 3: the loss is flat until plain SGD's LR nears 1, and its
    # noisy minimum lies at the bottom of the sweep
    anchors = []
    for fallback in (False, True):
        env = TrainingRunEnv("circles-mlp", range_test_steps=120, range_test_flat_fallback=fallback, epochs=1)
        env.reset(seed=3, options={"lr": 1e-4})
        anchors.append(env.anchor_lr)
    assert anchors[0] < 1e-6 and 0.01 < anchors[1] < 1.0
    with pytest.raises(ValueError, match="range_test_flat_fallback must be True or False, got 1"):
        TrainingRunEnv("circles-mlp", range_test_steps=120, range_test_flat_fallback=1)


def test_adaptive_optimizers_anchor_at_their_own_fraction_of_the_loss_minimum():
    anchors = {}
    for optimizer in ("adam", "sgd"):
        for adaptive in (None, 0.5):
            env = TrainingRunEnv("wine-mlp", range_test_steps=40, range_test_adaptive_fraction=adaptive, epochs=1)
            env.reset(seed=0, options={"lr": 1e-3, "optimizer": optimizer})
            anchors[optimizer, adaptive] = env.anchor_lr
    assert anchors["adam", 0.5] == pytest.approx(5 * anchors["adam", None])  # half, not a tenth, of the minimum
    assert anchors["sgd", 0.5] == anchors["sgd", None]
    with pytest.raises(ValueError, match=r"range_test_adaptive_fraction must be in \(0, 1\], got 0"):
        TrainingRunEnv("wine-mlp", range_test_steps=40, range_test_adaptive_fraction=0)


def test_range_test_settings_are_checked():
    with pytest.raises(ValueError, match="range_test_steps"):
        TrainingRunEnv("wine-mlp", range_test_steps=1)
    with pytest.raises(ValueError, match="range_test_fraction"):
        TrainingRunEnv("wine-mlp", range_test_steps=50, range_test_fraction=0.0)
    with pytest.raises(ValueError, match="range_test_span"):
        TrainingRunEnv("wine-mlp", range_test_steps=50, range_test_span=(10.0, 1.0))
    for bad in (-1.0, 11.0, float("nan")):
        with pytest.raises(ValueError, match="range_test_extend must be 0 to 10 decades"):
            TrainingRunEnv("wine-mlp", range_test_steps=50, range_test_extend=bad)


def test_anchor_jitter_moves_each_runs_anchor_both_ways_reproducibly():
    kwargs = dict(epochs=1, range_test_steps=30, relative_lr_bounds=(1e-4, 1e4))
    plain, jittered = TrainingRunEnv("wine-mlp", **kwargs), TrainingRunEnv("wine-mlp", anchor_jitter=1.0, **kwargs)
    ratios = []
    for seed in range(6):
        _, plain_info = plain.reset(seed=seed)
        _, info = jittered.reset(seed=seed)
        assert info["run"] == plain_info["run"]  # the same run: only the anchor moves
        assert info["lr"] == jittered.anchor_lr == jittered.lr
        assert jittered.lr_bounds[0] == pytest.approx(jittered.anchor_lr * 1e-4)  # the bounds move with it
        ratios.append(jittered.anchor_lr / plain.anchor_lr)
    assert all(0.1 <= r <= 10 for r in ratios) and min(ratios) < 0.9 and max(ratios) > 1.1
    again = TrainingRunEnv("wine-mlp", anchor_jitter=1.0, **kwargs)
    again.reset(seed=5)
    assert again.anchor_lr == jittered.anchor_lr  # reproducible from the seed
    for bad in (-0.5, 3.5, float("nan")):
        with pytest.raises(ValueError, match="anchor_jitter must be 0 to 3 decades, got"):
            TrainingRunEnv("wine-mlp", anchor_jitter=bad)


def test_range_test_sweeps_its_span_relative_to_the_initial_lr():
    env = TrainingRunEnv("wine-mlp", epochs=2, range_test_steps=30, range_test_span=(1e-2, 1e-1))
    env.reset(seed=0, options={"lr": 0.02})
    # the sweep is 2e-4..2e-3, moved down onto the grid of LRs by less than one step; a tenth of its
    # best LR is at most its low end, and the test never goes below that
    low, _ = range_test_sweep(0.02, (1e-2, 1e-1), 30)
    assert 2e-4 / 10 ** (1 / 29) < low <= 2e-4
    assert env.anchor_lr == pytest.approx(low)
    # from 0.1 the sweep (1e-3..1e-2) ends with the loss still falling; an extension goes on to higher LRs
    _, short = env.reset(seed=0, options={"lr": 0.1})
    kwargs = dict(epochs=2, range_test_steps=30, range_test_span=(1e-2, 1e-1), range_test_extend=3.0)
    extended = TrainingRunEnv("wine-mlp", **kwargs)
    _, info = extended.reset(seed=0, options={"lr": 0.1})
    assert short["probe_steps"] == 30 < info["probe_steps"] and extended.anchor_lr > 2 * env.anchor_lr
