"""Shared fixtures: every test gets its own real MLflow sqlite store in a temp directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mlflow
import pytest

from mlflow_improvenn.training.options import TrainConfig

pytest_plugins = ("tests.servers",)  # mlflow_server, postgres_database


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (the default `-n auto`), give each worker its share of the cores
    for torch's threads, in its process and in the commands its tests start, rather than
    every worker using them all. Runs before the test modules import torch."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))

#: A tiny, fast job: 200 points of two moons, a few epochs.
SMALL = dict(dataset="moons", n_samples=200, max_epochs=5, hidden_units=(16,), log_model=False)


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep what the library caches (Bayes errors) out of the user's cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sqlite store with MLflow's schema in place: creating one takes seconds, copying not.

    Made from inside its own folder: MLflow fixes the default experiment's artifact location
    as ``./mlruns`` made absolute when the store is created, and from the checkout every
    test's artifacts landed in the checkout's ``mlruns/``."""
    folder = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> str:
    """A fresh sqlite tracking store, used by the library, the CLI and subprocesses."""
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id="0")  # forget the experiment a previous test chose
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def small_config() -> TrainConfig:
    return TrainConfig(**SMALL)
