"""Data sets: generated classics, scikit-learn's bundled sets and the user's own files.

Everything ends as a :class:`DataSplits`: seeded train/dev/test arrays plus the train
split's statistics, which the model applies itself so that the logged model takes raw
features.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlflow_improvenn.training.encoding import EncodingError, FeatureEncoder, is_categorical
from mlflow_improvenn.training.options import ConfigError, TrainConfig

GENERATED = ("moons", "circles", "spiral", "planar")
BUNDLED = ("digits", "breast_cancer", "wine", "diabetes")
DEFAULT_GENERATED_SAMPLES = 1000
_MAX_CLASSES_FOR_INFERENCE = 20
_MAX_CATEGORIES = 50
#: The shapes of the generated sets, shared with the Bayes error computed from them.
CIRCLES_FACTOR = 0.5
SPIRAL_ARMS = 3
SPIRAL_TURN = 4.0  # radians of arm angle per unit of radius
PETAL_SPAN = 3.12  # radians of flower angle per class
PETAL_LENGTH = 4.0
PETAL_FREQUENCY = 4.0


#: The column that carries each row's split when a ``py:`` loader gave the splits.
SPLIT_COLUMN = "__improvenn_split__"


class DataError(ConfigError):
    """The data named by the options cannot be used; ``option`` says which option."""


@dataclass(frozen=True)
class DataSplits:
    """Seeded splits, ready for training. Features are encoded (categories one-hot) but not
    scaled; targets are encoded. ``encoder`` turns raw rows into such features at predict
    time, ``class_labels`` are the classes as the file holds them (``class_names`` as text),
    ``example`` a few raw rows of the file (the logged model's input example)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_dev: np.ndarray
    y_dev: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float = 0.0
    target_std: float = 1.0
    image_shape: tuple[int, int] | None = None
    encoder: FeatureEncoder | None = None
    class_labels: tuple[Any, ...] = ()
    example: pd.DataFrame | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def output_size(self) -> int:
        return self.n_classes if self.task == "multiclass" else 1


def load(config: TrainConfig) -> DataSplits:
    """Load, check, split and summarise the data set that ``config`` names."""
    frame, target, image_shape = _load_frame(config)
    given_splits = frame.pop(SPLIT_COLUMN).to_numpy() if SPLIT_COLUMN in frame else None
    raw = frame.drop(columns=[target])
    encoder, features = _encode_features(raw)
    task = resolve_task(frame[target], config.task)
    y, labels = _encode_target(frame[target], task)
    x = _as_float32(features.to_numpy(dtype=np.float64), features.columns)
    names = tuple(str(label) for label in labels)
    splits = _split(config, x, y, task, tuple(features.columns), names, image_shape,
                    given_splits)
    return dataclasses.replace(splits, encoder=encoder, class_labels=labels, example=raw.head(5))


def _load_frame(config: TrainConfig) -> tuple[pd.DataFrame, str, tuple[int, int] | None]:
    name = config.dataset
    if name in GENERATED:
        n = config.n_samples or DEFAULT_GENERATED_SAMPLES
        x, y = generate(name, n, config.noise, np.random.default_rng(config.seed))
        frame = pd.DataFrame(x, columns=["x1", "x2"]).assign(y=y)
        return frame, "y", None
    if name in BUNDLED:
        return _load_bundled(name, config)
    if config.is_file_dataset:
        return _load_file(config), config.target, None
    if name.startswith("py:"):
        from mlflow_improvenn.training import py_data

        return py_data.load_frame(config)
    allowed = ", ".join((*GENERATED, *BUNDLED, "csv:PATH", "parquet:PATH", "py:FILE.py:FUNCTION"))
    raise DataError("dataset", f"{name!r} is not one of: {allowed}")


def generate(
    name: str, n: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of the generated set ``name`` (one of :data:`GENERATED`): features of shape
    (n, 2) and integer labels of shape (n,), the classes in equal shares."""
    return _GENERATORS[name](n, noise, rng)


def _load_bundled(name: str, config: TrainConfig) -> tuple[pd.DataFrame, str, tuple | None]:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns={bunch.target.name: "target"})
    if config.n_samples and config.n_samples < len(frame):
        frame = frame.sample(n=config.n_samples, random_state=config.seed)
    image_shape = (8, 8) if name == "digits" else None
    return frame.reset_index(drop=True), "target", image_shape


def _load_file(config: TrainConfig) -> pd.DataFrame:
    kind, _, path_text = config.dataset.partition(":")
    path = Path(path_text)
    if not path.is_file():
        raise DataError("dataset", f"{kind} file {str(path)!r} does not exist")
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, OSError) as error:
        raise DataError("dataset", f"cannot read {kind} file {str(path)!r}: {error}") from error
    if frame.empty:
        raise DataError("dataset", f"{kind} file {str(path)!r} has no rows")
    nested = [str(c) for c in frame.columns if not frame[c].map(pd.api.types.is_scalar).all()]
    if nested:
        raise DataError(
            "dataset", f"column(s) {', '.join(nested)} of {path} hold lists, arrays or structs, "
            "not single values; flatten them into plain columns (or drop them) first",
        )
    if config.target not in frame.columns:  # the header is the file's text: not repeated
        raise DataError("target", f"column {config.target!r} is not in {path}: it has "
                        f"{frame.shape[1]} columns, and the target must be one of them, spelled "
                        "as in its header")
    missing = [str(c) for c in frame.columns if frame[c].isna().any()]
    if missing:
        raise DataError(
            "dataset", f"missing values in column(s) {', '.join(missing)} of {path}; "
            "fill or drop them first",
        )
    if config.n_samples and config.n_samples < len(frame):
        frame = frame.sample(n=config.n_samples, random_state=config.seed)
    return frame.reset_index(drop=True)


def _encode_features(features: pd.DataFrame) -> tuple[FeatureEncoder, pd.DataFrame]:
    """One-hot encode string, boolean and categorical columns; everything else must be
    numeric. The encoder is kept: the logged model encodes raw rows with it."""
    if features.shape[1] == 0:
        raise DataError("dataset", "the data has no feature columns besides the target")
    categorical = [c for c in features.columns if is_categorical(features[c])]
    too_many = [str(c) for c in categorical if features[c].nunique() > _MAX_CATEGORIES]
    if too_many:
        raise DataError(
            "dataset", f"non-numeric column(s) {', '.join(too_many)} have over "
            f"{_MAX_CATEGORIES} distinct values: not categorical; drop or encode them first",
        )
    encoder = FeatureEncoder.fit(features)
    try:
        return encoder, encoder.encode(features)
    except EncodingError as error:
        raise DataError("dataset", str(error)) from error


def resolve_task(target: pd.Series, requested: str) -> str:
    """The task ``requested``, or the one inferred from the target (see the README's Data)."""
    if requested != "auto":
        if requested == "regression" and not pd.api.types.is_numeric_dtype(target):
            raise DataError("task", "regression needs a numeric target column")
        return requested
    n_values = target.nunique()
    is_numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    if is_numeric and (
        pd.api.types.is_float_dtype(target) and not _all_integral(target)
        or n_values > _MAX_CLASSES_FOR_INFERENCE
    ):
        return "regression"
    return "binary" if n_values <= 2 else "multiclass"


def _all_integral(values: pd.Series) -> bool:
    return bool(np.all(np.mod(values.to_numpy(dtype=float), 1.0) == 0.0))


def _sorted_classes(target: pd.Series) -> list:
    """Labels in their natural order (2 before 10), as text where they do not compare."""
    labels = list(target.unique())
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def _encode_target(target: pd.Series, task: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    """The target as the objective takes it, and the classes as the file holds them (plain
    Python values: a served model returns them, and JSON must carry them)."""
    if task == "regression":
        y = _as_float32(target.to_numpy(dtype=np.float64).reshape(-1, 1), [target.name])
        return y.reshape(-1), ()
    classes = _sorted_classes(target)
    if len(classes) < 2:
        raise DataError("target", f"column {target.name!r} has a single class: nothing to learn")
    if task == "binary" and len(classes) > 2:
        raise DataError(
            "task", f"binary needs 2 classes, column {target.name!r} has {len(classes)}"
        )
    index = {c: i for i, c in enumerate(classes)}
    y = target.map(index).to_numpy(dtype=np.int64)
    return y, tuple(c.item() if isinstance(c, np.generic) else c for c in classes)


def _as_float32(values: np.ndarray, columns: object) -> np.ndarray:
    """``values`` (rows, columns) as the float32 the model computes in. NaN and infinite
    values are refused, and so are finite ones float32 cannot hold (beyond about 3.4e38,
    such as 1e308): the cast would make them infinite."""
    names = list(columns)
    _refuse_columns(~np.isfinite(values).all(axis=0), names, "NaN or infinite values")
    limit = float(np.finfo(np.float32).max)
    _refuse_columns((np.abs(values) > limit).any(axis=0), names,
                    f"values beyond float32's range (+-{limit:.3g})", "rescale them")
    return values.astype(np.float32)


def _refuse_columns(bad: np.ndarray, columns: list, what: str, advice: str = "") -> None:
    if bad.any():
        names = ", ".join(str(c) for c, b in zip(columns, bad, strict=True) if b)
        advice = f": {advice}" if advice else ""
        raise DataError("dataset", f"{what} in column(s) {names}{advice}")


def _split(
    config: TrainConfig,
    x: np.ndarray,
    y: np.ndarray,
    task: str,
    feature_names: tuple[str, ...],
    class_names: tuple[str, ...],
    image_shape: tuple[int, int] | None,
    given_splits: np.ndarray | None = None,
) -> DataSplits:
    """Split with the seed, or as the loader gave it (``given_splits``: each row's split)."""
    n = len(x)
    n_dev = int(round(n * config.dev_fraction))
    n_test = int(round(n * config.test_fraction))
    if given_splits is not None:
        n_dev, n_test = int((given_splits == "dev").sum()), int((given_splits == "test").sum())
    n_train = n - n_dev - n_test
    n_classes = len(class_names)
    if min(n_dev, n_test) < 1 or n_train < max(2, n_classes):
        raise DataError(
            "dataset", f"{n} rows are too few for a train/dev/test split "
            f"({n_train}/{n_dev}/{n_test}) of a {task} task with {n_classes or 'no'} classes",
        )
    if given_splits is not None:  # as the loader gave them, each in its order
        train, dev, test = (np.flatnonzero(given_splits == s) for s in ("train", "dev", "test"))
    elif task == "regression":
        order = np.random.default_rng(config.seed).permutation(n)
        train, dev, test = order[:n_train], order[n_train:n_train + n_dev], order[n_train + n_dev:]
    else:
        train, dev, test = _stratified_split(y, class_names, n_dev, n_test, config.seed)
    train = _share(train, config.train_fraction, max(2, n_classes))
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std[std == 0] = 1.0
    target_mean, target_std = 0.0, 1.0
    if task == "regression":
        target_mean = float(y[train].mean())
        target_std = float(y[train].std()) or 1.0
    return DataSplits(
        x_train=x[train], y_train=y[train], x_dev=x[dev], y_dev=y[dev],
        x_test=x[test], y_test=y[test], task=task,
        n_classes=n_classes if task == "multiclass" else (2 if task == "binary" else 0),
        feature_names=feature_names, class_names=class_names,
        feature_mean=mean.astype(np.float32), feature_std=std.astype(np.float32),
        target_mean=target_mean, target_std=target_std, image_shape=image_shape,
    )


def _stratified_split(
    y: np.ndarray, class_names: tuple[str, ...], n_dev: int, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train, dev and test, each holding the classes in the shares of the
    whole (scikit-learn's stratified ``train_test_split``): a plain shuffle can leave a rare
    class out of the train split, and the run then learns nothing about it, silently.
    Raises :class:`DataError` naming a class with too few rows to be in every split."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y, minlength=len(class_names))
    rare = [f"{class_names[i]!r} ({counts[i]})" for i in np.flatnonzero(counts < 3)]
    if rare:
        raise DataError("target", f"class(es) {', '.join(rare)} have fewer than 3 rows: "
                        "too few for one in each of the train, dev and test splits")
    for option, size in (("dev_fraction", n_dev), ("test_fraction", n_test)):
        if size < len(class_names):
            raise DataError(option, f"a split of {size} rows cannot hold each of the "
                            f"{len(class_names)} classes; raise {option} (or n_samples)")
    rows = np.arange(len(y))
    try:
        rest, test = train_test_split(rows, test_size=n_test, random_state=seed, stratify=y)
        train, dev = train_test_split(rest, test_size=n_dev, random_state=seed, stratify=y[rest])
    except ValueError:  # a class too rare for the shares asked: named below
        train = dev = test = rows[:0]
    missing = np.setdiff1d(np.arange(len(class_names)), y[train])
    if len(missing):
        rarest = int(missing[np.argmin(counts[missing])])
        raise DataError("target", f"class {class_names[rarest]!r} has {counts[rarest]} rows: too "
                        "few to be in the train split as well as dev and test; lower "
                        "dev_fraction and test_fraction, or add rows")
    return train, dev, test


def _share(train: np.ndarray, fraction: float, least: int) -> np.ndarray:
    """The first ``fraction`` of the train rows (already in seeded random order, so shares
    are nested), refused when fewer than ``least`` rows are left."""
    kept = train[:int(round(len(train) * fraction))]
    if len(kept) < least:
        raise DataError(
            "train_fraction", f"{fraction:g} of {len(train)} train rows leaves {len(kept)}; "
            f"training needs at least {least}",
        )
    return kept


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n, noise=noise, random_state=_sklearn_seed(rng))


def _circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_circles

    seed = _sklearn_seed(rng)
    return make_circles(n_samples=n, noise=noise, factor=CIRCLES_FACTOR, random_state=seed)


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved spiral arms (the CS231n toy set), one class each."""
    labels = np.arange(n) % SPIRAL_ARMS
    return spiral_points(labels, rng.uniform(0.0, 1.0, n), rng.normal(0.0, noise, n)), labels


def spiral_points(labels: np.ndarray, radius: np.ndarray, angle_noise: np.ndarray) -> np.ndarray:
    """The spiral's points (n, 2) for labels, radii in [0, 1] and angle noise, each (n,)."""
    angle = labels * (2 * np.pi / SPIRAL_ARMS) + radius * SPIRAL_TURN + angle_noise
    return np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)


def _planar(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The "flower" of the deep-learning course: two classes on alternating petals."""
    labels = np.arange(n) % 2
    position = rng.uniform(0.0, 1.0, n)
    x = planar_points(labels, position, rng.normal(0.0, noise, n), rng.normal(0.0, noise, n))
    return x, labels


def planar_points(
    labels: np.ndarray, position: np.ndarray, angle_noise: np.ndarray, radius_noise: np.ndarray
) -> np.ndarray:
    """The flower's points (n, 2) for labels, positions in [0, 1] along the class's span and
    the noise of angle and radius, each (n,)."""
    angle = (labels + position) * PETAL_SPAN + angle_noise
    radius = PETAL_LENGTH * np.sin(PETAL_FREQUENCY * angle) + radius_noise
    return np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)


def _sklearn_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


_GENERATORS = {"moons": _moons, "circles": _circles, "spiral": _spiral, "planar": _planar}
