"""``track``: what Keras callbacks give a training loop, for a loop the user keeps.

The user's loop trains and evaluates; ``track`` makes it an improvenn run: per-epoch metrics
logged off the loop's path (a background thread, batched, as the trainer's), the learning
rate read from the optimizer, the best weights kept and checkpointed, early stopping and a
non-finite loss that end the ``epochs()`` iterator, then the best weights restored into the
model, the model, end metrics and stop reason logged, and the run ended with a truthful
status: FINISHED, FAILED on a non-finite loss or an exception, KILLED on Ctrl-C.

>>> import torch
>>> from mlflow_improvenn.runs.tracked_loop import TrackedLoop
>>> net = torch.nn.Linear(2, 1)
>>> loop = TrackedLoop(net, torch.optim.SGD(net.parameters(), lr=0.1), patience=2)
>>> loop.monitor, loop.stopper.patience, loop.lr
('dev_loss', 2, 0.1)
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from torch import nn

from mlflow_improvenn.diagnosis.curves import read_curves
from mlflow_improvenn.runs.model_params import MODEL_PARAM_PREFIX
from mlflow_improvenn.tracking import artifacts
from mlflow_improvenn.tracking.tracker import TAG_ERROR, TAG_STOP_REASON, RunTracker
from mlflow_improvenn.training.early_stopping import EarlyStopping, StopReason
from mlflow_improvenn.training.history import EpochRecord
from mlflow_improvenn.training.loop import _cloned
from mlflow_improvenn.training.models import count_parameters
from mlflow_improvenn.training.option_checks import check_option
from mlflow_improvenn.training.options import format_value
from mlflow_improvenn.training.user_code import code_paths_of

#: ``evaluate(model)`` -> {"train": (loss, error), "dev": ..., "test": ...}; error None for
#: regression; any split may be left out.
Evaluate = Callable[[nn.Module], Mapping[str, tuple[float, float | None]]]
_PREFIXES = {"train": "best_train", "dev": "best_dev", "test": "test"}
_STATUS = {StopReason.EARLY_STOPPING: "FINISHED", StopReason.MAX_EPOCHS: "FINISHED",
           StopReason.NON_FINITE_LOSS: "FAILED", StopReason.INTERRUPTED: "KILLED",
           StopReason.ERROR: "FAILED"}


class TrackedLoop:
    """The run around a loop the user keeps; made by :func:`track`, used as a context manager.

    Learned state (``history_``, ``best_``, ``stop_reason_``) is set as the loop runs.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        *,
        monitor: str = "dev_loss",
        mode: str = "min",
        patience: int = 10,
        min_delta: float = 0.0,
        experiment: str | None = None,
        run_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        model_params: Mapping[str, Any] | None = None,
        evaluate: Evaluate | None = None,
        log_model: bool = True,
        example: Any = None,
        code_paths: list[str] | None = None,
    ) -> None:
        for name, value in (("monitor", monitor), ("mode", mode), ("patience", patience),
                            ("min_delta", min_delta)):  # as the command line checks them
            check_option(name, value)
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.monitor = monitor
        self.stopper = EarlyStopping(patience, min_delta, mode)
        self.experiment, self.evaluate = experiment, evaluate
        self.name = run_name or f"{type(model).__name__}-own-loop"
        self.user_params = {**(params or {}),
                            **{MODEL_PARAM_PREFIX + k: v for k, v in (model_params or {}).items()}}
        self.log_model, self.example, self.code_paths = log_model, example, code_paths
        self.tracker: RunTracker | None = None
        self.history_: list[EpochRecord] = []
        self.best_: dict[str, Any] | None = None
        self.stop_reason_ = StopReason.MAX_EPOCHS
        self._epoch_started = 0.0
        self._epoch_lr = self.lr
        self._stop = False

    @property
    def lr(self) -> float:
        """The learning rate in force now (the optimizer's first param group)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def __enter__(self) -> TrackedLoop:
        self.tracker = RunTracker.start(self.experiment, self.name)
        self.tracker.log_params(self._params())
        return self

    def epochs(self, max_epochs: int) -> Iterator[int]:
        """Epochs 1..``max_epochs``, ending early when early stopping or a non-finite loss
        says so after :meth:`log_epoch`."""
        assert self.tracker is not None, "use track(...) as a context manager: with ... as run"
        self.tracker.log_params({"max_epochs": str(max_epochs)})
        for epoch in range(1, max_epochs + 1):
            self._epoch_started, self._epoch_lr = time.perf_counter(), self.lr
            yield epoch
            if self._stop:
                return

    def log_epoch(
        self, train_loss: float | None = None, dev_loss: float | None = None,
        train_error: float | None = None, dev_error: float | None = None,
    ) -> bool:
        """Record this epoch (logged in the background), ask early stopping, keep the best
        weights, step the scheduler; True when the loop should stop (``epochs()`` then ends).

        ``train_loss`` and ``dev_loss`` are required, the error rates optional: each a number
        (a float, or a one-element tensor). Raises TypeError naming a missing or non-number
        value, before anything of this epoch is recorded."""
        assert self.tracker is not None, "use track(...) as a context manager: with ... as run"
        record = EpochRecord(
            epoch=len(self.history_) + 1, train_loss=_number("train_loss", train_loss),
            dev_loss=_number("dev_loss", dev_loss),
            train_error=_number("train_error", train_error, required=False),
            dev_error=_number("dev_error", dev_error, required=False), lr=self._epoch_lr,
            epoch_seconds=time.perf_counter() - self._epoch_started,
        )
        self.history_.append(record)
        self.tracker.metrics.add(record.metrics(), step=record.epoch)
        if not record.is_finite():
            self.stop_reason_, self._stop = StopReason.NON_FINITE_LOSS, True
            return True
        monitored = getattr(record, self.monitor)
        if monitored is None or not math.isfinite(monitored):
            raise ValueError(f"log_epoch: the monitored {self.monitor} was not given")
        if self.stopper.update(record.epoch, monitored):
            self.stop_reason_, self._stop = StopReason.EARLY_STOPPING, True
        if self.stopper.best_epoch_ == record.epoch:
            self.best_ = self._checkpoint(record.epoch)
        self._step_scheduler(monitored)
        return self._stop

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """Restore the best weights, log the results and end the run; never swallows the
        loop's exception (a KeyboardInterrupt goes on after the run ended KILLED)."""
        if self.tracker is None:
            return False
        failed = kind is not None and not issubclass(kind, KeyboardInterrupt)
        if kind is not None:  # whatever early stopping said before, the loop did not end it
            self.stop_reason_ = StopReason.ERROR if failed else StopReason.INTERRUPTED
        status = _STATUS[self.stop_reason_]
        try:
            self._finish(error if failed else None)
        except Exception as failure:  # the store failed: the run must not stay RUNNING
            with contextlib.suppress(Exception):
                self.tracker.client.set_tag(self.tracker.run_id, TAG_ERROR, repr(failure))
            status = "FAILED"
            if kind is None:
                self.tracker.end(status)
                raise
        self.tracker.end(status)
        return False

    def _finish(self, error: BaseException | None) -> None:
        tracker = self.tracker
        assert tracker is not None
        if self.best_ is not None:
            self.model.load_state_dict(self.best_["model"])
        workdir = Path(tempfile.mkdtemp(prefix="improvenn-track-"))
        save = self._model_saver() if self.log_model and self.best_ is not None else None
        tracker.metrics.finish_soon()  # the rows are written while the files are
        artifacts.write_run_files(workdir, self.history_, self.best_, self.stopper.best_epoch_,
                                  self.name, save)
        tracker.metrics.close()
        tags = {TAG_STOP_REASON: self.stop_reason_.value}
        if error is not None:
            tags[TAG_ERROR] = f"{type(error).__name__}: {error}"
        tracker.log_summary(self._summary(), tags=tags)
        tracker.log_artifacts(workdir)
        shutil.rmtree(workdir, ignore_errors=True)

    def _summary(self) -> dict[str, float]:
        """End metrics: epochs, the curves' trend, and the restored weights measured by
        ``evaluate``; without it, the dev values the loop logged at the best epoch."""
        stopped = self.history_[-1].epoch if self.history_ else 0
        summary: dict[str, float] = {"stopped_epoch": stopped,
                                     "best_epoch": self.stopper.best_epoch_}
        curves = read_curves([r.train_loss for r in self.history_])
        if curves.train_loss_falling is not None:
            summary["train_loss_falling"] = float(curves.train_loss_falling)
            summary["train_loss_rose"] = float(curves.diverged)
        if self.best_ is None:
            return summary
        if self.evaluate is not None:
            for split, (loss, error) in self.evaluate(self.model).items():
                summary[f"{_PREFIXES[split]}_loss"] = float(loss)
                if error is not None:
                    summary[f"{_PREFIXES[split]}_error"] = float(error)
            return summary
        best = self.history_[self.stopper.best_epoch_ - 1]
        summary["best_dev_loss"] = best.dev_loss
        if best.dev_error is not None:
            summary["best_dev_error"] = best.dev_error
        return summary

    def _params(self) -> dict[str, str]:
        group = self.optimizer.param_groups[0]
        params: dict[str, Any] = {
            "model": "custom",
            "model_class": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            "n_parameters": count_parameters(self.model),
            "optimizer": type(self.optimizer).__name__.lower(),
            "lr": self.lr,
            "weight_decay": group.get("weight_decay", 0.0),
            "scheduler": type(self.scheduler).__name__ if self.scheduler is not None else "none",
            "monitor": self.monitor, "mode": self.stopper.mode,
            "patience": self.stopper.patience, "min_delta": self.stopper.min_delta,
        }
        return {k: format_value(v) for k, v in (params | dict(self.user_params)).items()}

    def _checkpoint(self, epoch: int) -> dict[str, Any]:
        state = {"epoch": epoch, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(),
                 "early_stopping": self.stopper.state_dict()}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        return _cloned(state)

    def _step_scheduler(self, monitored: float) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        else:
            self.scheduler.step()

    def _model_saver(self) -> Callable[[Path], None]:
        paths = self.code_paths if self.code_paths is not None else code_paths_of(self.model)
        metadata = {"task": "", "feature_names": [], "class_names": [],
                    "outputs": "the model's own output"}
        return lambda path: artifacts.save_custom_model(self.model, path, self.example,
                                                        metadata, paths)


def _number(name: str, value: Any, required: bool = True) -> float | None:
    """``value`` as a float; a string or a bool is refused rather than read, a None only
    where the value is optional (an error rate, which regression has not)."""
    if value is None and not required:
        return None
    if value is not None and not isinstance(value, str | bytes | bool):
        with contextlib.suppress(TypeError, ValueError):
            return float(value)
    need = "the epoch's loss" if required else "an error rate, or None"
    raise TypeError(f"log_epoch: {name} must be a number ({need}: a float or a one-element "
                    f"tensor); got {value!r}")


def track(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any = None,
          **settings: Any) -> TrackedLoop:
    """Hooks for a loop you keep: ``with track(model, optimizer) as run:``.

    Args:
        model, optimizer: the loop's; the model ends holding the best epoch's weights.
        scheduler: a torch LR scheduler, stepped by ``log_epoch`` once per epoch (with the
            monitored value for ReduceLROnPlateau): do not step it yourself.
        monitor: the ``log_epoch`` value early stopping watches (``dev_loss``, ``dev_error``,
            ``train_loss``, ``train_error``); ``mode``, ``patience`` (0: never stop early),
            ``min_delta`` as for the trainer.
        experiment, run_name: where the run goes and its name.
        params, model_params: logged as params (the latter as ``model_param.KEY``).
        evaluate: ``evaluate(model) -> {"train": (loss, error), "dev": ..., "test": ...}``,
            called on the restored weights for the end metrics (``best_train_loss``, ...).
        log_model, example, code_paths: log the restored model, with ``example`` inputs for
            its signature, and the source it needs (see :func:`mlflow_improvenn.fit`).

    Raises:
        ConfigError (a ValueError) naming the setting, before any run exists, for a
        ``monitor``, ``mode``, ``patience`` or ``min_delta`` the command line would refuse.

    Example::

        with track(model, optimizer, scheduler=sched, patience=10, experiment="mine") as run:
            for epoch in run.epochs(max_epochs=100):
                train_loss = train_one_epoch(model, optimizer)
                dev_loss, dev_error = evaluate_on_dev(model)
                run.log_epoch(train_loss=train_loss, dev_loss=dev_loss, dev_error=dev_error)
    """
    return TrackedLoop(model, optimizer, scheduler, **settings)
