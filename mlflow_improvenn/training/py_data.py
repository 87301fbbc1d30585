"""``dataset=py:FILE.py:FUNCTION`` (or ``py:MODULE:FUNCTION``): data from the user's own loader.

The loader is called with no arguments (or ``seed=`` when it names that parameter) and
returns one of:

- ``(X, y)``: arrays, tensors or a DataFrame and Series; split train/dev/test with the seed
  like a file. ``X`` with 3 dimensions (n, height, width) is images: its rows are flattened
  and the shape is given to a model factory that names ``image_shape``;
- a pandas DataFrame holding a ``target`` column (or the one ``target=`` names): a file;
- a dict of splits, ``{"train": ..., "dev": ..., "test": ...}``, each ``(X, y)`` (kept as
  given, not re-split), or each a ``torch.utils.data.Dataset`` (``test`` optional), which
  streams through a DataLoader (and needs a model of the user's, and ``task=``).

Anything else is a :class:`~mlflow_improvenn.training.data.DataError` naming ``dataset``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from mlflow_improvenn.training.data import SPLIT_COLUMN, DataError
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from mlflow_improvenn.training.user_code import accepted_keywords, load_function

PREFIX = "py:"
_SPLITS = ("train", "dev", "test")
_CONTRACT = ("a loader returns (X, y), a DataFrame with a target column, or a dict of "
             "train/dev[/test] splits, each (X, y) or each a torch Dataset")


def is_py(config: TrainConfig) -> bool:
    return config.dataset.startswith(PREFIX)


def streamed_datasets(config: TrainConfig) -> dict[str, Any] | None:
    """The loader's Datasets by split when it returned Datasets, else None."""
    if not is_py(config):
        return None
    loaded = _loaded(config.dataset, config.seed)
    if isinstance(loaded, dict) and _all_datasets(loaded.values()):
        return dict(loaded)
    return None


def load_frame(config: TrainConfig) -> tuple[pd.DataFrame, str, tuple[int, ...] | None]:
    """(rows with the target, its column, the image shape): the loader's data as a table; a
    dict of splits gives each row's split in :data:`SPLIT_COLUMN`."""
    loaded = _loaded(config.dataset, config.seed)
    target = config.target or "target"
    if isinstance(loaded, pd.DataFrame):
        if target not in loaded.columns:
            raise DataError("target", f"the loader's DataFrame has no column {target!r} "
                            f"(columns: {', '.join(map(str, loaded.columns))})")
        return loaded.reset_index(drop=True), target, None
    if isinstance(loaded, tuple | list) and len(loaded) == 2:
        return _pair_frame(loaded, target)
    if isinstance(loaded, dict) and set(loaded) >= {"train", "dev"} and set(loaded) <= set(_SPLITS):
        if _all_datasets(loaded.values()):
            raise DataError("model", "the loader returns Datasets, which stream: give your own "
                            "model (--model FILE.py:FUNCTION) and the task (--task)")
        if "test" not in loaded:
            raise DataError("dataset", f"{config.dataset} returned no test split; {_CONTRACT}")
        frames, shape = [], None
        for name in _SPLITS:
            if name in loaded:
                frame, _, shape = _pair_frame(loaded[name], target, name)
                frames.append(frame.assign(**{SPLIT_COLUMN: name}))
        return pd.concat(frames, ignore_index=True), target, shape
    raise DataError("dataset", f"{config.dataset} returned {_describe(loaded)}; {_CONTRACT}")


def _pair_frame(
    pair: Any, target: str, split: str = ""
) -> tuple[pd.DataFrame, str, tuple[int, ...] | None]:
    where = f" ({split})" if split else ""
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        raise DataError("dataset", f"split {split} is {_describe(pair)}, not (X, y); {_CONTRACT}")
    x, y = (_array(v) for v in pair)
    if len(x) != len(y) or np.ndim(y) != 1:
        raise DataError("dataset", f"the loader's X{where} has shape {np.shape(x)} and y "
                        f"{np.shape(y)}: y must hold one value per row of X")
    if isinstance(x, pd.DataFrame):
        return x.assign(**{target: np.asarray(y)}).reset_index(drop=True), target, None
    if x.ndim < 2 or x.ndim > 3:
        raise DataError("dataset", f"the loader's X{where} has shape {x.shape}: give rows of "
                        "features (n, features) or images (n, height, width)")
    shape = tuple(x.shape[1:]) if x.ndim == 3 else None
    rows = x.reshape(len(x), -1)
    columns = [f"x{i + 1}" for i in range(rows.shape[1])]
    return pd.DataFrame(rows, columns=columns).assign(**{target: np.asarray(y)}), target, shape


@functools.lru_cache(maxsize=4)
def _loaded(dataset: str, seed: int) -> Any:
    """The loader's result, once per process for a data set and seed (trials reuse it)."""
    try:
        loader = load_function("dataset", dataset.removeprefix(PREFIX))
    except ConfigError as error:
        raise DataError("dataset", error.message) from error
    keywords = accepted_keywords(loader)
    kwargs = {"seed": seed} if keywords is None or "seed" in keywords else {}
    try:
        return loader(**kwargs)
    except Exception as error:
        raise DataError("dataset", f"{dataset} raised {type(error).__name__}: {error}") from error


def _array(value: Any) -> Any:
    """A DataFrame or Series as it is; a tensor or anything array-like as a numpy array."""
    if isinstance(value, pd.DataFrame | pd.Series):
        return value
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _all_datasets(values: Any) -> bool:
    from torch.utils.data import Dataset

    values = list(values)
    return bool(values) and all(isinstance(v, Dataset) for v in values)


def _describe(value: Any) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict with keys {', '.join(map(str, value))}"
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape else "")
