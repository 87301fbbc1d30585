"""The user's own network: built by their factory, checked on one batch before any run.

The factory contract (``--model FILE.py:build`` or ``MODULE:build``)::

    def build(n_features: int, n_outputs: int, **model_params) -> torch.nn.Module

``n_features`` is the width of a row after one-hot encoding; ``n_outputs`` is the number of
classes (multiclass) or 1 (binary: one logit; regression: one value). A factory that names
an ``image_shape`` parameter gets the images' (height, width), e.g. ``(8, 8)`` for
``digits`` (``None`` for tabular data): its rows are the pixels, flattened, and the network
reshapes them itself. Every failure is a :class:`ConfigError` naming ``model`` or
``model_params``, raised before a run exists.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mlflow_improvenn.training.feeds import Inputs, forward
from mlflow_improvenn.training.option_rules import model_param_values
from mlflow_improvenn.training.options import ConfigError, TrainConfig
from mlflow_improvenn.training.user_code import accepted_keywords, load_function


def build_from_factory(
    config: TrainConfig, n_features: int, n_outputs: int,
    image_shape: tuple[int, int] | None = None,
) -> nn.Module:
    """The network ``config.model`` builds with ``config.model_params``."""
    factory = load_function("model", config.model)
    params: dict[str, Any] = model_param_values(config.model_params)
    keywords = accepted_keywords(factory)
    if keywords is not None:
        unknown = sorted(set(params) - keywords)
        if unknown:
            takes = ", ".join(sorted(keywords - {"n_features", "n_outputs", "image_shape"}))
            raise ConfigError(
                "model_params", f"{', '.join(unknown)}: not a parameter of {config.model} "
                f"(it takes: {takes or 'none'})",
            )
        if "image_shape" in keywords:
            params["image_shape"] = image_shape
    try:
        model = factory(n_features, n_outputs, **params)
    except Exception as error:
        raise ConfigError(
            "model", f"{config.model} raised {type(error).__name__}: {error}"
        ) from error
    if not isinstance(model, nn.Module):
        raise ConfigError(
            "model", f"{config.model} returned {type(model).__name__}, not a torch.nn.Module"
        )
    return model


@torch.no_grad()
def check_output(model: nn.Module, x: Inputs, y: torch.Tensor, task: str, option: str) -> int:
    """Run ``model`` on one batch in eval mode and check its output fits the task's default
    loss; returns its width (the number of classes for multiclass). A failure is a
    :class:`ConfigError` for ``option`` that says what came out and what was expected."""
    was_training = model.training
    model.eval()
    try:
        output = forward(model, x)
    except Exception as error:
        raise ConfigError(
            option, f"the model fails on a batch of the data: {type(error).__name__}: {error}"
        ) from error
    finally:
        model.train(was_training)
    if not isinstance(output, torch.Tensor):
        raise ConfigError(option, f"the model returned {type(output).__name__}, not a tensor")
    rows = y.shape[0]
    width = output.shape[1] if output.dim() == 2 else 0
    if task == "multiclass":
        ok = output.shape[0] == rows and width >= 2 and int(y.max()) < width
        wanted = f"({rows}, n_classes > {int(y.max())})"
    else:
        ok = tuple(output.shape) == (rows, 1)
        wanted = f"({rows}, 1)"
    if not ok:
        raise ConfigError(
            option, f"the model's output has shape {tuple(output.shape)} on a batch of {rows} "
            f"rows; a {task} task needs {wanted}",
        )
    return width
