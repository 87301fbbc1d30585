"""Checkpoint files: atomic writes, and loads that refuse code-carrying pickles."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from mlflow_improvenn.training import checkpoints


class _Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "best.pt"
    with path.open("wb") as stream:
        pickle.dump({"model": _Exploit(marker)}, stream)
    with pytest.raises(checkpoints.CheckpointError, match="not a loadable checkpoint"):
        checkpoints.load(path)
    assert not marker.exists()
    # the same file through plain pickle would have run the command: the test can fail
    with path.open("rb") as stream:
        pickle.load(stream)
    assert marker.exists()


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    torch.save({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.load(path)


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch) -> None:
    path = tmp_path / "best.pt"
    checkpoints.save_atomic({"epoch": 1, "w": torch.ones(3)}, path)

    def crash(obj, stream) -> None:
        stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save_atomic({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert checkpoints.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left
