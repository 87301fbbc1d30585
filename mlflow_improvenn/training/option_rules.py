"""The rules of a custom model's options: its factory, its params, and what it makes moot.

A custom network is ``custom`` (a module given to :func:`mlflow_improvenn.fit`) or a factory
named ``FILE.py:FUNCTION`` or ``MODULE:FUNCTION``. Its architecture is the user's, so the
options that describe the built-in one are refused when set; its factory's keyword
arguments come as ``model_params``, ``KEY=VALUE`` pairs whose values are read as numbers or
booleans where they look like one.

>>> model_param_values("channels=16,blocks=2,norm=layer,bias=false,scale=0.5")
{'channels': 16, 'blocks': 2, 'norm': 'layer', 'bias': False, 'scale': 0.5}
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow_improvenn.training.options import TrainConfig

BUILT_IN_MODELS = ("mlp", "cnn")
#: The model given as a Python object to ``fit`` (not a choice of the command line).
CUSTOM = "custom"
#: Options that describe the built-in networks, refused for a custom one.
ARCHITECTURE_OPTIONS = ("hidden_units", "activation", "batch_norm", "dropout", "input_dropout")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_FACTORY = re.compile(rf"^(?P<source>.+\.py|{_NAME}(\.{_NAME})*):(?P<function>{_NAME})$")
_KEY = re.compile(rf"^{_NAME}$")


def is_custom(model: str) -> bool:
    """True for ``custom`` and a factory spec, False for the built-in networks."""
    return model not in BUILT_IN_MODELS


def factory_parts(model: str) -> tuple[str, str] | None:
    """(file or module, function) of a factory spec, None if ``model`` is not one.

    >>> factory_parts("nets/resnet.py:build"), factory_parts("pkg.nets:build")
    (('nets/resnet.py', 'build'), ('pkg.nets', 'build'))
    """
    match = _FACTORY.match(model)
    return (match["source"], match["function"]) if match else None


def model_param_values(text: str) -> dict[str, Any]:
    """The factory's keyword arguments from ``KEY=VALUE,...``; raises ValueError naming a
    pair that is not one, or a key given twice."""
    values: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sign, value = (part.strip() for part in pair.partition("="))
        if not sign or not _KEY.match(key):
            raise ValueError(f"{pair!r} is not KEY=VALUE with KEY a Python name")
        if key in values:
            raise ValueError(f"{key} is given twice")
        values[key] = typed_value(value)
    return values


def join_model_params(values: dict[str, Any]) -> str:
    """The ``model_params`` text of ``values`` (the inverse of :func:`model_param_values`).

    >>> join_model_params({"channels": 16, "bias": False})
    'channels=16,bias=false'
    """
    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return ",".join(f"{key}={text(value)}" for key, value in values.items())


def check_custom_model(config: TrainConfig) -> None:
    """Refuse a malformed model spec or model params, and architecture options set for a
    custom model; raises :class:`~mlflow_improvenn.training.options.ConfigError`."""
    from mlflow_improvenn.training.options import ConfigError, TrainConfig

    if is_custom(config.model) and config.model != CUSTOM and not factory_parts(config.model):
        raise ConfigError(
            "model", f"{config.model!r} is not one of: mlp, cnn, FILE.py:FUNCTION, "
            "MODULE:FUNCTION",
        )
    try:
        model_param_values(config.model_params)
    except ValueError as error:
        raise ConfigError("model_params", str(error)) from error
    if not is_custom(config.model):
        if config.model_params:
            raise ConfigError("model_params", f"only a custom model takes them, not {config.model}")
        return
    defaults = TrainConfig.__dataclass_fields__
    for name in ARCHITECTURE_OPTIONS:
        if getattr(config, name) != defaults[name].default:
            raise ConfigError(
                name, f"describes the built-in networks; a custom model ({config.model}) has "
                "its own architecture: pass its settings as model params instead",
            )


def typed_value(value: str) -> Any:
    """An int, float or bool where ``value`` spells one, else the text itself."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
