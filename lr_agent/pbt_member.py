"""A member of a Population Based Training population: one training run at a constant LR that
PBT may change between epochs.

Synchronous PBT pauses every member at each perturbation until the whole population is there.
The members take turns in the experiment's trial slots (``cpus_per_trial``, ``gpus_per_trial``),
and a member is a class trainable so that the process of a paused one takes on the next
(:meth:`PBTMember.reset_config`): the run's state moves by checkpoint, the process and its
env stay. A function trainable that Tune pauses loses its process (its thread still waits in
``tune.report``), and a new one imports torch and builds the run again for every member at
every perturbation: seconds of CPU each, far more than a small run's epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from ray import tune

from lr_agent.compare import controller_env
from lr_agent.experiment import epoch_metrics, trial_device

STATE_FILE = "state.pt"
"""The file in a member's checkpoint folder: the run's state (tensors and plain values, read back
with ``weights_only``)."""


class PBTMember(tune.Trainable):
    """One epoch a step at ``config["lr"]``, on ``config["workload"]`` from ``config["seed"]``
    (``config["epochs"]`` if set, else the workload's own budget)."""

    def setup(self, config: dict[str, Any]) -> None:
        torch.set_num_threads(1)
        self._workload = None
        self._start(config)

    def _start(self, config: dict[str, Any]) -> None:
        if config["workload"] != self._workload:  # a population has one; the env is kept across members
            self.env = controller_env(config["workload"], None, trial_device())
            self._workload = config["workload"]
        options = {"lr": config["lr"], **({"epochs": config["epochs"]} if config.get("epochs") else {})}
        self.env.reset(seed=config["seed"], options=options)

    def step(self) -> dict[str, Any]:
        _, _, terminated, truncated, info = self.env.step_lr(self.config["lr"])
        return epoch_metrics(info, terminated or truncated, info["step"])

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        torch.save(self.env.state_dict(), Path(checkpoint_dir) / STATE_FILE)

    def load_checkpoint(self, checkpoint: str) -> None:  # the folder save_checkpoint wrote into
        self.env.load_state_dict(torch.load(Path(checkpoint) / STATE_FILE, weights_only=True))

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Take on another member in this process (Tune then restores its checkpoint, if it has one)."""
        self._start(new_config)
        return True
