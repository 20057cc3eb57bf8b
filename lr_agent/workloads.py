"""Workloads: one training run that an env or a scheduler drives, chunk by chunk.

:class:`Workload` is the contract; :class:`SupervisedWorkload` implements it for
the specs in ``envs/`` (a data set, a model, an optimizer and a batch size).
A user's own job plugs in by implementing the same few members.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from lr_agent import datasets, models
from lr_agent.specs import RunConfig


@dataclass(frozen=True)
class Evaluation:
    """Validation figures after a chunk of training; ``accuracy`` is None for regression."""

    loss: float
    accuracy: float | None = None


@runtime_checkable
class Workload(Protocol):
    """One training run, advanced a number of optimizer steps at a time.

    The env sets the LR of ``optimizer``'s param groups before each chunk (in a
    scale probe, before each ``optimizer.step()``, from step hooks: :meth:`train`
    steps through ``optimizer``) and reads the mean training loss that :meth:`train` returns and the
    validation loss of :meth:`evaluate`. The initial LR is the LR of the first
    param group when the workload is handed over.
    """

    optimizer: torch.optim.Optimizer
    steps_per_epoch: int
    epochs: int
    lr_bounds: tuple[float, float]

    def train(self, num_steps: int) -> float:
        """Run ``num_steps`` optimizer steps; return their mean training loss (NaN/inf if it diverged)."""

    def evaluate(self) -> Evaluation:
        """Validation loss (and accuracy where it applies) of the current weights."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the run bit for bit."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def build_model(config: RunConfig, data: datasets.Dataset) -> nn.Module:
    """The network ``config.model`` names, sized for ``data``."""
    if config.model in ("mlp", "resmlp"):
        factory = models.mlp if config.model == "mlp" else models.resmlp
        return factory(data.x.shape[1], data.num_outputs, **config.model_params)
    if config.model == "cnn":
        if data.image_shape is None:
            raise ValueError(f"cnn needs an image data set; {config.source!r} is not one")
        return models.cnn(data.image_shape, data.num_outputs, **config.model_params)
    if config.model in models.SEQUENCE_KINDS:
        if data.sequence_shape is None:
            raise ValueError(f"{config.model} needs a sequence data set; {config.source!r} is not one")
        factory = models.SEQUENCE_KINDS[config.model]
        return factory(data.sequence_shape, data.num_outputs, **config.model_params)
    factory = datasets.import_callable(config.model)
    return factory(tuple(data.x.shape[1:]), data.num_outputs, **config.model_params)


def build_optimizer(config: RunConfig, params) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names, at the initial LR."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "nesterov":
        if config.momentum <= 0:
            raise ValueError(f"the nesterov optimizer needs a momentum above 0, got momentum={config.momentum!r}")
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
        )
    plain = {
        "adagrad": torch.optim.Adagrad,
        "nadam": torch.optim.NAdam,
        "radam": torch.optim.RAdam,
        "adamax": torch.optim.Adamax,
    }
    if config.optimizer in plain:
        return plain[config.optimizer](params, lr=config.lr, weight_decay=config.weight_decay)
    try:
        if config.optimizer == "schedulefree-adamw":
            from schedulefree import AdamWScheduleFree

            return AdamWScheduleFree(params, lr=config.lr, weight_decay=config.weight_decay)
        from prodigyopt import Prodigy

        return Prodigy(params, lr=config.lr, weight_decay=config.weight_decay)
    except ImportError as exc:
        raise ImportError(f'the {config.optimizer} optimizer needs: pip install "lr-agent[lrfree]"') from exc


class SupervisedWorkload:
    """A classification or regression run on an in-memory data set.

    The data are drawn (subset, train/validation split) and standardised with
    the training split's statistics (unless the data set says not to: one-hot
    text, the adding problem); weights and batch order come from ``seed`` alone,
    so the same config and seed give the same run bit for bit on a CPU.

    Example:
        >>> import numpy as np
        >>> from lr_agent.specs import get_spec
        >>> config = get_spec("wine-mlp").sample(np.random.default_rng(0), epochs=2)
        >>> run = SupervisedWorkload(config, seed=0)
        >>> loss = run.train(run.steps_per_epoch)
        >>> run.evaluate().loss > 0
        True
    """

    def __init__(self, config: RunConfig, seed: int, device: str | torch.device = "cpu") -> None:
        self.config = config
        self.epochs = config.epochs
        self.lr_bounds = config.lr_bounds
        self.device = torch.device(device)
        data = datasets.load(config.source, config.task)
        self.task = data.task
        rng = np.random.default_rng(seed)
        chosen = rng.permutation(len(data.x))[: max(4, round(len(data.x) * config.subset))]
        n_val = max(1, round(len(chosen) * config.val_fraction))
        val, train = chosen[:n_val], chosen[n_val:]
        x_train, x_val = data.x[train], data.x[val]
        if data.standardise:
            mean, std = x_train.mean(0), x_train.std(0)
            std[std == 0] = 1.0
            x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
        y = data.y
        if self.task == datasets.REGRESSION:
            y = ((y - y[train].mean()) / (y[train].std() or 1.0)).astype(np.float32)
        to = dict(device=self.device)
        self.x_train = torch.as_tensor(x_train, **to)
        self.y_train = torch.as_tensor(y[train], **to)
        self.x_val = torch.as_tensor(x_val, **to)
        self.y_val = torch.as_tensor(y[val], **to)
        self.batch_size = config.batch_size
        self.steps_per_epoch = math.ceil(len(train) / config.batch_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = build_model(config, data).to(self.device)
        self.optimizer = build_optimizer(config, self.model.parameters())
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._position = 0

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy for classification, mean squared error for regression."""
        if self.task == datasets.CLASSIFICATION:
            return nn.functional.cross_entropy(output, target)
        return nn.functional.mse_loss(output.squeeze(-1), target)

    def train(self, num_steps: int) -> float:
        """Run ``num_steps`` optimizer steps, reshuffling at each epoch's end."""
        self.model.train()
        if hasattr(self.optimizer, "train"):  # Schedule-Free optimizers train on their own iterate
            self.optimizer.train()
        total = torch.zeros((), device=self.device)
        for _ in range(num_steps):
            if self._position >= len(self._order):
                self._order = torch.randperm(len(self.x_train), generator=self.generator).to(self.device)
                self._position = 0
            batch = self._order[self._position : self._position + self.batch_size]
            self._position += self.batch_size
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.x_train[batch]), self.y_train[batch])
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        return float(total) / max(num_steps, 1)

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        """Loss and (for classification) accuracy on the validation split."""
        self.model.eval()
        if hasattr(self.optimizer, "eval"):  # ... and are evaluated on their averaged weights
            self.optimizer.eval()
        output = self.model(self.x_val)
        loss = float(self.loss(output, self.y_val))
        if self.task != datasets.CLASSIFICATION:
            return Evaluation(loss)
        accuracy = float((output.argmax(-1) == self.y_val).float().mean())
        return Evaluation(loss, accuracy)

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, batch order and shuffling generator."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "order": self._order.cpu(),
            "position": self._position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self._order = state["order"].to(self.device)
        self._position = state["position"]
