"""The encoding of a data set's raw columns into the network's input, kept for predict time.

Training one-hot encodes categorical columns (strings, booleans, pandas categoricals) with
pandas' ``get_dummies``. Fitted once on the whole file, the categories are kept, so that the
logged model encodes a user's raw rows exactly as training did, whatever subset of the
categories those rows hold: a boolean column ``flag`` is always ``flag_False``, ``flag_True``,
even for rows that are all ``True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


class EncodingError(ValueError):
    """Rows that cannot be encoded as the training data was (missing or mistyped columns)."""


def is_categorical(column: pd.Series) -> bool:
    """Strings, booleans and pandas categoricals are categories; every other column a number."""
    return (
        isinstance(column.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(column)
        or pd.api.types.is_string_dtype(column)
        or pd.api.types.is_bool_dtype(column)
    )


@dataclass(frozen=True)
class FeatureEncoder:
    """Raw feature columns to a matrix of numbers: numbers as they are, categories one-hot.

    ``columns`` are the raw feature columns in the file's order; ``categories`` maps each
    categorical one to its categories in encoding order (pandas' order: sorted where the
    values sort, a categorical's own order). Build one with :meth:`fit`.
    """

    columns: tuple[str, ...]
    categories: dict[str, tuple[Any, ...]]

    @classmethod
    def fit(cls, features: pd.DataFrame) -> FeatureEncoder:
        """The encoder of ``features`` (every column a feature), categories as pandas finds
        them."""
        categories = {
            str(name): tuple(pd.Categorical(features[name]).categories.tolist())
            for name in features.columns if is_categorical(features[name])
        }
        return cls(tuple(map(str, features.columns)), categories)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The encoded columns, in the network's input order: numbers first, then each
        categorical column's ``<column>_<category>`` (``get_dummies``' names and order)."""
        numeric = [c for c in self.columns if c not in self.categories]
        dummies = [f"{c}_{value}" for c, values in self.categories.items() for value in values]
        return tuple(numeric + dummies)

    def encode(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` (n rows holding at least :attr:`columns`) as an (n, len(feature_names))
        float64 frame (the caller casts to the network's float32, after checking that the
        values fit it). A category not seen in training encodes as all zeros (as
        scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``). Raises
        :class:`EncodingError` naming missing columns, or numeric ones that hold text or
        missing values."""
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise EncodingError(f"the rows lack column(s) {', '.join(missing)}")
        frame = rows.loc[:, list(self.columns)]
        numeric = [c for c in self.columns if c not in self.categories]
        not_numbers = [c for c in numeric if not pd.api.types.is_numeric_dtype(frame[c])]
        if not_numbers:
            raise EncodingError(f"column(s) {', '.join(not_numbers)} must hold numbers")
        gaps = [c for c in numeric if frame[c].isna().any()]
        if gaps:
            raise EncodingError(f"missing values in column(s) {', '.join(gaps)}")
        typed = frame.astype({c: pd.CategoricalDtype(list(v)) for c, v in self.categories.items()})
        encoded = pd.get_dummies(typed, columns=list(self.categories), dtype=np.float64)
        return encoded.astype(np.float64)
