"""How a split's batches reach the model: tensor slices in memory, or a streaming DataLoader.

Data that fits in memory stays on the device as whole tensors and batches are index slices of
a seeded permutation (no DataLoader: on small data its per-batch overhead dominates). A
``torch.utils.data.Dataset`` or ``DataLoader`` streams through a DataLoader instead, so data
larger than memory trains. Either way a batch is ``(x, y)``; ``x`` may be a tensor, or a tuple
or dict of tensors, which :func:`forward` passes as ``model(*x)`` or ``model(**x)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

Inputs = Any  # a tensor, or a tuple/list or dict of tensors
_EVAL_CHUNK = 8192
_EVAL_BATCH = 1024


def forward(model: nn.Module, x: Inputs) -> torch.Tensor:
    """``model(x)``, ``model(*x)`` for a tuple or list, ``model(**x)`` for a dict."""
    if isinstance(x, dict):
        return model(**x)
    if isinstance(x, tuple | list):
        return model(*x)
    return model(x)


def to_device(x: Inputs, device: torch.device, non_blocking: bool = False) -> Inputs:
    """``x`` (a tensor, or a tuple/list/dict of them) on ``device``."""
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=non_blocking)
    if isinstance(x, dict):
        return {k: to_device(v, device, non_blocking) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return type(x)(to_device(v, device, non_blocking) for v in x)
    return x


@dataclass(frozen=True)
class Split:
    """One in-memory split as device tensors, targets in the form the objective expects."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def train_batches(
        self, generator: torch.Generator, batch_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled mini-batches; a last batch of one row joins the one before (BatchNorm)."""
        order = torch.randperm(len(self), generator=generator).to(self.x.device)
        batches = list(order.split(batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2:] = [torch.cat(batches[-2:])]
        for batch in batches:
            yield self.x[batch], self.y[batch]

    def eval_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), _EVAL_CHUNK):
            yield self.x[start:start + _EVAL_CHUNK], self.y[start:start + _EVAL_CHUNK]

    def target_variance(self) -> float:
        return float(self.y.float().var(unbiased=False))


class StreamSplit:
    """A split read batch by batch from a DataLoader, moved to ``device`` as it arrives.

    Given a ``Dataset``, the loader is built on first use with the trainer's batch size and
    seeded generator (so shuffling is reproducible and resumable), ``num_workers`` worker
    processes kept alive across epochs, and pinned memory on CUDA. Given a ``DataLoader``, it
    is used as it is. Targets are cast to ``target_dtype`` (int64 class indices, or float32).
    """

    def __init__(
        self,
        source: Dataset | DataLoader,
        device: torch.device,
        target_dtype: torch.dtype,
        num_workers: int = 0,
        shuffle: bool = False,
    ) -> None:
        self.source = source
        self.device = device
        self.target_dtype = target_dtype
        self.num_workers = num_workers
        self.shuffle = shuffle
        given = source if isinstance(source, DataLoader) else None
        self._loaders: dict[str, DataLoader | None] = {"train": given, "eval": given}

    def __len__(self) -> int:
        """Examples in the split; raises TypeError for an iterable dataset without a length."""
        source = self.source
        return len(source.dataset if isinstance(source, DataLoader) else source)  # type: ignore

    def loader(self, batch_size: int, generator: torch.Generator | None = None) -> DataLoader:
        """The training DataLoader (shuffled for the train split with ``generator``), built
        once: persistent workers live as long as it does."""
        if self._loaders["train"] is None:
            self._loaders["train"] = self._build(batch_size, self.shuffle, generator)
        return self._loaders["train"]

    def train_batches(self, generator: torch.Generator, batch_size: int) -> Iterator[tuple]:
        return self._batches(self.loader(batch_size, generator))

    def eval_batches(self) -> Iterator[tuple]:
        """Batches in order, for evaluation (the given DataLoader, or one of 1,024 rows)."""
        if self._loaders["eval"] is None:
            self._loaders["eval"] = self._build(_EVAL_BATCH, False, None)
        return self._batches(self._loaders["eval"])

    def target_variance(self) -> float:
        """Variance of the targets, from one pass that reads them (population variance)."""
        count, total, squares = 0, 0.0, 0.0
        for _, y in self.eval_batches():
            y = y.double()
            count += y.numel()
            total += float(y.sum())
            squares += float((y * y).sum())
        mean = total / max(count, 1)
        return squares / max(count, 1) - mean * mean

    def _build(self, batch_size: int, shuffle: bool, generator: torch.Generator | None
               ) -> DataLoader:
        return DataLoader(
            self.source, batch_size=batch_size, shuffle=shuffle, generator=generator,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
            pin_memory=self.device.type == "cuda",
        )

    def _batches(self, loader: DataLoader) -> Iterator[tuple]:
        pinned = self.device.type == "cuda"
        for batch in loader:
            x, y = split_batch(batch)
            yield (to_device(x, self.device, pinned),
                   y.to(self.device, dtype=self.target_dtype, non_blocking=pinned))


def split_batch(batch: Any) -> tuple[Inputs, torch.Tensor]:
    """``(x, y)`` of a collated batch; anything else is refused with what was found."""
    if isinstance(batch, tuple | list) and len(batch) == 2:
        x, y = batch
        if isinstance(y, torch.Tensor):
            return x, y
    raise TypeError(
        f"a batch must be (x, y) with y a tensor; the data gave {_describe(batch)}"
    )


def _describe(batch: Any) -> str:
    if isinstance(batch, torch.Tensor):
        return f"a tensor of shape {tuple(batch.shape)}"
    if isinstance(batch, tuple | list):
        return f"a {type(batch).__name__} of {len(batch)} items"
    return f"a {type(batch).__name__}"
