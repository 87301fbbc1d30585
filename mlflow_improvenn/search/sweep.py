"""Hyperparameter sweeps: Optuna searches, every trial is one nested trainer run.

Optuna does the search and the distribution: worker processes on one machine share a journal
file, and processes on many machines share an RDB storage (PostgreSQL) by ``study_name``.
Each trial trains through :func:`mlflow_improvenn.runs.training_run.train` under the sweep's
parent run, so a trial's run holds exactly what any trainer run holds, plus the study and
trial tags. A trial whose process dies is failed in Optuna and its run ended FAILED: by the
main process once its workers are gone, or, on an RDB storage, by Optuna's heartbeat in
another process.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pandas as pd

from mlflow_improvenn.runs.parents import parent_run
from mlflow_improvenn.runs.training_run import check_config, train
from mlflow_improvenn.search.report import RUN_ID_ATTR, log_sweep_report
from mlflow_improvenn.search.space import Space, check_fits, configured, grid_of
from mlflow_improvenn.search.workers import run_in_processes
from mlflow_improvenn.tracking.store import redact_uri
from mlflow_improvenn.tracking.tracker import TAG_ERROR, log_params
from mlflow_improvenn.training.early_stopping import StopReason, StopTraining
from mlflow_improvenn.training.history import EpochRecord
from mlflow_improvenn.training.options import AUTO, ConfigError, TrainConfig

TAG_STUDY = "improvenn.study"
TAG_TRIAL = "improvenn.trial"
#: Which process ran a trial, as ``host:pid``: where to look when one goes wrong.
TAG_WORKER = "improvenn.worker"
SAMPLERS = ("random", "tpe", "grid")
PRUNERS = ("none", "median", "hyperband")
_JOIN_ATTEMPTS = 5
#: An RDB storage's trials send a heartbeat this often; one silent for the grace period is
#: failed by the next process that asks for a trial (its machine died, or was cut off).
_HEARTBEAT_S, _GRACE_S = 30, 120


@dataclass(frozen=True)
class SweepSettings:
    """How to search: trials, workers, Optuna's sampler and pruner, the shared storage."""

    n_trials: int = 10
    workers: int = 1
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    study_name: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class SweepResult:
    """The parent run, the best trial's run, and one row per trial of the study."""

    parent_run_id: str
    study_name: str
    best_run_id: str | None
    best_dev_loss: float | None
    trials: pd.DataFrame


def run_sweep(
    base: TrainConfig, space: Space, settings: SweepSettings, experiment: str | None = None
) -> SweepResult:
    """Search ``space`` around ``base`` as one parent run with a child run per trial.

    With ``base.lr`` auto, each trial runs its own range test first (a sibling run, linked
    by tags), so ``space`` may not search ``lr``: that is a ConfigError."""
    if settings.sampler == "grid":
        grid_of(space)  # refuse a space the grid cannot take before any run exists
    check_fits(space, base)
    check_config(base, many_runs=True)  # and data (and a model) that no trial could use
    if base.lr == AUTO and "lr" in space:
        raise ConfigError("lr", "auto runs a range test for every trial, which fixes lr: "
                          "search a space without lr, or give --lr a value")
    study_name = settings.study_name or f"sweep-{uuid.uuid4().hex[:8]}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with (
        tempfile.TemporaryDirectory(prefix="improvenn-sweep-") as folder,
        parent_run(study_name, experiment, tags={TAG_STUDY: study_name}) as parent_id,
    ):
        storage = settings.storage or str(Path(folder) / "journal.log")
        client = mlflow.MlflowClient()
        log_params(client, parent_id, _sweep_params(settings, study_name, space))
        job = _Job(base, space, settings, storage, study_name, parent_id,
                   client.get_run(parent_id).info.experiment_id, mlflow.get_tracking_uri())
        _run_trials(job)
        study = job.study()
        best = _best_trial(study)
        log_sweep_report(parent_id, study, best)
        trials = study.trials_dataframe(attrs=("number", "value", "state", "user_attrs"))
    return SweepResult(
        parent_run_id=parent_id,
        study_name=study_name,
        best_run_id=best.user_attrs.get(RUN_ID_ATTR) if best else None,
        best_dev_loss=best.value if best else None,
        trials=trials,
    )


@dataclass(frozen=True)
class _Job:
    """Everything a worker process needs; small and picklable, for the spawn start method."""

    base: TrainConfig
    space: Space
    settings: SweepSettings
    storage: str
    study_name: str
    parent_run_id: str
    experiment_id: str
    tracking_uri: str

    def study(self, worker: int = 0) -> optuna.Study:
        """Create or join the study. Processes that start together race to create a new
        storage's schema; the loser retries (a bounded number of times)."""
        from sqlalchemy.exc import DBAPIError

        for attempt in range(1, _JOIN_ATTEMPTS):
            try:
                return self._create_or_load(worker)
            except DBAPIError:
                time.sleep(0.5 * attempt)
        return self._create_or_load(worker)

    def _create_or_load(self, worker: int) -> optuna.Study:
        return optuna.create_study(
            study_name=self.study_name,
            storage=self._storage(),
            sampler=_sampler(self.settings, self.space, self._sampler_seed(worker)),
            pruner=_pruner(self.settings.pruner),
            direction="minimize",
            load_if_exists=True,
        )

    def _sampler_seed(self, worker: int) -> int:
        """Workers must not propose the same trials: each gets a seed of its own. Processes
        joining a shared storage from other machines cannot agree on indices, so there the
        seed is mixed with a random part (such sweeps are not reproducible in order anyway).
        """
        seed = self.settings.seed * 1000 + worker
        return seed + uuid.uuid4().int % 10**6 * 1000 if self.settings.storage else seed

    def work(self, worker: int = 0) -> None:
        """Run trials until the study holds ``n_trials`` of them (all processes counted)."""
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_experiment(experiment_id=self.experiment_id)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = self.study(worker)
        if len(study.get_trials(deepcopy=False)) >= self.settings.n_trials:
            return  # joined a study that is already complete
        study.optimize(
            self.objective,
            n_trials=self.settings.n_trials,
            callbacks=[optuna.study.MaxTrialsCallback(self.settings.n_trials, states=None)],
            catch=(Exception,),
        )

    def objective(self, trial: optuna.Trial) -> float:
        config = configured(self.base, {n: d.suggest(trial) for n, d in self.space.items()})
        tags = {TAG_STUDY: self.study_name, TAG_TRIAL: str(trial.number),
                TAG_WORKER: f"{socket.gethostname()}:{os.getpid()}"}

        def report(record: EpochRecord) -> None:
            trial.report(record.dev_loss, record.epoch)
            if trial.should_prune():
                raise StopTraining(StopReason.PRUNED)

        pruning = self.settings.pruner != "none"  # else no storage write per epoch
        outcome = train(config, on_epoch=report if pruning else None,
                        parent_run_id=self.parent_run_id, tags=tags)
        trial.set_user_attr(RUN_ID_ATTR, outcome.run_id)
        if outcome.stop_reason is StopReason.INTERRUPTED:
            raise KeyboardInterrupt
        if outcome.stop_reason is StopReason.PRUNED:
            raise optuna.TrialPruned()
        if outcome.status != "FINISHED":  # diverged: a failed trial, whatever it reached
            raise RuntimeError(f"run {outcome.run_id} ended {outcome.status}")
        return outcome.summary["best_dev_loss"]

    def fail_abandoned(self, why: str) -> None:
        """Fail the trials left RUNNING, and end their runs FAILED saying ``why``. Only for
        when no process can still be working on them."""
        study = self.study()
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            self._end_trial_run(trial.number, why)

    def _on_stale(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self._end_trial_run(trial.number, "no heartbeat from its process")

    def _end_trial_run(self, number: int, why: str) -> None:
        client = mlflow.MlflowClient(self.tracking_uri)
        running = client.search_runs(
            [self.experiment_id],
            f"tags.`{TAG_TRIAL}` = '{number}' and attributes.status = 'RUNNING'",
        )
        for run in running:  # the study's name is checked here, not quoted into the filter
            if run.data.tags.get(TAG_STUDY) == self.study_name:
                client.set_tag(run.info.run_id, TAG_ERROR, why)
                client.set_terminated(run.info.run_id, "FAILED")

    def _storage(self) -> Any:
        """A journal file for a path; an RDB URL with heartbeats, so that another process
        fails the trials of a machine that died."""
        if "://" not in self.storage:
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(self.storage))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                self.storage,
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=_HEARTBEAT_S,
                grace_period=_GRACE_S,
                heartbeat_stale_trial_callback=self._on_stale,
            )


def _run_trials(job: _Job) -> None:
    """In this process, or in worker processes; then fail what dead workers left running."""
    job.study()  # create it once, before workers race to
    if job.settings.workers == 1:
        job.work()
        return
    ours_alone = job.settings.storage is None  # no one else can be running its trials
    try:
        exit_codes = run_in_processes(job.work, job.settings.workers)
    except KeyboardInterrupt:
        if ours_alone:  # workers killed after the grace period could not end their runs
            job.fail_abandoned("its worker did not stop in time when the sweep was interrupted")
        raise
    if ours_alone and any(code != 0 for code in exit_codes):
        job.fail_abandoned("its worker process died")


def _sampler(settings: SweepSettings, space: Space, seed: int) -> optuna.samplers.BaseSampler:
    if settings.sampler == "grid":
        return optuna.samplers.GridSampler(grid_of(space), seed=seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: parallel workers do not all propose near the same promising point
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return min(complete, key=lambda t: t.value) if complete else None


def _sweep_params(settings: SweepSettings, study_name: str, space: Space) -> dict[str, str]:
    """The sweep's own settings; a storage URL is logged without its password."""
    return {
        "n_trials": str(settings.n_trials),
        "workers": str(settings.workers),
        "sampler": settings.sampler,
        "pruner": settings.pruner,
        "storage": redact_uri(settings.storage) if settings.storage else "journal (local)",
        "study_name": study_name,
        "searched": ",".join(space),
    }
