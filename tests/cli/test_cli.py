"""``improvenn train`` as a user runs it: good runs, and bad input refused before any run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main

FAST = ["--n-samples", "120", "--max-epochs", "2", "--hidden-units", "8", "--log-model", "false"]


def all_runs() -> pd.DataFrame:
    return mlflow.search_runs(search_all_experiments=True)


@pytest.mark.parametrize(
    ("args", "option", "allowed"),
    [
        (["--dropout", "1.0"], "--dropout", "[0, 1)"),
        (["--dropout", "0.2,1.5"], "--dropout", "[0, 1)"),
        (["--dropout", "0.1,0.2"], "--dropout", "one per hidden layer"),
        (["--lr", "0"], "--lr", "(0, inf]"),
        (["--lr", "-0.1"], "--lr", "(0, inf]"),
        (["--lr", "abc"], "--lr", "not a valid float"),
        (["--scheduler", "linear"], "--scheduler", "'none', 'plateau'"),
        (["--hidden-units", "64,x"], "--hidden-units", "list of integers"),
        (["--batch-norm", "maybe"], "--batch-norm", "not a valid boolean"),
        (["--dataset", "csv:/no/such.csv", "--target", "y"], "--dataset", "does not exist"),
        (["--dataset", "mnist"], "--dataset", "moons, circles"),
        (["--device", "cuda:7"], "--device", "CUDA is not available"),
    ],
)
def test_bad_input_is_a_usage_error_and_creates_no_run(tracking_uri, args, option, allowed):
    result = CliRunner().invoke(main, ["train", *FAST, *args])
    assert result.exit_code == 2, result.output
    assert option in result.output and allowed in result.output
    assert "Traceback" not in result.output
    assert all_runs().empty


def test_missing_target_column_is_a_usage_error(tracking_uri: str, tmp_path: Path) -> None:
    pd.DataFrame({"a": range(40), "b": [0, 1] * 20}).to_csv(tmp_path / "d.csv", index=False)
    result = CliRunner().invoke(
        main, ["train", *FAST, "--dataset", f"csv:{tmp_path / 'd.csv'}", "--target", "y"]
    )
    assert result.exit_code == 2
    assert "--target" in result.output and "column 'y' is not in" in result.output
    assert all_runs().empty


def test_train_on_a_csv_prints_the_run_and_how_to_see_it(tracking_uri, tmp_path) -> None:
    frame = pd.DataFrame({"a": range(60), "kind": ["x", "y", "z"] * 20, "label": [0, 1] * 30})
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = CliRunner().invoke(
        main, ["train", *FAST, "--dataset", f"csv:{tmp_path / 'd.csv'}", "--target", "label",
               "--experiment", "mine"],
    )
    assert result.exit_code == 0, result.output
    runs = all_runs()
    assert len(runs) == 1 and runs.loc[0, "params.n_features"] == "4"
    run_id = runs.loc[0, "run_id"]
    assert f"Run {run_id} FINISHED" in result.output
    assert "epoch    2/2" in result.output  # plain lines when stdout is no terminal
    assert "mlflow ui --backend-store-uri" in result.output
    assert mlflow.get_experiment(runs.loc[0, "experiment_id"]).name == "mine"


def test_quiet_prints_no_epochs(tracking_uri: str) -> None:
    result = CliRunner().invoke(main, ["train", *FAST, "--quiet"])
    assert result.exit_code == 0 and "/2  train_loss" not in result.output


def test_diverging_run_exits_non_zero_with_one_clear_line(tracking_uri: str) -> None:
    result = CliRunner().invoke(
        main, ["train", *FAST, "--max-epochs", "20", "--dataset", "diabetes", "--optimizer",
               "sgd", "--momentum", "0", "--lr", "1e6", "--quiet"],
    )
    assert result.exit_code == 1
    assert "FAILED (non_finite_loss)" in result.output and "Traceback" not in result.output


def test_help_documents_every_option_with_its_range() -> None:
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    assert "--weight-decay" in result.output and "Range [0, 1)" in result.output


def test_top_level_help_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom mlflow_improvenn.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'mlflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_a_terminal_gets_a_progress_bar(tracking_uri: str) -> None:
    import fcntl
    import os
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: improvenn with a 24x100 terminal as stdout
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        os.execv(sys.executable, [sys.executable, "-m", "mlflow_improvenn", "train", *FAST,
                                  "--max-epochs", "3"])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "3/3" in text and "epoch/s" in text and "dev_loss=" in text
    assert "epoch    1/3" not in text  # no plain lines on a terminal


def test_two_trainings_started_together_in_a_fresh_folder_share_one_new_store(tmp_path) -> None:
    """MLflow migrates a new sqlite store's tables on first use; two processes racing to do it
    broke the store (seen with MLflow 3.17 in 4 tries of 4) until the store was made under a
    lock."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID")}
    command = [sys.executable, "-m", "mlflow_improvenn", "train", *FAST, "--quiet"]
    both = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    store = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert len(store.search_runs(["0"])) == 2


@pytest.mark.parametrize(("launched", "status"), [(True, "FAILED"), (False, "RUNNING")])
def test_a_refused_option_ends_only_a_run_mlflow_run_launched(tracking_uri, monkeypatch,
                                                              launched, status) -> None:
    tags = {"mlflow.project.entryPoint": "main"} if launched else {}
    run_id = mlflow.MlflowClient().create_run("0", tags=tags).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    result = CliRunner().invoke(main, ["train", "--dropout", "1.5"])
    assert result.exit_code == 2 and "'--dropout'" in result.output
    assert mlflow.MlflowClient().get_run(run_id).info.status == status


def test_train_reads_its_data_once(tracking_uri: str, monkeypatch) -> None:
    """Before: twice, once to check the options before the store opens, once to train (a
    large CSV was parsed twice)."""
    from mlflow_improvenn.training import data

    reads = []
    load = data.load
    monkeypatch.setattr(data, "load", lambda config: reads.append(config) or load(config))
    result = CliRunner().invoke(main, ["train", "--quiet", *FAST])
    assert result.exit_code == 0, result.output
    assert len(reads) == 1


def test_a_regression_run_reports_its_r2(tracking_uri: str) -> None:
    """Before: only the losses of a regression were printed, though the run logs R^2."""
    result = CliRunner().invoke(main, ["train", *FAST, "--dataset", "diabetes", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "best_dev_r2" in result.output and "test_r2" in result.output
