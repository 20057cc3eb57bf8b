"""Ray: a stable-baselines3 ``VecEnv`` whose sub-environments live in Ray actors.

Each actor holds one :class:`~lr_agent.env.TrainingRunEnv` (or a few, with
``envs_per_actor``; their data and models stay inside the actor), on a fraction
of a GPU when the cluster has GPUs and on CPUs when not. One ``step`` sends
every actor its actions at once and waits for all of them, and an env resets
itself at an episode's end inside the same call, so a vector step costs one
round trip however many envs there are, and one Ray call per actor.

An actor that dies (killed, out of memory) is restarted by Ray
(``max_restarts``); a run whose training raises is reset. Either way the
episodes lost are dropped and counted in ``dropped_episodes``, and training goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    """One or more sub-environments inside a Ray actor, stepped side by side in threads."""

    def __init__(self, factories: Sequence[EnvFactory], monitor: bool) -> None:
        import ray
        import torch
        from stable_baselines3.common.monitor import Monitor

        torch.set_num_threads(1)
        self.device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.envs = [Monitor(f(self.device)) if monitor else f(self.device) for f in factories]
        self.pool = ThreadPoolExecutor(len(self.envs)) if len(self.envs) > 1 else None

    def where(self) -> dict[str, Any]:
        import os
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname(), "device": self.device}

    def reset(self, slot: int, seed: int | None, options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        return self.envs[slot].reset(seed=seed, **({"options": options} if options else {}))

    def reset_all(self, seeds: list, options: list) -> list[tuple[np.ndarray, dict[str, Any]]]:
        return [self.reset(slot, seed, opts) for slot, (seed, opts) in enumerate(zip(seeds, options, strict=True))]

    def step(self, actions: Sequence[Any]) -> list[tuple | None]:
        """Step every env of the actor; ``None`` for one whose training run raised (the driver resets it).

        The steps run side by side; the resets of finished episodes follow one at a
        time, since building a run seeds torch's global generator.
        """
        if self.pool is None:
            steps = [self._step_one(0, actions[0])]
        else:
            steps = list(self.pool.map(self._step_one, range(len(self.envs)), actions))
        results: list[tuple | None] = []
        for env, step in zip(self.envs, steps, strict=True):
            if step is None:
                results.append(None)
                continue
            obs, reward, terminated, truncated, info = step
            done = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            reset_info: dict[str, Any] = {}
            if done:
                info["terminal_observation"] = obs
                obs, reset_info = env.reset()
            results.append((obs, float(reward), done, info, reset_info))
        return results

    def _step_one(self, slot: int, action: Any) -> tuple | None:
        try:
            return self.envs[slot].step(action)
        except Exception:
            logger.exception("the training run of slot %d raised; its episode is dropped", slot)
            return None

    def get_attr(self, slot: int, name: str) -> Any:
        return self.envs[slot].get_wrapper_attr(name)

    def set_attr(self, slot: int, name: str, value: Any) -> None:
        setattr(self.envs[slot], name, value)

    def env_method(self, slot: int, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        return self.envs[slot].get_wrapper_attr(name)(*args, **kwargs)

    def is_wrapped(self, slot: int, wrapper_class: type) -> bool:
        from stable_baselines3.common.env_util import is_wrapped

        return is_wrapped(self.envs[slot], wrapper_class)

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return self.envs[0].observation_space, self.envs[0].action_space


def default_share(resource: str, num_envs: int) -> float:
    """Each of ``num_envs`` actors' share of a resource ("CPU", "GPU"): the cluster's, spread evenly, at most 1."""
    import ray

    total = ray.cluster_resources().get(resource, 0.0)
    return 0.0 if total == 0 else min(1.0, total / num_envs)


class RayVecEnv(VecEnv):
    """A stable-baselines3 ``VecEnv`` of Ray actors, each holding one or more training runs.

    Args:
        factories: one :data:`EnvFactory` per sub-environment.
        num_gpus_per_env: GPU fraction per sub-environment; ``None`` spreads the
            cluster's GPUs over the actors (0 on a machine without GPUs).
        num_cpus_per_env: CPUs Ray reserves per sub-environment; ``None`` spreads
            the cluster's CPUs over the actors, at most 1 each.
        monitor: wrap each env in SB3's ``Monitor`` (episode returns for logging).
        envs_per_actor: sub-environments per actor, stepped side by side in
            threads. 1 (the default) gives each run its own process; more means
            fewer calls per vector step, which pays when each call is short next to
            Ray's per-call cost (tiny epochs, runs that wait on a GPU or on I/O).
            A failed actor drops the episodes of all its runs.

    Ray must be initialised first (:func:`init_ray`).
    """

    def __init__(
        self,
        factories: Sequence[EnvFactory],
        num_gpus_per_env: float | None = None,
        num_cpus_per_env: float | None = None,
        monitor: bool = True,
        envs_per_actor: int = 1,
    ) -> None:
        import ray

        if not ray.is_initialized():
            raise RuntimeError("RayVecEnv needs Ray: call lr_agent.distributed.init_ray() first")
        if envs_per_actor < 1:
            raise ValueError(f"envs_per_actor must be at least 1, got {envs_per_actor!r}")
        self.factories = list(factories)
        n, k = len(self.factories), envs_per_actor
        groups = [self.factories[i : i + k] for i in range(0, n, k)]
        self.actor_class = ray.remote(max_restarts=-1)(_EnvActor)
        self.monitor = monitor
        self.actors = []
        for group in groups:
            gpus = default_share("GPU", len(groups)) if num_gpus_per_env is None else num_gpus_per_env * len(group)
            cpus = default_share("CPU", len(groups)) if num_cpus_per_env is None else num_cpus_per_env * len(group)
            if gpus > 1 and gpus != int(gpus):
                raise ValueError(
                    f"an actor of {len(group)} runs would ask for {gpus:g} GPUs; Ray takes fractions of one GPU "
                    "or whole GPUs: lower num_gpus_per_env or envs_per_actor"
                )
            options = {"num_cpus": cpus, "num_gpus": gpus}
            self.actors.append(self.actor_class.options(**options).remote(group, monitor))
        self.slots = [(i // k, i % k) for i in range(n)]  # sub-environment -> (actor, slot in the actor)
        self.groups = [range(i, min(i + k, n)) for i in range(0, n, k)]  # actor -> its sub-environments
        observation_space, action_space = ray.get(self.actors[0].spaces.remote())
        super().__init__(n, observation_space, action_space)
        self.observations = np.zeros((self.num_envs, *observation_space.shape), observation_space.dtype)
        self.dropped_episodes = 0
        self._actions: np.ndarray | None = None

    # -- the VecEnv contract ----------------------------------------------------------------

    def reset(self) -> np.ndarray:
        import ray

        refs = [
            actor.reset_all.remote([self._seeds[i] for i in group], [self._options[i] for i in group])
            for actor, group in zip(self.actors, self.groups, strict=True)
        ]
        for actor_index, results in enumerate(self._gather(refs)):
            for i in self.groups[actor_index]:
                if results is None:  # the actor failed during reset (and was restarted): try once more
                    result = ray.get(self._reset_call(i).remote(self.slots[i][1], self._seeds[i], self._options[i]))
                else:
                    result = results[self.slots[i][1]]
                self.observations[i], self.reset_infos[i] = result
        self._reset_seeds()
        self._reset_options()
        return self.observations.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        refs = [
            actor.step.remote([self._actions[i] for i in group])
            for actor, group in zip(self.actors, self.groups, strict=True)
        ]
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for actor_index, results in enumerate(self._gather(refs)):
            for i in self.groups[actor_index]:
                result = None if results is None else results[self.slots[i][1]]
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
            logger.warning("actor %d failed (%s); dropping the episodes of its runs", index, type(exc).__name__)
            return None

    def _drop_episode(self, index: int) -> dict[str, Any]:
        """Start a fresh episode on a failed sub-environment; its broken one is dropped and counted."""
        import ray

        self.dropped_episodes += 1
        last = self.observations[index].copy()
        obs, self.reset_infos[index] = ray.get(self._reset_call(index).remote(self.slots[index][1], None, {}))
        self.observations[index] = obs
        # Marked as a truncation, so the agent bootstraps instead of learning a fake terminal state.
        return {"terminal_observation": last, "TimeLimit.truncated": True, "episode_dropped": True}

    def _reset_call(self, index: int):
        """The reset method of a sub-environment's actor, retried by Ray while the actor restarts (a few times)."""
        return self.actors[self.slots[index][0]].reset.options(max_task_retries=5)

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []

    def _calls(self, method: str, indices: VecEnvIndices, *args: Any) -> list[Any]:
        """One call of an actor method per sub-environment in ``indices``, gathered in order."""
        import ray

        refs = []
        for i in self._get_indices(indices):
            actor, slot = self.slots[i]
            refs.append(getattr(self.actors[actor], method).remote(slot, *args))
        return ray.get(refs)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._calls("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._calls("set_attr", indices, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        return self._calls("env_method", indices, method_name, method_args, method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._calls("is_wrapped", indices, wrapper_class)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    def placements(self) -> list[dict[str, Any]]:
        """Where each actor runs: process id, host and torch device."""
        import ray

        return ray.get([a.where.remote() for a in self.actors])
