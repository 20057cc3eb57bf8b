"""A PyTorch Lightning callback that lets a controller set the LR once per epoch.

Example::

    import lightning as L
    from lr_agent.integrations.lightning import ControllerCallback

    trainer = L.Trainer(max_epochs=20, callbacks=[ControllerCallback()])  # the shipped controller
    trainer.fit(model, train_loader, val_loader)   # model logs "val_loss" in validation_step

The epoch's training loss is the mean of the losses ``training_step`` returned
(the validation loss stands in when it returned none); the validation loss is
``trainer.callback_metrics[val_loss_key]`` (None when the module does not log it).
Don't configure another LR scheduler for the optimizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lr_agent.controller import Controller
from lr_agent.scheduler import ControllerScheduler

try:
    from lightning.pytorch import Callback
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('the Lightning integration needs Lightning: pip install "lr-agent[lightning]"') from exc


class ControllerCallback(Callback):
    """Sets the LR of the first optimizer from ``controller`` (default: the shipped one) each epoch.

    Args:
        controller: the controller; ``None`` loads :meth:`Controller.pretrained`.
        val_loss_key: the logged metric to read as the validation loss.
        lr_bounds: absolute LR bounds; default the controller's, relative to the starting LR.
    """

    def __init__(
        self,
        controller: Controller | None = None,
        val_loss_key: str = "val_loss",
        lr_bounds: tuple[float, float] | None = None,
    ) -> None:
        self.controller = controller or Controller.pretrained()
        self.val_loss_key = val_loss_key
        self.lr_bounds = lr_bounds
        self.scheduler: ControllerScheduler | None = None
        self.history: list[dict[str, Any]] = []
        self._losses: list[torch.Tensor] = []
        self._saved: dict[str, Any] | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        if not trainer.max_epochs or trainer.max_epochs < 1:
            raise ValueError(f"ControllerCallback needs Trainer(max_epochs=...) >= 1, got {trainer.max_epochs!r}")
        self.scheduler = ControllerScheduler(
            trainer.optimizers[0], self.controller, total_epochs=trainer.max_epochs, lr_bounds=self.lr_bounds
        )
        if self._saved is not None:
            self.scheduler.load_state_dict(self._saved)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            self._losses.append(loss.detach())

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        train_loss = float(torch.stack(self._losses).mean()) if self._losses else None
        self._losses.clear()
        val = trainer.callback_metrics.get(self.val_loss_key)
        val_loss = None if val is None else float(val)
        if train_loss is None:  # training_step returned no loss (manual optimization): use what there is
            if val_loss is None:
                return  # nothing to decide on: the LR stays
            train_loss = val_loss
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step(train_loss=train_loss, val_loss=val_loss)
        self.history.append({"epoch": trainer.current_epoch, "lr": lr, "train_loss": train_loss, "val_loss": val_loss})

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._saved = dict(state_dict) or None
