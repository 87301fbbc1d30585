"""One tracked training run, end to end: check, train, restore the best, log everything.

Every check that can refuse the options (data, device) happens before the MLflow run is
created, so bad input never leaves a half-written run behind.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from mlflow_improvenn import checkpoints, data, history, plots
from mlflow_improvenn.config import ConfigError, TrainConfig, format_value
from mlflow_improvenn.devices import resolve_device
from mlflow_improvenn.early_stopping import StopReason
from mlflow_improvenn.history import EpochRecord
from mlflow_improvenn.models import build_model, count_parameters, servable
from mlflow_improvenn.tracking import TAG_STOP_REASON, RunTracker
from mlflow_improvenn.training import FitResult, Trainer, evaluate, to_device_splits

_STATUS = {
    StopReason.EARLY_STOPPING: "FINISHED",
    StopReason.MAX_EPOCHS: "FINISHED",
    StopReason.NON_FINITE_LOSS: "FAILED",
    StopReason.INTERRUPTED: "KILLED",
    StopReason.PRUNED: "FINISHED",
}


class TrainingFailed(RuntimeError):
    """Training raised; the run was ended as FAILED with what it had learned so far."""

    def __init__(self, run_id: str, cause: BaseException) -> None:
        super().__init__(f"run {run_id} failed: {type(cause).__name__}: {cause}")
        self.run_id = run_id


@dataclass(frozen=True)
class TrainOutcome:
    """The end of a run, as the CLI reports it and tests check it."""

    run_id: str
    status: str
    stop_reason: StopReason
    best_epoch: int
    stopped_epoch: int
    summary: dict[str, float]
    history: pd.DataFrame


def train(
    config: TrainConfig,
    experiment: str | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainOutcome:
    """Train ``config`` as one MLflow run in ``experiment`` (or the active/launching one).

    ``on_epoch`` sees each epoch's record and may raise
    :class:`~mlflow_improvenn.early_stopping.StopTraining` (a sweep's pruner does). The run
    is nested under the active run, or under ``parent_run_id``; ``tags`` are set at its start.
    """
    splits_np = data.load(config)
    _check_against_data(config, splits_np)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config, splits_np)
    splits = to_device_splits(splits_np, device)

    tracker = RunTracker.start(experiment, run_name(config), parent_run_id, tags)
    tracker.log_params(_resolved_params(config, splits_np, device, model))

    def report(record: EpochRecord) -> None:
        tracker.metrics.add(record.metrics(), step=record.epoch)
        if on_epoch is not None:
            on_epoch(record)

    trainer = Trainer(config, model, splits, splits_np.task, device, report)
    result = trainer.fit()
    try:
        outcome = _finish(tracker, trainer, result, splits_np)
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end(outcome.status)
    if result.error is not None:
        raise TrainingFailed(tracker.run_id, result.error) from result.error
    return outcome


def run_name(config: TrainConfig) -> str:
    """A name that tells runs apart in the compare view, e.g. ``mlp-64x64-l2=1e-4-do=0.2``."""
    widths = "x".join(map(str, config.hidden_units)) or "linear"
    parts = [config.model, widths]
    if config.batch_norm:
        parts.append("bn")
    if config.weight_decay:
        mode = "" if config.l2_mode == "coupled" else f"({config.l2_mode})"
        parts.append(f"l2={config.weight_decay:g}{mode}")
    if any(config.dropout):
        parts.append("do=" + ",".join(f"{d:g}" for d in config.dropout))
    if config.input_dropout:
        parts.append(f"indo={config.input_dropout:g}")
    parts.append(f"{config.optimizer}-lr={config.lr:g}")
    if config.scheduler != "none":
        parts.append(config.scheduler)
    return config.run_name or "-".join(parts)


def _check_against_data(config: TrainConfig, splits: data.DataSplits) -> None:
    if splits.task == "regression" and config.monitor.endswith("_error"):
        raise ConfigError("monitor", f"{config.monitor} needs a classification task")


def _resolved_params(
    config: TrainConfig, splits: data.DataSplits, device: torch.device, model: torch.nn.Module
) -> dict[str, str]:
    resolved = config.replace(task=splits.task).to_params()
    resolved["device"] = str(device)
    derived = {
        "n_parameters": count_parameters(model),
        "n_train": len(splits.x_train),
        "n_dev": len(splits.x_dev),
        "n_test": len(splits.x_test),
        "n_features": splits.n_features,
        "n_classes": splits.n_classes,
    }
    return resolved | {k: format_value(v) for k, v in derived.items()}


def _finish(
    tracker: RunTracker, trainer: Trainer, result: FitResult, splits_np: data.DataSplits
) -> TrainOutcome:
    """Restore the best weights, evaluate them, and log summary, artifacts and model."""
    tracker.metrics.close()
    summary: dict[str, float] = {"stopped_epoch": result.stopped_epoch}
    if result.best is not None:
        trainer.model.load_state_dict(result.best["model"])
        summary |= _evaluate_best(trainer, result.best_epoch)
    workdir = Path(tempfile.mkdtemp(prefix=f"improvenn-{tracker.run_id}-"))
    _write_artifacts(workdir, trainer, result, splits_np)
    tags = {TAG_STOP_REASON: result.stop_reason.value}
    tracker.log_summary(summary, step=result.stopped_epoch, tags=tags)
    tracker.log_artifacts(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    status = "FAILED" if result.error is not None else _STATUS[result.stop_reason]
    return TrainOutcome(
        run_id=tracker.run_id,
        status=status,
        stop_reason=result.stop_reason,
        best_epoch=result.best_epoch,
        stopped_epoch=result.stopped_epoch,
        summary=summary,
        history=history.to_frame(result.history),
    )


def _evaluate_best(trainer: Trainer, best_epoch: int) -> dict[str, float]:
    """Loss and error of the restored weights on every split, in eval mode."""
    summary: dict[str, float] = {"best_epoch": best_epoch}
    names = {"train": "best_train", "dev": "best_dev", "test": "test"}
    for split, prefix in names.items():
        loss, error = evaluate(trainer.model, trainer.splits[split], trainer.objective)
        summary[f"{prefix}_loss"] = loss
        if error is not None:
            summary[f"{prefix}_error"] = error
    return summary


def _write_artifacts(
    workdir: Path, trainer: Trainer, result: FitResult, splits_np: data.DataSplits
) -> None:
    if not result.history:
        return
    history.write_csv(result.history, workdir / "history.csv")
    plots.learning_curves(
        {"run": history.to_frame(result.history)},
        workdir / "plots" / "learning_curves.png",
        best_epochs={"run": result.best_epoch},
        title=run_name(trainer.config),
    )
    if result.best is None:
        return
    checkpoints.save_atomic(result.best, workdir / "checkpoints" / "best.pt")
    if trainer.config.log_model:
        _save_model(trainer.model, splits_np, workdir / "model")


def _save_model(model: torch.nn.Module, splits_np: data.DataSplits, path: Path) -> None:
    """Save the restored model as an MLflow PyTorch model, loadable without this package."""
    import mlflow.pytorch
    from mlflow.models import infer_signature

    import mlflow_improvenn

    served = servable(copy.deepcopy(model), splits_np).cpu().eval()
    example = splits_np.x_train[:5]
    with torch.inference_mode():
        output = served(torch.as_tensor(example)).numpy()
    mlflow.pytorch.save_model(
        served,
        path=str(path),
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=_pip_requirements(),
        code_paths=[str(Path(mlflow_improvenn.__file__).parent)],
    )


def _pip_requirements() -> list[str]:
    """What the model needs to load; torch without a local label such as ``+cpu``."""
    from importlib.metadata import version

    return [f"torch=={version('torch').split('+')[0]}", f"cloudpickle=={version('cloudpickle')}"]
