"""How long should the range test's race be, and between which candidates? Measured once.

    python scripts/lr_race_study.py --collect    # trains; writes --data (a few minutes)
    python scripts/lr_race_study.py              # reads --data, compares the race's budgets

For every case and seed of scripts/lr_table.py: the range test (no race), then each rate of
the valley times 10^(k/2), k = -2..2, trained as ``train`` would (its epochs, early stopping
on dev loss) from the same weights and batches, keeping the dev loss of every epoch. A race
of E epochs between a subset of those rates is then read off the first E epochs of each
curve, and the winner's full training is its whole curve, so every budget is compared on
the same runs. The reference is the grid's best median dev loss in a table that
scripts/lr_table.py wrote with the valley as its centre (``--reference``), so a ratio here
approximates the table's (whose grid is centred on the suggestion it checks).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np
import torch
from lr_table import CASES, COMMON, SEEDS

from mlflow_improvenn.runs.training_run import checked_inputs
from mlflow_improvenn.training.loop import Trainer, to_device_splits
from mlflow_improvenn.training.lr_finder import range_test
from mlflow_improvenn.training.lr_race import pick
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.range_test import RangeTestSettings

STEPS = (-2, -1, 0, 1, 2)  # the valley times 10^(k/2)
BUDGETS = (1, 2, 3, 5, 7, 10, 15, 0.1, 0.2, 0.3)  # race epochs; below 1: a share of max_epochs
SUBSETS = {"0.32x..3.2x": (-1, 0, 1), "0.1x..10x": (-2, -1, 0, 1, 2)}


def collect(path: Path) -> None:
    data = {}
    for label, options in CASES.items():
        print(label, flush=True)
        data[label] = [curves(TrainConfig(**(COMMON | options | {"seed": seed})))
                       for seed in SEEDS]
        path.write_text(json.dumps(data))


def curves(config: TrainConfig) -> dict:
    """The valley of one seed and the dev-loss curve of each of its :data:`STEPS`."""
    settings = RangeTestSettings(race_epochs=0)
    splits, device = checked_inputs(config)
    torch.manual_seed(config.seed)
    trainer = Trainer(config.replace(lr=settings.start_lr), build_model(config, splits),
                      to_device_splits(splits, device), splits.task, device)
    valley = range_test(trainer, settings).suggestion.lr
    found = {"valley": valley}
    for k in STEPS:
        with trainer.trial():
            for group in trainer.optimizer.param_groups:
                group["lr"] = valley * 10 ** (k / 2)
            history = trainer.fit(lambda record: None).history
        found[str(k)] = [r.dev_loss if np.isfinite(r.dev_loss) else None for r in history]
    return found


def reference(path: Path) -> dict[str, float]:
    """Each case's grid's best median dev loss, from a table of scripts/lr_table.py."""
    rows = [line.split(" | ") for line in path.read_text().splitlines()
            if line.startswith("| ") and re.search(r"\d", line.split(" | ")[1])]
    return {row[0][2:]: float(row[6]) for row in rows}


def ratio(seeds: list[dict], best: float, budget: float | None, steps: tuple[int, ...],
          margin: float, max_epochs: int) -> float:
    """The median over seeds of the race winner's full dev loss, over ``best``; no race
    when ``budget`` is None."""
    if budget is not None and budget < 1:
        budget = math.ceil(budget * max_epochs)
    chosen = []
    for seed in seeds:
        full = {k: _best(seed[str(k)], None) for k in steps}
        if budget is None:
            chosen.append(full[0])
            continue
        raced = np.array([_best(seed[str(k)], int(budget)) for k in steps])
        chosen.append(full[steps[pick(raced, steps.index(0), margin)]])
    return float(np.median(chosen)) / best


def _best(curve: list, epochs: int | None) -> float:
    """The lowest dev loss of the first ``epochs`` epochs (infinite once one is not finite)."""
    values = curve[:epochs]
    return np.inf if None in values or not values else float(min(values))


def report(path: Path, reference_table: Path, margin: float) -> None:
    data = json.loads(path.read_text())
    best = reference(reference_table)
    rules = [("valley (no race)", None, (0,))] + [
        (f"race {budget:g}{' ep' if budget >= 1 else ' max'}, {name}", budget, steps)
        for name, steps in SUBSETS.items() for budget in BUDGETS]
    print(f"margin {margin}; ratio to the valley-centred grid's best, pass <= 1.10")
    for name, budget, steps in rules:
        ratios = [ratio(data[case], best[case], budget, steps, margin,
                        CASES[case]["max_epochs"]) for case in data]
        passed = sum(r <= 1.10 for r in ratios)
        issue = sum(r <= 1.10 for r in ratios[:5])
        cells = " ".join(f"{r:.2f}" for r in ratios)
        print(f"{name:<28} {passed:>2}/15 (issue's {issue}/5, geo-mean "
              f"{np.exp(np.mean(np.log(ratios))):.3f}): {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collect", action="store_true", help="train and write --data")
    parser.add_argument("--data", type=Path, default=Path("lr_race_study.json"))
    parser.add_argument("--reference", type=Path, default=Path("docs/lr_table.md"))
    parser.add_argument("--margin", type=float, default=0.02)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.collect:
        collect(args.data)
    report(args.data, args.reference, args.margin)


if __name__ == "__main__":
    main()
