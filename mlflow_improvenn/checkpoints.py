"""Checkpoints: an in-memory snapshot of the best epoch, written atomically, read safely.

The snapshot holds everything a resumed run needs (weights, optimizer, schedule,
early-stopping state, epoch, config). Files are written to a temporary name and renamed,
so a crash never leaves a truncated ``best.pt``; they are read with ``weights_only=True``,
so a crafted pickle cannot run code.
"""

from __future__ import annotations

import copy
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read as one."""


def snapshot_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the weights, independent of further training."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def snapshot(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule_state: dict[str, Any],
    stopper_state: dict[str, Any],
    epoch: int,
    config: dict[str, str],
) -> dict[str, Any]:
    """Everything needed to continue training from ``epoch``."""
    return {
        "epoch": epoch,
        "model": snapshot_weights(model),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "schedule": copy.deepcopy(schedule_state),
        "early_stopping": dict(stopper_state),
        "config": dict(config),
    }


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
