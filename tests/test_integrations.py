"""Real, short Lightning and transformers training runs with a controller setting the LR."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import SEED, random_controller


def regression_data(n=256, seed=SEED):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def test_lightning_callback_sets_the_lr_each_epoch():
    import lightning as L

    from lr_agent.integrations.lightning import ControllerCallback

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(8, 1)
            self.epoch_lrs = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

        def on_train_epoch_start(self):
            self.epoch_lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    L.seed_everything(SEED)
    x, y = regression_data()
    train = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32)
    val = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)
    callback = ControllerCallback(random_controller())
    module = Module()
    trainer = L.Trainer(
        max_epochs=4,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, train, val)
    assert len(callback.history) == 4
    assert all(h["val_loss"] is not None and h["train_loss"] > 0 for h in callback.history)
    assert [h["lr"] for h in callback.history] == module.epoch_lrs
    assert module.epoch_lrs[0] != 0.01 or len(set(module.epoch_lrs)) > 1  # the controller moved it
    assert callback.state_dict()["last_epoch"] == 4


class TinyRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(8, 1)

    def forward(self, x, labels=None):
        out = self.net(x)
        loss = None if labels is None else nn.functional.mse_loss(out, labels)
        return {"loss": loss, "logits": out}


class Rows(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def test_transformers_callback_sets_the_lr_each_epoch(tmp_path):
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lr_agent.integrations.huggingface import ControllerTrainerCallback

    class RecordLR(TrainerCallback):
        def __init__(self):
            self.epoch_lrs = []

        def on_epoch_begin(self, args, state, control, optimizer=None, **kwargs):
            self.epoch_lrs.append(None)

        def on_step_end(self, args, state, control, optimizer=None, **kwargs):
            self.epoch_lrs[-1] = optimizer.param_groups[0]["lr"]

    torch.manual_seed(SEED)
    x, y = regression_data()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=4,
        per_device_train_batch_size=32,
        learning_rate=0.01,
        eval_strategy="epoch",
        logging_strategy="epoch",
        lr_scheduler_type="constant",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=SEED,
    )
    controller_cb, record = ControllerTrainerCallback(random_controller()), RecordLR()
    trainer = Trainer(
        model=TinyRegressor(),
        args=args,
        train_dataset=Rows(x[:192], y[:192]),
        eval_dataset=Rows(x[192:], y[192:]),
        callbacks=[controller_cb, record],
    )
    trainer.train()
    assert len(controller_cb.history) == 4
    assert all(h["val_loss"] is not None for h in controller_cb.history)
    assert [h["lr"] for h in controller_cb.history] == record.epoch_lrs
    assert len(set(record.epoch_lrs)) > 1
