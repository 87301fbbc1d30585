"""The learning-rate range test as one MLflow run, and training with its suggestion.

The run holds what a training run of the same options holds as params (but ``lr``, which
the test sweeps), the sweep's settings (``lr_find_*``), the curve per step (``lr_find_lr``,
``lr_find_loss``, ``lr_find_loss_smoothed``, with ``step`` = iteration so the UI draws them),
the race's candidates (``lr_race_lr``, ``lr_race_dev_loss``, ``step`` = candidate), the
suggestion (the race's winner, else the valley) as the metric ``suggested_lr`` and the tag
``improvenn.suggested_lr`` (with the valley ``suggested_lr_valley`` and its neighbours
``suggested_lr_min_div10`` and ``suggested_lr_steepest``), and ``plots/lr_find.png``. It is
tagged ``improvenn.role = lr_find``, so ``diagnose`` leaves it out.

The run is created with the client, not ``mlflow.start_run``: under ``mlflow run`` the
launcher's run (``MLFLOW_RUN_ID``) belongs to the training that follows, and ``start_run``
would take it over.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import torch
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.tracking.context import registry as context_registry

from mlflow_improvenn.runs.training_run import checked_inputs, resolved_params, run_name
from mlflow_improvenn.tracking.background import process_tags
from mlflow_improvenn.tracking.finder_plots import draw_lr_find
from mlflow_improvenn.tracking.store import resolve_experiment
from mlflow_improvenn.tracking.tracker import ROLE_LR_FIND, SUMMARY_STEP, TAG_ROLE
from mlflow_improvenn.training.data import DataSplits
from mlflow_improvenn.training.loop import Trainer, to_device_splits
from mlflow_improvenn.training.lr_finder import (
    OnStep,
    RangeTestResult,
    RangeTestSettings,
    range_test,
)
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import AUTO, TrainConfig

#: On a training run whose learning rate a range test chose: that test's run.
TAG_LR_FIND_RUN = "improvenn.lr_find_run_id"
#: On a range test's run: the training run that used its suggestion.
TAG_TRAINED_RUN = "improvenn.trained_run_id"
TAG_SUGGESTED_LR = "improvenn.suggested_lr"
#: Why the test ended: completed, diverged (smoothed loss above divergence x its minimum),
#: non_finite.
TAG_LR_FIND_STOP = "improvenn.lr_find_stop"
PLOT = "plots/lr_find.png"
_BATCH = 1000  # MLflow's most metrics per log_batch call


class NoSuggestion(RuntimeError):
    """The range test's smoothed curve was too short to read (it diverged at once)."""


@dataclass(frozen=True)
class LRFindOutcome:
    """The range test's run and what it measured."""

    run_id: str
    experiment_id: str
    result: RangeTestResult

    @property
    def suggested_lr(self) -> float:
        return self.result.suggested_lr


def find_lr(
    config: TrainConfig,
    settings: RangeTestSettings | None = None,
    experiment: str | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    on_step: OnStep | None = None,
    splits: DataSplits | None = None,
) -> LRFindOutcome:
    """Run the range test for ``config``'s model, data, optimizer and L2, and log it.

    The run nests under ``parent_run_id``, else under the active run; ``on_step`` sees each
    step as it is taken (:func:`~mlflow_improvenn.training.lr_finder.range_test`); ``splits``
    is the data when the caller has read it already (see ``training_run.train``). Raises
    :class:`~mlflow_improvenn.training.options.ConfigError` for data or a device that do
    not fit, before any run exists.
    """
    settings = settings or RangeTestSettings()
    splits, device = checked_inputs(config, splits)
    started = int(time.time() * 1000)  # the run's duration is the test's and the race's
    torch.manual_seed(config.seed)
    model = build_model(config, splits)
    trainer = Trainer(config.replace(lr=settings.start_lr), model,
                      to_device_splits(splits, device), splits.task, device)
    result = range_test(trainer, settings, on_step)
    params = resolved_params(config.replace(lr=settings.start_lr), splits, device, model)
    del params["lr"]  # swept, from lr_find_start_lr to lr_find_end_lr
    client = MlflowClient()
    run = client.create_run(
        _experiment_id(client, experiment, parent_run_id),
        start_time=started,
        run_name=f"lr-find {_tested_name(config)}",
        tags=context_registry.resolve_tags(_tags(parent_run_id, tags)),
    )
    run_id = run.info.run_id
    try:
        _log(client, run_id, params | settings.params(), result, config)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED" if math.isfinite(result.suggestion.lr) else "FAILED")
    return LRFindOutcome(run_id, run.info.experiment_id, result)


def found_lr(config: TrainConfig, experiment: str | None = None,
             parent_run_id: str | None = None,
             splits: DataSplits | None = None) -> tuple[TrainConfig, dict[str, str]]:
    """``lr=auto``: run the range test as its own run and return ``config`` with its
    suggestion as ``lr``, and the tag that links the training run to the test's run.
    Raises :class:`NoSuggestion` when the test found no descent (its run ended FAILED)."""
    finder = find_lr(config, experiment=experiment, parent_run_id=parent_run_id,
                     splits=splits)
    if not math.isfinite(finder.suggested_lr):
        raise NoSuggestion(
            f"the learning-rate range test (run {finder.run_id}) found no descent to suggest "
            f"a rate from ({finder.result.stop} after {len(finder.result.lrs)} steps): give "
            "--lr a value"
        )
    return config.replace(lr=finder.suggested_lr), {TAG_LR_FIND_RUN: finder.run_id}


def link_trained_run(link: Mapping[str, str], trained_run_id: str) -> None:
    """Tag the range test's run (named in ``link``) with the run that trained at its rate."""
    MlflowClient().set_tag(link[TAG_LR_FIND_RUN], TAG_TRAINED_RUN, trained_run_id)


def _experiment_id(client: MlflowClient, experiment: str | None,
                   parent_run_id: str | None) -> str:
    """Beside the parent, or the run ``mlflow run`` launched, else where a training run
    would go."""
    beside = parent_run_id or os.environ.get("MLFLOW_RUN_ID")
    if beside:
        return client.get_run(beside).info.experiment_id
    explicit = resolve_experiment(experiment)
    if explicit is not None:
        return explicit
    active = mlflow.active_run()
    if active is not None:
        return active.info.experiment_id
    # MLflow's own choice for a new run (the experiment set active, MLFLOW_EXPERIMENT_NAME or
    # _ID, else Default): what start_run would take. MLflow has no public name for it.
    from mlflow.tracking.fluent import _get_experiment_id

    return _get_experiment_id()


def _tested_name(config: TrainConfig) -> str:
    """The training run's name without its rate, which the test sweeps (``mlp-64x64-adam``)."""
    return run_name(config.replace(lr=AUTO, run_name="")).replace("-lr=auto", "")


def _tags(parent_run_id: str | None, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The role, the parent, and the process (so that ``improvenn runs --stale`` can end the
    run if its process dies while the run is being logged)."""
    found = {**(tags or {}), TAG_ROLE: ROLE_LR_FIND, **process_tags()}
    active = mlflow.active_run()
    parent = parent_run_id or (active.info.run_id if active is not None else None)
    if parent is not None:
        found["mlflow.parentRunId"] = parent
    return found


def _log(client: MlflowClient, run_id: str, params: dict[str, str], result: RangeTestResult,
         config: TrainConfig) -> None:
    """Params, the curve per step, the suggestion and the plot."""
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    now = int(time.time() * 1000)
    metrics = []
    for step, (lr, loss, smooth) in enumerate(zip(result.lrs, result.losses, result.smoothed,
                                                  strict=True)):
        metrics += [Metric("lr_find_lr", float(lr), now, step),
                    Metric("lr_find_loss", float(loss), now, step)]
        if math.isfinite(smooth):
            metrics.append(Metric("lr_find_loss_smoothed", float(smooth), now, step))
    metrics += _race_metrics(result, now)
    suggestion = result.suggestion
    summary = {"suggested_lr": result.suggested_lr, "suggested_lr_valley": suggestion.lr,
               "suggested_lr_min_div10": suggestion.min_div10,
               "suggested_lr_steepest": suggestion.steepest, "lr_find_steps": len(result.lrs)}
    metrics += [Metric(k, float(v), now, SUMMARY_STEP) for k, v in summary.items()
                if math.isfinite(v)]
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start:start + _BATCH])
    tags = [RunTag(TAG_LR_FIND_STOP, result.stop)]
    if math.isfinite(result.suggested_lr):
        tags.append(RunTag(TAG_SUGGESTED_LR, f"{result.suggested_lr:.4g}"))
    client.log_batch(run_id, tags=tags)
    with tempfile.TemporaryDirectory(prefix="improvenn-lr-find-") as folder:
        path = Path(folder) / Path(PLOT).name
        title = f"Learning-rate range test: {_tested_name(config)}"
        race = result.race
        draw_lr_find(result.lrs, result.losses, result.smoothed, _marks(result), path, title,
                     None if race is None else (race.lrs, race.dev_losses, race.winner,
                                                race.epochs))
        client.log_artifact(run_id, str(path), str(Path(PLOT).parent))


def _race_metrics(result: RangeTestResult, now: int) -> list[Metric]:
    """Each candidate's rate and best dev loss, ``step`` = its index (low to high rate); no
    dev loss where the candidate diverged."""
    if result.race is None:
        return []
    metrics = []
    for step, (lr, loss) in enumerate(zip(result.race.lrs, result.race.dev_losses,
                                          strict=True)):
        metrics.append(Metric("lr_race_lr", float(lr), now, step))
        if math.isfinite(loss):
            metrics.append(Metric("lr_race_dev_loss", float(loss), now, step))
    return metrics


def _marks(result: RangeTestResult) -> dict[str, float]:
    """The plot's vertical lines, the suggestion first; the valley apart when it lost."""
    suggestion = result.suggestion
    if result.race is None:
        first = {"suggested (valley)": suggestion.lr}
    elif result.suggested_lr == suggestion.lr:
        first = {"suggested (valley, won the race)": suggestion.lr}
    else:
        first = {"suggested (race winner)": result.suggested_lr, "valley": suggestion.lr}
    return first | {"minimum / 10": suggestion.min_div10, "steepest": suggestion.steepest}
