"""A Hugging Face ``transformers`` TrainerCallback that lets a controller set the LR once per epoch.

Example::

    from transformers import Trainer, TrainingArguments
    from lr_agent.integrations.huggingface import ControllerTrainerCallback

    args = TrainingArguments(
        "out", num_train_epochs=10, eval_strategy="epoch", logging_strategy="epoch",
        lr_scheduler_type="constant",            # the controller sets the LR
    )
    Trainer(model, args, train_dataset=train, eval_dataset=val,
            callbacks=[ControllerTrainerCallback()]).train()

The epoch's training loss is the mean of the ``loss`` values the Trainer logged
during the epoch, the validation loss is ``eval_loss``. The controller's LR
becomes the base LR of the Trainer's own scheduler, so with
``lr_scheduler_type="constant"`` it is the LR used; another type multiplies it.
"""

from __future__ import annotations

import math
import statistics
import warnings
from typing import Any

from lr_agent.controller import Controller
from lr_agent.scheduler import ControllerScheduler

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('the transformers integration needs transformers: pip install "lr-agent[transformers]"') from exc


class ControllerTrainerCallback(TrainerCallback):
    """Sets the Trainer's LR from ``controller`` (default: the shipped one) after each epoch.

    Args:
        controller: the controller; ``None`` loads :meth:`Controller.pretrained`.
        lr_bounds: absolute LR bounds; default the controller's, relative to the starting LR.
    """

    def __init__(self, controller: Controller | None = None, lr_bounds: tuple[float, float] | None = None) -> None:
        self.controller = controller or Controller.pretrained()
        self.lr_bounds = lr_bounds
        self.scheduler: ControllerScheduler | None = None
        self.history: list[dict[str, Any]] = []

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs) -> None:
        if str(args.lr_scheduler_type).split(".")[-1].lower() != "constant":
            warnings.warn(
                f"lr_scheduler_type={args.lr_scheduler_type!r} multiplies the controller's LR; "
                "use lr_scheduler_type='constant' to let the controller alone set it",
                stacklevel=2,
            )
        self.trainer_scheduler = lr_scheduler
        self.evaluates = str(args.eval_strategy).split(".")[-1].lower() != "no"
        self.scheduler = ControllerScheduler(
            optimizer, self.controller, total_epochs=math.ceil(args.num_train_epochs), lr_bounds=self.lr_bounds
        )
        self._sync()
        self._losses: list[float] = []
        self._epoch_done = False

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if logs and "loss" in logs:
            self._losses.append(float(logs["loss"]))
            if self._epoch_done and not self.evaluates:
                self._step(None)

    def on_epoch_end(self, args, state, control, **kwargs) -> None:
        self._epoch_done = True

    def on_evaluate(self, args, state, control, metrics=None, **kwargs) -> None:
        if self._epoch_done:
            self._step((metrics or {}).get("eval_loss"))

    def on_train_end(self, args, state, control, **kwargs) -> None:
        if self._epoch_done:  # an epoch whose loss was never logged: decide on what there is
            self._step(None)

    def _step(self, val_loss: float | None) -> None:
        train_loss = statistics.fmean(self._losses) if self._losses else val_loss
        if train_loss is not None:
            lr = self.scheduler.get_last_lr()[0]
            self.scheduler.step(train_loss=train_loss, val_loss=val_loss)
            self.history.append({"lr": lr, "train_loss": train_loss, "val_loss": val_loss})
            self._sync()
        self._losses.clear()
        self._epoch_done = False

    def _sync(self) -> None:
        """Make the controller's LRs the base LRs of the Trainer's own scheduler."""
        if self.trainer_scheduler is not None and hasattr(self.trainer_scheduler, "base_lrs"):
            self.trainer_scheduler.base_lrs = list(self.scheduler.get_last_lr())
