"""How a run with the user's own network describes it: params and a readable run name.

A custom network's architecture is the user's, so the options that describe the built-in
one (``hidden_units``, ``activation``, ...) are left out of its params; in their place come
``model_class`` (the module's qualified class name) and one ``model_param.KEY`` per
keyword argument of its factory (or per entry of ``fit``'s ``model_params``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mlflow_improvenn.training.option_rules import (
    ARCHITECTURE_OPTIONS,
    factory_parts,
    is_custom,
    model_param_values,
)
from mlflow_improvenn.training.options import TrainConfig, format_value

MODEL_PARAM_PREFIX = "model_param."


def custom_model_params(params: dict[str, str], config: TrainConfig, body: nn.Module) -> dict[
        str, str]:
    """``params`` of a run whose network is custom, rewritten as the module docstring says;
    unchanged for the built-in networks."""
    if not is_custom(config.model):
        return params
    kept = {k: v for k, v in params.items() if k not in ARCHITECTURE_OPTIONS}
    kept["model_class"] = f"{type(body).__module__}.{type(body).__qualname__}"
    return kept | {
        MODEL_PARAM_PREFIX + key: format_value(value)
        for key, value in model_param_values(config.model_params).items()
    }


def custom_name_parts(config: TrainConfig, label: str | None = None) -> list[str]:
    """The start of a custom model's run name: ``label`` (else the factory's file stem and
    function, e.g. ``model.build``) and its params, e.g. ``['model.build', 'blocks=2']``."""
    if label is None:
        source, function = factory_parts(config.model) or ("custom", "")
        stem = source.rsplit("/", 1)[-1].removesuffix(".py")
        label = f"{stem}.{function}" if function else stem
    values: dict[str, Any] = model_param_values(config.model_params)
    return [label, *(f"{key}={format_value(value)}" for key, value in values.items())]
