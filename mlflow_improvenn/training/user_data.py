"""The user's own data as training splits: arrays in memory, or a Dataset/DataLoader streamed.

``(X, y)`` (numpy arrays, tensors, a pandas DataFrame and Series) stays on the device as
whole tensors: the fast tensor-slice path of the built-in data. A ``Dataset`` or
``DataLoader`` streams (:class:`~mlflow_improvenn.training.feeds.StreamSplit`). The task is
inferred from an in-memory ``y`` by the rules of the built-in data (a numeric target with
fractions or more than 20 values is a regression; 2 classes binary; more multiclass); a
streamed split's targets cannot be seen without a pass over them, so there it must be given.
Class labels in memory are encoded as 0..K-1 in their sorted order, learned from the train
split. Every refusal is a :class:`ConfigError` naming the argument (``train``, ``dev``,
``test`` or ``task``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from mlflow_improvenn.training.data import resolve_task
from mlflow_improvenn.training.feeds import Inputs, Split, StreamSplit
from mlflow_improvenn.training.options import ConfigError

TASKS = ("binary", "multiclass", "regression")
SPLITS = ("train", "dev", "test")


@dataclass
class UserSplits:
    """The splits ready for the trainer, and what the run logs about the data."""

    splits: dict[str, Split | StreamSplit]
    task: str
    source: str  # e.g. "arrays", "Dataset:MemmapRows", "DataLoader"
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    example: Any = field(default=None, repr=False)  # a few training inputs, on the CPU

    @property
    def streamed(self) -> bool:
        return any(isinstance(s, StreamSplit) for s in self.splits.values())

    def sizes(self) -> dict[str, int]:
        """Examples per split (0 for a split not given, or one whose length is unknown)."""
        sizes = {}
        for name in SPLITS:
            try:
                sizes[name] = len(self.splits[name]) if name in self.splits else 0
            except TypeError:  # an IterableDataset
                sizes[name] = 0
        return sizes


def user_splits(
    given: dict[str, Any], task: str | None, device: torch.device, num_workers: int = 0
) -> UserSplits:
    """Turn ``{"train": ..., "dev": ..., "test": ... or None}`` into device splits."""
    if task is not None and task not in TASKS:
        raise ConfigError("task", f"{task!r} is not one of: {', '.join(TASKS)}")
    given = {name: data for name, data in given.items() if data is not None}
    if _is_stream(given["train"]) or any(_is_stream(d) for d in given.values()):
        if task is None:
            raise ConfigError("task", "give the task (binary, multiclass or regression) for "
                              "a Dataset or DataLoader: its targets are only read while training")
        return _streamed(given, task, device, num_workers)
    return _in_memory(given, task, device)


def _is_stream(data: Any) -> bool:
    return isinstance(data, Dataset | DataLoader)


def _streamed(given: dict[str, Any], task: str, device: torch.device, workers: int) -> UserSplits:
    dtype = torch.int64 if task == "multiclass" else torch.float32
    splits = {}
    for name, data in given.items():
        if not _is_stream(data):
            raise ConfigError(name, "give every split the same way: all Datasets/DataLoaders, "
                              "or all (X, y) arrays")
        splits[name] = StreamSplit(data, device, dtype, workers, shuffle=name == "train")
    train = given["train"]
    kind = "DataLoader" if isinstance(train, DataLoader) else f"Dataset:{type(train).__name__}"
    return UserSplits(splits, task, kind)


def _in_memory(given: dict[str, Any], task: str | None, device: torch.device) -> UserSplits:
    pairs = {name: _pair(name, data) for name, data in given.items()}
    x_train, y_train = pairs["train"]
    task = task or resolve_task(pd.Series(y_train), "auto")
    classes = _classes(y_train) if task != "regression" else []
    splits = {}
    for name, (x, y) in pairs.items():
        if len(x) != len(y):
            raise ConfigError(name, f"X has {len(x)} rows and y {len(y)}")
        targets = _encoded(name, y, task, classes)
        splits[name] = Split(torch.as_tensor(x, device=device), targets.to(device))
    features = given["train"][0]
    names = tuple(map(str, features.columns)) if isinstance(features, pd.DataFrame) else ()
    return UserSplits(splits, task, "arrays", tuple(map(str, classes)), names, x_train[:5])


def _pair(name: str, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """(X as float32, y) of an ``(X, y)`` pair, or a ConfigError saying what was given."""
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise ConfigError(
            name, f"give (X, y) arrays, a torch Dataset or a DataLoader, not {type(data).__name__}"
        )
    x, y = (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for v in data)
    if isinstance(x, pd.DataFrame):
        non_numeric = [str(c) for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
        if non_numeric:
            raise ConfigError(name, f"non-numeric column(s) {', '.join(non_numeric)}: encode "
                              "them first (e.g. pandas.get_dummies)")
    x = np.array(x, dtype=np.float32)  # a copy: the caller's arrays stay theirs
    y = np.asarray(y)
    if x.ndim < 2 or y.ndim != 1:
        raise ConfigError(name, f"X must have one row per example (2 or more dimensions) and y "
                          f"one value per row; got X {x.shape}, y {y.shape}")
    if not np.isfinite(x).all():
        raise ConfigError(name, "X holds NaN or infinite values")
    return x, y


def _classes(y: np.ndarray) -> list[Any]:
    labels = list(pd.unique(y))
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def _encoded(name: str, y: np.ndarray, task: str, classes: list[Any]) -> torch.Tensor:
    if task == "regression":
        return torch.as_tensor(y.astype(np.float32))
    index = {label: i for i, label in enumerate(classes)}
    unknown = sorted({str(v) for v in pd.unique(y) if v not in index})
    if unknown:
        raise ConfigError(name, f"labels not in the train split: {', '.join(unknown[:5])}")
    if task == "binary" and len(classes) != 2:
        raise ConfigError("task", f"binary needs 2 classes, the train split has {len(classes)}")
    codes = np.array([index[v] for v in y], dtype=np.int64)
    return torch.as_tensor(codes if task == "multiclass" else codes.astype(np.float32))


def first_batch(split: Split | StreamSplit) -> tuple[Inputs, torch.Tensor]:
    """A few examples of ``split`` (on its device), to check the model on before training."""
    for x, y in split.eval_batches():
        return x, y
    raise ConfigError("train", "the train split is empty")
