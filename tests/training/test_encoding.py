"""The encoding of raw columns: the same for training and for any rows the model is given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_improvenn.training.encoding import EncodingError, FeatureEncoder


@pytest.fixture
def raw() -> pd.DataFrame:
    return pd.DataFrame({
        "size": [0.5, -1.0, 2.0, 0.0],
        "count": [1, 2, 3, 4],
        "flag": [True, False, True, True],
        "color": ["red", "blue", "green", "red"],
        "grade": pd.Categorical(["b", "a", "b", "a"], categories=["c", "b", "a"]),
    })


def test_training_encoding_is_get_dummies(raw: pd.DataFrame) -> None:
    """What training fed the network before the encoder existed, column for column."""
    encoder = FeatureEncoder.fit(raw)
    expected = pd.get_dummies(raw, columns=["flag", "color", "grade"], dtype=np.float64)
    assert list(encoder.feature_names) == list(expected.columns)
    assert np.array_equal(encoder.encode(raw).to_numpy(), expected.to_numpy(np.float64))


def test_rows_with_some_categories_encode_as_in_training(raw: pd.DataFrame) -> None:
    """All-True rows keep both ``flag_False`` and ``flag_True`` (``get_dummies`` on them alone
    would not: the old README snippet's silent error)."""
    encoder = FeatureEncoder.fit(raw)
    whole = encoder.encode(raw)
    subset = raw[raw["flag"]].astype({"grade": object})  # as a user's read_csv gives it
    assert encoder.encode(subset).equals(whole[raw["flag"]])
    assert list(pd.get_dummies(subset).columns) != list(encoder.feature_names)


def test_unseen_categories_missing_and_mistyped_columns(raw: pd.DataFrame) -> None:
    encoder = FeatureEncoder.fit(raw)
    unseen = encoder.encode(raw.assign(color="purple"))
    assert unseen.filter(like="color_").to_numpy().sum() == 0
    with pytest.raises(EncodingError, match="lack column.*color"):
        encoder.encode(raw.drop(columns="color"))
    with pytest.raises(EncodingError, match="size must hold numbers"):
        encoder.encode(raw.assign(size="big"))
    with pytest.raises(EncodingError, match="missing values in column.*count"):
        encoder.encode(raw.assign(count=[1, None, 3, 4]))
