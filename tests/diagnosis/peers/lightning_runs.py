"""Lightning runs: logged by Lightning's ``MLFlowLogger`` or by ``mlflow.pytorch.autolog()``.

Two ways of calling ``self.log``, as users write them:

- ``self_log``: ``train_loss``/``train_acc`` in ``training_step`` and ``val_loss``/``val_acc``
  in ``validation_step``, with Lightning's defaults (per step in training, per epoch in
  validation); the accuracy is computed by hand per batch.
- ``torchmetrics``: ``torchmetrics.Accuracy`` objects, and the training metrics logged with
  ``on_step=True, on_epoch=True``, which Lightning forks into ``*_step`` and ``*_epoch``.

The trainer logs every ``LOG_EVERY_N_STEPS`` steps (Lightning's default, 50, would log no
step at all in the shorter runs here).
"""

from __future__ import annotations

import tempfile
from typing import Any

import lightning as L
import mlflow
import torch
import torchmetrics
from lightning.pytorch.loggers import MLFlowLogger

from tests.diagnosis.peers.nets import loader, mlp, predicted_error
from tests.diagnosis.peers.setups import MOONS_SETUPS, PeerRun, Setup, Split, Variant, moons

PACKAGES = ("lightning", "torchmetrics")
LOG_EVERY_N_STEPS = 10
#: At least LOG_EVERY_N_STEPS training steps, so that the step metrics are logged.
TINY = Setup("good_fit", 64, 64, (8,), epochs=3, batch_size=16, lr=0.01)


class Classifier(L.LightningModule):
    """An MLP classifier that logs loss and accuracy in one of the two styles."""

    def __init__(self, net: torch.nn.Module, lr: float, style: str) -> None:
        super().__init__()
        self.net, self.lr, self.style = net, lr, style
        self.train_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=2)
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        if self.style == "torchmetrics":
            self.train_accuracy(logits, y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            self.log("train_acc", self.train_accuracy, on_step=True, on_epoch=True)
        else:
            self.log("train_loss", loss)
            self.log("train_acc", (logits.argmax(dim=1) == y).float().mean())
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
        if self.style == "torchmetrics":
            self.val_accuracy(logits, y)
            self.log("val_acc", self.val_accuracy)
        else:
            self.log("val_acc", (logits.argmax(dim=1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def logger_run(style: str):
    """A run logged by ``MLFlowLogger`` (which starts and ends the MLflow run itself)."""

    def make(setup: Setup, split: Split) -> PeerRun:
        logger = MLFlowLogger(experiment_name="peers", tracking_uri=mlflow.get_tracking_uri())
        model = _fit(setup, split, style, logger=logger)
        return _measured(logger.run_id, model, split)

    return make


def autolog_run(style: str):
    """A run logged by ``mlflow.pytorch.autolog()`` with its defaults (it starts the run)."""

    def make(setup: Setup, split: Split) -> PeerRun:
        mlflow.pytorch.autolog()
        try:
            model = _fit(setup, split, style, logger=True)
        finally:
            mlflow.pytorch.autolog(disable=True)
        return _measured(mlflow.last_active_run().info.run_id, model, split)

    return make


def _fit(setup: Setup, split: Split, style: str, logger: Any) -> Classifier:
    torch.manual_seed(0)
    model = Classifier(mlp(setup.hidden, split.x_train.shape[1]), setup.lr, style)
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(max_epochs=setup.epochs, logger=logger, default_root_dir=root,
                            log_every_n_steps=LOG_EVERY_N_STEPS, accelerator="cpu",
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(model, loader(split.x_train, split.y_train, setup, shuffle=True),
                    loader(split.x_dev, split.y_dev, setup, shuffle=False))
    return model


def _measured(run_id: str, model: Classifier, split: Split) -> PeerRun:
    return PeerRun(run_id, predicted_error(model, split.x_train, split.y_train),
                   predicted_error(model, split.x_dev, split.y_dev),
                   {"log_every_n_steps": LOG_EVERY_N_STEPS})


VARIANTS = tuple(
    Variant(tool, style, MOONS_SETUPS, moons, make(style), TINY)
    for tool, make in (("lightning_logger", logger_run), ("lightning_autolog", autolog_run))
    for style in ("self_log", "torchmetrics")
)
