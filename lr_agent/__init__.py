"""lr-agent: reinforcement-learning controllers for the learning rate of neural-network training.

Importing the package registers every workload spec of the catalogue as a
Gymnasium id ``lr_agent/<name>-v0``::

    import gymnasium as gym
    import lr_agent

    env = gym.make("lr_agent/digits-mlp-v0")
"""

from __future__ import annotations

import gymnasium

from lr_agent.controller import Controller, ControllerFileError
from lr_agent.env import TrainingRunEnv
from lr_agent.errors import LRAgentError, SpecError, UnknownNameError
from lr_agent.scheduler import ControllerScheduler
from lr_agent.specs import RunConfig, WorkloadSpec, catalogue, get_spec
from lr_agent.workloads import Evaluation, SupervisedWorkload, Workload

__version__ = "0.1.0"

__all__ = [
    "Controller",
    "ControllerFileError",
    "ControllerScheduler",
    "Evaluation",
    "LRAgentError",
    "RunConfig",
    "SpecError",
    "SupervisedWorkload",
    "TrainingRunEnv",
    "UnknownNameError",
    "Workload",
    "WorkloadSpec",
    "catalogue",
    "get_spec",
    "register_envs",
]


def register_envs() -> list[str]:
    """Register every catalogue spec as ``lr_agent/<name>-v0`` (done on import); return the ids."""
    ids = []
    for spec in catalogue().values():
        if spec.gym_id not in gymnasium.registry:
            gymnasium.register(spec.gym_id, entry_point="lr_agent.env:TrainingRunEnv", kwargs={"workload": spec.name})
        ids.append(spec.gym_id)
    return ids


register_envs()
