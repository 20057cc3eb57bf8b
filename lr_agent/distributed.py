"""Ray: a stable-baselines3 ``VecEnv`` whose sub-environments are Ray actors.

Each actor holds one :class:`~lr_agent.env.TrainingRunEnv` (its data and model
stay inside the actor), on a fraction of a GPU when the cluster has GPUs and on
a CPU when not. One ``step`` sends every actor its action at once and waits for
all of them, and an actor resets itself at an episode's end inside the same
call, so a vector step costs one round trip however many envs there are.

An actor that dies (killed, out of memory) is restarted by Ray
(``max_restarts``); an actor whose training run raises is reset. Either way
its episode is dropped and counted in ``dropped_episodes``, and training goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

logger = logging.getLogger(__name__)

EnvFactory = Callable[[str], gym.Env]
"""Builds one env given the torch device its training run should use (``"cpu"`` or ``"cuda"``)."""


def init_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True) -> bool:
    """Connect to the Ray cluster at ``address``, or start a local instance.

    No dashboard is started, and Ray's token authentication keeps its default
    (on in Ray 2.60), so nothing answers without the instance's token. Returns
    whether this call started Ray (so the caller knows to shut it down).
    """
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet}
    if address is None:
        kwargs["num_cpus"] = num_cpus
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    return True


class _EnvActor:
    """One sub-environment inside a Ray actor."""

    def __init__(self, factory: EnvFactory, monitor: bool) -> None:
        import ray
        import torch
        from stable_baselines3.common.monitor import Monitor

        torch.set_num_threads(1)
        self.device = "cuda" if ray.get_gpu_ids() else "cpu"
        env = factory(self.device)
        self.env = Monitor(env) if monitor else env

    def where(self) -> dict[str, Any]:
        import os
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname(), "device": self.device}

    def reset(self, seed: int | None, options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        return self.env.reset(seed=seed, **({"options": options} if options else {}))

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, dict[str, Any], dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        done = terminated or truncated
        info["TimeLimit.truncated"] = truncated and not terminated
        reset_info: dict[str, Any] = {}
        if done:
            info["terminal_observation"] = obs
            obs, reset_info = self.env.reset()
        return obs, float(reward), done, info, reset_info

    def get_attr(self, name: str) -> Any:
        return self.env.get_wrapper_attr(name)

    def set_attr(self, name: str, value: Any) -> None:
        setattr(self.env, name, value)

    def env_method(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        return self.env.get_wrapper_attr(name)(*args, **kwargs)

    def is_wrapped(self, wrapper_class: type) -> bool:
        from stable_baselines3.common.env_util import is_wrapped

        return is_wrapped(self.env, wrapper_class)

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return self.env.observation_space, self.env.action_space


def default_share(resource: str, num_envs: int) -> float:
    """Each of ``num_envs`` actors' share of a resource ("CPU", "GPU"): the cluster's, spread evenly, at most 1."""
    import ray

    total = ray.cluster_resources().get(resource, 0.0)
    return 0.0 if total == 0 else min(1.0, total / num_envs)


class RayVecEnv(VecEnv):
    """A stable-baselines3 ``VecEnv`` of Ray actors, one training run each.

    Args:
        factories: one :data:`EnvFactory` per sub-environment.
        num_gpus_per_env: GPU fraction per actor; ``None`` spreads the cluster's
            GPUs over the actors (0 on a machine without GPUs).
        num_cpus_per_env: CPUs Ray reserves per actor; ``None`` spreads the cluster's CPUs, at most 1 each.
        monitor: wrap each env in SB3's ``Monitor`` (episode returns for logging).

    Ray must be initialised first (:func:`init_ray`).
    """

    def __init__(
        self,
        factories: Sequence[EnvFactory],
        num_gpus_per_env: float | None = None,
        num_cpus_per_env: float | None = None,
        monitor: bool = True,
    ) -> None:
        import ray

        if not ray.is_initialized():
            raise RuntimeError("RayVecEnv needs Ray: call lr_agent.distributed.init_ray() first")
        self.factories = list(factories)
        n = len(self.factories)
        gpus = default_share("GPU", n) if num_gpus_per_env is None else num_gpus_per_env
        cpus = default_share("CPU", n) if num_cpus_per_env is None else num_cpus_per_env
        self.actor_class = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1)(_EnvActor)
        self.monitor = monitor
        self.actors = [self.actor_class.remote(f, monitor) for f in self.factories]
        observation_space, action_space = ray.get(self.actors[0].spaces.remote())
        super().__init__(len(self.actors), observation_space, action_space)
        self.observations = np.zeros((self.num_envs, *observation_space.shape), observation_space.dtype)
        self.dropped_episodes = 0
        self._actions: np.ndarray | None = None

    # -- the VecEnv contract ----------------------------------------------------------------

    def reset(self) -> np.ndarray:
        import ray

        refs = [a.reset.remote(self._seeds[i], self._options[i]) for i, a in enumerate(self.actors)]
        for i, result in enumerate(self._gather(refs)):
            if result is None:  # the actor failed during reset (and was restarted): try once more
                result = ray.get(self._reset_call(i).remote(self._seeds[i], self._options[i]))
            self.observations[i], self.reset_infos[i] = result
        self._reset_seeds()
        self._reset_options()
        return self.observations.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        refs = [a.step.remote(action) for a, action in zip(self.actors, self._actions, strict=True)]
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i, result in enumerate(self._gather(refs)):
            if result is None:
                infos[i] = self._drop_episode(i)
                dones[i] = True
                continue
            obs, rewards[i], dones[i], infos[i], reset_info = result
            if dones[i]:
                self.reset_infos[i] = reset_info
            self.observations[i] = obs
        return self.observations.copy(), rewards, dones, infos

    def _gather(self, refs: list) -> list[Any]:
        """Results of one call per actor, in order; ``None`` where the actor died or the call raised."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return ray.get(refs)  # one wait for all actors: the common case
        except (RayActorError, RayTaskError):
            return [self._result_or_none(i, ref) for i, ref in enumerate(refs)]

    @staticmethod
    def _result_or_none(index: int, ref) -> Any:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return ray.get(ref)
        except (RayActorError, RayTaskError) as exc:
            logger.warning("sub-environment %d failed (%s); dropping its episode", index, type(exc).__name__)
            return None

    def _drop_episode(self, index: int) -> dict[str, Any]:
        """Start a fresh episode on a failed sub-environment; its broken one is dropped and counted."""
        import ray

        self.dropped_episodes += 1
        last = self.observations[index].copy()
        obs, self.reset_infos[index] = ray.get(self._reset_call(index).remote(None, {}))
        self.observations[index] = obs
        # Marked as a truncation, so the agent bootstraps instead of learning a fake terminal state.
        return {"terminal_observation": last, "TimeLimit.truncated": True, "episode_dropped": True}

    def _reset_call(self, index: int):
        """The reset method of an actor, retried by Ray while the actor restarts (a few times, not forever)."""
        return self.actors[index].reset.options(max_task_retries=5)

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []

    def _targets(self, indices: VecEnvIndices) -> list:
        return [self.actors[i] for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        import ray

        return ray.get([a.get_attr.remote(attr_name) for a in self._targets(indices)])

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        import ray

        ray.get([a.set_attr.remote(attr_name, value) for a in self._targets(indices)])

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        import ray

        targets = self._targets(indices)
        return ray.get([a.env_method.remote(method_name, method_args, method_kwargs) for a in targets])

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        import ray

        return ray.get([a.is_wrapped.remote(wrapper_class) for a in self._targets(indices)])

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    def placements(self) -> list[dict[str, Any]]:
        """Where each actor runs: process id, host and torch device."""
        import ray

        return ray.get([a.where.remote() for a in self.actors])
