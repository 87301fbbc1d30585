"""One tracked training run, end to end: check, train, restore the best, log everything.

Every check that can refuse the options (data, device, the run to resume) happens before the
MLflow run is created, so bad input never leaves a half-written run behind. The run's files
are written locally before they are uploaded, and kept when the store fails.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mlflow_improvenn.diagnosis.curves import read_curves
from mlflow_improvenn.runs.model_params import custom_model_params, custom_name_parts
from mlflow_improvenn.runs.resume import load_resume_point, resume
from mlflow_improvenn.tracking import artifacts
from mlflow_improvenn.tracking.background import LatestFileUploader
from mlflow_improvenn.tracking.tracker import TAG_STOP_REASON, RunTracker
from mlflow_improvenn.training import checkpoints, data, history, py_data
from mlflow_improvenn.training.bayes_error import bayes_error
from mlflow_improvenn.training.devices import resolve_device
from mlflow_improvenn.training.early_stopping import StopReason
from mlflow_improvenn.training.history import EpochRecord
from mlflow_improvenn.training.loop import FitResult, Trainer, evaluate, to_device_splits
from mlflow_improvenn.training.models import build_model, count_parameters
from mlflow_improvenn.training.option_rules import CUSTOM, is_custom
from mlflow_improvenn.training.options import (
    AUTO,
    ConfigError,
    TrainConfig,
    format_value,
)
from mlflow_improvenn.training.user_code import code_paths_of

TAG_RESUMED_FROM = "improvenn.resumed_from"
_STATUS = {
    StopReason.EARLY_STOPPING: "FINISHED",
    StopReason.MAX_EPOCHS: "FINISHED",
    StopReason.NON_FINITE_LOSS: "FAILED",
    StopReason.INTERRUPTED: "KILLED",
    StopReason.PRUNED: "FINISHED",
}


class RunFailed(RuntimeError):
    """The run could not finish; it was ended as FAILED and ``local_copy`` holds its files."""

    def __init__(self, run_id: str, what: str, cause: BaseException, local_copy: Path) -> None:
        super().__init__(
            f"run {run_id} failed {what}: {type(cause).__name__}: {cause} "
            f"(its history and checkpoints are kept in {local_copy})"
        )
        self.run_id = run_id
        self.local_copy = local_copy


@dataclass(frozen=True)
class TrainOutcome:
    """The end of a run, as the CLI reports it and tests check it."""

    run_id: str
    experiment_id: str
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
    splits: data.DataSplits | None = None,
) -> TrainOutcome:
    """Train ``config`` as one MLflow run in ``experiment`` (or the active/launching one).

    ``on_epoch`` sees each epoch's record and may raise
    :class:`~mlflow_improvenn.training.early_stopping.StopTraining` (a sweep's pruner does). The run
    is nested under the active run, or under ``parent_run_id``; ``tags`` are set at its start.
    With ``config.resume_from`` the run continues another from its checkpoint. With
    ``lr="auto"`` the range test runs first, as a run of its own linked to this one both ways
    (:mod:`mlflow_improvenn.runs.lr_find`). ``splits``: the data as :func:`check_config`
    returned it for this ``config``, so that a caller that checks before it opens the store
    (the command line) does not read the data twice.
    """
    if config.model == CUSTOM:
        raise ConfigError("model", "custom is the model given to fit(); here give mlp, cnn, "
                          "FILE.py:FUNCTION or MODULE:FUNCTION")
    datasets = py_data.streamed_datasets(config)
    if datasets is not None:  # a py: loader's Datasets: they stream, as fit()'s do
        from mlflow_improvenn.runs.fitting import train_streamed

        return train_streamed(config, datasets, experiment, on_epoch, parent_run_id, tags)
    if config.lr == AUTO:
        if config.resume_from:  # refused there (the run keeps its rate), before a test's run
            load_resume_point(config)
        from mlflow_improvenn.runs.lr_find import found_lr, link_trained_run

        config, link = found_lr(config, experiment, parent_run_id, splits)
        outcome = train(config, experiment, on_epoch, parent_run_id, {**(tags or {}), **link},
                        splits)
        link_trained_run(link, outcome.run_id)
        return outcome
    config, resume_point, resumed_experiment = load_resume_point(config)
    splits_np, device = _checked_inputs(config, splits if resume_point is None else None)
    torch.manual_seed(config.seed)
    model = build_model(config, splits_np)
    trainer = Trainer(config, model, to_device_splits(splits_np, device), splits_np.task, device)
    plan = RunPlan(
        trainer, _resolved_params(config, splits_np, device, model), run_name(config),
        lambda served, path: artifacts.save_model(
            served, splits_np, path, tuple(code_paths_of(model[-1])) if is_custom(config.model)
            else ()),
    )
    return run_plan(plan, experiment, on_epoch, parent_run_id, tags, resume_point,
                    resumed_experiment)


@dataclass(frozen=True)
class RunPlan:
    """A trainer ready to run, and what its run logs: what differs between a run of
    :func:`train` and one of :func:`mlflow_improvenn.fit`. ``save_model(model, path)`` writes
    the restored model as an MLflow model folder."""

    trainer: Trainer
    params: dict[str, str]
    name: str
    save_model: Callable[[torch.nn.Module, Path], None]


def run_plan(
    plan: RunPlan,
    experiment: str | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    resume_point: dict[str, Any] | None = None,
    resumed_experiment: str | None = None,
) -> TrainOutcome:
    """Run ``plan`` as one MLflow run, from ``resume_point`` when given (see :func:`train`)."""
    trainer = plan.trainer
    run_tags = dict(tags or {})
    if resume_point is not None:
        resume(trainer, resume_point, trainer.config.resume_from)
        run_tags[TAG_RESUMED_FROM] = trainer.config.resume_from

    tracker = RunTracker.start(experiment, plan.name, parent_run_id, run_tags,
                               default_experiment_id=resumed_experiment)
    workdir = Path(tempfile.mkdtemp(prefix="improvenn-"))
    try:
        outcome, error = _train_and_log(tracker, plan, workdir, on_epoch)
        tracker.end(outcome.status)
    except BaseException as failure:  # the run must not stay RUNNING, nor look FINISHED
        if tracker.ended:
            raise  # a Ctrl-C held while the run was being ended: the command stops now
        interrupted = _end_quietly(tracker, interrupted=isinstance(failure, KeyboardInterrupt))
        if interrupted and not isinstance(failure, KeyboardInterrupt):
            raise KeyboardInterrupt from failure
        if isinstance(failure, Exception):
            raise RunFailed(tracker.run_id, "to log its results", failure, workdir) from failure
        raise
    if error is not None:
        raise RunFailed(tracker.run_id, "in training", error, workdir) from error
    shutil.rmtree(workdir, ignore_errors=True)
    return outcome


def _train_and_log(
    tracker: RunTracker,
    plan: RunPlan,
    workdir: Path,
    on_epoch: Callable[[EpochRecord], None] | None,
) -> tuple[TrainOutcome, BaseException | None]:
    """Log the params, train, then log the results; the caller ends the run."""
    trainer = plan.trainer
    config = trainer.config
    tracker.log_params(plan.params)
    uploader = (
        _last_checkpoint_uploader(tracker, workdir) if config.checkpoint_every_epoch else None
    )

    def record_metrics(record: EpochRecord) -> None:
        tracker.metrics.add(record.metrics(), step=record.epoch)

    def write_last(checkpoint: dict[str, Any]) -> None:
        checkpoints.save_atomic(checkpoint, workdir / artifacts.LAST)
        uploader.changed()

    result = trainer.fit(on_epoch or (lambda record: None), write_last if uploader else None,
                         on_record=record_metrics)
    return _finish(tracker, plan, result, workdir, uploader), result.error


def run_name(config: TrainConfig, label: str | None = None) -> str:
    """A name that tells runs apart in the compare view, e.g. ``mlp-64x64-l2=1e-4-do=0.2``
    (a custom network: ``label`` or its factory, then its params)."""
    widths = "x".join(map(str, config.hidden_units)) or "linear"
    parts = [config.model, widths]
    if is_custom(config.model):
        parts = custom_name_parts(config, label)
    if config.batch_norm:
        parts.append("bn")
    if config.weight_decay:
        mode = "" if config.l2_mode == "coupled" else f"({config.l2_mode})"
        parts.append(f"l2={config.weight_decay:g}{mode}")
    if any(config.dropout):
        parts.append("do=" + ",".join(f"{d:g}" for d in config.dropout))
    if config.input_dropout:
        parts.append(f"indo={config.input_dropout:g}")
    lr = config.lr if config.lr == AUTO else f"{config.lr:g}"
    parts.append(f"{config.optimizer}-lr={lr}")
    if config.scheduler != "none":
        parts.append(config.scheduler)
    return config.run_name or "-".join(parts)


def check_config(config: TrainConfig, many_runs: bool = False) -> data.DataSplits | None:
    """Refuse what :func:`train` would refuse about the data and the device, for callers that
    create a run of their own first (a sweep's or the recipe's parent), so that bad input
    leaves no run behind. ``many_runs``: the config seeds many fresh runs (trials, recipe
    steps), which cannot all continue one run's checkpoint. Returns the data it read (None
    for a ``py:`` loader's Datasets), for :func:`train`'s ``splits``. Raises
    :class:`ConfigError`."""
    if many_runs and config.resume_from:
        raise ConfigError(
            "resume_from", "every run of a sweep or recipe trains from scratch; resume a single "
            "run with improvenn train --resume-from",
        )
    datasets = py_data.streamed_datasets(config)
    if datasets is not None:
        from mlflow_improvenn.runs.fitting import streamed_model

        streamed_model(config, datasets)
        return None
    splits, _ = _checked_inputs(config)
    if is_custom(config.model):
        build_model(config, splits)  # a factory that fails, before any run
    return splits


def _checked_inputs(
    config: TrainConfig, splits: data.DataSplits | None = None
) -> tuple[data.DataSplits, torch.device]:
    """The data (``splits`` when the caller read it already) and the device, refused with a
    :class:`ConfigError` where they do not fit."""
    splits = data.load(config) if splits is None else splits
    if splits.task == "regression" and config.monitor.endswith("_error"):
        raise ConfigError("monitor", f"{config.monitor} needs a classification task")
    return splits, resolve_device(config.device)


def _resolved_params(
    config: TrainConfig, splits: data.DataSplits, device: torch.device, model: torch.nn.Module
) -> dict[str, str]:
    resolved = config.replace(task=splits.task).to_params()
    resolved["device"] = str(device)
    resolved["amp"] = format_value(config.amp and device.type == "cuda")  # CUDA-only
    derived = {
        "n_parameters": count_parameters(model),
        "n_train": len(splits.x_train),
        "n_dev": len(splits.x_dev),
        "n_test": len(splits.x_test),
        "n_features": splits.n_features,
        "n_classes": splits.n_classes,
    }
    known = bayes_error(config.dataset, config.noise)
    if known is not None:  # a generated set: the baseline for avoidable bias
        derived["bayes_error"] = round(known, 4)  # its standard error is about 1e-4
    params = resolved | {k: format_value(v) for k, v in derived.items()}
    return custom_model_params(params, config, model[-1] if is_custom(config.model) else model)


def _last_checkpoint_uploader(tracker: RunTracker, workdir: Path) -> LatestFileUploader:
    path = workdir / artifacts.LAST
    folder = str(Path(artifacts.LAST).parent)
    return LatestFileUploader(tracker.client, tracker.run_id, path, folder)


def _end_quietly(tracker: RunTracker, interrupted: bool) -> bool:
    """Write what metrics are queued and end the run KILLED (tagged ``interrupted``, as an
    interrupt inside the training loop is) or FAILED, if the store still answers; the
    original error is what matters. A further Ctrl-C gives up the metrics, never the ending
    (held while it is written). Returns whether the run was interrupted."""
    try:
        tracker.metrics.close()
    except KeyboardInterrupt:
        interrupted = True
    except Exception:  # the store failed: the run's end may still get through
        pass
    with contextlib.suppress(Exception):
        if interrupted:
            tracker.end("KILLED", stop_reason=StopReason.INTERRUPTED.value)
        else:
            tracker.end("FAILED")
    return interrupted


def _finish(
    tracker: RunTracker,
    plan: RunPlan,
    result: FitResult,
    workdir: Path,
    uploader: LatestFileUploader | None,
) -> TrainOutcome:
    """Restore the best weights, write the run's files, evaluate, then log it all."""
    trainer = plan.trainer
    summary: dict[str, float] = {"stopped_epoch": result.stopped_epoch}
    curves = read_curves([r.train_loss for r in result.history])
    if curves.train_loss_falling is not None:  # saves the diagnosis a history call per run
        summary["train_loss_falling"] = float(curves.train_loss_falling)
        summary["train_loss_rose"] = float(curves.diverged)
    if result.best is not None:
        trainer.model.load_state_dict(result.best["model"])
    save = functools.partial(plan.save_model, trainer.model) if trainer.config.log_model else None
    tracker.metrics.finish_soon()  # the rows are written while the files are
    artifacts.write_run_files(  # before anything that can fail: the files are what is kept
        workdir, result.history, result.best, result.best_epoch, plan.name, save,
    )
    if result.best is not None:
        summary |= _evaluate_best(trainer, result.best_epoch)
    if uploader is not None:
        uploader.close()
    tracker.metrics.close()
    tracker.log_summary(summary, tags={TAG_STOP_REASON: result.stop_reason.value})
    tracker.log_artifacts(workdir)
    status = "FAILED" if result.error is not None else _STATUS[result.stop_reason]
    return TrainOutcome(
        run_id=tracker.run_id,
        experiment_id=tracker.experiment_id,
        status=status,
        stop_reason=result.stop_reason,
        best_epoch=result.best_epoch,
        stopped_epoch=result.stopped_epoch,
        summary=summary,
        history=history.to_frame(result.history),
    )


def _evaluate_best(trainer: Trainer, best_epoch: int) -> dict[str, float]:
    """Loss and error (R^2 for regression) of the restored weights on every split, in eval
    mode. A regression's loss is the mean squared error of the standardized target, so
    R^2 = 1 - loss / variance of the split's standardized target (scikit-learn's r2_score)."""
    summary: dict[str, float] = {"best_epoch": best_epoch}
    names = {"train": "best_train", "dev": "best_dev", "test": "test"}
    for split, prefix in names.items():
        if split not in trainer.splits:  # fit() without a test split
            continue
        data = trainer.splits[split]
        loss, error = evaluate(trainer.model, data, trainer.objective)
        summary[f"{prefix}_loss"] = loss
        if error is not None:
            summary[f"{prefix}_error"] = error
        elif trainer.objective.loss_function is None and len(data) > 1:  # the MSE
            summary[f"{prefix}_r2"] = 1.0 - loss / data.target_variance()
    return summary


def checked_inputs(
    config: TrainConfig, splits: data.DataSplits | None = None
) -> tuple[data.DataSplits, torch.device]:
    """The data and the device as :func:`train` checks them, for the runs that train without
    an epoch loop (the range test). Raises :class:`ConfigError`."""
    return _checked_inputs(config, splits)


def resolved_params(
    config: TrainConfig, splits: data.DataSplits, device: torch.device, model: torch.nn.Module
) -> dict[str, str]:
    """The params a training run logs: options as resolved, split sizes, the Bayes error."""
    return _resolved_params(config, splits, device, model)
