"""``ControllerScheduler``: a learned controller as a drop-in torch LR scheduler."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from lr_agent.controller import Controller
from lr_agent.observation import ObservationTracker
from lr_agent.scale_probe import (
    ScaleProbeResult,
    candidate_lr_factor,
    grid_scale_probe,
    probe_epochs_per_candidate,
    probe_steps_per_candidate,
)
from lr_agent.schedules import RangeTestResult, anneal_factor, lr_range_test, range_test_limits


class ControllerScheduler(torch.optim.lr_scheduler.LRScheduler):
    """Sets the LR of every param group from a controller, once per epoch.

    Call ``step(train_loss=..., val_loss=...)`` at the end of each epoch with the
    epoch's mean training loss and its validation loss (or ``None``). The
    controller sees the same task-agnostic observation as in training and picks
    the factor for the next epoch's LR; every param group keeps its ratio to the
    first. A non-finite loss cuts the LR by ``controller.divergence_cut``
    instead of asking the controller. The LR stays within ``lr_bounds``
    (absolute; default: the controller's bounds relative to the starting LR). A controller with
    an ``anneal_tail`` sets the LR it picks times the tail's cosine over the last epochs of
    ``total_epochs`` (epochs past ``total_epochs`` keep the last one's factor).

    It decides exactly as :class:`~lr_agent.env.TrainingRunEnv` would on the same
    run (with ``relative_lr_bounds`` set to the controller's). With a range test,
    "the same run" means the same batches after the test too: the env rewinds
    the batches its test used, while here the test uses up batches of your loader.

    A controller trained to start from an LR range test (``controller.range_test_steps
    > 0``, as the shipped one is) wants :meth:`range_test` called once before the
    first epoch; without it, the starting LR stands in for the test's suggestion. A controller
    with a scale probe (``controller.scale_probe_epochs > 0``) also wants that call's
    ``evaluate`` and ``steps_per_epoch``; without them, the test's suggestion stands unchecked.

    Example:
        >>> import torch, lr_agent
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.01)
        >>> sched = lr_agent.ControllerScheduler(opt, lr_agent.Controller.pretrained(), total_epochs=10)
        >>> for epoch in range(10):
        ...     loss = model(torch.ones(4)).pow(2).sum()  # stands for an epoch of training
        ...     opt.zero_grad(); loss.backward(); opt.step()
        ...     sched.step(train_loss=loss.item(), val_loss=None)
        >>> 0 < sched.get_last_lr()[0] < 10
        True
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        controller: Controller,
        total_epochs: int,
        lr_bounds: tuple[float, float] | None = None,
    ) -> None:
        if total_epochs < 1:
            raise ValueError(f"total_epochs must be at least 1, got {total_epochs!r}")
        self.controller = controller
        self.total_epochs = total_epochs
        self.start_lr = float(optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"]))
        self.lr_bounds = tuple(lr_bounds) if lr_bounds is not None else controller.lr_bounds_for(self.start_lr)
        self.fixed_bounds = lr_bounds is not None
        self.tracker = ObservationTracker(self.start_lr, self.lr_bounds)
        self.lr = self.start_lr
        self.range_test_result: RangeTestResult | None = None  # what the range test saw, when it ran
        self.scale_probe_result: ScaleProbeResult | None = None  # what the scale probe saw, when it ran
        self.range_tested = False
        super().__init__(optimizer)  # resume through load_state_dict, not last_epoch

    def range_test(
        self,
        model: torch.nn.Module,
        train_step: Callable[[], float],
        evaluate: Callable[[], float] | None = None,
        steps_per_epoch: int | None = None,
    ) -> float:
        """Run the controller's LR range test (and scale probe) from the current weights; return
        the LR it anchors on.

        ``train_step()`` runs one optimizer step on the next batch at the LR this
        method has set in the optimizer, and returns that batch's loss. The test
        raises the LR exponentially over ``controller.range_test_span`` × the
        starting LR (snapped as :func:`~lr_agent.schedules.range_test_sweep` says)
        for ``controller.range_test_steps`` steps (and up to ``controller.range_test_extend``
        decades further while the loss still falls), then restores
        ``model`` and the optimizer as they were; the suggested LR becomes the
        anchor of the controller's observation and bounds, and the first epoch's
        LR is decided from it. Call it before the first ``step(...)``.

        A controller with a scale probe (``controller.scale_probe_epochs > 0``) then checks the
        suggestion: it and the ``controller.scale_probe_width`` LRs either side (on a fixed
        grid, :func:`~lr_agent.scale_probe.scale_probe_candidates`) each run
        ``scale_probe_epochs`` × ``steps_per_epoch`` calls of ``train_step()`` (or
        ``controller.scale_probe_fraction`` × ``total_epochs`` epochs' worth, when longer) from the same
        weights (with ``controller.scale_probe_anneal``, at an LR falling along a cosine to zero,
        after ``controller.scale_probe_hold`` of the steps at the candidate's LR),
        and ``evaluate()`` (yours: the validation loss of the model as it is) scores
        each; the lowest loss becomes the anchor (with ``controller.scale_probe_walk``, after
        up to that many more grid LRs past the best, while it is the lowest or highest tried, and
        with ``controller.scale_probe_climb`` up to that many more above, while the best is the
        highest and the loss fell at every higher LR: ``evaluate()`` then also scores the
        starting weights once).
        Model, optimizer and the model's train/eval mode are restored after. Without
        ``evaluate`` the probe is skipped (with a warning); a controller without a probe ignores
        both arguments.
        """
        if self.last_epoch != 0 or self.range_tested:
            raise RuntimeError("range_test() runs once, before the first epoch's step()")
        probing = bool(self.controller.scale_probe_epochs)
        if probing and evaluate is None:
            warnings.warn(
                "this controller checks the range test's LR with a scale probe; pass evaluate= and "
                "steps_per_epoch= to range_test() to run it (without, the test's suggestion stands)",
                stacklevel=2,
            )
            probing = False
        if probing and not (isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
            raise ValueError(f"steps_per_epoch must be a positive integer for the scale probe, got {steps_per_epoch!r}")
        if not self.controller.range_test_steps:
            warnings.warn(
                "this controller was not trained from a range test; its decisions assume the starting LR",
                stacklevel=2,
            )
        num_steps = self.controller.range_test_steps or 100
        model_state = copy.deepcopy(model.state_dict())
        optimizer_state = copy.deepcopy(self.optimizer.state_dict())
        was_training = model.training

        def step_at(lr: float) -> float:
            for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
                group["lr"] = lr * (base / self.start_lr)
            return float(train_step())

        try:
            low, high, ceiling = range_test_limits(
                self.start_lr, self.controller.range_test_span, num_steps, self.controller.range_test_extend
            )
            result = lr_range_test(
                step_at,
                low,
                high,
                num_steps,
                self.controller.range_test_fraction_for(self.optimizer),
                lr_ceiling=ceiling,
                flat_fallback=self.controller.range_test_flat_fallback,
            )
            anchor = result.suggested_lr
            if probing:
                epochs = probe_epochs_per_candidate(
                    self.controller.scale_probe_epochs, self.controller.scale_probe_fraction, self.total_epochs
                )
                steps = probe_steps_per_candidate(epochs, steps_per_epoch)

                def restart() -> None:
                    model.load_state_dict(model_state)
                    self.optimizer.load_state_dict(copy.deepcopy(optimizer_state))  # it keeps the tensors
                    model.train(was_training)

                def short_run(lr: float) -> float:
                    restart()
                    anneal, hold = self.controller.scale_probe_anneal, self.controller.scale_probe_hold
                    for i in range(steps):
                        if not math.isfinite(step_at(lr * candidate_lr_factor(i, steps, anneal, hold))):
                            return math.inf
                    return float(evaluate())

                def start_loss() -> float:
                    restart()
                    return float(evaluate())

                bounds = self.lr_bounds if self.fixed_bounds else self.controller.lr_bounds_for(anchor)
                self.scale_probe_result = grid_scale_probe(
                    short_run,
                    anchor,
                    decades=self.controller.scale_probe_decades,
                    bounds=bounds,
                    width=self.controller.scale_probe_width,
                    walk=self.controller.scale_probe_walk,
                    climb=self.controller.scale_probe_climb,
                    start_loss=start_loss,
                )
                anchor = self.scale_probe_result.best_lr
        finally:
            model.load_state_dict(model_state)
            self.optimizer.load_state_dict(optimizer_state)
            model.train(was_training)
        self.range_test_result, self.range_tested = result, True
        if not self.fixed_bounds:
            self.lr_bounds = self.controller.lr_bounds_for(anchor)
        self.tracker = ObservationTracker(anchor, self.lr_bounds)
        self.lr = self._clip(anchor * self._factor(self.tracker.observation()))
        self._last_lr = self.get_lr()  # the first epoch's LR, decided again from the anchor
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr
        return anchor

    def _factor(self, observation) -> float:
        """The controller's factor; the divergence cut instead of a non-finite one (never a NaN LR)."""
        factor = self.controller.lr_factor(observation)
        return factor if math.isfinite(factor) and factor > 0 else self.controller.divergence_cut

    def get_lr(self) -> list[float]:
        epoch = min(max(self.last_epoch, 0), self.total_epochs - 1)  # the epoch about to run
        lr = self.lr * anneal_factor(epoch / self.total_epochs, self.controller.anneal_tail)
        return [lr * (base / self.start_lr) for base in self.base_lrs]

    def step(self, train_loss: float | None = None, val_loss: float | None = None) -> None:  # type: ignore[override]
        """End an epoch: record its losses and set the LR of the next one."""
        if self.last_epoch < 0:  # the constructor's step: decide the first epoch's LR
            factor = self._factor(self.tracker.observation())
        else:
            if train_loss is None:
                raise ValueError("step() needs train_loss=... (the epoch's mean training loss)")
            train_loss = float(train_loss)
            val_loss = None if val_loss is None else float(val_loss)
            progress = min((self.last_epoch + 1) / self.total_epochs, 1.0)
            observation = self.tracker.update(self.lr, progress, train_loss, val_loss)
            finite = math.isfinite(train_loss) and (val_loss is None or math.isfinite(val_loss))
            factor = self._factor(observation) if finite else self.controller.divergence_cut
        self.lr = self._clip(self.lr * factor)
        super().step()

    def _clip(self, lr: float) -> float:
        low, high = self.lr_bounds
        return float(min(max(lr, low), high))

    def state_dict(self) -> dict[str, Any]:
        """Numbers and strings only, so ``torch.load(..., weights_only=True)`` reads it back."""
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
            "lr": self.lr,
            "start_lr": self.start_lr,
            "lr_bounds": list(self.lr_bounds),
            "fixed_bounds": self.fixed_bounds,
            "total_epochs": self.total_epochs,
            "anchor_lr": self.tracker.initial_lr,
            "range_tested": self.range_tested,
            "tracker": self.tracker.state_dict(),
            "controller": self.controller.fingerprint,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` saved with the same controller."""
        state = dict(state_dict)
        saved_with = state.pop("controller")
        if saved_with != self.controller.fingerprint:
            raise ValueError(
                f"this state was saved with controller {saved_with}, this scheduler runs "
                f"{self.controller.fingerprint}; load it into a scheduler using that one (Controller.fingerprint)"
            )
        state["lr_bounds"] = tuple(state["lr_bounds"])
        self.tracker = ObservationTracker(state.pop("anchor_lr", self.start_lr), state["lr_bounds"])
        self.tracker.load_state_dict(state.pop("tracker"))
        vars(self).update(state)
        for group, lr in zip(self.optimizer.param_groups, self.get_last_lr(), strict=True):
            group["lr"] = lr  # the optimizer runs at the restored LR, not the constructor's first pick
