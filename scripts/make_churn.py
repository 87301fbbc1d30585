"""Write data/churn.csv: the small example file of the README's ``csv:`` command.

    python scripts/make_churn.py

600 made-up customers of a subscription service, seeded, so the file is the same on every
run: numbers, a categorical column and a yes/no one, and ``churned`` (yes/no) drawn from a
logistic model of them, so there is something to learn and something left to chance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 600
PATH = Path(__file__).resolve().parents[1] / "data" / "churn.csv"
CONTRACTS = {"month-to-month": 1.2, "one-year": -0.3, "two-year": -1.4}  # log-odds added


def churn_frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """``rows`` customers; the log-odds of churning rise with charges and support calls and
    fall with tenure and with a longer contract."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(list(CONTRACTS), size=rows, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame({
        "tenure_months": rng.integers(1, 73, size=rows),
        "monthly_charges": rng.normal(65.0, 20.0, size=rows).clip(18.0, 120.0).round(2),
        "support_calls": rng.poisson(1.5, size=rows),
        "contract": contract,
        "paperless_billing": rng.random(rows) < 0.6,
    })
    log_odds = (0.2 - 0.08 * frame.tenure_months + 0.05 * (frame.monthly_charges - 65.0)
                + 0.7 * frame.support_calls + frame.contract.map(CONTRACTS)
                + 0.4 * frame.paperless_billing)
    churned = rng.random(rows) < 1.0 / (1.0 + np.exp(-log_odds))
    return frame.assign(churned=np.where(churned, "yes", "no"))


if __name__ == "__main__":
    PATH.parent.mkdir(exist_ok=True)
    churn_frame().to_csv(PATH, index=False)
    print(f"wrote {PATH}")
