"""Checkpoint files: written atomically, read safely.

A checkpoint (see :meth:`mlflow_improvenn.training.loop.Trainer.checkpoint`) holds everything a
resumed run needs. Files are written to a temporary name and renamed, so a crash never
leaves a truncated ``best.pt``; they are read with ``weights_only=True``, so a crafted
pickle cannot run code. What they hold is untrusted too: :func:`saved_options` and
:func:`check_resumable` check every part against what the resuming trainer expects before
anything is loaded, and no message repeats the file's text.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from mlflow_improvenn.training.option_checks import check_option
from mlflow_improvenn.training.options import (
    RESUME_OVERRIDES,
    ConfigError,
    TrainConfig,
    option_specs,
    parse_value,
)


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read as one."""


def save_atomic(checkpoint: dict[str, Any], path: Path) -> Path:
    """Write ``checkpoint`` to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(checkpoint, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a loadable checkpoint: {error}") from error


#: The parts every checkpoint has (:meth:`~mlflow_improvenn.training.loop.Trainer.checkpoint`).
REQUIRED_KEYS = ("epoch", "model", "optimizer", "schedule", "early_stopping", "scaler", "rng",
                 "config")
#: Parts that either side may lack: the best snapshot inside a ``last.pt`` (checked on its
#: own), and CUDA's generator state (a run may move between CPU and CUDA on resume).
_OPTIONAL = {"": ("best",), "rng": ("cuda",)}
_SHOWN_CHARACTERS = 80


def shown(text: object) -> str:
    """A value from an untrusted file as it may appear in a message: quoted, control
    characters escaped (no terminal sequence runs), cut to a few dozen characters."""
    quoted = repr(str(text))
    return quoted if len(quoted) <= _SHOWN_CHARACTERS else quoted[:_SHOWN_CHARACTERS] + "...'"


def saved_options(checkpoint: Any) -> dict[str, Any]:
    """The options a checkpoint was trained with, parsed by the command line's rules.

    A checkpoint is untrusted input (anyone who can write the run's artifacts can change it),
    so its outline is checked before anything is read: a dict with :data:`REQUIRED_KEYS`, a
    whole ``epoch`` from 1 on, a ``config`` of option names to text holding every option
    but those the resuming command gives itself
    (:data:`~mlflow_improvenn.training.options.RESUME_OVERRIDES`). Raises
    :class:`CheckpointError` saying what is wrong without repeating the file's contents.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"it holds a {type(checkpoint).__name__}, not a checkpoint")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"it has no {', '.join(missing)}")
    epoch = checkpoint["epoch"]
    if type(epoch) is not int or epoch < 1:
        raise CheckpointError("its epoch is not a whole number from 1 on")
    config = checkpoint["config"]
    if not isinstance(config, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in config.items()
    ):
        raise CheckpointError("its config is not a table of option names and their text")
    absent = [name for name in option_specs() if name not in config
              and name not in RESUME_OVERRIDES]
    if absent:
        raise CheckpointError(f"its config has no value for {', '.join(absent)}")
    options = {}
    for name in option_specs():
        if name in config:
            try:
                options[name] = parse_value(name, config[name])
                check_option(name, options[name])
            except ConfigError as error:
                raise CheckpointError(f"its {name} is not valid ({_why(error)})") from None
    return options


def resumed_config(saved: dict[str, Any], given: TrainConfig) -> TrainConfig:
    """The options of a resumed run: ``saved`` (from :func:`saved_options`) but for
    :data:`~mlflow_improvenn.training.options.RESUME_OVERRIDES`, taken from ``given``.

    A checkpoint does not choose which local file is read: a run on a ``csv:``/``parquet:``
    file resumes only when ``given`` names the same dataset and target. Raises
    :class:`ConfigError` for that, :class:`CheckpointError` for options that do not go
    together.
    """
    dataset, target = saved["dataset"], saved.get("target", "")
    if dataset.startswith(("csv:", "parquet:")) and (given.dataset, given.target) != (
        dataset, target
    ):
        raise ConfigError(
            "dataset", f"the run to resume trained on the file {shown(dataset)}, target "
            f"{shown(target)}; a resumed run reads a file only when you name it: give the same "
            "dataset and target",
        )
    try:
        return TrainConfig(**(saved | {k: getattr(given, k) for k in RESUME_OVERRIDES}))
    except ConfigError as error:
        raise CheckpointError(f"its {error.option} is not valid ({_why(error)})") from None


def _why(error: ConfigError) -> str:
    """The rule a value broke, without the value when it is text from the file (``'x' is not
    one of: ...``, ``'x' is not a valid float``: the rule follows the last ``is not``)."""
    if "is not a valid" in error.message or "is not one of" in error.message:
        return "not " + error.message.rsplit(" is not ", 1)[1]
    return error.message


def check_resumable(
    checkpoint: dict[str, Any], fresh: dict[str, Any], shapes: list[torch.Size]
) -> None:
    """Refuse a checkpoint whose parts do not fit the trainer its options build.

    ``fresh`` is that trainer's own checkpoint before training
    (:meth:`~mlflow_improvenn.training.loop.Trainer.checkpoint`): every tensor of the
    checkpoint must have its shape and dtype and be finite, every table its keys, every
    number be a number, every text its text (torch's schedulers copy their saved state into
    their attributes, so nothing foreign may slip in). The optimizer's per-parameter state
    is checked against ``shapes``, the optimizer's parameters' in order; the early-stopping
    state and the best snapshot inside a ``last.pt`` against the epoch. Raises
    :class:`CheckpointError`.
    """
    _check_like(checkpoint, fresh, "", shapes)
    epoch = checkpoint["epoch"]
    best_epoch = checkpoint["early_stopping"]["best_epoch"]
    if not isinstance(best_epoch, int) or not 0 <= best_epoch <= epoch:
        raise CheckpointError(f"its best epoch is not between 0 and its epoch ({epoch})")
    if "best" in checkpoint:
        best = checkpoint["best"]
        if not isinstance(best, dict) or "best" in best:
            raise CheckpointError("its best snapshot is not a checkpoint")
        _check_like(best, fresh, "best", shapes)
        if type(best["epoch"]) is not int or not 1 <= best["epoch"] <= epoch:
            raise CheckpointError(f"its best snapshot is not of an epoch from 1 to {epoch}")


def _check_like(saved: Any, fresh: Any, where: str, shapes: list[torch.Size]) -> None:
    """``saved`` has the outline of ``fresh`` (see :func:`check_resumable`)."""
    if isinstance(fresh, torch.Tensor):
        _check_tensor(saved, fresh.shape, fresh.dtype, where)
    elif isinstance(fresh, dict):
        _check_table(saved, fresh, where, shapes)
    elif isinstance(fresh, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(fresh):
            raise CheckpointError(f"{where} is not a list of {len(fresh)}")
        for index, (item, reference) in enumerate(zip(saved, fresh, strict=True)):
            _check_like(item, reference, f"{where}.{index}", shapes)
    elif isinstance(fresh, (bool, str)):
        if type(saved) is not type(fresh) or (isinstance(fresh, str) and saved != fresh):
            raise CheckpointError(f"{where} is not the {type(fresh).__name__} expected")
    elif isinstance(fresh, (int, float)) or fresh is None:  # None: a value not yet known
        if not (saved is None and fresh is None) and not _is_number(saved):
            raise CheckpointError(f"{where} is not a number")
    else:
        raise CheckpointError(f"{where} holds a {type(fresh).__name__}, which cannot be checked")


def _check_table(
    saved: Any, fresh: dict[str, Any], where: str, shapes: list[torch.Size]
) -> None:
    if not isinstance(saved, dict):
        raise CheckpointError(f"{where or 'it'} is not a table")
    part = where.removeprefix("best").lstrip(".")
    if part == "optimizer":
        _check_optimizer(saved, fresh, where, shapes)
        return
    if part == "scaler" and not (fresh and saved):
        if fresh:  # torch refuses to load an empty state into an enabled scaler
            raise CheckpointError("it was trained without mixed precision: resume it with "
                                  "amp=false")
        return  # mixed precision is off: torch ignores the saved scaler state
    optional = _OPTIONAL.get(part, ())
    missing = [str(k) for k in fresh if k not in saved and k not in optional]
    if missing:
        raise CheckpointError(f"{where or 'it'} has no {', '.join(missing)}")
    extra = [k for k in saved if k not in fresh and k not in optional]
    if extra:
        raise CheckpointError(f"{where or 'it'} holds {len(extra)} unexpected part(s)")
    for key, reference in fresh.items():
        if key not in saved or (key == "config" and part == ""):
            continue  # an optional part; the config is read by saved_options
        _check_like(saved[key], reference, f"{where}.{key}" if where else str(key), shapes)


def _check_optimizer(
    saved: dict[str, Any], fresh: dict[str, Any], where: str, shapes: list[torch.Size]
) -> None:
    """Param groups as the fresh optimizer's; per-parameter state shaped as its parameter."""
    _check_table({k: v for k, v in saved.items() if k != "state"},
                 {k: v for k, v in fresh.items() if k != "state"}, f"{where}.groups", shapes)
    groups = zip(saved["param_groups"], fresh["param_groups"], strict=True)
    if any(group["params"] != reference["params"] for group, reference in groups):
        raise CheckpointError(f"{where} does not hold this network's parameters")
    state = saved.get("state")
    if not isinstance(state, dict) or not set(state) <= set(range(len(shapes))):
        raise CheckpointError(f"{where}.state does not belong to this network's parameters")
    for index, values in state.items():
        if not isinstance(values, dict):
            raise CheckpointError(f"{where}.state.{index} is not a table")
        for name, value in values.items():
            label = f"{where}.state.{index}.{shown(name)}"
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                raise CheckpointError(f"{label} is not a tensor of numbers")
            _check_tensor(value, value.shape if value.dim() == 0 else shapes[index],
                          value.dtype, label)


def _check_tensor(saved: Any, shape: torch.Size, dtype: torch.dtype, where: str) -> None:
    if not isinstance(saved, torch.Tensor):
        raise CheckpointError(f"{where} is not a tensor")
    if saved.shape != shape or saved.dtype != dtype:
        raise CheckpointError(
            f"{where} is a {tuple(saved.shape)} {saved.dtype} tensor where this trainer "
            f"has {tuple(shape)} {dtype}"
        )
    if saved.is_floating_point() and not torch.isfinite(saved).all():
        raise CheckpointError(f"{where} holds NaN or infinite values")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
