"""The training loop: for each epoch, train, evaluate, report, ask early stopping, step the LR.

Batches come from the split (:mod:`mlflow_improvenn.training.feeds`: tensor slices in memory,
or a streaming DataLoader). Per-batch losses are summed on the device and read once per
epoch, so the loop never waits on the host inside an epoch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from mlflow_improvenn.training.data import DataSplits
from mlflow_improvenn.training.early_stopping import EarlyStopping, StopReason, StopTraining
from mlflow_improvenn.training.feeds import Split, StreamSplit, forward
from mlflow_improvenn.training.history import EpochRecord
from mlflow_improvenn.training.interrupts import interrupts_held
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.regularization import build_optimizer, decayed_parameters, l2_penalty
from mlflow_improvenn.training.schedules import LRSchedule

#: A loss function of (output, target) -> scalar mean loss, e.g. ``nn.CrossEntropyLoss()``.
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
TrainSplit = Split | StreamSplit


class Objective:
    """The task's loss on the network's raw output, and its count of misclassified rows.

    ``loss_function`` replaces the task's default loss (cross-entropy on logits, binary
    cross-entropy on one logit, mean squared error); error rates stay the task's.
    """

    def __init__(self, task: str, loss_function: LossFunction | None = None) -> None:
        self.task = task
        self.loss_function = loss_function

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss_function is not None:
            return self.loss_function(output, target)
        if self.task == "multiclass":
            return functional.cross_entropy(output, target)
        if self.task == "binary":
            return functional.binary_cross_entropy_with_logits(output.squeeze(1), target)
        return functional.mse_loss(output.squeeze(1), target)

    def errors(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        if self.task == "multiclass":
            return (output.argmax(dim=1) != target).sum()
        if self.task == "binary":
            return ((output.squeeze(1) > 0).float() != target).sum()
        return None


def to_device_splits(data: DataSplits, device: torch.device) -> dict[str, Split]:
    """Train/dev/test on ``device``; regression targets standardized with train statistics."""

    def target(y: np.ndarray) -> torch.Tensor:
        if data.task == "regression":
            y = (y - data.target_mean) / data.target_std
        dtype = torch.int64 if data.task == "multiclass" else torch.float32
        return torch.as_tensor(y, dtype=dtype, device=device)

    return {
        name: Split(torch.as_tensor(x, dtype=torch.float32, device=device), target(y))
        for name, x, y in (
            ("train", data.x_train, data.y_train),
            ("dev", data.x_dev, data.y_dev),
            ("test", data.x_test, data.y_test),
        )
    }


@torch.inference_mode()
def evaluate(
    model: nn.Module, split: TrainSplit, objective: Objective
) -> tuple[float, float | None]:
    """Mean loss and error rate (None for regression) of ``split`` in eval mode."""
    was_training = model.training
    model.eval()
    total_loss = torch.zeros(())
    wrong = torch.zeros(())
    count = 0
    for x, y in split.eval_batches():
        output = forward(model, x).float()
        total_loss = total_loss.to(output.device) + objective.loss(output, y) * len(y)
        errors = objective.errors(output, y)
        if errors is not None:
            wrong = wrong.to(output.device) + errors
        count += len(y)
    model.train(was_training)
    count = max(count, 1)
    error = wrong.item() / count if objective.task != "regression" else None
    return total_loss.item() / count, error


@dataclass
class FitResult:
    """What training produced: the history, the best snapshot and why it ended."""

    history: list[EpochRecord]
    stop_reason: StopReason
    best: dict[str, Any] | None
    best_epoch: int
    error: BaseException | None = field(default=None, repr=False)

    @property
    def stopped_epoch(self) -> int:
        return self.history[-1].epoch if self.history else 0


class Trainer:
    """Trains one model under one config, from scratch or from a checkpoint."""

    def __init__(
        self,
        config: TrainConfig,
        model: nn.Module,
        splits: dict[str, TrainSplit],
        task: str,
        device: torch.device,
        loss_function: LossFunction | None = None,
    ) -> None:
        self.config = config
        self.model = model.to(device)
        self.splits = splits
        self.objective = Objective(task, loss_function)
        self.device = device
        self.optimizer = build_optimizer(config, self.model)
        self.schedule = LRSchedule(config, self.optimizer)
        self.stopper = EarlyStopping(config.patience, config.min_delta, config.mode)
        self.penalized_weights = decayed_parameters(self.model)[0]
        self.penalized = config.l2_mode == "penalty" and config.weight_decay > 0
        self.use_amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self.start_epoch = 1
        self.resumed_best: dict[str, Any] | None = None
        self.params = config.to_params()

    def checkpoint(self, epoch: int) -> dict[str, Any]:
        """A copy of everything needed to continue after ``epoch`` as if never stopped."""
        rng = {"torch": torch.get_rng_state(), "batches": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return _cloned({
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "early_stopping": self.stopper.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "config": self.params,
        })

    def resume(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a :meth:`checkpoint` (a ``last.pt`` carries the best one inside)."""
        self.restore(checkpoint)
        self.start_epoch = checkpoint["epoch"] + 1
        self.resumed_best = checkpoint.get("best", checkpoint)

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Put back everything a :meth:`checkpoint` holds: weights, optimizer, schedule, early
        stopping, gradient scaler and random states."""
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.schedule.load_state_dict(checkpoint["schedule"])
        self.stopper.load_state_dict(checkpoint["early_stopping"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        self.generator.set_state(checkpoint["rng"]["batches"])
        if "cuda" in checkpoint["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"], self.device)

    @contextlib.contextmanager
    def trial(self) -> Iterator[None]:
        """Train inside the block, then put back everything as it was: weights, optimizer,
        schedule, early stopping, random states and train or eval mode. The range test and
        its race train through it, so training starts as if they never ran (the finder must
        leave the model as it was: OHDSI DeepPatientLevelPrediction #141)."""
        saved = self.checkpoint(0)
        was_training = self.model.training
        try:
            yield
        finally:
            self.restore(saved)
            self.model.train(was_training)

    def fit(
        self,
        on_epoch: Callable[[EpochRecord], None],
        on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
        on_record: Callable[[EpochRecord], None] | None = None,
    ) -> FitResult:
        """Train until early stopping, ``max_epochs``, a non-finite loss or an interrupt.

        ``on_epoch`` receives each epoch's record and may raise :class:`StopTraining` to end
        after that epoch; ``on_checkpoint``, when given, receives every epoch's checkpoint
        (with the best one inside, as ``best``). ``on_record`` receives each record as it
        joins the history, with interrupts held (:func:`interrupts_held`), so that what it
        writes (the epoch's metrics) and the history hold the same epochs whenever an
        interrupt lands; it must be quick. A KeyboardInterrupt ends the loop with
        reason ``interrupted``; any other exception is kept in the result, so what was
        learned before it is still logged.
        """
        history: list[EpochRecord] = []
        best = self.resumed_best
        reason = StopReason.MAX_EPOCHS
        error: BaseException | None = None
        try:
            for epoch in range(self.start_epoch, self.config.max_epochs + 1):
                record = self._run_epoch(epoch)
                with interrupts_held():  # the record and what on_record writes, or neither
                    history.append(record)
                    if on_record is not None:
                        on_record(record)
                should_stop = not record.is_finite() or self._decide(epoch, record)
                improved = self.stopper.best_epoch_ == epoch
                resumable = on_checkpoint is not None and record.is_finite()  # not NaN weights
                snapshot = self.checkpoint(epoch) if improved or resumable else None
                if improved:
                    best = snapshot
                on_epoch(record)
                if resumable:
                    on_checkpoint(snapshot | {"best": best})
                if should_stop:
                    reason = self._reason(epoch, record)
                    break
        except StopTraining as stop:
            reason = stop.reason
        except KeyboardInterrupt:
            reason = StopReason.INTERRUPTED
        except Exception as failure:  # logged by the caller with the run marked FAILED
            reason, error = StopReason.ERROR, failure
        return FitResult(history, reason, best, self.stopper.best_epoch_, error)

    def _decide(self, epoch: int, record: EpochRecord) -> bool:
        """Ask early stopping, then step the schedule (also after the last epoch, so that a
        checkpoint of it continues exactly when resumed with more epochs)."""
        monitored = getattr(record, self.config.monitor)
        should_stop = self.stopper.update(epoch, monitored)
        self.schedule.step(monitored)
        return should_stop

    def _reason(self, epoch: int, record: EpochRecord) -> StopReason:
        if not record.is_finite():
            return StopReason.NON_FINITE_LOSS
        if epoch < self.config.max_epochs:
            return StopReason.EARLY_STOPPING
        return StopReason.MAX_EPOCHS

    def _run_epoch(self, epoch: int) -> EpochRecord:
        started = time.perf_counter()
        lr = self.schedule.lr
        train_loss, train_error = self.train_epoch()
        dev_loss, dev_error = evaluate(self.model, self.splits["dev"], self.objective)
        return EpochRecord(
            epoch=epoch,
            train_loss=train_loss,
            dev_loss=dev_loss,
            train_error=train_error,
            dev_error=dev_error,
            lr=lr,
            epoch_seconds=time.perf_counter() - started,
        )

    def train_epoch(self) -> tuple[float, float | None]:
        """One pass over shuffled mini-batches; returns mean loss and error (train mode)."""
        self.model.train()
        train = self.splits["train"]
        total_loss = torch.zeros((), device=self.device)
        wrong = torch.zeros((), device=self.device)
        count = 0
        for x, y in train.train_batches(self.generator, self.config.batch_size):
            loss, output = self.train_batch(x, y)
            total_loss += loss * len(y)
            errors = self.objective.errors(output, y)
            if errors is not None:
                wrong += errors
            count += len(y)
        count = max(count, 1)
        error = wrong.item() / count if self.objective.task != "regression" else None
        return total_loss.item() / count, error

    def train_batch(self, x: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch (inputs ``x`` as the model takes them, targets
        ``y``); returns the batch's data loss (a 0-d tensor, without an L2 penalty) and the
        network's output, both detached. The learning-rate range test steps through here
        too, so it trains as training does."""
        with self._precision():
            output = forward(self.model, x)
            loss = self.objective.loss(output.float(), y)
        self._step(loss + self._penalty() if self.penalized else loss)
        return loss.detach(), output.detach()

    def _precision(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def _penalty(self) -> torch.Tensor:
        n_train = len(self.splits["train"])
        return l2_penalty(self.penalized_weights, self.config.weight_decay, n_train)

    def _step(self, cost: torch.Tensor) -> None:
        """Backward and update; the gradient scaler only where AMP needs it (it costs per batch)."""
        self.optimizer.zero_grad(set_to_none=True)
        if not self.use_amp:
            cost.backward()
            self._clip()
            self.optimizer.step()
            return
        self.scaler.scale(cost).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not scaled ones
        self._clip()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def _clip(self) -> None:
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)


def _cloned(state: Any) -> Any:
    """A copy of nested state whose tensors no longer change with training; 3x faster than
    ``copy.deepcopy``, which matters at one snapshot per improving epoch."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {key: _cloned(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_cloned(value) for value in state)
    return state
