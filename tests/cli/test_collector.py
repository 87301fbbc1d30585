"""The garbage collector around a command: no full collection from the imports, and the
process's own settings back when the command returns."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.cli.collector import YOUNG_THRESHOLD
from mlflow_improvenn.runs import training_run
from tests.cli.test_cli import FAST

_COUNT_COLLECTIONS = """
import gc, json, sys
full = []
gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 2
                    and full.append(1))
from mlflow_improvenn.cli import main
try:
    main(sys.argv[1:])
except SystemExit as end:
    print(json.dumps({"code": end.code, "full_collections": len(full)}))
"""


def test_a_training_command_sets_off_no_full_collection(tracking_uri: str) -> None:
    """Before: eight full collections, each rescanning the ~340,000 objects the imports of
    torch, MLflow, pandas and matplotlib leave (1.1 s of a 6.9 s one-epoch run)."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_COLLECTIONS, "train", "--quiet", *FAST],
        capture_output=True, text=True, check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "full_collections": 0}, done.stderr[-2000:]


def test_the_command_runs_collecting_and_leaves_the_settings_as_they_were(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []
    original = training_run.train

    def train(*args, **kwargs):
        seen.append((gc.isenabled(), gc.get_threshold()[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(training_run, "train", train)
    threshold = gc.get_threshold()
    result = CliRunner().invoke(main, ["train", "--quiet", *FAST])
    assert result.exit_code == 0, result.output
    assert seen == [(True, YOUNG_THRESHOLD)]  # the training ran with the collector on
    assert gc.isenabled() and gc.get_threshold() == threshold


def test_help_imports_no_library_and_leaves_the_collector_on() -> None:
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    assert gc.isenabled()
