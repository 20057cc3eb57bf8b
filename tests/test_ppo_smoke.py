"""A short, real stable-baselines3 run on the env."""

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO, SAC

from lr_agent.episodes import run_episode
from tests.conftest import SEED


def test_short_ppo_run_on_the_discrete_env_completes():
    env = gym.make("lr_agent/wine-mlp-v0", epochs=4)
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=8, n_epochs=2, seed=SEED, device="cpu")
    model.learn(total_timesteps=32)
    assert model.num_timesteps >= 32
    result = run_episode(env, model, seed=SEED)
    assert len(result.records) == 4 and np.isfinite(result.total_reward)


def test_short_sac_run_on_the_continuous_env_completes():
    env = gym.make("lr_agent/wine-mlp-v0", epochs=3, action_mode="continuous")
    model = SAC("MlpPolicy", env, learning_starts=4, batch_size=4, seed=SEED, device="cpu")
    model.learn(total_timesteps=10)
    assert model.num_timesteps >= 10
