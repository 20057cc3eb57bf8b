"""Run one episode of a :class:`~lr_agent.env.TrainingRunEnv` with a schedule, an agent or a function."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from lr_agent.schedules import Schedule

Policy = Schedule | Callable[[np.ndarray], Any] | Any
"""A :class:`Schedule`, an object with SB3's ``predict(obs, deterministic=True)``, or ``obs -> action``."""


@dataclass
class EpisodeResult:
    """One episode: a record per step (the env's ``info``) and the return."""

    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    total_reward: float = 0.0
    run: dict[str, Any] | None = None

    @property
    def final(self) -> dict[str, Any]:
        """The last step's record."""
        return self.records[-1]

    @property
    def diverged(self) -> bool:
        """Whether the run's loss became non-finite."""
        return bool(self.records and self.records[-1]["diverged"])


def run_episode(
    env: gym.Env,
    policy: Policy,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    name: str = "",
    progress: bool = False,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> EpisodeResult:
    """Reset ``env`` with ``seed`` and run ``policy`` to the end of the episode.

    A :class:`Schedule` sets the LR directly (``step_lr``), one period per
    env step, so baselines and agents run on identical training runs.
    ``on_step`` is called with each step's ``info`` (e.g. to report it to Ray Tune).
    """
    obs, info = env.reset(seed=seed, options=options)
    inner = env.unwrapped
    horizon = math.ceil(inner.total_steps / inner.steps_per_action)
    result = EpisodeResult(name or getattr(policy, "name", type(policy).__name__), run=info.get("run"))
    if isinstance(policy, Schedule):
        policy.start(horizon, inner.initial_lr, probe=inner.lr_range_test)
    bar = tqdm(total=horizon, desc=result.name or "episode", unit="step", disable=not progress, leave=False)
    t = 0
    while True:
        if isinstance(policy, Schedule):
            obs, reward, terminated, truncated, info = inner.step_lr(inner.initial_lr * policy.factor(t))
            policy.observe(info["val_loss"])
        else:
            action = policy.predict(obs, deterministic=True)[0] if hasattr(policy, "predict") else policy(obs)
            obs, reward, terminated, truncated, info = env.step(action)
        result.records.append(info)
        result.total_reward += reward
        if on_step is not None:
            on_step(info)
        t += 1
        bar.update()
        bar.set_postfix(val_loss=f"{info['val_loss']:.4g}", lr=f"{info['lr']:.3g}")
        if terminated or truncated:
            break
    bar.close()
    return result
