"""``python -m mlflow_improvenn``: the same as the ``improvenn`` command."""

from mlflow_improvenn.cli import main

main(prog_name="improvenn")
