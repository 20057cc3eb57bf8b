"""RayVecEnv on a real local Ray instance (one per test session)."""

import os
import signal
import sys

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from lr_agent.agents import EnvBuilder, TrainOptions, train
from lr_agent.distributed import RayVecEnv
from lr_agent.env import TrainingRunEnv
from tests.conftest import SEED

BUILDER = EnvBuilder(("wine-mlp",), {"epochs": 3})
ACTIONS = [[3, 5, 1], [6, 0, 2], [3, 3, 3], [1, 4, 6], [5, 5, 0], [3, 2, 3], [0, 3, 5], [4, 4, 4]]


def rollout(venv):
    venv.seed(SEED)
    out = [venv.reset()]
    for actions in ACTIONS:
        obs, rewards, dones, infos = venv.step(np.array(actions))
        terminal = [info.get("terminal_observation") for info in infos]
        out.append((obs, rewards, dones, terminal, [info.get("TimeLimit.truncated") for info in infos]))
    return out


@pytest.mark.parametrize("envs_per_actor", [1, 2])
def test_same_seeds_give_the_same_rollouts_as_dummy_vec_env(ray_instance, envs_per_actor):
    builders = [BUILDER, EnvBuilder(("wine-mlp",), {"epochs": 2}), BUILDER]  # episodes end at different steps
    ray_venv = RayVecEnv(builders, monitor=False, envs_per_actor=envs_per_actor)
    assert len(ray_venv.actors) == {1: 3, 2: 2}[envs_per_actor]  # with 2 per actor, the last holds one
    dummy = DummyVecEnv(builders)
    try:
        got, expected = rollout(ray_venv), rollout(dummy)
    finally:
        ray_venv.close()
    np.testing.assert_array_equal(got[0], expected[0])
    assert any(step[2].any() for step in expected[1:])  # episodes ended and auto-reset inside the window
    for g, e in zip(got[1:], expected[1:], strict=True):
        np.testing.assert_array_equal(g[0], e[0])
        np.testing.assert_array_equal(g[1], e[1])
        np.testing.assert_array_equal(g[2], e[2])
        for a, b in zip(g[3], e[3], strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)
        assert g[4] == e[4]


def test_actors_run_on_cpu_without_gpus_and_answer_the_vec_env_calls(ray_instance):
    venv = RayVecEnv([BUILDER] * 3)
    try:
        places = venv.placements()
        assert [p["device"] for p in places] == ["cpu"] * 3
        assert len({p["pid"] for p in places}) == 3
        assert venv.get_attr("action_mode") == ["discrete"] * 3
        venv.reset()
        assert venv.env_method("action_to_lr", 6, indices=[0])[0] > 0
        assert venv.env_is_wrapped(TrainingRunEnv) == [False] * 3
    finally:
        venv.close()


def test_a_killed_actor_is_restarted_and_its_episode_dropped(ray_instance):
    venv = RayVecEnv([BUILDER, BUILDER])
    try:
        venv.seed(SEED)
        venv.reset()
        venv.step(np.array([3, 3]))
        os.kill(venv.placements()[1]["pid"], signal.SIGKILL)
        _, _, dones, infos = venv.step(np.array([3, 3]))
        assert dones[1] and infos[1]["episode_dropped"] and infos[1]["TimeLimit.truncated"]
        assert venv.dropped_episodes == 1
        for _ in range(4):  # the restarted actor goes on
            obs, _rewards, dones, infos = venv.step(np.array([3, 3]))
        assert np.all(np.isfinite(obs)) and venv.dropped_episodes == 1
    finally:
        venv.close()


def test_a_killed_actor_of_several_runs_drops_each_of_their_episodes(ray_instance):
    venv = RayVecEnv([BUILDER] * 4, envs_per_actor=2)
    try:
        assert len(venv.placements()) == 2
        assert venv.get_attr("action_mode", indices=[1, 2]) == ["discrete"] * 2
        venv.seed(SEED)
        venv.reset()
        venv.step(np.full(4, 3))
        os.kill(venv.placements()[1]["pid"], signal.SIGKILL)  # holds runs 2 and 3
        _, _, dones, infos = venv.step(np.full(4, 3))
        assert dones.tolist() == [False, False, True, True] and venv.dropped_episodes == 2
        assert infos[2]["episode_dropped"] and "episode_dropped" not in infos[1]
        for _ in range(4):
            obs, *_ = venv.step(np.full(4, 3))
        assert np.all(np.isfinite(obs)) and venv.dropped_episodes == 2
    finally:
        venv.close()


def _ship_this_module_to_actors():
    """Ray workers cannot import the tests; send this module's classes by value."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Flaky:
    """A run whose training raises on its second epoch."""

    def __call__(self, device="cpu"):
        env = TrainingRunEnv("wine-mlp", epochs=5, device=device)
        original = env.step_lr
        calls = {"n": 0}

        def step_lr(lr):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            return original(lr)

        env.step_lr = step_lr
        return env


@pytest.mark.parametrize("envs_per_actor", [1, 2])
def test_an_exception_inside_the_training_run_drops_the_episode(ray_instance, envs_per_actor):
    _ship_this_module_to_actors()
    venv = RayVecEnv([Flaky(), BUILDER], envs_per_actor=envs_per_actor)
    try:
        venv.reset()
        venv.step(np.array([3, 3]))
        _, _, dones, infos = venv.step(np.array([3, 3]))
        assert dones[0] and infos[0]["episode_dropped"] and not dones[1]
        assert venv.dropped_episodes == 1
    finally:
        venv.close()


def test_ppo_training_on_ray_survives_a_killed_actor(ray_instance, tmp_path):
    class KillOnce(BaseCallback):
        def _on_step(self):
            if self.num_timesteps == 24:
                os.kill(self.training_env.venv.placements()[0]["pid"], signal.SIGKILL)
            return True

    venv = RayVecEnv([BUILDER, BUILDER])
    try:
        from stable_baselines3.common.vec_env import VecNormalize

        model = PPO("MlpPolicy", VecNormalize(venv), n_steps=16, batch_size=16, n_epochs=1, seed=SEED, device="cpu")
        model.learn(64, callback=KillOnce())
        assert model.num_timesteps >= 64
        assert venv.dropped_episodes == 1
    finally:
        venv.close()


def test_lr_agent_train_with_ray_completes(ray_instance, tmp_path):
    options = TrainOptions(
        specs=["wine-mlp"], eval_specs=["moons-mlp"], ray=True, envs=4, max_epochs=3, total_steps=64,
        eval_every=64, eval_episodes=1, checkpoint_every=64, out=tmp_path / "run",
        algo_kwargs={"n_steps": 16, "batch_size": 32, "n_epochs": 1},
    )  # fmt: skip
    run_dir = train(options)
    assert (run_dir / "dropped_episodes.json").read_text() == '{"dropped": 0}'
    assert ray_instance.is_initialized()  # the shared instance was not shut down by train()
