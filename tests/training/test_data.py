"""Data sets: generated, bundled and the user's own files, with clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlflow_improvenn.training import data
from mlflow_improvenn.training.data import DataError
from mlflow_improvenn.training.options import TrainConfig


@pytest.mark.parametrize(
    ("name", "task", "n_classes"),
    [("moons", "binary", 2), ("circles", "binary", 2), ("spiral", "multiclass", 3),
     ("planar", "binary", 2), ("digits", "multiclass", 10), ("breast_cancer", "binary", 2),
     ("wine", "multiclass", 3), ("diabetes", "regression", 0)],
)
def test_builtin_data_sets(name: str, task: str, n_classes: int) -> None:
    splits = data.load(TrainConfig(dataset=name))
    assert (splits.task, splits.n_classes) == (task, n_classes)
    n = len(splits.x_train) + len(splits.x_dev) + len(splits.x_test)
    assert len(splits.x_dev) == round(n * 0.2) and len(splits.x_test) == round(n * 0.2)


def test_generated_sets_follow_seed_n_samples_and_noise() -> None:
    first = data.load(TrainConfig(dataset="spiral", n_samples=300, seed=3))
    again = data.load(TrainConfig(dataset="spiral", n_samples=300, seed=3))
    other = data.load(TrainConfig(dataset="spiral", n_samples=300, seed=4))
    assert np.array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train, other.x_train)
    assert len(first.x_train) == 180
    quiet = data.load(TrainConfig(dataset="moons", noise=0.0))
    noisy = data.load(TrainConfig(dataset="moons", noise=0.5))
    assert quiet.x_train.std() < noisy.x_train.std()


def test_n_samples_subsamples_real_data() -> None:
    splits = data.load(TrainConfig(dataset="digits", n_samples=500))
    assert len(splits.x_train) + len(splits.x_dev) + len(splits.x_test) == 500
    assert splits.image_shape == (8, 8)


def write_csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return f"csv:{path}"


def csv_config(dataset: str, **options: object) -> TrainConfig:
    return TrainConfig(dataset=dataset, target="y", **options)


def test_csv_with_categorical_feature_is_one_hot_encoded(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "size": rng.normal(size=100),
        "color": rng.choice(["red", "green", "blue"], size=100),
        "y": rng.choice(["cat", "dog"], size=100),
    })
    splits = data.load(csv_config(write_csv(tmp_path, frame)))
    assert splits.task == "binary" and splits.class_names == ("cat", "dog")
    assert splits.feature_names == ("size", "color_blue", "color_green", "color_red")


def test_integer_classes_keep_their_numeric_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=90), "y": np.repeat([10, 2, 1], 30)})
    splits = data.load(csv_config(write_csv(tmp_path, frame), task="multiclass"))
    assert splits.class_names == ("1", "2", "10")  # not "1", "10", "2"


def test_parquet_and_task_inference(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "y": rng.normal(size=80)})
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    assert data.load(csv_config(f"parquet:{path}")).task == "regression"
    frame["y"] = rng.integers(0, 4, size=80)
    frame.to_parquet(path)
    assert data.load(csv_config(f"parquet:{path}")).task == "multiclass"
    assert data.load(csv_config(f"parquet:{path}", task="regression")).task == "regression"


@pytest.mark.parametrize(
    ("frame", "option", "message"),
    [
        (pd.DataFrame({"a": [1.0, None, 3.0] * 10, "y": [0, 1, 0] * 10}), "dataset",
         "missing values in column.* a"),
        (pd.DataFrame({"a": [1.0, np.inf, 3.0] * 10, "y": [0, 1, 0] * 10}), "dataset",
         "infinite values in column.* a"),
        (pd.DataFrame({"a": range(30), "y": [1] * 30}), "target", "single class"),
        (pd.DataFrame({"a": range(30), "z": [0, 1] * 15}), "target", "column 'y' is not in"),
        (pd.DataFrame({"a": range(4), "y": [0, 1, 2, 3]}), "dataset", "too few"),
        (pd.DataFrame({"y": [0, 1] * 10}), "dataset", "no feature columns"),
        (pd.DataFrame({"id": [f"u{i}" for i in range(60)], "y": [0, 1] * 30}), "dataset",
         "non-numeric column.* id"),
    ],
)
def test_bad_csv_is_a_clear_error(tmp_path, frame, option, message) -> None:
    with pytest.raises(DataError, match=message) as caught:
        data.load(csv_config(write_csv(tmp_path, frame)))
    assert caught.value.option == option


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        data.load(csv_config(f"csv:{tmp_path / 'nope.csv'}"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="cannot read"):
        data.load(csv_config(f"csv:{tmp_path / 'empty.csv'}"))


def test_unknown_dataset_lists_the_choices() -> None:
    with pytest.raises(DataError, match="moons, circles"):
        data.load(TrainConfig(dataset="mnist"))


def test_nested_parquet_columns_are_named_not_a_type_error(tmp_path: Path) -> None:
    """Before: ``TypeError: unhashable type`` from counting the categories of a list column."""
    frame = pd.DataFrame({"a": [1.0, 2.0] * 15, "tags": [[1, 2], [3]] * 15,
                          "where": [{"x": 1}, {"x": 2}] * 15, "y": [0, 1] * 15})
    path = tmp_path / "nested.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"column\(s\) tags, where .* hold lists") as caught:
        data.load(csv_config(f"parquet:{path}"))
    assert caught.value.option == "dataset"


@pytest.mark.parametrize("column", ["a", "y"])
def test_finite_values_float32_cannot_hold_are_not_called_infinite(tmp_path, column) -> None:
    """Before: 1e308 was reported as 'NaN or infinite' (the float32 cast had made it so)."""
    frame = pd.DataFrame({"a": np.linspace(0, 1, 60), "y": np.linspace(0, 5, 60)})
    frame.loc[3, column] = 1e308
    with pytest.raises(DataError, match=rf"beyond float32's range .* in column\(s\) {column}"):
        data.load(csv_config(write_csv(tmp_path, frame), task="regression"))


def stratified_frame(rare_rows: int) -> pd.DataFrame:
    labels = ["common"] * (100 - rare_rows) + ["rare"] * rare_rows
    return pd.DataFrame({"a": np.arange(100.0), "y": labels})


@pytest.mark.parametrize("seed", range(6))
def test_classes_are_split_in_their_shares(tmp_path: Path, seed: int) -> None:
    """Before: a plain shuffle put 4 to 7 of the 10 rare rows of 100 into train, by the seed."""
    splits = data.load(csv_config(write_csv(tmp_path, stratified_frame(10)), seed=seed))
    assert [np.bincount(y, minlength=2)[1] for y in (splits.y_train, splits.y_dev,
                                                       splits.y_test)] == [6, 2, 2]


def test_a_class_too_rare_for_three_splits_is_refused_by_name(tmp_path: Path) -> None:
    """Before: 2 rare rows of 100 trained silently, with the class in no split or one."""
    with pytest.raises(DataError, match=r"'rare' \(2\) have fewer than 3 rows") as caught:
        data.load(csv_config(write_csv(tmp_path, stratified_frame(2))))
    assert caught.value.option == "target"


def test_a_class_the_shares_leave_out_of_train_is_refused_by_name(tmp_path: Path) -> None:
    frame = stratified_frame(3)
    with pytest.raises(DataError, match="class 'rare' has 3 rows: too few to be in the train"):
        data.load(csv_config(write_csv(tmp_path, frame), dev_fraction=0.44, test_fraction=0.44))
