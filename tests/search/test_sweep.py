"""Sweeps as users run them: nested runs per trial, workers, pruning, shared storages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.search.space import parse_space
from mlflow_improvenn.search.sweep import SweepSettings, run_sweep
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL

TINY = ["--n-samples", "200", "--max-epochs", "4", "--hidden-units", "8", "--log-model", "false"]


def runs() -> pd.DataFrame:
    return mlflow.search_runs(search_all_experiments=True)


def children_of(frame: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    parent = frame[frame["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1
    return parent.iloc[0], frame[frame["tags.mlflow.parentRunId"].notna()]


def test_two_workers_make_one_parent_with_a_child_run_per_trial(tracking_uri: str) -> None:
    result = CliRunner().invoke(main, ["sweep", *TINY, "--n-trials", "4", "--workers", "2",
                                       "--sampler", "random", "--experiment", "sw"])
    assert result.exit_code == 0, result.output
    parent, children = children_of(runs())
    assert len(children) == 4 and set(children["tags.mlflow.parentRunId"]) == {parent.run_id}
    assert sorted(children["tags.improvenn.trial"].astype(int)) == [0, 1, 2, 3]
    assert set(children["tags.improvenn.study"]) == {parent["tags.improvenn.study"]}
    assert children["tags.improvenn.worker"].str.fullmatch(rf"{socket.gethostname()}:\d+").all()
    assert children["params.lr"].nunique() == 4  # the workers did not propose the same trials
    assert (children["status"] == "FINISHED").all()
    assert children["tags.improvenn.diagnosis"].notna().all()  # the UI groups trials by it
    assert parent["metrics.best_dev_loss"] == children["metrics.best_dev_loss"].min()
    best = children.loc[children["metrics.best_dev_loss"].idxmin(), "run_id"]
    assert parent["tags.improvenn.best_run_id"] == best
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.run_id, "sweep")}
    assert {"sweep/diagnosis.csv", "sweep/history.png", "sweep/bias_variance_map.png",
            "sweep/importances.png"} <= artifacts
    table = pd.read_csv(mlflow.MlflowClient().download_artifacts(
        parent.run_id, "sweep/diagnosis.csv"))
    assert sorted(table["run_id"]) == sorted(children["run_id"])


def test_hopeless_trials_are_pruned_and_say_so(tracking_uri: str) -> None:
    space = parse_space({"lr": {"loguniform": [1e-6, 0.3]}})
    base = TrainConfig(**(SMALL | {"max_epochs": 12, "patience": 0}))
    result = run_sweep(base, space, SweepSettings(n_trials=8, sampler="random", pruner="median"))
    _, children = children_of(runs())
    pruned = children[children["tags.improvenn.stop_reason"] == "pruned"]
    assert len(pruned) >= 1 and (pruned["status"] == "FINISHED").all()
    assert (pruned["metrics.stopped_epoch"] < 12).all()
    assert set(result.trials["state"]) >= {"COMPLETE", "PRUNED"}


def test_failing_trials_end_failed_and_the_sweep_goes_on(tracking_uri: str) -> None:
    space = parse_space({"lr": {"choice": ["0.01", "1e6"]},
                         "hidden_units": {"choice": ["8", "8,8,8"]}})
    base = TrainConfig(**(SMALL | {"dataset": "diabetes", "optimizer": "sgd", "momentum": 0.0,
                                   "dropout": (0.1, 0.1, 0.1), "hidden_units": (8, 8, 8)}))
    result = run_sweep(base, space, SweepSettings(n_trials=4, sampler="grid", pruner="none"))
    states = result.trials.set_index("number")["state"]
    assert sorted(states) == ["COMPLETE", "FAIL", "FAIL", "FAIL"]  # 1 diverged, 2 bad configs
    _, children = children_of(runs())
    assert sorted(children["status"]) == ["FAILED", "FINISHED"]  # bad configs never started
    assert result.best_run_id in set(children["run_id"])


def test_a_bad_space_file_is_a_usage_error_before_any_run(tracking_uri, tmp_path) -> None:
    (tmp_path / "space.yaml").write_text("lr: {uniform: [0.1, 0.01]}\n")
    result = CliRunner().invoke(main, ["sweep", *TINY, "--space", str(tmp_path / "space.yaml")])
    assert result.exit_code == 2 and "--space" in result.output and "above high" in result.output
    assert runs().empty


@pytest.mark.parametrize("command", ["sweep", "recipe"])
@pytest.mark.parametrize(("args", "option", "words"), [
    (["--dataset", "csv:missing.csv", "--target", "y"], "--dataset", "does not exist"),
    (["--resume-from", "0123456789abcdef0123456789abcdef"], "--resume-from", "from scratch"),
])
def test_options_no_trial_could_use_are_a_usage_error_before_any_run(tracking_uri, command,
                                                                    args, option, words) -> None:
    result = CliRunner().invoke(main, [command, *args])
    assert result.exit_code == 2, result.output
    assert option in result.output and words in result.output
    assert "Traceback" not in result.output
    assert runs().empty


def worker_pids(parent: int) -> list[int]:
    """The spawned worker processes of ``parent`` (Linux's /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent_pid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent_pid == parent and b"spawn_main" in command:
            pids.append(int(stat.parent.name))
    return pids


def wait_for_running_trials(count: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = mlflow.search_runs(search_all_experiments=True,
                                     filter_string="attributes.status = 'RUNNING'")
        children = running.get("tags.mlflow.parentRunId", pd.Series(dtype=object))
        if children.notna().sum() >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} trials were not running within {timeout_s}s")


def worker_of_the_latest_trial() -> int:
    """The pid of the worker whose running trial started last (its ``improvenn.worker`` tag)."""
    running = mlflow.search_runs(search_all_experiments=True, order_by=["start_time DESC"],
                                 filter_string="attributes.status = 'RUNNING' and "
                                               "tags.`improvenn.trial` != ''")
    host, pid = running["tags.improvenn.worker"].iloc[0].split(":")
    assert host == socket.gethostname()
    return int(pid)


def start_sweep(*args: str) -> subprocess.Popen:
    """``improvenn sweep`` of long tiny trials on 2 workers, with ``args`` added."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlflow_improvenn", "sweep", *TINY, "--max-epochs", "400",
         "--patience", "0", "--workers", "2", "--sampler", "random", "--pruner", "none", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds workers in /proc")
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGKILL, "FAILED"),
                                                (signal.SIGTERM, "KILLED")])
def test_a_worker_that_dies_fails_its_trial_and_the_sweep_goes_on(
    tracking_uri: str, signum: int, status: str
) -> None:
    sweep = start_sweep("--n-trials", "3")
    try:
        wait_for_running_trials(2)
        os.kill(worker_of_the_latest_trial(), signum)  # far from its end: no race with it
        output, _ = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    assert sweep.returncode == 0 and "'FAIL': 1" in output, output
    parent, children = children_of(runs())
    assert parent.status == "FINISHED"
    assert sorted(children["status"]) == sorted([status, "FINISHED", "FINISHED"])
    ended = children[children["status"] == status].iloc[0]
    if signum == signal.SIGKILL:
        assert ended["tags.improvenn.error"] == "its worker process died"
    else:
        assert ended["tags.improvenn.stop_reason"] == "interrupted"


def test_sigterm_stops_the_sweep_and_its_running_trials_end_killed(tracking_uri: str) -> None:
    sweep = start_sweep("--n-trials", "6")
    try:
        wait_for_running_trials(2)
        workers = worker_pids(sweep.pid)
        sweep.terminate()
        output, _ = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    assert sweep.returncode == 130 and "interrupted" in output, output
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    parent, children = children_of(runs())
    assert parent.status == "KILLED"
    killed = children[children["status"] == "KILLED"]
    # a worker may be between two short trials when the signal lands: at least one is running
    assert len(killed) >= 1 and (killed["tags.improvenn.stop_reason"] == "interrupted").all()
    assert (children["status"] != "RUNNING").all() and len(children) < 6


def join(storage: str, study: str, tracking: str, n_trials: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "mlflow_improvenn", "sweep", *TINY, "--sampler", "random",
            "--pruner", "none", "--n-trials", str(n_trials), "--storage", storage,
            "--study-name", study, "--experiment", "shared"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def assert_each_trial_ran_once(storage: str, study: str, tracking: str, n_trials: int) -> None:
    import optuna

    processes = [join(storage, study, tracking, n_trials) for _ in range(2)]
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output
    trials = optuna.load_study(study_name=study, storage=storage).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) >= n_trials
    run_ids = [t.user_attrs["mlflow_run_id"] for t in trials]
    assert len(run_ids) == len(set(run_ids))
    client = mlflow.MlflowClient(tracking)
    experiment = client.get_experiment_by_name("shared")
    children = [r for r in client.search_runs([experiment.experiment_id])
                if "improvenn.trial" in r.data.tags]
    assert sorted(int(r.data.tags["improvenn.trial"]) for r in children) == sorted(numbers)
    assert {r.info.run_id for r in children} == set(run_ids)


def test_two_processes_share_a_file_storage(tracking_uri: str, tmp_path: Path) -> None:
    assert_each_trial_ran_once(f"sqlite:///{tmp_path / 'study.db'}", "shared-file",
                               tracking_uri, n_trials=4)


def test_two_processes_share_postgresql_with_a_postgresql_mlflow_server(
    tmp_path: Path, new_postgres_database
) -> None:
    from tests.servers import MlflowServer

    server = MlflowServer(new_postgres_database(), tmp_path).start()
    try:
        assert_each_trial_ran_once(new_postgres_database(), "shared-pg", server.uri, n_trials=4)
    finally:
        server.stop()


def test_the_storage_can_come_from_the_environment(tracking_uri, tmp_path, monkeypatch) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    monkeypatch.setenv("IMPROVENN_STORAGE", storage)
    result = CliRunner().invoke(main, ["sweep", *TINY, "--n-trials", "1", "--sampler", "random",
                                       "--study-name", "from-env"])
    assert result.exit_code == 0, result.output
    parent, _ = children_of(runs())
    assert parent["params.storage"] == storage


def test_under_mlflow_run_a_storage_password_is_refused_and_said_to_be_logged(
    tracking_uri, monkeypatch
) -> None:
    """mlflow run logs entry-point parameters before the entry point starts: the password is
    in the launcher's run already, and the user must learn it (and not do it again)."""
    client = mlflow.MlflowClient()
    launched = client.create_run("0", tags={"mlflow.project.entryPoint": "sweep"}).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", launched)
    result = CliRunner().invoke(main, ["sweep", *TINY, "--study-name", "s", "--storage",
                                       "postgresql://bob:s3cret@127.0.0.1:5432/optuna"])
    assert result.exit_code == 2 and "'--storage'" in result.output
    assert launched in result.output and "IMPROVENN_STORAGE" in result.output
    run = client.get_run(launched)
    assert run.info.status == "FAILED" and "s3cret" not in run.data.tags["improvenn.error"]


def test_the_sweeps_plots_leave_the_process_style_alone(tmp_path: Path) -> None:
    """Optuna's matplotlib plots switch to ggplot for good: the learning curves of every
    later run of the process were drawn in it, with other margins (seen as a 2-pixel
    taller figure)."""
    import matplotlib
    import optuna

    from mlflow_improvenn.search.report import _save_optuna_plots

    study = optuna.create_study()
    study.optimize(lambda trial: trial.suggest_float("x", -1, 1) ** 2, n_trials=3)
    before = dict(matplotlib.rcParams)
    _save_optuna_plots(study, tmp_path)
    assert (tmp_path / "history.png").exists()
    assert dict(matplotlib.rcParams) == before
