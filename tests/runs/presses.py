"""Fault injection for the interrupt tests: Ctrl-C pressed at named points of a command.

``python -m tests.runs.presses POINT[,POINT...] -- ARGS`` runs ``improvenn ARGS`` in this
process after wrapping each point's function so that its first call (in the main thread)
first sends this process a real SIGINT, as a terminal's Ctrl-C does. Python raises the
``KeyboardInterrupt`` right there, before the function does its work, unless the signal is
being held. So a press lands exactly where a test says, every time.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click
from mlflow.tracking import MlflowClient

from mlflow_improvenn.tracking.background import MetricWriter

#: point -> (owner, function name, which calls may press)
POINTS: dict[str, tuple[Any, str, Callable[..., bool]]] = {
    "epoch3": (MetricWriter, "add", lambda *a, **k: k.get("step") == 3),
    "upload": (MlflowClient, "log_artifacts", lambda *a, **k: True),
    "tag": (MlflowClient, "set_tag", lambda *a, **k: True),
    "end": (MlflowClient, "set_terminated", lambda *a, **k: True),
    "message": (click, "echo", lambda *a, **k: k.get("err", False)),
}


def press_at(point: str) -> None:
    owner, name, applies = POINTS[point]
    original = getattr(owner, name)
    pressed = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        main = threading.current_thread() is threading.main_thread()
        if main and not pressed and applies(*args, **kwargs):
            pressed.append(point)
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


if __name__ == "__main__":
    points, separator, *args = sys.argv[1:]
    assert separator == "--"
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal
    for point in points.split(","):
        press_at(point)
    from mlflow_improvenn.cli import main

    main(args, prog_name="improvenn")
