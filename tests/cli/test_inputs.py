"""Inputs a user gets wrong, and the consistency they expect across the commands.

Each test names what was seen before its fix. Most parse or refuse without training; the few
that train use a few epochs of a tiny data set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.cli.learning_curve import learning_curve
from mlflow_improvenn.cli.lesson import lesson
from mlflow_improvenn.cli.lr_find import lr_find
from mlflow_improvenn.cli.recipe import recipe
from mlflow_improvenn.cli.sweep import sweep
from mlflow_improvenn.cli.train import build_config, train
from mlflow_improvenn.lessons.catalog import LESSONS
from tests.cli.test_cli import FAST, all_runs
from tests.servers import free_port


def parsed(command, *args: str) -> dict:
    """The values ``command`` parses from ``args``, without running it."""
    return command.make_context(command.name, list(args)).params


def test_boolean_options_work_as_bare_flags_and_with_values() -> None:
    """Before: ``--batch-norm --checkpoint-every-epoch`` was 'Option '--batch-norm' requires
    an argument'."""
    values = parsed(train, "--batch-norm", "--checkpoint-every-epoch", "--nesterov", "false",
                    "--amp", "true", "--log-model", "0")
    config = build_config({k: v for k, v in values.items() if k not in ("experiment", "quiet")})
    assert (config.batch_norm, config.checkpoint_every_epoch) == (True, True)
    assert (config.nesterov, config.amp, config.log_model) == (False, True, False)
    assert parsed(recipe, "--data-first")["data_first"] == "true"
    assert parsed(lesson, "dropout", "--smoke")["smoke"] is True
    assert parsed(lesson, "dropout", "--smoke", "false")["smoke"] is False


@pytest.mark.parametrize(("value", "shown"), [("", "''"), ("maybe", "'maybe'")])
def test_a_blank_or_bad_boolean_is_refused_with_the_words_it_takes(tracking_uri, value,
                                                                   shown) -> None:
    """Before: ``--batch-norm ""`` trained (as false), and the error for 'maybe' listed the
    allowed values from an empty one: 'Recognized values: , 0, 1, f, ...'."""
    result = CliRunner().invoke(main, ["train", *FAST, "--batch-norm", value])
    assert result.exit_code == 2, result.output
    assert (f"Invalid value for '--batch-norm': {shown} is not a valid boolean: use true or "
            "false") in result.output
    assert all_runs().empty


@pytest.mark.parametrize("command", [train, sweep, recipe, lesson, lr_find, learning_curve])
def test_every_command_that_trains_takes_quiet(command) -> None:
    """Before: sweep, recipe, lesson, lr-find and learning-curve said 'No such option:
    --quiet'."""
    args = ["dropout"] if command is lesson else []
    assert parsed(command, *args, "--quiet")["quiet"] is True


def test_a_quiet_recipe_prints_only_its_result(tracking_uri: str) -> None:
    result = CliRunner().invoke(main, ["recipe", *FAST, "--max-steps", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "step 1:" not in result.output and "after 1 step(s)" in result.output


@pytest.mark.parametrize("quiet", [False, True])
def test_lr_find_prints_its_steps_unless_quiet_and_its_result_always(tracking_uri,
                                                                     quiet) -> None:
    result = CliRunner().invoke(main, ["lr-find", *FAST, "--num-steps", "20", "--burn-in", "2",
                                       *(["--quiet"] if quiet else [])])
    assert result.exit_code == 0, result.output
    steps = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert steps == [] if quiet else (steps[0].startswith("step    1/20  lr 1e-07  loss ")
                                      and len(steps) > 5)
    assert "Range test " in result.output and "Suggested lr " in result.output


@pytest.mark.parametrize("quiet", [False, True])
def test_learning_curve_prints_its_children_unless_quiet_and_its_result_always(
    tracking_uri, quiet
) -> None:
    result = CliRunner().invoke(main, ["learning-curve", *FAST, "--fractions", "0.4,0.7,1",
                                       *(["--quiet"] if quiet else [])])
    assert result.exit_code == 0, result.output
    children = [line for line in result.output.splitlines() if "of the train rows: run" in line]
    assert len(children) == (0 if quiet else 3)
    assert quiet or children[0].startswith("100% of the train rows: run ")  # largest first
    assert "Last segment: " in result.output and "Parent run " in result.output


def test_the_lesson_usage_line_is_not_broken_inside_a_word() -> None:
    """Before: 'Usage: improvenn lesson [OPTIONS] {bias_variance|...|bat' / 'ch_norm|...}'."""
    result = CliRunner().invoke(main, ["lesson", "--help"], prog_name="improvenn")
    assert result.output.splitlines()[0] == "Usage: improvenn lesson [OPTIONS] NAME"
    listed = " ".join(result.output.split())  # the help text may wrap between names
    assert all(f" {name}," in listed or f" {name}." in listed for name in LESSONS)


def test_recipe_target_dev_error_is_an_error_rate() -> None:
    result = CliRunner().invoke(main, ["recipe", "--target-dev-error", "2"])
    assert result.exit_code == 2 and "'--target-dev-error'" in result.output


@pytest.mark.parametrize(
    ("option", "value"),
    [("--hidden-units", ",".join(["2"] * 3100)), ("--run-name", "x" * 6001)],
)
def test_a_value_mlflow_would_truncate_is_refused_before_any_run(tracking_uri, option,
                                                                 value) -> None:
    """Before: a 3,100-layer --hidden-units trained, and MLflow logged its first 3,000 layers
    (6,000 characters)."""
    result = CliRunner().invoke(main, ["train", *FAST, option, value])
    assert result.exit_code == 2, result.output[-500:]
    assert f"Invalid value for '{option}'" in result.output and "6,000" in result.output
    assert all_runs().empty


def test_a_refused_option_prints_no_mlflow_lines_and_leaves_no_store(tmp_path: Path) -> None:
    """Before: 'INFO mlflow.store.db.utils: Creating initial MLflow database tables...' and
    more, then our error, and mlflow.db left in the folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID")}
    done = subprocess.run(
        [sys.executable, "-m", "mlflow_improvenn", "train", "--dataset", "csv:nope.csv",
         "--target", "y"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for '--dataset': csv file 'nope.csv' does not exist")
    assert "INFO" not in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["train", *FAST], ["diagnose"]])
@pytest.mark.parametrize(("uri", "says"), [
    ("bogus://x", "bogus://x is not a tracking URI MLflow can use (schemes: "),
    ("sqlite:///{tmp}/no/such/folder/mlflow.db", "the folder {tmp}/no/such/folder of the sqlite"),
])
def test_a_tracking_uri_no_store_can_be_at_is_a_usage_error(tracking_uri, tmp_path,
                                                            monkeypatch, command, uri, says):
    """Before: a traceback (UnsupportedModelRegistryStoreURIException; FileNotFoundError for
    train, and 'no MLflow store at' for diagnose)."""
    uri, says = uri.format(tmp=tmp_path), says.format(tmp=tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for MLFLOW_TRACKING_URI: {says}" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "no").exists()


def test_diagnose_names_its_tracking_uri_option(tracking_uri) -> None:
    result = CliRunner().invoke(main, ["diagnose", "--tracking-uri", "bogus://x"])
    assert result.exit_code == 2 and "Invalid value for '--tracking-uri'" in result.output


def test_a_summary_is_logged_at_step_zero_and_diagnose_reads_it(tracking_uri: str) -> None:
    """Before: best_*/test_* were logged at the last epoch's step: lone dots far out on the
    MLflow UI's epoch axis."""
    assert CliRunner().invoke(main, ["train", *FAST, "--quiet"]).exit_code == 0
    run_id = all_runs().loc[0, "run_id"]
    client = mlflow.MlflowClient()
    summary = client.get_run(run_id).data.metrics
    for name in ("best_dev_error", "test_error", "best_epoch", "stopped_epoch"):
        assert [m.step for m in client.get_metric_history(run_id, name)] == [0]
    assert [m.step for m in client.get_metric_history(run_id, "dev_loss")] == [1, 2]
    result = CliRunner().invoke(main, ["diagnose", "--format", "json"])
    row = json.loads(result.output)[0]
    assert (row["train_error"], row["dev_error"]) == (summary["best_train_error"],
                                                      summary["best_dev_error"])


def test_an_experiment_we_create_opens_in_model_training_mode(tracking_uri: str) -> None:
    """Before: no mlflow.experimentKind tag, so the MLflow 3 UI showed its GenAI overview."""
    from mlflow_improvenn.tracking.store import resolve_experiment

    experiment_id = resolve_experiment("fresh")
    assert resolve_experiment("fresh") == experiment_id
    tags = mlflow.get_experiment(experiment_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"


def test_resuming_a_run_that_stopped_early_is_refused(tracking_uri: str) -> None:
    """Before: a run stopped early at epoch 5 was resumed, trained epoch 6 for nothing and
    ended FINISHED (early_stopping) again."""
    early = ["train", *FAST, "--max-epochs", "60", "--patience", "1", "--lr", "0.3",
             "--checkpoint-every-epoch", "true", "--quiet"]
    assert CliRunner().invoke(main, early).exit_code == 0
    runs = all_runs()
    assert runs.loc[0, "tags.improvenn.stop_reason"] == "early_stopping"
    result = CliRunner().invoke(main, ["train", "--resume-from", runs.loc[0, "run_id"],
                                       "--max-epochs", "100", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--resume-from'" in result.output
    assert "stopped early" in result.output and len(all_runs()) == 1


@pytest.mark.parametrize("command", [["train", *FAST], ["diagnose"]])
def test_a_server_that_does_not_answer_is_said_at_once_and_given_up_on(tracking_uri, monkeypatch,
                                                                       command) -> None:
    """Before: silent for over 4 minutes (MLflow's own retries), then one 300-character line;
    60 s of ``improvenn train`` against a closed port printed nothing."""
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    monkeypatch.setenv("IMPROVENN_SERVER_WAIT", "1.5")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        f"The MLflow tracking server {uri} does not answer (connection refused); retrying 2 "
        "times over 1.5 s ($IMPROVENN_SERVER_WAIT sets the wait).",
        "  retry 1/2 in 1 s", "  retry 2/2 in 0.5 s",
    ]
    assert lines[-1] == (f"Error: the MLflow tracking server {uri} did not answer in 1.5 s "
                         "(3 tries): connection refused")


def test_a_server_that_comes_up_while_waited_for_is_used() -> None:
    """The server is started from the first retry's notice: the next try finds it."""
    from mlflow_improvenn.tracking.store import wait_for_server

    port, retries, servers = free_port(), [], []

    def start_the_server(retry) -> None:
        retries.append(retry)
        servers.append(ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler))
        threading.Thread(target=servers[0].serve_forever, daemon=True).start()

    try:
        wait_for_server(f"http://127.0.0.1:{port}", 30, start_the_server)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert [(r.attempt, r.of, r.delay) for r in retries] == [(1, 5, 1.0)]


@pytest.mark.parametrize("wait", [0, 0.5, 1, 7, 30, 300])
def test_the_retries_sleep_no_longer_than_the_wait(wait: float) -> None:
    from mlflow_improvenn.tracking.store import retry_delays

    delays = retry_delays(wait)
    assert sum(delays) == wait
    doubling = [2.0**i for i in range(len(delays))]
    assert delays[:-1] == doubling[:-1]
    assert all(0 < last <= doubling[-1] for last in delays[-1:])  # the last one cut


def test_a_bad_server_wait_is_a_usage_error_naming_it(tracking_uri, monkeypatch) -> None:
    monkeypatch.setenv("IMPROVENN_SERVER_WAIT", "soon")
    result = CliRunner().invoke(main, ["diagnose"])
    assert result.exit_code == 2
    assert "Invalid value for IMPROVENN_SERVER_WAIT: 'soon' is not a number" in result.output


def test_the_readme_churn_example_trains(tracking_uri: str) -> None:
    """Before: data/churn.csv, used by the README's example, did not exist."""
    churn = Path(__file__).resolve().parents[2] / "data" / "churn.csv"
    result = CliRunner().invoke(main, ["train", "--dataset", f"csv:{churn}", "--target", "churned",
                                       "--max-epochs", "2", "--log-model", "false", "--quiet"])
    assert result.exit_code == 0, result.output
    params = all_runs().iloc[0]
    assert (params["params.task"], params["params.n_train"]) == ("binary", "360")


def test_a_negative_number_for_a_true_false_option_names_the_option(tracking_uri: str) -> None:
    """Before: "No such option '-1'": a true/false option may stand bare, so click's parser
    took ``--batch-norm=-1``'s value for the next option (found by the property test)."""
    for value in ("-1", "-0.0"):
        result = CliRunner().invoke(main, ["train", "--quiet", f"--batch-norm={value}", *FAST])
        assert result.exit_code == 2
        assert "'--batch-norm'" in result.output and "true or false" in result.output
    assert all_runs().empty
