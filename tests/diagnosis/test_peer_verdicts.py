"""Every recorded run of seven peer tools gets its right verdict, with the baselines given.

The records (``peer_runs/<tool>.json``, made by ``scripts/peer_runs.py`` with the real tools)
are replayed into a real store exactly as each tool logged them; ``diagnose`` then reads them
with the Bayes error of their data as the baseline, the Bayes cross-entropy as the baseline
loss (for runs that logged only losses on the train side), and their split sizes.
"""

from __future__ import annotations

import functools
import math

import mlflow
import numpy as np
import pytest

from mlflow_improvenn import diagnose
from mlflow_improvenn.training import bayes_error, data
from tests.diagnosis.peer_runs import load, recorded_tools, replay

#: Each recorded task's best possible cross-entropy (nats): the labels' entropy given x.
TOKENS_FLIPPED = 0.05  # the token task's labels: a rule, then 5% flipped


@functools.cache
def bayes_cross_entropy(task: str) -> float:
    """E[H(Y | x)] over the task's inputs: exact for the token task (a rule, then 5% flipped),
    a Monte Carlo mean of the exact posteriors' entropy for moons."""
    if task.startswith("tokens"):
        q = TOKENS_FLIPPED
        return -(q * math.log(q) + (1 - q) * math.log(1 - q))
    noise = float(task.split("noise=")[1].split(")")[0])  # nuisance features add no information
    x, _ = data.generate("moons", 50_000, noise, np.random.default_rng(0))
    p = np.clip(bayes_error.posteriors("moons", noise, x), 1e-12, 1.0)
    return float(np.mean(-(p * np.log(p)).sum(axis=1)))


@pytest.mark.parametrize("tool", recorded_tools())
def test_every_run_gets_its_verdict(tool: str, tracking_uri: str) -> None:
    client = mlflow.MlflowClient()
    wrong = []
    for run in load(tool)["runs"]:
        run_id = replay(run, client)
        row = diagnose(run_ids=[run_id], baseline_error=run["baseline_error"],
                       baseline_loss=bayes_cross_entropy(run["task"]),
                       n_train=run["n_train"], n_dev=run["n_dev"]).iloc[0]
        assert row.diagnosis != "insufficient_data", (run["variant"], row.reason)
        if row.diagnosis != run["expected_verdict"]:
            wrong.append(f"{run['variant']}/{run['setup']}: {row.diagnosis} from "
                         f"{row.metrics} {row.train_error:.3f}/{row.dev_error:.3f} "
                         f"({row.reason})")
    assert not wrong, wrong


def test_the_error_pair_is_read_where_a_tool_logged_one(tracking_uri: str) -> None:
    """Keras: accuracy, not the loss; Lightning's single-batch train accuracy averaged over
    five epochs; sklearn's training_ names against the evaluation's."""
    client = mlflow.MlflowClient()
    expected = {
        ("keras", "binary_accuracy"): "binary_accuracy/val_binary_accuracy",
        ("lightning_logger", "torchmetrics"): "train_acc_epoch/val_acc",
        ("lightning_autolog", "self_log"): "train_acc/val_acc",
        ("sklearn", "mlp_accuracy_score"): "training_accuracy_score/accuracy_score_x_dev",
        ("skorch", "batch"): "train_acc_epoch/valid_acc_epoch",
        ("transformers", "log_epoch"): "loss/eval_loss",
    }
    for (tool, variant), pair in expected.items():
        run = next(r for r in load(tool)["runs"]
                   if r["variant"] == variant and r["setup"] == "good_fit")
        row = diagnose(run_ids=[replay(run, client)], baseline_error=run["baseline_error"],
                       n_train=run["n_train"], n_dev=run["n_dev"]).iloc[0]
        assert row.metrics == pair, tool
        if row.scale == "error_rate":  # within two binomial deviations of the measured error
            measured = run["measured"]["train_error"]
            assert abs(row.train_error - measured) < 2 * math.sqrt(0.03 * 0.97 / 128), tool


def test_epochs_not_global_steps(tracking_uri: str) -> None:
    """Lightning logs against global steps; the report counts epochs (its dev evaluations)."""
    run = next(r for r in load("lightning_logger")["runs"]
               if r["variant"] == "self_log" and r["setup"] == "over_fit")
    row = diagnose(run_ids=[replay(run, mlflow.MlflowClient())],
                   baseline_error=run["baseline_error"], n_train=run["n_train"],
                   n_dev=run["n_dev"]).iloc[0]
    assert row.diagnosis == "high_variance"
    assert row.last_epoch == run["model"]["epochs"]
    assert 1 <= row.best_epoch <= row.last_epoch
