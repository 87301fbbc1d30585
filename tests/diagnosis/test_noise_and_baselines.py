"""What ``diagnose`` judges against: sampling noise, baselines, scales; and what it leaves out."""

from __future__ import annotations

import json

import mlflow
import pytest

from mlflow_improvenn import diagnose
from tests.diagnosis.planted import by_name, invoke, ours, plant


def sized(n_train: int, n_dev: int, **params: str) -> dict[str, str]:
    return {"task": "binary", "n_train": str(n_train), "n_dev": str(n_dev), **params}


def test_a_gap_is_high_only_beyond_sampling_noise(tracking_uri: str) -> None:
    """A 3-point gap on 100 dev rows could be noise; on 10,000 rows it is not."""
    plant("noise", "small", **ours(0.05, 0.08, params=sized(400, 100)))
    plant("noise", "large", **ours(0.05, 0.08, params=sized(40_000, 10_000)))
    plant("noise", "unsized", **ours(0.05, 0.08))
    rows = by_name(diagnose("noise", baseline_error=0.05))
    small, large = rows["small"], rows["large"]
    assert small.diagnosis == "inconclusive" and small.variance_gap == "within_noise"
    assert small.variance_low < 0 < small.variance_high
    assert "within sampling noise" in small.reason and "bigger dev split" in (
        small.recommendation
    )
    assert large.diagnosis == "high_variance" and large.variance_low > 0
    assert large.dev_error_low < 0.08 < large.dev_error_high
    unsized = rows["unsized"]  # no split sizes: no interval, the tolerance alone decides
    assert unsized.diagnosis == "high_variance" and unsized.variance_low != unsized.variance_low


def test_small_splits_do_not_hide_a_clear_gap(tracking_uri: str) -> None:
    plant("clear", "memorized", **ours(0.0, 0.17, params=sized(160, 200)))
    row = diagnose("clear", baseline_error=0.1).iloc[0]
    assert row.diagnosis == "high_variance" and row.variance_low > 0


def test_the_logged_bayes_error_is_the_default_baseline(tracking_uri: str) -> None:
    """The quick start's case: moons at noise 0.2 cannot be learned below about 0.03."""
    plant("auto", "moons", **ours(0.038, 0.035, params=sized(600, 200, bayes_error="0.0302")))
    plant("auto", "real-data", **ours(0.038, 0.035, params=sized(600, 200)))
    rows = by_name(diagnose("auto"))
    moons, real = rows["moons"], rows["real-data"]
    assert moons.diagnosis == "good_fit" and moons.baseline_error == pytest.approx(0.0302)
    assert "Bayes error" in moons.baseline_source
    assert real.baseline_error == 0 and "no Bayes error known" in real.baseline_source
    assert real.diagnosis == "high_bias"
    given = by_name(diagnose("auto", baseline_error=0.01))
    assert {r.baseline_source for r in given.values()} == {"given"}
    code, table = invoke("diagnose", "--experiment", "auto")
    assert code == 0 and "0.0302" in table  # the baseline is shown


def test_an_early_stopped_run_is_never_told_to_train_longer(tracking_uri: str) -> None:
    plant("longer", "stopped", **ours(0.3, 0.3, "early_stopping"))
    falling = ours(0.3, 0.3, "max_epochs")
    falling["summary"] |= {"train_loss_falling": 1.0}
    plant("longer", "ran-out-falling", **falling)
    past = ours(0.3, 0.3, "max_epochs")
    past["summary"] |= {"train_loss_falling": 1.0, "best_epoch": 20.0, "stopped_epoch": 200.0}
    plant("longer", "past-its-optimum", **past)
    rows = by_name(diagnose("longer"))
    assert {r.diagnosis for r in rows.values()} == {"high_bias"}
    assert "train longer" not in rows["stopped"].recommendation
    assert "stopped early" in rows["stopped"].notes
    assert rows["ran-out-falling"].recommendation.startswith("train longer")
    assert "train longer" not in rows["past-its-optimum"].recommendation


def test_regression_is_judged_on_unexplained_variance(tracking_uri: str) -> None:
    summary = {"best_train_r2": 0.97, "best_dev_r2": 0.965, "best_train_loss": 0.03,
               "best_dev_loss": 0.035, "best_epoch": 40.0, "stopped_epoch": 60.0}
    params = {"task": "regression", "n_train": "300", "n_dev": "100"}
    plant("reg", "fit", summary=summary, params=params,
          tags={"improvenn.stop_reason": "early_stopping"})
    plant("reg", "poor", summary=summary | {"best_train_r2": 0.5, "best_dev_r2": 0.45},
          params=params, tags={"improvenn.stop_reason": "early_stopping"})
    rows = by_name(diagnose("reg"))
    assert rows["fit"].scale == "unexplained_variance" and rows["fit"].diagnosis == "good_fit"
    assert rows["fit"].train_error == pytest.approx(0.03)
    assert rows["poor"].diagnosis == "high_bias"


def test_losses_are_never_judged_on_the_error_rate_scale(tracking_uri: str) -> None:
    plant("loss", "fit", curves={"loss": [0.5, 0.3, 0.2], "val_loss": [0.5, 0.3, 0.21]})
    plant("loss", "overfit", curves={"loss": [0.5, 0.1, 0.01], "val_loss": [0.5, 0.6, 0.9]})
    rows = by_name(diagnose("loss"))
    fit, overfit = rows["fit"], rows["overfit"]
    assert {fit.scale, overfit.scale} == {"loss"}
    assert fit.diagnosis == "inconclusive" and fit.bias_gap == "unknown"
    assert "--baseline-loss" in fit.recommendation
    assert overfit.diagnosis == "high_variance" and overfit.variance == pytest.approx(89.0)
    with_baseline = by_name(diagnose("loss", baseline_loss=0.19))
    assert with_baseline["fit"].diagnosis == "good_fit"


def test_parents_and_refused_runs_are_not_training_runs(tracking_uri: str) -> None:
    parent = plant("family", "sweep-parent", tags={"improvenn.role": "parent"},
                   summary={"best_train_error": 0.1, "best_dev_error": 0.1})
    plant("family", "trial", **ours(0.1, 0.1, tags={"mlflow.parentRunId": parent,
                                                     "improvenn.stop_reason": "max_epochs"}))
    untagged = plant("family", "someone-elses-parent")
    plant("family", "child", **ours(0.1, 0.1, tags={"mlflow.parentRunId": untagged,
                                                     "improvenn.stop_reason": "max_epochs"}))
    plant("family", "refused", tags={"improvenn.error": "refused: dropout 1.5"})
    assert set(diagnose("family").run_name) == {"trial", "child"}


def test_runs_of_several_experiments_say_which(tracking_uri: str) -> None:
    plant("first", "a", **ours(0.1, 0.1))
    plant("second", "b", **ours(0.1, 0.1))
    frame = diagnose(["first", "second"])
    assert dict(zip(frame.run_name, frame.experiment, strict=True)) == {"a": "first",
                                                                        "b": "second"}
    code, table = invoke("diagnose", "--experiment", "first", "--experiment", "second")
    assert code == 0 and table.splitlines()[0].split()[0] == "experiment"
    code, table = invoke("diagnose", "--experiment", "first")
    assert table.splitlines()[0].split()[0] == "run"  # one experiment: no column for it
    assert list(diagnose("first").run_name) == ["a"]  # a plain string is one experiment


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tolerance", "loss=-1"], "finite number >= 0"),
        (["--tolerance", "errors=0.1"], "not a scale"),
        (["--baseline-error", "-0.1"], "from 0 to 1"),
        (["--baseline-error", "nan"], "from 0 to 1"),
        (["--baseline-error", "1.5"], "from 0 to 1"),  # seen: accepted, bias -1.34
        (["--n-dev", "0"], "--n-dev"),
        (["--confidence", "1"], "--confidence"),
        (["--metric-kind", "loss"], "give them too"),
        (["--train-metric", "a", "--dev-metric", "b", "--metric-kind", "f1"], "--metric-kind"),
    ],
)
def test_bad_settings_are_usage_errors(tracking_uri: str, args: list[str], words: str) -> None:
    plant("exists", "r", **ours(0.1, 0.1))
    code, output = invoke("diagnose", *args)
    assert code == 2 and words in output and "Traceback" not in output


def test_split_sizes_and_tolerances_from_the_command_line(tracking_uri: str) -> None:
    plant("keras", "k", curves={"accuracy": [0.9, 0.95], "val_accuracy": [0.88, 0.92]})
    code, output = invoke("diagnose", "--experiment", "keras", "--format", "json",
                          "--n-train", "40000", "--n-dev", "10000", "--tolerance", "0.01",
                          "--baseline-error", "0.05")
    assert code == 0, output
    row = mlflow.search_runs(experiment_names=["keras"]).iloc[0]
    assert row["tags.mlflow.runName"] == "k"
    record = json.loads(output)[0]
    assert record["variance_gap"] == "high" and record["n_dev"] == 10_000
