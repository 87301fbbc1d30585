"""What a lesson must show: its story, stated as data and checked against the verdicts it got.

A lesson teaches only if its runs' verdicts tell its story: in ``bias_variance`` the tiny
network is ``high_bias`` and the big network on little data ``high_variance``; in
``l2_regularization`` the variance of the over-fitting network shrinks as L2 grows. The
catalog states each story (:class:`Story`); :meth:`Story.problems` reads a results table (the
runner's, or one parsed back from ``docs/lessons.md``) and says where the story fails, so the
generator warns before it publishes a table that contradicts its lesson, and a test keeps
the published tables honest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Story:
    """The verdicts a lesson's runs must get at full size (smoke runs are too short to tell).

    ``verdicts`` maps a variation to the verdicts it may get. ``shrinking_variance`` names
    variations in order of a growing regularizer (or more data): their variance must not rise
    from one to the next, and the last must lie below the first's confidence interval, so the
    shrinking is larger than sampling noise.
    """

    verdicts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    shrinking_variance: tuple[str, ...] = ()

    def variations(self) -> set[str]:
        """Every variation the story speaks of (each must be one of its lesson's)."""
        return set(self.verdicts) | set(self.shrinking_variance)

    def problems(self, table: pd.DataFrame) -> list[str]:
        """Where ``table`` (columns ``variation``, ``diagnosis``, ``variance``,
        ``variance_low``) contradicts the story; empty when it tells it.

        >>> story = Story({"big": ("high_variance",)}, ("big", "l2"))
        >>> table = pd.DataFrame({"variation": ["big", "l2"], "diagnosis": ["good_fit", "x"],
        ...                       "variance": [0.10, 0.02], "variance_low": [0.06, -0.03]})
        >>> story.problems(table)
        ['big: verdict good_fit, the story needs high_variance']
        """
        rows = table.set_index("variation")
        missing = sorted(self.variations() - set(rows.index))
        if missing:
            return [f"no run for {name}" for name in missing]
        problems = [
            f"{name}: verdict {rows.at[name, 'diagnosis']}, the story needs {' or '.join(allowed)}"
            for name, allowed in self.verdicts.items()
            if rows.at[name, "diagnosis"] not in allowed
        ]
        return problems + self._shrinking_problems(rows)

    def _shrinking_problems(self, rows: pd.DataFrame) -> list[str]:
        names = self.shrinking_variance
        if not names:
            return []
        values = [float(rows.at[name, "variance"]) for name in names]
        problems = [
            f"variance rises from {before} ({a:.3f}) to {after} ({b:.3f})"
            for before, after, a, b in zip(names, names[1:], values, values[1:], strict=False)
            if not b <= a
        ]
        first_low = float(rows.at[names[0], "variance_low"])
        if math.isnan(first_low) or not values[-1] < first_low:
            problems.append(
                f"variance of {names[-1]} ({values[-1]:.3f}) is not below the interval of "
                f"{names[0]}'s (from {first_low:.3f}): the shrinking is within noise"
            )
        return problems
