"""Which metrics stand for train and dev error: ours first, then other tools' conventions."""

from __future__ import annotations

import pytest

from mlflow_improvenn.diagnosis.metric_names import (
    as_error,
    choose_metrics,
    metric_kind,
    pair_from_names,
)

TRAINER = {
    "best_train_error": 0.05, "best_dev_error": 0.10, "train_error": 0.2, "dev_error": 0.3,
    "best_train_loss": 0.1, "best_dev_loss": 0.2, "train_loss": 0.4, "dev_loss": 0.5,
}


def test_trainer_summary_comes_first() -> None:
    choice = choose_metrics(TRAINER, "binary")
    assert choice.pair.label == "best_train_error/best_dev_error"
    assert (choice.train_error, choice.dev_error) == (0.05, 0.10)


def test_latest_errors_when_there_is_no_summary() -> None:
    latest = {k: v for k, v in TRAINER.items() if not k.startswith("best_")}
    assert choose_metrics(latest, "multiclass").pair.label == "train_error/dev_error"


def test_regression_uses_losses() -> None:
    choice = choose_metrics(TRAINER, "regression")
    assert choice.pair.label == "best_train_loss/best_dev_loss"
    assert choice.pair.kind == "loss"
    latest = {"train_loss": 2.0, "dev_loss": 3.0}
    assert choose_metrics(latest, "regression").pair.label == "train_loss/dev_loss"


@pytest.mark.parametrize(
    ("metrics", "label", "train", "dev"),
    [
        ({"accuracy": 0.75, "val_accuracy": 0.5}, "accuracy/val_accuracy", 0.25, 0.5),
        ({"acc": 1.0, "val_acc": 0.875}, "acc/val_acc", 0.0, 0.125),
        ({"loss": 0.3, "val_loss": 0.4}, "loss/val_loss", 0.3, 0.4),
        ({"train_loss": 0.3, "val_loss": 0.4}, "train_loss/val_loss", 0.3, 0.4),
        ({"loss": 0.3, "val_loss": 0.4, "accuracy": 0.5, "val_accuracy": 0.25},
         "accuracy/val_accuracy", 0.5, 0.75),  # error rates beat losses
    ],
)
def test_foreign_conventions(metrics: dict, label: str, train: float, dev: float) -> None:
    choice = choose_metrics(metrics)
    assert choice.pair.label == label
    assert (choice.train_error, choice.dev_error) == (train, dev)
    assert not choice.missing


def test_half_a_pair_says_what_is_missing() -> None:
    assert choose_metrics({"loss": 0.1}).missing == "has loss but no val_loss"
    assert choose_metrics({"dev_error": 0.1}).missing == "has dev_error but no train_error"


def test_no_metrics_lists_what_was_looked_for() -> None:
    missing = choose_metrics({"f1": 0.9}).missing
    assert missing.startswith("no train/dev metrics (looked for best_train_error/best_dev_error")
    assert "acc/val_acc" in missing and "loss/val_loss" in missing
    assert "error" not in choose_metrics({}, "regression").missing.split("looked for")[1]


def test_accuracy_must_be_a_fraction() -> None:
    choice = choose_metrics({"accuracy": 95.0, "val_accuracy": 0.9})
    assert choice.missing == "accuracy outside [0, 1]: accuracy=95"


def test_override_pair() -> None:
    override = pair_from_names("train_top1_acc", "val_top1_acc")
    assert override.kind == "accuracy"
    choice = choose_metrics({"train_top1_acc": 0.75, "val_top1_acc": 0.5, **TRAINER},
                            override=override)
    assert (choice.train_error, choice.dev_error) == (0.25, 0.5)
    missing = choose_metrics({"train_top1_acc": 0.9}, override=override).missing
    assert missing == "has train_top1_acc but no val_top1_acc"


def test_override_needs_both_names_of_one_kind() -> None:
    assert pair_from_names(None, None) is None
    with pytest.raises(ValueError, match="both"):
        pair_from_names("loss", None)
    with pytest.raises(ValueError, match="not the same kind"):
        pair_from_names("accuracy", "val_loss")


def test_kinds() -> None:
    assert [metric_kind(n) for n in ("val_acc", "Accuracy", "dev_error", "mse")] == [
        "accuracy", "accuracy", "error", "loss"
    ]
    assert as_error("val_accuracy", 0.75) == 0.25
    assert as_error("val_loss", 0.75) == 0.75
