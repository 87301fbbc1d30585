"""Check the range test's suggestion against a grid, and write the README's table.

    python scripts/lr_table.py            # a throw-away sqlite store in a temp dir
    MLFLOW_TRACKING_URI=... python scripts/lr_table.py --keep-runs

For each case and each of the 5 :data:`SEEDS` (a seed draws the split, the initial weights
and the batches): ``train --lr auto`` (the range test and its race, then training with its
suggestion); then
``improvenn sweep``'s grid sampler over 7 learning rates around the seeds' median suggestion
(half a decade apart, it in the middle) times the same seeds, every run with the same options
and epochs. The suggestion passes when its median dev loss over the seeds is within 10% of
the best grid point's median. One seed is not enough: 5 seeds of one rate differ by 1.3x
(diabetes) to 9x (spiral) in dev loss, and on one seed the best rate itself fails the check
against its 7 neighbours in 20 of 85 (set-up, seed) pairs (README). The first five cases
are the issue's; those marked held out were added later, and the rule's settings were not
chosen on them. The table lands in docs/lr_table.md and, between its markers, in the
README; docs/lr_find.png is the first case's range test. ``--workers 1`` keeps it to one
core (about 5 minutes on a quiet one).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from lesson_table import README, ROOT, between_markers

from mlflow_improvenn.runs.lr_find import PLOT, TAG_LR_FIND_RUN
from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.search.report import RUN_ID_ATTR
from mlflow_improvenn.search.space import parse_space
from mlflow_improvenn.search.sweep import SweepSettings, run_sweep
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.range_test import RangeTestSettings

OUTPUT = ROOT / "docs" / "lr_table.md"
FIGURE = ROOT / "docs" / "lr_find.png"
START_MARKER, END_MARKER = "<!-- lr-table:start -->", "<!-- lr-table:end -->"
COMMON = {"log_model": False, "device": "cpu"}
#: Label to options; every run of a case trains these epochs with early stopping on dev loss.
CASES: dict[str, dict] = {
    "moons, MLP 64x64, Adam": {"dataset": "moons", "max_epochs": 100},
    "moons, MLP 64x64, SGD momentum 0.9": {"dataset": "moons", "optimizer": "sgd",
                                           "max_epochs": 100},
    "spiral, MLP 64x64, Adam": {"dataset": "spiral", "max_epochs": 100},
    "digits, CNN, Adam": {"dataset": "digits", "model": "cnn", "max_epochs": 20, "patience": 5},
    "diabetes (regression), MLP 64x64, Adam": {"dataset": "diabetes", "max_epochs": 100},
    # held out: added after the rule's settings were chosen
    "circles, MLP 64x64, Adam (held out)": {"dataset": "circles", "max_epochs": 100},
    "spiral, MLP 64x64, SGD momentum 0.9 (held out)": {"dataset": "spiral", "optimizer": "sgd",
                                                   "max_epochs": 100},
    "moons, MLP 128x128x128, Adam (held out)": {"dataset": "moons", "max_epochs": 100,
                                            "hidden_units": (128, 128, 128)},
    "digits, MLP 64x64, SGD momentum 0.9 (held out)": {"dataset": "digits", "optimizer": "sgd",
                                                   "max_epochs": 30, "patience": 5},
    "diabetes (regression), MLP 64x64, SGD momentum 0.9 (held out)": {
        "dataset": "diabetes", "optimizer": "sgd", "max_epochs": 100},
    "moons, MLP 64x64 tanh, Adam (held out)": {"dataset": "moons", "activation": "tanh",
                                               "max_epochs": 100},
    "digits, CNN, SGD momentum 0.9 (held out)": {"dataset": "digits", "model": "cnn",
                                                 "optimizer": "sgd", "max_epochs": 20,
                                                 "patience": 5},
    "spiral, MLP 128x128, AdamW decay 0.01 (held out)": {
        "dataset": "spiral", "hidden_units": (128, 128), "optimizer": "adamw",
        "weight_decay": 0.01, "l2_mode": "decoupled", "max_epochs": 100},
    "circles, MLP 32x32 batch norm, SGD momentum 0.9 (held out)": {
        "dataset": "circles", "hidden_units": (32, 32), "batch_norm": True, "optimizer": "sgd",
        "max_epochs": 100},
    "diabetes (regression), MLP 32 dropout 0.2, AdamW (held out)": {
        "dataset": "diabetes", "hidden_units": (32,), "dropout": (0.2,), "optimizer": "adamw",
        "max_epochs": 100},
}
SEEDS = (0, 1, 2, 3, 4)
GRID_STEPS = range(-3, 4)  # the median suggestion times 10^(k/2)
WITHIN = 1.10
RACE_EPOCHS = RangeTestSettings().race_epochs  # what --lr auto runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-runs", action="store_true",
                        help="log to MLFLOW_TRACKING_URI instead of a temporary store")
    parser.add_argument("--workers", type=int, default=2, help="processes for each grid")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the sweep's workers train: the same sums in every run
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        if not args.keep_runs:
            mlflow.set_tracking_uri(f"sqlite:///{Path(directory) / 'mlflow.db'}")
        rows = [check(index, label, options, args.workers)
                for index, (label, options) in enumerate(CASES.items())]
    minutes = (time.perf_counter() - started) / 60
    markdown = _markdown(pd.DataFrame(rows), minutes)
    OUTPUT.write_text(markdown)
    README.write_text(between_markers(README.read_text(), markdown, START_MARKER, END_MARKER))
    print(markdown)


def check(index: int, label: str, options: dict, workers: int) -> dict:
    """The suggestion's runs and the grid's, for case ``index`` (the first keeps its figure)."""
    print(f"{label} ...", flush=True)
    config = TrainConfig(**(COMMON | options | {"lr": "auto"}))
    experiment = f"lr-table-{index}"
    found = pd.DataFrame([suggested_run(config.replace(seed=seed), experiment,
                                        keep_figure=index == 0 and seed == SEEDS[0])
                          for seed in SEEDS])
    centre = float(np.median(found["lr"]))  # an odd number of seeds: one of the suggestions
    grid = [centre * 10 ** (k / 2) for k in GRID_STEPS]
    space = parse_space({"lr": {"choice": [repr(lr) for lr in grid]},
                         "seed": {"choice": [str(seed) for seed in SEEDS]}})
    settings = SweepSettings(n_trials=len(grid) * len(SEEDS), workers=workers, sampler="grid",
                             pruner="none")
    trials = run_sweep(config.replace(lr=centre), space, settings, experiment).trials
    medians = _grid_losses(trials).groupby("lr")["value"].median()
    dev_loss = float(np.median(found["dev_loss"]))
    ratio = dev_loss / medians.min()
    return {"case": label, "epochs": config.max_epochs, "suggested_lr": centre,
            "spread": (found["lr"].min(), found["lr"].max()),
            "valley": float(np.median(found["valley"])),
            "finder_seconds": float(np.median(found["finder_seconds"])),
            "min_div10": float(np.median(found["min_div10"])),
            "steepest": float(np.median(found["steepest"])), "dev_loss": dev_loss,
            "grid_best_lr": float(medians.idxmin()), "grid_best_dev_loss": medians.min(),
            "ratio": ratio, "ok": ratio <= WITHIN}


def _grid_losses(trials: pd.DataFrame) -> pd.DataFrame:
    """Each trial's learning rate (from its run) and dev loss; a diverged run's is infinite,
    so that it counts as the worst of its seeds."""
    client = mlflow.MlflowClient()
    lrs = [float(client.get_run(run_id).data.params["lr"])
           for run_id in trials[f"user_attrs_{RUN_ID_ATTR}"]]
    return pd.DataFrame({"lr": lrs, "value": trials["value"].astype(float).fillna(np.inf)})


def suggested_run(config: TrainConfig, experiment: str, keep_figure: bool) -> dict:
    """``train --lr auto`` for one seed: its suggestion, the valley and its neighbours, the
    range test's wall seconds (its race included) and the dev loss."""
    outcome = train(config, experiment=experiment)
    client = mlflow.MlflowClient()
    run = client.get_run(outcome.run_id)
    finder = client.get_run(run.data.tags[TAG_LR_FIND_RUN])
    if keep_figure:
        with tempfile.TemporaryDirectory() as folder:
            shutil.copyfile(client.download_artifacts(finder.info.run_id, PLOT, folder), FIGURE)
    return {"lr": float(run.data.params["lr"]),
            "valley": finder.data.metrics["suggested_lr_valley"],
            "finder_seconds": (finder.info.end_time - finder.info.start_time) / 1000,
            "min_div10": finder.data.metrics["suggested_lr_min_div10"],
            "steepest": finder.data.metrics["suggested_lr_steepest"],
            "dev_loss": outcome.summary["best_dev_loss"]}


def _markdown(table: pd.DataFrame, minutes: float) -> str:
    raced = (f"raced the valley times 0.1 to 10 for {RACE_EPOCHS} epochs each (the winner is "
             "the suggestion)" if RACE_EPOCHS else "with no race (the valley is the suggestion)")
    header = (
        "Generated by `python scripts/lr_table.py` (torch "
        f"{torch.__version__}, {platform.machine()}, {os.cpu_count()} CPU cores, one torch "
        f"thread a process, {minutes:.1f} minutes). For each case `--lr auto` ran the range "
        f"test, {raced} and trained with its suggestion, once per seed "
        f"({', '.join(map(str, SEEDS))}); range test s: the wall seconds of its run (the race "
        "and the logging included), what `--lr auto` adds to training, the median over the "
        "seeds; "
        "`improvenn sweep --sampler grid` trained the same options at 7 learning rates half "
        "a decade apart around the median suggestion (it in the middle), each with the same "
        "seeds. Dev loss: the best epoch's, early stopping on it, the median over the seeds. "
        "Ratio: the suggestion's median dev loss over the best grid point's; it passes at "
        "1.10 or less. The first five cases are the issue's; *held out*: added later, the "
        "rule's settings were not chosen on them."
    )
    lines = [header, "",
             "| case | epochs | suggested lr: median (seeds' range) "
             "| valley, min/10, steepest | range test s | its dev loss | grid's best lr "
             "| grid's best dev loss | ratio | within 10% |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in table.itertuples():
        lines.append(
            f"| {row.case} | {row.epochs} | {row.suggested_lr:.3g} ({row.spread[0]:.3g} to "
            f"{row.spread[1]:.3g}) | {row.valley:.3g}, {row.min_div10:.3g}, "
            f"{row.steepest:.3g} | {row.finder_seconds:.1f} | "
            f"{row.dev_loss:.4f} | {row.grid_best_lr:.3g} | "
            f"{row.grid_best_dev_loss:.4f} | {row.ratio:.3f} | {'yes' if row.ok else 'no'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
