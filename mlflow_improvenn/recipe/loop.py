"""The basic recipe in a loop: train, diagnose, change one thing, train again, all in MLflow.

Each step is a child run of one parent, tagged ``improvenn.recipe_step`` and
``improvenn.recipe_action``; the parent logs ``recipe_dev_error`` (and the train error and the
best dev error so far) with ``step`` = recipe step, so the UI draws the recipe's progress.
(Not ``dev_error``: the parent is not a training run, and ``diagnose`` would take it for one.)

The loop keeps the best run so far. A change that makes the dev error worse is undone: the next
step starts again from the best run and tries the recipe's next idea for the same verdict.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import mlflow
import pandas as pd

from mlflow_improvenn.diagnosis.gaps import diagnose_errors
from mlflow_improvenn.diagnosis.learning_curve import DataVerdict
from mlflow_improvenn.diagnosis.report import Settings, diagnose_runs
from mlflow_improvenn.diagnosis.verdicts import Diagnosis, Verdict
from mlflow_improvenn.recipe.decisions import Action, RecipePolicy, RunFacts, next_action
from mlflow_improvenn.runs.parents import log_comparison, log_table, parent_run, train_child
from mlflow_improvenn.runs.training_run import RunFailed, TrainOutcome, check_config, run_name
from mlflow_improvenn.search.learning_curve import run_learning_curve
from mlflow_improvenn.tracking.queries import client_for, get_runs
from mlflow_improvenn.training import data
from mlflow_improvenn.training.options import TrainConfig

TAG_STEP = "improvenn.recipe_step"
TAG_ACTION = "improvenn.recipe_action"
TAG_KEPT = "improvenn.recipe_kept"
TAG_STOP = "improvenn.recipe_stop_reason"
TAG_BEST_RUN = "improvenn.recipe_best_run_id"
#: On the recipe's parent: the last learning curve ``data_first=auto`` ran (a child parent).
TAG_CURVE = "improvenn.recipe_learning_curve_run_id"
START = "start"


@dataclass(frozen=True)
class RecipeSettings:
    """When the loop stops and how it judges a run: ``baseline_error`` and ``tolerance`` as
    :func:`~mlflow_improvenn.diagnosis.report.diagnose` takes them (``auto``: the Bayes
    error the run logged; None: the error-rate scale's default tolerance)."""

    max_steps: int = 6
    target_dev_error: float | None = None
    baseline_error: float | str = "auto"
    tolerance: float | None = None
    policy: RecipePolicy = field(default_factory=RecipePolicy)

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.target_dev_error is not None and not 0 <= self.target_dev_error <= 1:
            raise ValueError(
                f"target_dev_error is an error rate in [0, 1], got {self.target_dev_error}"
            )
        self.judged_by()  # refuses bad settings before any run

    def judged_by(self) -> Settings:
        return Settings.of(self.baseline_error, None, self.tolerance, None, None,
                           Settings().confidence)


@dataclass(frozen=True)
class RecipeStep:
    """One trained step: its config, what changed, the run and its diagnosis."""

    step: int
    config: TrainConfig
    action: str
    run_id: str
    diagnosis: Diagnosis
    stop_reason: str
    outcome: TrainOutcome | None

    @property
    def dev_error(self) -> float:
        value = self.diagnosis.dev_error
        return math.nan if value is None else value

    def row(self) -> dict:
        d = self.diagnosis
        return {
            "step": self.step, "action": self.action, "run_id": self.run_id,
            "run_name": _plain_name(self.config), "train_error": d.train_error,
            "dev_error": d.dev_error, "diagnosis": d.verdict.value,
            "stop_reason": self.stop_reason,
            "test_error": (self.outcome.summary.get("test_error") if self.outcome else None),
        }


@dataclass(frozen=True)
class RecipeResult:
    """Every step, the best one, and why the loop ended."""

    parent_run_id: str
    steps: list[RecipeStep]
    best: RecipeStep
    stop_reason: str

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame([s.row() for s in self.steps])
        frame["kept"] = _kept_flags(self.steps)
        return frame


def run_recipe(
    start: TrainConfig,
    settings: RecipeSettings | None = None,
    experiment: str | None = None,
    on_step: Callable[[RecipeStep], None] | None = None,
) -> RecipeResult:
    """Apply the basic recipe from ``start`` until the target, a good fit or ``max_steps``."""
    settings = settings or RecipeSettings()
    settings.policy.check_growth(start)
    check_config(start, many_runs=True)  # bad input leaves no parent run behind
    rows = _rows_available(start)
    with parent_run(f"recipe-{start.dataset}", experiment) as parent_id:
        mlflow.log_params(_settings_params(settings))
        steps, stop_reason = _loop(start, settings, rows, on_step)
        best = _best(steps)
        result = RecipeResult(parent_id, steps, best, stop_reason)
        _report(result, settings)
    return result


def _loop(
    start: TrainConfig, settings: RecipeSettings, rows: int | None,
    on_step: Callable[[RecipeStep], None] | None,
) -> tuple[list[RecipeStep], str]:
    steps: list[RecipeStep] = []
    config, action_text, tried = start, START, set()
    curves: dict[str, bool] = {}
    for step in range(settings.max_steps):
        current = _train_step(step, config, action_text, settings)
        steps.append(current)
        _log_progress(steps)
        if on_step is not None:
            on_step(current)
        best = _best(steps)
        if best is current:  # a new best run: its own ideas start afresh
            tried = set()
        if _target_met(best, settings):
            return steps, "target_met"
        facts = _facts(best, rows)
        policy = data_first_policy(best, settings, curves)
        action = next_action(best.config, facts, policy, tried)
        if action is None:
            return steps, _why_no_action(best)
        tried.add(action.key)
        config, action_text = action.apply(best.config), action.describe(best.config)
    return steps, "max_steps"


def data_first_policy(best: RecipeStep, settings: RecipeSettings,
                      curves: dict[str, bool]) -> RecipePolicy:
    """The policy for the next change. With ``data_first`` auto and high variance, a learning
    curve of the best run's options (nested under the recipe's parent, once per run) decides
    whether more data comes before regularization: it does when the curve says
    ``more_data_will_help``."""
    policy = settings.policy
    variance = (Verdict.HIGH_VARIANCE, Verdict.HIGH_BIAS_AND_VARIANCE)
    if policy.data_first != "auto" or best.diagnosis.verdict not in variance:
        return policy
    if best.run_id not in curves:
        result = run_learning_curve(best.config.replace(run_name=""),
                                    baseline_error=settings.baseline_error,
                                    tolerance=settings.tolerance)
        curves[best.run_id] = result.verdict.verdict is DataVerdict.WILL_HELP
        mlflow.set_tag(TAG_CURVE, result.parent_run_id)
    return dataclasses.replace(policy, data_first=curves[best.run_id])


def _train_step(
    step: int, config: TrainConfig, action: str, settings: RecipeSettings
) -> RecipeStep:
    tags = {TAG_STEP: str(step), TAG_ACTION: action}
    named = config.replace(run_name=f"step {step}: {_plain_name(config)}")
    try:
        outcome = train_child(named, tags)
    except RunFailed as error:  # e.g. a non-finite loss: a step the loop undoes
        failed = diagnose_errors(None, None, missing=str(error))
        return RecipeStep(step, config, action, error.run_id, failed, "failed", None)
    return RecipeStep(step, config, action, outcome.run_id, _diagnose(outcome, settings),
                      outcome.stop_reason.value, outcome)


def _plain_name(config: TrainConfig) -> str:
    """The trainer's name for the settings (ignoring a run_name given for the start)."""
    return run_name(config.replace(run_name=""))


def _diagnose(outcome: TrainOutcome, settings: RecipeSettings) -> Diagnosis:
    """The run as ``improvenn diagnose`` reads it: its restored best weights' errors, its
    logged Bayes error and split sizes, its stop reason."""
    client = client_for()
    run = get_runs(client, [outcome.run_id])
    return diagnose_runs(client, run, settings.judged_by())[0].diagnosis


def _facts(step: RecipeStep, rows: int | None) -> RunFacts:
    """What the recipe decides from; the train-loss trend is the one the run logged."""
    logged = step.outcome.summary.get("train_loss_falling") if step.outcome else None
    falling = None if logged is None else bool(logged)
    return RunFacts(step.diagnosis.verdict, step.stop_reason, falling, rows)


def _best(steps: list[RecipeStep]) -> RecipeStep:
    """The step with the lowest dev error; the earliest on a tie (the smaller change)."""
    finite = [s for s in steps if math.isfinite(s.dev_error)]
    return min(finite, key=lambda s: (s.dev_error, s.step)) if finite else steps[0]


def _target_met(best: RecipeStep, settings: RecipeSettings) -> bool:
    target = settings.target_dev_error
    return target is not None and best.dev_error <= target


def _why_no_action(best: RecipeStep) -> str:
    verdict = best.diagnosis.verdict.value
    stops = ("good_fit", "inconclusive", "insufficient_data")
    return verdict if verdict in stops else "nothing_left_to_try"


def _kept_flags(steps: list[RecipeStep]) -> list[bool]:
    """Whether each step became (or stayed) the best run when it finished."""
    return [_best(steps[: i + 1]) is step for i, step in enumerate(steps)]


def _rows_available(config: TrainConfig) -> int | None:
    """Rows of the whole data set, for "use more data"; None for a generated set."""
    if config.dataset in data.GENERATED:
        return None
    splits = data.load(config.replace(n_samples=0))
    return len(splits.x_train) + len(splits.x_dev) + len(splits.x_test)


def _settings_params(settings: RecipeSettings) -> dict[str, str]:
    target = settings.target_dev_error
    return {
        "recipe_max_steps": str(settings.max_steps),
        "recipe_target_dev_error": "none" if target is None else repr(target),
        "recipe_baseline_error": str(settings.baseline_error),
        "recipe_tolerance": "default" if settings.tolerance is None else repr(settings.tolerance),
    }


def _log_progress(steps: list[RecipeStep]) -> None:
    """The parent's per-step metrics, for the recipe's progress chart."""
    last = steps[-1]
    values = {"recipe_dev_error": last.dev_error, "recipe_best_dev_error": _best(steps).dev_error}
    if last.diagnosis.train_error is not None:
        values["recipe_train_error"] = last.diagnosis.train_error
    mlflow.log_metrics({k: v for k, v in values.items() if math.isfinite(v)}, step=last.step)


def _report(result: RecipeResult, settings: RecipeSettings) -> None:
    client = mlflow.MlflowClient()
    for step, kept in zip(result.steps, _kept_flags(result.steps), strict=True):
        client.set_tag(step.run_id, TAG_KEPT, str(kept).lower())
    mlflow.set_tags({TAG_STOP: result.stop_reason, TAG_BEST_RUN: result.best.run_id})
    log_table(result.parent_run_id, result.table(), "recipe/steps.csv")
    trained = {f"step {s.step}": s.outcome for s in result.steps if s.outcome is not None}
    if trained:
        log_comparison(result.parent_run_id, trained, "recipe", "The basic recipe, step by step",
                       settings.baseline_error, settings.tolerance)


__all__ = ["Action", "RecipeResult", "RecipeSettings", "RecipeStep", "run_recipe"]
