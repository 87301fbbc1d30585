"""The user's own code: a network factory or a data loader named ``FILE.py:FUNCTION`` or
``MODULE:FUNCTION``, and the source files a logged model needs to load elsewhere.

A file is imported as a module named after it (``nets/resnet.py`` as ``resnet``), so that a
model built by it pickles by reference to a module that the logged model carries in its
``code/`` folder and MLflow puts on ``sys.path`` when it loads the model.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow_improvenn.training.option_rules import factory_parts
from mlflow_improvenn.training.options import ConfigError


def load_function(option: str, spec: str) -> Callable[..., Any]:
    """The function that ``spec`` names; raises :class:`ConfigError` for ``option`` when the
    file or module cannot be imported or holds no such function."""
    parts = factory_parts(spec)
    if parts is None:
        raise ConfigError(option, f"{spec!r} is not FILE.py:FUNCTION or MODULE:FUNCTION")
    source, name = parts
    if source.endswith(".py"):
        module = _import_file(option, Path(source))
    else:
        module = _import(option, source)
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(option, f"{source} has no function {name!r}")
    return function


def accepted_keywords(function: Callable[..., Any]) -> set[str] | None:
    """Keyword arguments ``function`` takes; None when it takes any (``**kwargs``)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def code_paths_of(obj: object) -> list[str]:
    """Source a pickled ``obj`` refers to by module name, for a model's ``code_paths``: the
    top-level package (or single file) of its class's module, unless that is installed in
    site-packages (then it is a requirement, not code) or ``__main__`` (pickled by value)."""
    top = type(obj).__module__.split(".")[0]
    module = sys.modules.get(top)
    path = getattr(module, "__file__", None)
    if top in ("__main__", "builtins", "torch") or path is None:
        return []
    location = Path(path).resolve()
    installed = Path(sysconfig.get_paths()["purelib"]).resolve()
    if installed in location.parents:
        return []
    return [str(location.parent if location.name == "__init__.py" else location)]


def _import(option: str, name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ConfigError(option, f"cannot import {name}: {error}") from error


def _import_file(option: str, path: Path) -> Any:
    """Import ``path`` as the module named after its stem (reused if already imported)."""
    if not path.is_file():
        raise ConfigError(option, f"file {str(path)!r} does not exist")
    name = path.stem
    loaded = sys.modules.get(name)
    loaded_from = getattr(loaded, "__file__", None)
    if loaded_from is not None and Path(loaded_from).resolve() == path.resolve():
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ConfigError(option, f"importing {path} failed: {type(error).__name__}: {error}") \
            from error
    return module
