"""``diagnose`` and its commands on real runs in a real sqlite store: ours, planted, foreign."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from mlflow_improvenn import diagnose
from mlflow_improvenn.runs.parents import write_diagnosis
from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL
from tests.diagnosis.planted import PNG, by_name, invoke, ours, plant


def test_runs_made_by_the_trainer(tracking_uri: str) -> None:
    outcome = train(TrainConfig(**SMALL), experiment="trained")
    frame = diagnose(["trained"], baseline_error=0.0)
    row = frame.iloc[0]
    assert len(frame) == 1 and row.run_id == outcome.run_id
    assert row.metrics == "best_train_error/best_dev_error"
    assert row.train_error == pytest.approx(outcome.summary["best_train_error"])
    assert row.dev_error == pytest.approx(outcome.summary["best_dev_error"])
    assert row.avoidable_bias == pytest.approx(row.train_error)
    assert row.variance == pytest.approx(row.dev_error - row.train_error)
    assert row.diagnosis in {"high_bias", "high_variance", "high_bias_and_variance", "good_fit"}
    assert (row.best_epoch, row.last_epoch) == (outcome.best_epoch, outcome.stopped_epoch)
    if outcome.stop_reason.value == "max_epochs" and row.diagnosis.startswith("high_bias"):
        assert row.train_loss_falling in (True, False)  # read from the history
    code, output = invoke("curves", outcome.run_id, "--output", "curves.png")
    assert code == 0 and Path("curves.png").read_bytes().startswith(PNG)


def test_trainer_regression_run_is_judged_on_r2(tracking_uri: str) -> None:
    config = TrainConfig(**(SMALL | {"dataset": "diabetes", "n_samples": 0, "max_epochs": 3}))
    outcome = train(config, experiment="regression")
    row = diagnose(["regression"], tolerance={"unexplained_variance": 1.0}).iloc[0]
    assert row.metrics == "best_train_r2/best_dev_r2" and row.scale == "unexplained_variance"
    assert row.train_error == pytest.approx(1 - outcome.summary["best_train_r2"])
    assert outcome.summary["best_train_r2"] == pytest.approx(
        1 - outcome.summary["best_train_loss"])  # the loss is the standardized target's MSE


def test_planted_runs_get_the_verdicts_their_errors_imply(tracking_uri: str) -> None:
    plant("planted", "fit", **ours(0.06, 0.07))
    plant("planted", "bias", **ours(0.20, 0.21))
    plant("planted", "variance", **ours(0.06, 0.20))
    plant("planted", "both", **ours(0.20, 0.40))
    rows = by_name(diagnose(["planted"], baseline_error=0.05))
    assert {n: r.diagnosis for n, r in rows.items()} == {
        "fit": "good_fit", "bias": "high_bias", "variance": "high_variance",
        "both": "high_bias_and_variance",
    }
    assert rows["both"].avoidable_bias == pytest.approx(0.15)
    assert rows["both"].variance == pytest.approx(0.20)
    assert rows["both"].recommendation.startswith("bias first")
    assert "more data" in rows["variance"].recommendation
    looser = by_name(diagnose(["planted"], baseline_error=0.05, tolerance=0.5))
    assert {r.diagnosis for r in looser.values()} == {"good_fit"}


def test_curves_are_read_only_where_they_change_the_advice(tracking_uri: str) -> None:
    rising = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1]
    plant("h", "out-of-epochs", curves={"train_loss": rising}, **ours(0.3, 0.3, "max_epochs"))
    plant("h", "early-stopped", curves={"train_loss": rising}, **ours(0.3, 0.3))
    plant("h", "diverged", **ours(0.3, 0.3, "non_finite_loss"))
    logged_falling = ours(0.3, 0.3)  # as the trainer logs it now: no history needed
    logged_falling["summary"] |= {"train_loss_falling": 1.0}
    plant("h", "early-stopped-falling", **logged_falling)
    rose = ours(0.3, 0.3, "max_epochs")
    rose["summary"] |= {"train_loss_falling": 0.0, "train_loss_rose": 1.0}
    plant("h", "rose", **rose)
    rows = by_name(diagnose(["h"]))
    assert rows["rose"].diverged and rows["rose"].recommendation.startswith("lower the learning")
    # dev loss stopped it, so training longer is not the advice, falling train loss or not
    assert rows["early-stopped-falling"].train_loss_falling is None
    assert not rows["early-stopped-falling"].recommendation.startswith("train longer")
    assert rows["out-of-epochs"].train_loss_falling is True
    assert rows["out-of-epochs"].recommendation.startswith("train longer")
    assert rows["early-stopped"].train_loss_falling is None
    assert rows["diverged"].recommendation.startswith("lower the learning rate")
    assert rows["diverged"].diverged
    no_history = diagnose(["h"], curves=False).set_index("run_name")["train_loss_falling"]
    assert no_history[["out-of-epochs", "early-stopped", "diverged"]].isna().all()
    assert no_history["rose"] is False  # the summary alone says so


def test_foreign_metric_names(tracking_uri: str) -> None:
    plant("keras", "acc", curves={"accuracy": [0.5, 0.75], "val_accuracy": [0.5, 0.625]})
    plant("keras", "short-acc", curves={"acc": [0.9], "val_acc": [0.8]})
    plant("keras", "loss", curves={"loss": [1.0, 0.5, 0.25, 0.125], "val_loss": [1, .5, .6, .7]})
    plant("keras", "train-loss", curves={"train_loss": [0.5], "val_loss": [0.75]})
    rows = by_name(diagnose(["keras"]))
    assert rows["acc"].metrics == "accuracy/val_accuracy"
    assert (rows["acc"].train_error, rows["acc"].dev_error) == (0.25, 0.375)
    assert rows["short-acc"].train_error == pytest.approx(0.1)
    assert rows["loss"].metrics == "loss/val_loss"
    assert rows["loss"].dev_error == 0.7
    assert (rows["loss"].best_epoch, rows["loss"].last_epoch) == (2, 4)
    assert "dev best at epoch 2 of 4" in rows["loss"].notes
    assert rows["train-loss"].metrics == "train_loss/val_loss"
    assert {r.diagnosis for r in rows.values()} != {"insufficient_data"}


def test_metric_override(tracking_uri: str) -> None:
    plant("custom", "top5", summary={"top5_train_error": 0.01, "top5_val_error": 0.3})
    assert diagnose(["custom"]).iloc[0].diagnosis == "insufficient_data"
    row = diagnose(["custom"], train_metric="top5_train_error", dev_metric="top5_val_error").iloc[0]
    assert (row.diagnosis, row.metrics) == ("high_variance", "top5_train_error/top5_val_error")
    code, output = invoke("diagnose", "--train-metric", "top5_train_error")
    assert code == 2 and "together" in output


def test_missing_metrics_are_insufficient_data_not_a_crash(tracking_uri: str) -> None:
    plant("gaps", "nothing")
    plant("gaps", "half", summary={"train_error": 0.1})
    plant("gaps", "nan", summary={"train_error": float("nan"), "dev_error": 0.2})
    plant("gaps", "percent", summary={"accuracy": 95.0, "val_accuracy": 90.0})
    rows = by_name(diagnose(["gaps"]))
    assert {r.diagnosis for r in rows.values()} == {"insufficient_data"}
    assert rows["nothing"].reason.startswith("no train or dev metric")
    assert rows["half"].reason.startswith("has train_error but no dev metric")
    assert "--train-metric/--dev-metric" in rows["half"].reason
    assert "train error is nan" in rows["nan"].reason
    assert "accuracy outside [0, 1]" in rows["percent"].reason
    assert rows["half"].recommendation.startswith("has train_error but no dev metric")
    code, output = invoke("diagnose", "--experiment", "gaps", "--format", "json")
    assert code == 0 and len(json.loads(output)) == 4


def test_an_infinite_loss_is_a_diverged_run_on_the_table_and_the_map(tracking_uri) -> None:
    """MLflow's sqlite store keeps inf as the largest float: read back, it is inf again."""
    plant("inf", "keras", curves={"loss": [1.0, 2.0, 5.0, float("inf")],
                                  "val_loss": [1.0, 2.5, 6.0, float("inf")]})
    plant("inf", "fine", **ours(0.1, 0.1))
    row = by_name(diagnose(["inf"]))["keras"]
    assert row.diagnosis == "insufficient_data" and row.train_error == float("inf")
    assert row.recommendation.startswith("lower the learning rate")
    code, output = invoke("diagnose", "--experiment", "inf", "--plot", "map.png")
    assert code == 0 and "e+308" not in output, output
    assert Path("map.png").read_bytes().startswith(PNG)


def test_an_output_that_cannot_be_written_is_refused_before_any_tag(tracking_uri) -> None:
    plant("out", "r", **ours(0.1, 0.1))
    Path("afile").write_text("not a folder")
    code, output = invoke("diagnose", "--experiment", "out", "--tag", "--plot", "afile/map.png")
    assert code == 2 and "'--plot'" in output and "cannot write afile/map.png" in output
    assert "tags.improvenn.diagnosis" not in mlflow.search_runs(experiment_names=["out"])
    run_id = mlflow.search_runs(experiment_names=["out"]).run_id[0]
    code, output = invoke("curves", run_id, "-o", "afile/curves.png")
    assert code == 2 and "'--output'" in output


def test_reading_where_no_store_is_creates_none(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)
    code, output = invoke("diagnose")
    assert code == 2 and "no MLflow store at" in output
    assert not (tmp_path / "mlflow.db").exists()


def test_tags_are_visible_to_search_runs(tracking_uri: str) -> None:
    plant("tagged", "variance", **ours(0.0, 0.3))
    plant("tagged", "empty")
    code, _ = invoke("diagnose", "--experiment", "tagged", "--tag")
    assert code == 0
    found = mlflow.search_runs(experiment_names=["tagged"])
    tags = dict(zip(found["tags.mlflow.runName"], found["tags.improvenn.diagnosis"], strict=True))
    assert tags == {"variance": "high_variance", "empty": "insufficient_data"}
    assert found["tags.improvenn.recommendation"].str.len().min() > 0
    filtered = mlflow.search_runs(experiment_names=["tagged"],
                                  filter_string="tags.`improvenn.diagnosis` = 'high_variance'")
    assert len(filtered) == 1


def test_selection_by_experiment_id_run_id_and_filter(tracking_uri: str) -> None:
    a = plant("sel", "a", **ours(0.1, 0.1, params={"task": "binary", "dropout": "0.2"}))
    plant("sel", "b", **ours(0.1, 0.1, params={"task": "binary", "dropout": "0.5"}))
    plant("other", "c", **ours(0.1, 0.1))
    experiment_id = mlflow.get_experiment_by_name("sel").experiment_id
    assert set(diagnose([experiment_id]).run_name) == {"a", "b"}
    assert set(diagnose().run_name) == {"a", "b", "c"}  # every experiment by default
    assert list(diagnose(run_ids=[a]).run_name) == ["a"]
    assert list(diagnose(filter_string="params.dropout = '0.5'").run_name) == ["b"]
    assert diagnose(["sel"], filter_string="params.dropout = '0.9'").empty
    assert diagnose(tracking_uri=tracking_uri, run_ids=[a]).iloc[0].run_id == a


@pytest.mark.parametrize(
    "args",
    [
        ["--experiment", "nope"],
        ["--run-id", "0123456789abcdef0123456789abcdef"],
        ["--filter", "params.x ==== 1"],
        ["--tolerance", "-0.1"],
        ["--baseline-error", "x"],
        ["--format", "xml"],
    ],
)
def test_bad_input_is_a_usage_error(tracking_uri: str, args: list[str]) -> None:
    plant("exists", "r", **ours(0.1, 0.1))
    code, output = invoke("diagnose", *args)
    assert code == 2, output
    assert "Error" in output and "Traceback" not in output


def test_output_formats_and_plot(tracking_uri: str) -> None:
    plant("fmt", "variance-run", **ours(0.0, 0.3))
    plant("fmt", "bias-run", **ours(0.3, 0.3))
    code, table = invoke("diagnose", "--experiment", "fmt")
    assert code == 0
    header, *lines = table.splitlines()
    assert header.split()[:9] == ["run", "train", "dev", "baseline", "bias", "variance",
                                  "variance", "CI", "diagnosis"]
    assert any(line.startswith("variance-run") and "high_variance" in line for line in lines)
    code, output = invoke("diagnose", "--experiment", "fmt", "--format", "json")
    records = json.loads(output)
    required = {"run_id", "run_name", "train_error", "dev_error", "baseline_error",
                "avoidable_bias", "variance", "diagnosis", "recommendation", "scale",
                "variance_low", "variance_high", "baseline_source", "experiment"}
    assert required <= set(records[0])
    code, output = invoke("diagnose", "--experiment", "fmt", "--format", "csv",
                          "--plot", "map.png")
    assert code == 0
    assert set(pd.read_csv(StringIO(output.split("Bias-variance map")[0])).diagnosis) == {
        "high_variance", "high_bias"
    }
    assert Path("map.png").read_bytes().startswith(PNG)
    code, output = invoke("diagnose", "--experiment", "fmt", "--filter", "metrics.x > 1")
    assert code == 0 and "No runs matched." in output


def test_curves_command_compares_runs(tracking_uri: str) -> None:
    first = plant("cmp", "l2", summary={"best_epoch": 2.0}, curves={
        "train_loss": [1.0, 0.5, 0.4], "dev_loss": [1.0, 0.6, 0.7], "lr": [0.1, 0.1, 0.01],
        "train_error": [0.5, 0.2, 0.1], "dev_error": [0.5, 0.3, 0.35]})
    second = plant("cmp", "keras", curves={"loss": [1.0, 0.7], "val_loss": [1.1, 0.9],
                                           "accuracy": [0.5, 0.75], "val_accuracy": [0.5, 0.7]})
    code, output = invoke("curves", first, second, "-o", "out/cmp.png", "--title", "L2 vs none")
    assert code == 0, output
    assert Path("out/cmp.png").read_bytes().startswith(PNG)
    empty = plant("cmp", "empty")
    code, output = invoke("curves", first, empty)
    assert code == 2 and "no train and dev loss" in output
    code, output = invoke("curves", "0123456789abcdef0123456789abcdef")
    assert code == 2 and "no run" in output


def test_diagnose_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from mlflow_improvenn.cli import main\n"
        "result = CliRunner().invoke(main, ['diagnose', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'torch' not in sys.modules\n"
        "from mlflow_improvenn import diagnose\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_best_epoch_is_a_dev_epoch_only_when_early_stopping_watched_dev(tracking_uri: str) -> None:
    plant("monitor", "dev", **ours(0.0, 0.3, params={"task": "binary", "monitor": "dev_loss"}))
    plant("monitor", "train", **ours(0.0, 0.3, params={"task": "binary", "monitor": "train_loss"}))
    rows = by_name(diagnose(["monitor"]))
    assert rows["dev"].best_epoch == 8 and "dev was best at epoch 8 of 10" in (
        rows["dev"].recommendation
    )
    assert pd.isna(rows["train"].best_epoch) and "epoch" not in rows["train"].recommendation


HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"
FORMULA = "=cmd|' /C calc'!A0"


def test_hostile_run_names_neither_run_nor_compute(tracking_uri: str, tmp_path: Path) -> None:
    """A name with terminal escapes prints as text; one that starts a formula is quoted in
    every CSV, the command's and the artifacts' (a spreadsheet would run it)."""
    escaping = plant("hostile", HOSTILE, **ours(0.1, 0.1))
    formula = plant("hostile", FORMULA, **ours(0.1, 0.1))
    code, table = invoke("diagnose", "--experiment", "hostile")
    assert code == 0 and "\x1b" not in table and "\x07" not in table
    assert "\\x1b[2J" in table
    code, csv = invoke("diagnose", "--experiment", "hostile", "--format", "csv")
    names = set(pd.read_csv(StringIO(csv)).run_name)
    assert f"'{FORMULA}" in names and FORMULA not in names
    write_diagnosis([escaping, formula], tmp_path, "hostile names")
    written = set(pd.read_csv(tmp_path / "diagnosis.csv").run_name)
    assert f"'{FORMULA}" in written and FORMULA not in written
