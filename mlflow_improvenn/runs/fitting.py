"""``fit``: any ``torch.nn.Module`` on any data, as one whole improvenn run.

Everything :func:`~mlflow_improvenn.runs.training_run.train` does around the network applies
(optimizers, L2 in its three modes, schedules and warm-up, gradient clipping, AMP, early
stopping with restore, checkpoints, resume, device placement, the run schema), with the
user's network and data in place of the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from mlflow_improvenn.runs.model_params import MODEL_PARAM_PREFIX
from mlflow_improvenn.runs.resume import load_resume_point
from mlflow_improvenn.runs.training_run import (
    RunPlan,
    TrainOutcome,
    run_name,
    run_plan,
)
from mlflow_improvenn.tracking import artifacts
from mlflow_improvenn.training.custom_models import build_from_factory, check_output
from mlflow_improvenn.training.devices import resolve_device
from mlflow_improvenn.training.history import EpochRecord
from mlflow_improvenn.training.loop import LossFunction, Trainer
from mlflow_improvenn.training.models import count_parameters
from mlflow_improvenn.training.option_rules import (
    ARCHITECTURE_OPTIONS,
    CUSTOM,
    is_custom,
    model_param_values,
)
from mlflow_improvenn.training.options import ConfigError, TrainConfig, format_value, option_specs
from mlflow_improvenn.training.user_code import code_paths_of
from mlflow_improvenn.training.user_data import UserSplits, first_batch, user_splits

#: Options of the built-in data sets, meaningless (and not logged) for the user's own data.
DATA_SOURCE_OPTIONS = ("target", "n_samples", "noise", "dev_fraction", "test_fraction")


def fit(
    model: nn.Module,
    train: Any,
    dev: Any,
    test: Any = None,
    *,
    task: str | None = None,
    loss: LossFunction | None = None,
    config: TrainConfig | None = None,
    experiment: str | None = None,
    model_params: Mapping[str, Any] | None = None,
    code_paths: list[str] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    tags: Mapping[str, str] | None = None,
    **options: Any,
) -> TrainOutcome:
    """Train ``model`` on the user's splits as one MLflow run, and return how it ended.

    Args:
        model: any ``torch.nn.Module``; its output is logits (n, classes) for multiclass, one
            logit (n, 1) for binary, one value (n, 1) for regression, unless ``loss`` says
            otherwise. It is trained in place: afterwards it holds the restored best weights.
        train, dev, test: each ``(X, y)`` (numpy arrays, tensors, a DataFrame and Series;
            kept on the device and sliced), a ``torch.utils.data.Dataset`` or a
            ``DataLoader`` (streamed). Batches are ``(x, y)``, ``x`` a tensor, or a tuple or
            dict of tensors passed as ``model(*x)`` or ``model(**x)``. ``test`` may be None.
        task: ``binary``, ``multiclass`` or ``regression``; inferred from an in-memory ``y``
            when None, required for a Dataset or DataLoader.
        loss: ``loss(output, target) -> scalar``; default: the task's (cross-entropy on
            logits, binary cross-entropy on one logit, mean squared error).
        config: the training options (:class:`TrainConfig`); ``options`` override them by
            name (``lr=1e-3, weight_decay=1e-4, patience=10, ...``).
        model_params: how the model was built, logged as params ``model_param.KEY``.
        code_paths: source files or folders the pickled model needs to load in a fresh
            process; default: the top-level package or file of the model's class, unless it
            is installed (site-packages) or defined in ``__main__`` (pickled by value).
        on_epoch, tags, experiment: as for :func:`~mlflow_improvenn.runs.training_run.train`.

    Raises:
        ConfigError: an option, a split or the model is refused (before any run exists):
            among them the options of the built-in architecture (``hidden_units``,
            ``activation``, ``batch_norm``, ``dropout``, ``input_dropout``, ``model``).
        RunFailed: training or logging failed; the run was ended FAILED.
    """
    config = _fit_config(config, options)
    return _run_fit(model, {"train": train, "dev": dev, "test": test}, config, task, loss,
                    model_params or {}, code_paths, experiment, on_epoch, tags=tags)


def train_streamed(
    config: TrainConfig,
    datasets: dict[str, Any],
    experiment: str | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainOutcome:
    """A run of :func:`~mlflow_improvenn.runs.training_run.train` whose ``py:`` loader gave
    Datasets: the factory's network, trained on them through the streaming path.

    The factory gets the width of one example (its features, flattened) and, for a
    multiclass task, the number of classes from the train Dataset's ``classes`` (as
    torchvision's data sets have) or ``n_classes``."""
    model = streamed_model(config, datasets)
    params = model_param_values(config.model_params)
    return _run_fit(model, datasets, config, config.task, None, params, None, experiment,
                    on_epoch, parent_run_id, tags)


def streamed_model(config: TrainConfig, datasets: dict[str, Any]) -> nn.Module:
    """The factory's network for a ``py:`` loader's Datasets (see :func:`train_streamed`);
    raises ConfigError where a run of them cannot start."""
    if not is_custom(config.model) or config.model == CUSTOM:
        raise ConfigError("model", "the loader's Datasets stream: give your own model "
                          "(--model FILE.py:FUNCTION)")
    if config.task == "auto":
        raise ConfigError("task", "give the task of the loader's Datasets (binary, "
                          "multiclass or regression): their targets are read only in training")
    train = datasets["train"]
    n_outputs = _classes_of(train) if config.task == "multiclass" else 1
    n_features = int(torch.as_tensor(train[0][0]).numel())
    torch.manual_seed(config.seed)
    return build_from_factory(config, n_features, n_outputs)


def _run_fit(
    model: nn.Module, given: dict[str, Any], config: TrainConfig, task: str | None,
    loss: LossFunction | None, model_params: Mapping[str, Any], code_paths: list[str] | None,
    experiment: str | None, on_epoch: Callable[[EpochRecord], None] | None,
    parent_run_id: str | None = None, tags: Mapping[str, str] | None = None,
) -> TrainOutcome:
    config, resume_point, resumed_experiment = load_resume_point(config)
    device = resolve_device(config.device)
    data = user_splits(given, task, device, config.num_workers)
    model = model.to(device)
    example_x, example_y = first_batch(data.splits["train"])
    n_outputs = _checked_model(model, example_x, example_y, data.task, loss)
    _check_penalty(config, data)
    torch.manual_seed(config.seed)
    trainer = Trainer(config, model, data.splits, data.task, device, loss_function=loss)
    plan = RunPlan(
        trainer, _fit_params(config, data, device, model, n_outputs, model_params),
        run_name(config, type(model).__name__),
        lambda served, path: artifacts.save_custom_model(
            served, path, _example(data, example_x), _metadata(data),
            code_paths if code_paths is not None else code_paths_of(model),
        ),
    )
    return run_plan(plan, experiment, on_epoch, parent_run_id, tags, resume_point,
                    resumed_experiment)


def _classes_of(dataset: Any) -> int:
    classes = getattr(dataset, "classes", None)
    count = len(classes) if classes is not None else getattr(dataset, "n_classes", None)
    if not count:
        raise ConfigError("task", "multiclass: give the train Dataset a classes list (as "
                          "torchvision's have) or an n_classes attribute, so that the factory "
                          "knows its number of outputs")
    return int(count)


def _fit_config(config: TrainConfig | None, options: dict[str, Any]) -> TrainConfig:
    """The config of a fit: ``config`` with ``options`` applied, model ``custom``."""
    for name in options:
        if name not in option_specs():
            raise ConfigError(name, "is not a training option")
        if name in (*ARCHITECTURE_OPTIONS, "model", "model_params"):
            raise ConfigError(
                name, "describes the built-in networks; fit() trains the model you give it "
                "(pass how you built it as model_params= to log it)",
            )
    base = config or TrainConfig()
    if base.model != CUSTOM:
        base = base.replace(model=CUSTOM, model_params="")
    return base.replace(**options)


def _checked_model(
    model: nn.Module, x: Any, y: torch.Tensor, task: str, loss: LossFunction | None
) -> int:
    """The model's output width on one batch, refused where the task's loss cannot take it
    (with a loss of the user's, only a model that fails to run is refused)."""
    if loss is None:
        return check_output(model, x, y, task, "model")
    try:
        check_output(model, x, y, task, "model")
    except ConfigError as error:
        if "fails on a batch" in error.message:
            raise
    return 0


def _check_penalty(config: TrainConfig, data: UserSplits) -> None:
    if config.l2_mode == "penalty" and config.weight_decay > 0 and not data.sizes()["train"]:
        raise ConfigError("l2_mode", "penalty divides by the number of training examples: "
                          "give a train Dataset with a length, or use coupled or decoupled")


def _fit_params(
    config: TrainConfig, data: UserSplits, device: torch.device, model: nn.Module,
    n_outputs: int, model_params: Mapping[str, Any],
) -> dict[str, str]:
    """The run's params: the options but those of the built-in data and networks, then what
    describes the user's model and data."""
    left_out = (*DATA_SOURCE_OPTIONS, *ARCHITECTURE_OPTIONS, "model_params")
    params = {k: v for k, v in config.to_params().items() if k not in left_out}
    sizes = data.sizes()
    example = data.example if data.example is not None else None
    n_features = int(example[0].size) if example is not None and len(example) else 0
    n_classes = {"multiclass": len(data.class_names) or n_outputs, "binary": 2}.get(data.task, 0)
    derived = {
        "dataset": config.dataset if config.dataset.startswith("py:") else data.source,
        "task": data.task,
        "device": str(device),
        "amp": config.amp and device.type == "cuda",
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "n_parameters": count_parameters(model),
        "n_train": sizes["train"], "n_dev": sizes["dev"], "n_test": sizes["test"],
        "n_features": n_features,
        "n_classes": n_classes,
    }
    derived |= {MODEL_PARAM_PREFIX + k: v for k, v in model_params.items()}
    return params | {k: format_value(v) for k, v in derived.items()}


def _example(data: UserSplits, first_x: Any) -> Any:
    """A few inputs for the logged model's signature: rows of the arrays, else of a batch."""
    if data.example is not None:
        return data.example
    return first_x[:5] if isinstance(first_x, torch.Tensor) else None


def _metadata(data: UserSplits) -> dict[str, Any]:
    return {
        "task": data.task,
        "feature_names": list(data.feature_names),
        "class_names": list(data.class_names),
        "outputs": {"binary": "one logit", "multiclass": "one logit per class"}.get(
            data.task, "the model's own output"),
    }
