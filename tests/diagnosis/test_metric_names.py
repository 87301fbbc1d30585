"""Which metrics stand for train and dev error: paired by rule, ours first."""

from __future__ import annotations

import pytest

from mlflow_improvenn.diagnosis.metric_names import (
    as_error,
    candidate_pairs,
    choose_metrics,
    pair_from_names,
    parse,
    stem_kind,
)
from mlflow_improvenn.diagnosis.verdicts import Scale

TRAINER = {
    "best_train_error": 0.05, "best_dev_error": 0.10, "train_error": 0.2, "dev_error": 0.3,
    "best_train_loss": 0.1, "best_dev_loss": 0.2, "train_loss": 0.4, "dev_loss": 0.5,
    "best_epoch": 7, "stopped_epoch": 27, "epoch_seconds": 0.01, "lr": 0.01,
}


def test_trainer_summary_comes_first() -> None:
    choice = choose_metrics(TRAINER, "binary")
    assert choice.pair.label == "best_train_error/best_dev_error"
    assert (choice.train_error, choice.dev_error) == (0.05, 0.10)
    assert choice.scale is Scale.ERROR_RATE


def test_latest_errors_when_there_is_no_summary() -> None:
    latest = {k: v for k, v in TRAINER.items() if not k.startswith("best_")}
    assert choose_metrics(latest, "multiclass").pair.label == "train_error/dev_error"


def test_regression_never_reads_an_error_rate() -> None:
    choice = choose_metrics(TRAINER, "regression")
    assert choice.pair.label == "best_train_loss/best_dev_loss"
    assert choice.scale is Scale.LOSS
    r2 = choose_metrics({**TRAINER, "best_train_r2": 0.97, "best_dev_r2": 0.95}, "regression")
    assert r2.pair.label == "best_train_r2/best_dev_r2"
    assert r2.scale is Scale.UNEXPLAINED_VARIANCE
    assert (round(r2.train_error, 6), round(r2.dev_error, 6)) == (0.03, 0.05)


@pytest.mark.parametrize(
    ("metrics", "label", "train", "dev"),
    [
        ({"accuracy": 0.75, "val_accuracy": 0.5}, "accuracy/val_accuracy", 0.25, 0.5),
        ({"acc": 1.0, "val_acc": 0.875}, "acc/val_acc", 0.0, 0.125),
        ({"loss": 0.3, "val_loss": 0.4}, "loss/val_loss", 0.3, 0.4),
        ({"train_loss": 0.3, "valid_loss": 0.4, "valid_acc": 0.5}, "train_loss/valid_loss",
         0.3, 0.4),
        ({"loss": 0.3, "val_loss": 0.4, "accuracy": 0.5, "val_accuracy": 0.25},
         "accuracy/val_accuracy", 0.5, 0.75),  # error rates beat losses
        ({"binary_accuracy": 0.75, "val_binary_accuracy": 0.5},
         "binary_accuracy/val_binary_accuracy", 0.25, 0.5),
        ({"train_acc_step": 1.0, "train_acc_epoch": 0.75, "val_acc": 0.5},
         "train_acc_epoch/val_acc", 0.25, 0.5),  # an epoch mean, not one batch
        ({"training_accuracy_score": 0.75, "accuracy_score": 0.5, "training_score": 0.75,
          "MLPClassifier_score_X_val": 0.5}, "training_accuracy_score/accuracy_score",
         0.25, 0.5),
        ({"training_accuracy_score": 0.75, "accuracy_score_X_val-2": 0.5},
         "training_accuracy_score/accuracy_score_X_val-2", 0.25, 0.5),
        ({"loss": 0.2, "eval_loss": 0.3, "train_loss": 0.9, "train_runtime": 3.0},
         "loss/eval_loss", 0.2, 0.3),  # HF's train_loss is a mean over all of training
        ({"train_loss": 0.3, "test_loss": 0.5, "val_loss": 0.4}, "train_loss/val_loss", 0.3, 0.4),
        ({"train_loss": 0.3, "test_loss": 0.5}, "train_loss/test_loss", 0.3, 0.5),
    ],
)
def test_pairs_by_rule(metrics: dict, label: str, train: float, dev: float) -> None:
    choice = choose_metrics(metrics)
    assert choice.pair.label == label
    assert (choice.train_error, choice.dev_error) == (train, dev)
    assert not choice.missing


def test_scores_are_never_errors() -> None:
    assert choose_metrics({"train_f1": 0.9, "val_f1": 0.5, "train_auc": 1, "val_auc": 0.5}).pair \
        is None
    assert candidate_pairs(["training_score", "MLPClassifier_score_X_val"]) == []


def test_step_level_train_metrics_rank_last() -> None:
    pairs = candidate_pairs(["train_acc_step", "val_acc"])
    assert [p.label for p in pairs] == ["train_acc_step/val_acc"]
    assert pairs[0].per_step


def test_missing_says_what_the_run_has_in_its_own_names() -> None:
    assert choose_metrics({"loss": 0.1}).missing.startswith("has loss but no dev metric")
    no_train = choose_metrics({"val_accuracy": 0.1}).missing
    assert no_train.startswith("has val_accuracy but no train metric")
    mismatch = choose_metrics({"loss": 0.1, "val_accuracy": 0.9}).missing
    assert "train: loss; dev: val_accuracy" in mismatch
    for missing in (no_train, mismatch, choose_metrics({"f1": 0.9}).missing):
        assert "--train-metric/--dev-metric" in missing


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
    told = pair_from_names("fit_quality", "holdout_quality", kind="accuracy")
    assert choose_metrics({"fit_quality": 0.75, "holdout_quality": 0.5},
                          override=told).dev_error == 0.5


def test_override_needs_both_names_of_one_kind() -> None:
    assert pair_from_names(None, None) is None
    with pytest.raises(ValueError, match="both"):
        pair_from_names("loss", None)
    with pytest.raises(ValueError, match="not the same kind"):
        pair_from_names("accuracy", "val_loss")
    with pytest.raises(ValueError, match="--metric-kind"):
        pair_from_names("fit_quality", "holdout_quality")


def test_names_are_read_by_rule() -> None:
    assert [(n.split, n.stem, n.level) for n in map(parse, (
        "val_acc", "train/loss", "validation_loss", "eval_accuracy", "train_acc_step", "loss",
        "best_dev_error", "test_error",
    ))] == [
        ("dev", "acc", "epoch"), ("train", "loss", "epoch"), ("dev", "loss", "epoch"),
        ("dev", "accuracy", "epoch"), ("train", "acc", "step"), ("train", "loss", "epoch"),
        ("dev", "error", "epoch"), ("test", "error", "epoch"),
    ]
    assert [stem_kind(n) for n in ("acc", "Accuracy", "error", "mse", "roc_auc", "r2")] == [
        "accuracy", "accuracy", "error", "loss", "score", "r2"
    ]
    assert as_error("val_accuracy", 0.75) == 0.25
    assert as_error("val_loss", 0.75) == 0.75
