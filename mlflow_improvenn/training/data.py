"""Data sets: generated classics, scikit-learn's bundled sets and the user's own files.

Everything ends as a :class:`DataSplits`: seeded train/dev/test arrays plus the train
split's statistics, which the model applies itself so that the logged model takes raw
features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

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


class DataError(ConfigError):
    """The data named by the options cannot be used; ``option`` says which option."""


@dataclass(frozen=True)
class DataSplits:
    """Seeded splits, ready for training. Features are raw; targets are encoded."""

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

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def output_size(self) -> int:
        return self.n_classes if self.task == "multiclass" else 1


def load(config: TrainConfig) -> DataSplits:
    """Load, check, split and summarise the data set that ``config`` names."""
    frame, target, image_shape = _load_frame(config)
    features = _encode_features(frame.drop(columns=[target]))
    task = _resolve_task(frame[target], config.task)
    y, class_names = _encode_target(frame[target], task)
    x = features.to_numpy(dtype=np.float32)
    _check_finite(x, features.columns)
    return _split(config, x, y, task, tuple(features.columns), class_names, image_shape)


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
    allowed = ", ".join(GENERATED + BUNDLED + ("csv:PATH", "parquet:PATH"))
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
    if config.target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise DataError("target", f"column {config.target!r} is not in {path} (columns: {columns})")
    missing = [str(c) for c in frame.columns if frame[c].isna().any()]
    if missing:
        raise DataError(
            "dataset", f"missing values in column(s) {', '.join(missing)} of {path}; "
            "fill or drop them first",
        )
    if config.n_samples and config.n_samples < len(frame):
        frame = frame.sample(n=config.n_samples, random_state=config.seed)
    return frame.reset_index(drop=True)


def _encode_features(features: pd.DataFrame) -> pd.DataFrame:
    """One-hot encode string and categorical columns; everything else must be numeric."""
    if features.shape[1] == 0:
        raise DataError("dataset", "the data has no feature columns besides the target")
    categorical = [
        c for c in features.columns
        if isinstance(features[c].dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(features[c])
        or pd.api.types.is_string_dtype(features[c])
        or pd.api.types.is_bool_dtype(features[c])
    ]
    too_many = [str(c) for c in categorical if features[c].nunique() > _MAX_CATEGORIES]
    if too_many:
        raise DataError(
            "dataset", f"non-numeric column(s) {', '.join(too_many)} have over "
            f"{_MAX_CATEGORIES} distinct values: not categorical; drop or encode them first",
        )
    return pd.get_dummies(features, columns=categorical, dtype=np.float32)


def _resolve_task(target: pd.Series, requested: str) -> str:
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


def _encode_target(target: pd.Series, task: str) -> tuple[np.ndarray, tuple[str, ...]]:
    if task == "regression":
        y = target.to_numpy(dtype=np.float32)
        _check_finite(y.reshape(-1, 1), [target.name])
        return y, ()
    classes = _sorted_classes(target)
    if len(classes) < 2:
        raise DataError("target", f"column {target.name!r} has a single class: nothing to learn")
    if task == "binary" and len(classes) > 2:
        raise DataError(
            "task", f"binary needs 2 classes, column {target.name!r} has {len(classes)}"
        )
    index = {c: i for i, c in enumerate(classes)}
    y = target.map(index).to_numpy(dtype=np.int64)
    return y, tuple(str(c) for c in classes)


def _check_finite(x: np.ndarray, columns: object) -> None:
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        names = ", ".join(str(c) for c, b in zip(list(columns), bad, strict=True) if b)
        raise DataError("dataset", f"NaN or infinite values in column(s) {names}")


def _split(
    config: TrainConfig,
    x: np.ndarray,
    y: np.ndarray,
    task: str,
    feature_names: tuple[str, ...],
    class_names: tuple[str, ...],
    image_shape: tuple[int, int] | None,
) -> DataSplits:
    n = len(x)
    n_dev = int(round(n * config.dev_fraction))
    n_test = int(round(n * config.test_fraction))
    n_train = n - n_dev - n_test
    n_classes = len(class_names)
    if min(n_dev, n_test) < 1 or n_train < max(2, n_classes):
        raise DataError(
            "dataset", f"{n} rows are too few for a train/dev/test split "
            f"({n_train}/{n_dev}/{n_test}) of a {task} task with {n_classes or 'no'} classes",
        )
    order = np.random.default_rng(config.seed).permutation(n)
    train, dev, test = order[:n_train], order[n_train:n_train + n_dev], order[n_train + n_dev:]
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
