"""The README's own runs, trained and diagnosed through the commands a new user types."""

from __future__ import annotations

import json

from tests.diagnosis.planted import invoke

OVERFIT = ["--hidden-units", "256,256", "--n-samples", "400", "--noise", "0.4",
           "--dev-fraction", "0.5", "--test-fraction", "0.1", "--patience", "0",
           "--monitor", "train_loss", "--max-epochs", "200"]


def diagnosed(experiment: str) -> dict[str, dict]:
    code, output = invoke("diagnose", "--experiment", experiment, "--format", "json")
    assert code == 0, output
    return {row["run_name"]: row for row in json.loads(output)}


def test_the_quick_start_run_is_a_good_fit_and_a_tiny_network_under_fits(tracking_uri) -> None:
    """Moons at noise 0.2 cannot be learned below its Bayes error, about 0.029: the default
    job reaches it (good fit, and it stopped early: never "train longer"); two hidden units
    cannot bend enough (high bias)."""
    for extra in ([], ["--hidden-units", "2"]):
        code, output = invoke("train", "--quiet", "--experiment", "quick", "--log-model",
                              "false", *extra)
        assert code == 0, output
    rows = diagnosed("quick")
    default, tiny = rows["mlp-64x64-adam-lr=0.01"], rows["mlp-2-adam-lr=0.01"]
    assert default["diagnosis"] == "good_fit", default
    assert 0.025 < default["baseline_error"] < 0.033
    assert "Bayes error" in default["baseline_source"]
    assert tiny["diagnosis"] == "high_bias", tiny
    assert "train longer" not in tiny["recommendation"]  # it stopped early
    code, table = invoke("diagnose", "--experiment", "quick")
    assert f"{default['baseline_error']:.4f}" in table


def test_a_big_network_on_160_rows_over_fits(tracking_uri) -> None:
    """The issue's set-up (256x256 on 160 training rows of moons at noise 0.4, a 200-row dev
    split) with 200 epochs instead of 1,500: already enough to fit the train split (train
    error 0.05, dev error 0.155 here with the stratified split; 0.025 and 0.175 before it)."""
    code, output = invoke("train", "--quiet", "--experiment", "big", "--log-model", "false",
                          *OVERFIT)
    assert code == 0, output
    row = next(iter(diagnosed("big").values()))
    assert (row["n_train"], row["n_dev"]) == (160, 200)
    assert row["train_error"] <= 0.05 and row["dev_error"] > 0.12
    assert row["diagnosis"] == "high_variance" and row["variance_low"] > 0
