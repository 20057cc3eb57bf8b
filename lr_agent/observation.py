"""The task-agnostic observation a controller sees after each chunk of training.

Every feature is a log-ratio of two losses, a log-ratio of two LRs, or the
fraction of the budget done, so it does not change when every loss is
multiplied by a constant, and it depends on the LR only relative to the initial
LR (the *anchor* when a run starts from an LR range test) and the LR bounds.
That is what lets one controller serve jobs it never saw.

======================  ==================================================================
feature                 value (``ln`` is the natural log)
======================  ==================================================================
``log_lr``              ``ln(lr / initial_lr)``: where the LR stands against the start (or anchor)
``lr_position``         ``ln(lr / min) / ln(max / min)``: 0 at the lower LR bound, 1 at the upper
``lr_change``           ``ln(lr / previous lr)``: the last move
``progress``            fraction of the optimizer-step budget done, 0 to 1
``log_train``           ``ln(train loss / first train loss)``
``log_val``             ``ln(val loss / first val loss)``
``train_change``        ``ln(train loss / previous train loss)``
``val_change``          ``ln(val loss / previous val loss)``
``gap``                 ``ln(val loss / train loss)``: the generalisation gap
``val_to_best``         ``ln(val loss / best val loss so far)``, 0 at a new best
======================  ==================================================================

Before the first chunk every loss feature is 0. A missing validation loss
(``None``) is replaced by the training loss. Every feature is clipped to
``[-CLIP, CLIP]``; a non-finite loss reads as ``+CLIP`` in the loss features.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FEATURES = (
    "log_lr",
    "lr_position",
    "lr_change",
    "progress",
    "log_train",
    "log_val",
    "train_change",
    "val_change",
    "gap",
    "val_to_best",
)
CLIP = 10.0


def _log_ratio(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0 or b <= 0:
        return CLIP if not math.isfinite(a) else 0.0
    return math.log(a / b)


class ObservationTracker:
    """Turns the raw figures of a run into the observation vector, chunk by chunk.

    Args:
        initial_lr: the LR the run starts at (absolute), or its anchor after an LR range test.
        lr_bounds: ``(min, max)`` absolute LRs the controller may use.

    Example:
        >>> tracker = ObservationTracker(0.01, (1e-5, 1.0))
        >>> obs = tracker.update(lr=0.02, progress=0.1, train_loss=2.0, val_loss=2.1)
        >>> dict(zip(FEATURES, obs.round(3)))["log_lr"]
        np.float32(0.693)
    """

    def __init__(self, initial_lr: float, lr_bounds: tuple[float, float]) -> None:
        if not 0 < lr_bounds[0] < lr_bounds[1]:
            raise ValueError(f"lr_bounds must be (min, max) with 0 < min < max, got {lr_bounds!r}")
        if initial_lr <= 0:
            raise ValueError(f"initial_lr must be positive, got {initial_lr!r}")
        self.initial_lr = initial_lr
        self.lr_bounds = lr_bounds
        self.reset()

    def reset(self) -> None:
        """Forget the run's history."""
        self.lr = self.previous_lr = self.initial_lr
        self.progress = 0.0
        self.first: tuple[float, float] | None = None
        self.last: tuple[float, float] | None = None
        self.previous: tuple[float, float] | None = None
        self.best_val = math.inf

    def update(self, lr: float, progress: float, train_loss: float, val_loss: float | None) -> np.ndarray:
        """Record one chunk: the LR it ran at, the budget done, its losses; return the observation."""
        val = train_loss if val_loss is None else val_loss
        self.previous_lr, self.lr, self.progress = self.lr, lr, progress
        if self.first is None and math.isfinite(train_loss) and math.isfinite(val):
            self.first = (train_loss, val)
        self.previous, self.last = self.last, (train_loss, val)
        if math.isfinite(val):
            self.best_val = min(self.best_val, val)
        return self.observation()

    def observation(self) -> np.ndarray:
        """The current feature vector, in the order of :data:`FEATURES`."""
        low, high = self.lr_bounds
        values = [
            math.log(self.lr / self.initial_lr),
            math.log(self.lr / low) / math.log(high / low),
            math.log(self.lr / self.previous_lr),
            self.progress,
        ]
        if self.last is None or self.first is None:
            values += [0.0] * 6
        else:
            (train, val), (train0, val0) = self.last, self.first
            previous = self.previous or self.last
            values += [
                _log_ratio(train, train0),
                _log_ratio(val, val0),
                _log_ratio(train, previous[0]),
                _log_ratio(val, previous[1]),
                _log_ratio(val, train),
                _log_ratio(val, self.best_val),
            ]
        return np.clip(np.asarray(values, dtype=np.float32), -CLIP, CLIP)

    def state_dict(self) -> dict[str, Any]:
        """The history, as numbers only."""
        return {
            "lr": self.lr,
            "previous_lr": self.previous_lr,
            "progress": self.progress,
            "first": self.first,
            "last": self.last,
            "previous": self.previous,
            "best_val": self.best_val,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.lr, self.previous_lr, self.progress = state["lr"], state["previous_lr"], state["progress"]
        self.first, self.last, self.previous = state["first"], state["last"], state["previous"]
        self.best_val = state["best_val"]
