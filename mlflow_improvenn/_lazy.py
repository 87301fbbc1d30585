"""Lazy exports for the package and its subpackages (PEP 562 module ``__getattr__``).

A name a subpackage exports is imported from its module on first use, so importing
``mlflow_improvenn.training.options`` (as the CLI does to build ``--help``) never pulls in
torch through ``training/__init__.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], list[str]]:
    """The ``__getattr__`` and ``__all__`` of ``package``.

    ``exports`` maps each exported name to the module that defines it: a submodule of
    ``package`` (``"options"``) or an absolute name. An exported name must differ from every
    submodule's name, since importing a submodule sets the package attribute of that name.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name]
        if not module.startswith("mlflow_improvenn."):
            module = f"{package}.{module}"
        return getattr(importlib.import_module(module), name)

    return __getattr__, sorted(exports)
