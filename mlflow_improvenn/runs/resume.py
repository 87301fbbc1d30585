"""Continuing a run from its checkpoint: which options and checkpoint to continue from, and
the refusals a resume needs (a checkpoint is untrusted input; a run that reached its last
epoch, or that early stopping ended, has nothing left to train; an option that would change
the model, the data or the optimization the checkpoint continues is refused, not ignored)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlflow_improvenn.tracking.tracker import download_checkpoint
from mlflow_improvenn.training import checkpoints
from mlflow_improvenn.training.loop import Trainer
from mlflow_improvenn.training.options import (
    RESUME_OVERRIDES,
    ConfigError,
    TrainConfig,
    format_value,
)

#: Options a resumed run takes from the command when it sets them (to other than their
#: default): when to stop, and how many processes read the data. Every other option but
#: :data:`RESUME_OVERRIDES` (always the command's) shapes the model, the data or the
#: optimization the checkpoint continues, so it is the resumed run's own: the command may
#: leave it out or repeat it, never change it.
CHANGEABLE_ON_RESUME = ("patience", "min_delta", "num_workers")
_MAY_CHANGE = CHANGEABLE_ON_RESUME + tuple(n for n in RESUME_OVERRIDES if n != "resume_from")


def load_resume_point(config: TrainConfig) -> tuple[TrainConfig, dict | None, str | None]:
    """The config and checkpoint to continue from (the saved options win but for overrides),
    and the experiment of the run continued."""
    if not config.resume_from:
        return config, None, None
    with tempfile.TemporaryDirectory(prefix="improvenn-resume-") as folder:
        try:
            path, experiment_id = download_checkpoint(config.resume_from, Path(folder))
            checkpoint = checkpoints.load(path)
            saved = checkpoints.saved_options(checkpoint)
            changes = _given_changes(config.resume_from, saved, config)
            resumed = checkpoints.resumed_config(saved | changes, config)
        except checkpoints.CheckpointError as error:
            raise _unusable(config.resume_from, error) from error
    if checkpoint["epoch"] >= resumed.max_epochs:
        raise ConfigError(
            "max_epochs", f"run {config.resume_from} already reached epoch {checkpoint['epoch']}; "
            "raise max_epochs to continue it",
        )
    planned = saved.get("max_epochs", resumed.max_epochs)
    if resumed.scheduler in ("cosine", "onecycle") and resumed.max_epochs != planned:
        raise ConfigError(
            "max_epochs", f"the {resumed.scheduler} schedule of run {config.resume_from} ends at "
            f"epoch {planned}: resume it with max_epochs={planned}",
        )
    return resumed, checkpoint, experiment_id


def _given_changes(run_id: str, saved: dict[str, Any], given: TrainConfig) -> dict[str, Any]:
    """The options of :data:`CHANGEABLE_ON_RESUME` that ``given`` sets; a ConfigError naming
    the first other option ``given`` sets to something else than the resumed run's value
    (before, it was silently replaced by the run's: a "wider" resume trained the old net)."""
    defaults = TrainConfig()
    changes = {}
    for name, value in saved.items():
        wanted = getattr(given, name)
        if name in RESUME_OVERRIDES or wanted in (value, getattr(defaults, name)):
            continue
        if name not in CHANGEABLE_ON_RESUME:
            raise ConfigError(
                name, f"run {run_id} was trained with {name} {format_value(value)!r}, not "
                f"{format_value(wanted)!r}: a resumed run keeps its model, data and optimization "
                f"(it may change only {', '.join(_MAY_CHANGE)}); "
                "leave the option out, or start a new run",
            )
        changes[name] = wanted
    return changes


def _refuse_stopped_early(run_id: str, checkpoint: dict, patience: int) -> None:
    """A run that early stopping ended has nothing left to train: resumed, it would train
    one epoch more and stop again, breaking ``stopped_epoch - best_epoch == patience``."""
    misses = checkpoint.get("early_stopping", {}).get("misses", 0)
    if 0 < patience <= misses:
        raise ConfigError(
            "resume_from", f"run {run_id} stopped early at epoch {checkpoint['epoch']} ({misses} "
            f"epochs without improvement, patience {patience}): there is nothing to continue; "
            "start a new run to train it further",
        )


def resume(trainer: Trainer, checkpoint: dict[str, Any], run_id: str) -> None:
    """Continue ``trainer`` from ``checkpoint`` once every part of it has been checked."""
    shapes = [p.shape for group in trainer.optimizer.param_groups for p in group["params"]]
    try:
        checkpoints.check_resumable(checkpoint, trainer.checkpoint(0), shapes)
        trainer.resume(checkpoint)
    except checkpoints.CheckpointError as error:
        raise _unusable(run_id, error) from error
    except Exception as error:  # what the checks did not foresee is still a refusal
        reason = checkpoints.CheckpointError(f"it does not load ({type(error).__name__})")
        raise _unusable(run_id, reason) from error
    _refuse_stopped_early(run_id, checkpoint, trainer.config.patience)


def _unusable(run_id: str, error: checkpoints.CheckpointError) -> ConfigError:
    return ConfigError("resume_from", f"the checkpoint of run {run_id} cannot be resumed: {error}")
