"""Lightning and skorch running the benchmark's jobs with their MLflow loggers.

Each fit loads the data, trains the workload's network with the same optimizer, schedule and
epochs, and logs to the active tracking URI the way its documentation shows: Lightning's
``MLFlowLogger`` (params, epoch metrics) with ``EarlyStopping``, ``ModelCheckpoint`` (the best
``.ckpt`` on every improvement) and ``LearningRateMonitor``; skorch's ``MlflowLogger`` (one
call per metric; params, optimizer and history as artifacts) with ``EarlyStopping``,
``LRScheduler``, ``Checkpoint`` and train accuracy. Early stopping never fires.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.tracking import MlflowClient
from torch.utils.data import DataLoader, TensorDataset
from workloads import load

from mlflow_improvenn.training.loop import Objective
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.regularization import build_optimizer

EXPERIMENT = "bench"
EVAL_BATCH = 8192  # the trainer's evaluation chunk: dev is evaluated in one batch by all


def available() -> dict[str, Callable[[TrainConfig, Path], float]]:
    """The peers that are installed, by name."""
    fits = {"Lightning": ("lightning", fit_lightning), "skorch": ("skorch", fit_skorch)}
    return {name: fit for name, (package, fit) in fits.items()
            if importlib.util.find_spec(package) is not None}


def quiet() -> None:
    """No progress bars, tips or warnings in the timing output (Lightning sets its log level
    when imported, so it is imported first)."""
    if importlib.util.find_spec("lightning") is not None:
        import lightning  # noqa: F401
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def fit_lightning(config: TrainConfig, workdir: Path) -> float:
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import MLFlowLogger

    loaded = load(config)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(config.seed)
            self.model = build_model(config, loaded.splits)
            self.objective = Objective(loaded.splits.task)
            self.save_hyperparameters(config.to_params())

        def _step(self, batch: list[torch.Tensor], split: str) -> torch.Tensor:
            x, y = batch
            output = self.model(x)
            loss = self.objective.loss(output, y)
            error = self.objective.errors(output.detach(), y) / len(x)
            self.log_dict({f"{split}_loss": loss, f"{split}_error": error},
                          on_step=False, on_epoch=True, batch_size=len(x))
            return loss

        def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
            return self._step(batch, "train")

        def validation_step(self, batch: list[torch.Tensor], _: int) -> None:
            self._step(batch, "dev")

        def configure_optimizers(self) -> dict:
            optimizer = build_optimizer(config, self.model)
            schedule = torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
            return {"optimizer": optimizer, "lr_scheduler": schedule}

    generator = torch.Generator().manual_seed(config.seed)
    train = DataLoader(TensorDataset(loaded.train.x, loaded.train.y),
                       batch_size=config.batch_size, shuffle=True, generator=generator)
    dev = DataLoader(TensorDataset(loaded.dev.x, loaded.dev.y), batch_size=EVAL_BATCH)
    trainer = L.Trainer(
        max_epochs=config.max_epochs, accelerator="cpu", devices=1,
        logger=MLFlowLogger(experiment_name=EXPERIMENT, tracking_uri=mlflow.get_tracking_uri()),
        callbacks=[
            EarlyStopping("dev_loss", patience=config.max_epochs + 1),
            ModelCheckpoint(dirpath=workdir / "lightning", monitor="dev_loss", save_top_k=1),
            LearningRateMonitor(logging_interval="epoch"),
        ],
        default_root_dir=workdir, num_sanity_val_steps=0, enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Module(), train, dev)
    return float(trainer.callback_metrics["dev_error"])


def fit_skorch(config: TrainConfig, workdir: Path) -> float:
    from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
    from skorch.callbacks import Checkpoint, EarlyStopping, EpochScoring, LRScheduler, MlflowLogger
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    splits = load(config).splits
    client = MlflowClient()
    run = client.create_run(client.get_experiment_by_name(EXPERIMENT).experiment_id)
    client.log_batch(run.info.run_id, params=[
        mlflow.entities.Param(k, v) for k, v in config.to_params().items()])
    binary = splits.task == "binary"
    y_train, y_dev = (y.astype(np.float32 if binary else np.int64)
                      for y in (splits.y_train, splits.y_dev))
    torch.manual_seed(config.seed)
    net = (NeuralNetBinaryClassifier if binary else NeuralNetClassifier)(
        build_model(config, splits),
        criterion=torch.nn.BCEWithLogitsLoss if binary else torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam, lr=config.lr, max_epochs=config.max_epochs,
        batch_size=config.batch_size, iterator_train__shuffle=True,
        iterator_valid__batch_size=EVAL_BATCH,
        train_split=predefined_split(Dataset(splits.x_dev, y_dev)),
        callbacks=[
            EpochScoring("accuracy", lower_is_better=False, on_train=True, name="train_acc"),
            EarlyStopping(monitor="valid_loss", patience=config.max_epochs + 1),
            LRScheduler(policy=torch.optim.lr_scheduler.StepLR,
                        step_size=config.step_size, gamma=config.gamma),
            Checkpoint(monitor="valid_loss_best", dirname=str(workdir / "skorch")),
            MlflowLogger(run=run, client=client),
        ],
        device="cpu", verbose=0,
    )
    net.fit(splits.x_train, y_train)
    return 1.0 - float(net.history[-1, "valid_acc"])
