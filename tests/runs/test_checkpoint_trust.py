"""A checkpoint is untrusted input: every malformed one is one usage error, and no run.

Anyone who can write a run's artifacts can change its ``checkpoints/last.pt``. Resuming from
it must check every part before training, say what is wrong in one line (exit code 2, no
traceback, no run created), and never repeat a local file's contents.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch
from click.testing import CliRunner

from mlflow_improvenn.cli import main
from mlflow_improvenn.training import checkpoints, data
from mlflow_improvenn.training.loop import Trainer, to_device_splits
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import TrainConfig
from tests.conftest import SMALL

BASE = SMALL | {"max_epochs": 3, "patience": 0, "scheduler": "step", "dropout": (0.2,),
                "checkpoint_every_epoch": True}
SECRET = "s3cr3t-first-line"


def fresh_trainer() -> Trainer:
    config = TrainConfig(**BASE)
    splits = data.load(config)
    torch.manual_seed(config.seed)
    cpu = torch.device("cpu")
    return Trainer(config, build_model(config, splits), to_device_splits(splits, cpu),
                   splits.task, cpu)


@pytest.fixture(scope="module")
def last_pt() -> dict[str, Any]:
    """A real ``last.pt`` of epoch 3 (with the best snapshot inside), made without a store."""
    written: list[dict[str, Any]] = []
    fresh_trainer().fit(lambda record: None, written.append)
    return written[-1]


def _config(**changes: str) -> Callable[[dict], dict]:
    def change(checkpoint: dict) -> dict:
        checkpoint["config"].update(changes)
        return checkpoint
    return change


def _set(path: str, value: Any) -> Callable[[dict], dict]:
    """Replace (or, with ``...``, remove) the part at a dotted path."""
    def change(checkpoint: dict) -> dict:
        *parents, last = path.split(".")
        node = checkpoint
        for key in parents:
            node = node[_key(node, key)]
        last = _key(node, last)
        if value is ...:
            del node[last]
        else:
            node[last] = value(node[last]) if callable(value) else value
        return checkpoint
    return change


def _key(node: Any, key: str) -> Any:
    """Lists and the optimizer's state are indexed by numbers."""
    return int(key) if isinstance(node, list) or (key.isdigit() and key not in node) else key


def _weight(change: Callable[[torch.Tensor], Any]) -> Callable[[dict], dict]:
    """Change the first layer's weight (``...``: remove it)."""
    def change_checkpoint(checkpoint: dict) -> dict:
        name = next(k for k in checkpoint["model"] if k.endswith("weight"))
        if change is ...:
            del checkpoint["model"][name]
        else:
            checkpoint["model"][name] = change(checkpoint["model"][name])
        return checkpoint
    return change_checkpoint


MALFORMED: dict[str, tuple[Callable[[dict], Any], str]] = {
    "a list, not a checkpoint": (lambda c: [c], "holds a list"),
    "no model": (_set("model", ...), "has no model"),
    "no optimizer": (_set("optimizer", ...), "has no optimizer"),
    "no rng": (_set("rng", ...), "has no rng"),
    "no epoch": (_set("epoch", ...), "has no epoch"),
    "no config": (_set("config", ...), "has no config"),
    "epoch -3": (_set("epoch", -3), "epoch is not a whole number"),
    "epoch as text": (_set("epoch", "2"), "epoch is not a whole number"),
    "epoch 2.5": (_set("epoch", 2.5), "epoch is not a whole number"),
    "config a list": (_set("config", ["moons"]), "config is not a table"),
    "config value a number": (_config(lr=0.05), "config is not a table"),
    "config without hidden_units": (_set("config.hidden_units", ...), "no value for hidden_units"),
    "lr not a number": (_config(lr="fast"), "its lr is not valid (not a valid float)"),
    "lr out of range": (_config(lr="-1"), "its lr is not valid"),
    "unknown scheduler": (_config(scheduler="\x1b]0;pwned\x07 is not"), "scheduler is not valid"),
    "dropout beside hidden_units": (_config(dropout="0.1,0.2"), "its dropout is not valid"),
    "hidden_units changed": (_config(hidden_units="32"), "where this trainer has"),
    "weight transposed": (_weight(lambda w: w.T.clone()), "where this trainer has"),
    "weight NaN": (_weight(lambda w: torch.full_like(w, float("nan"))), "NaN"),
    "weight missing": (_weight(...), "model has no"),
    "model None": (_set("model", None), "model is not a table"),
    "optimizer state misshapen": (_set("optimizer.state.0.exp_avg", torch.zeros(3)),
                                  "where this trainer has"),
    "optimizer state of another network": (_set("optimizer.state.99", {}),
                                           "does not belong to this network"),
    "early stopping misses as text": (_set("early_stopping.misses", "x"), "is not a number"),
    "best epoch after the epoch": (_set("early_stopping.best_epoch", 99), "best epoch"),
    "schedule attribute slipped in": (_set("schedule.decay.optimizer", "x"), "unexpected"),
    "schedule step as text": (_set("schedule.epochs_stepped", "3"), "is not a number"),
    "rng truncated": (_set("rng.torch", lambda t: t[:10].clone()), "where this trainer has"),
    "best snapshot misshapen": (_set("best.model", {}), "best.model has no"),
    "best snapshot of a later epoch": (_set("best.epoch", 7), "best snapshot"),
}


def plant(checkpoint: Any, tmp_path: Path, tags: dict[str, str] | None = None) -> str:
    """A KILLED run whose ``checkpoints/last.pt`` is ``checkpoint``."""
    client = mlflow.MlflowClient()
    run_id = client.create_run("0", tags=tags or {}).info.run_id
    path = tmp_path / "planted" / "last.pt"
    path.parent.mkdir(exist_ok=True)
    torch.save(checkpoint, path)
    client.log_artifact(run_id, str(path), "checkpoints")
    client.set_terminated(run_id, "KILLED")
    return run_id


def resume(run_id: str, *args: str):
    return CliRunner().invoke(main, ["train", "--resume-from", run_id, "--max-epochs", "6",
                                     "--log-model", "false", "--quiet", *args])


def n_runs() -> int:
    return len(mlflow.search_runs(search_all_experiments=True))


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_checkpoint_is_one_usage_error_and_no_run(tracking_uri, tmp_path, last_pt,
                                                              case) -> None:
    change, says = MALFORMED[case]
    run_id = plant(change(copy.deepcopy(last_pt)), tmp_path)
    result = resume(run_id)
    assert result.exit_code == 2, result.output
    assert "'--resume-from'" in result.output and says in result.output, result.output
    assert "Traceback" not in result.output and "pwned" not in result.output
    assert n_runs() == 1  # the planted run only


def test_the_untampered_checkpoint_resumes(tracking_uri, tmp_path, last_pt) -> None:
    """The same planting, unchanged: the refusals above are the checks', not the planting's."""
    result = resume(plant(copy.deepcopy(last_pt), tmp_path))
    assert result.exit_code == 0, result.output
    assert n_runs() == 2


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(f"{SECRET},other\n1,2\n3,4\n")
    return path


@pytest.mark.parametrize("target", ["made-up", "other"])
def test_a_checkpoint_cannot_choose_a_local_file(tracking_uri, tmp_path, last_pt, monkeypatch,
                                                 secret_file, target) -> None:
    """Under ``mlflow run`` a refusal lands in the launched run's ``improvenn.error`` tag: the
    file's first line must reach neither it nor the output, whether or not the target is in
    it (when it is, training on it would put the file's other columns in the model)."""
    tampered = _config(dataset=f"csv:{secret_file}", target=target)(copy.deepcopy(last_pt))
    run_id = plant(tampered, tmp_path)
    launched = mlflow.MlflowClient().create_run(
        "0", tags={"mlflow.project.entryPoint": "main"}).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", launched)
    result = resume(run_id)
    assert result.exit_code == 2 and "'--dataset'" in result.output, result.output
    assert "reads a file only when you name it" in result.output
    tags = mlflow.MlflowClient().get_run(launched).data.tags
    assert "name it" in tags["improvenn.error"]
    assert SECRET not in result.output + tags["improvenn.error"]


def test_a_missing_target_does_not_list_the_files_columns(secret_file: Path) -> None:
    with pytest.raises(data.DataError) as refused:
        data.load(TrainConfig(dataset=f"csv:{secret_file}", target="made-up"))
    assert refused.value.option == "target" and "2 columns" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_run_on_a_file_resumes_when_the_command_names_it(tracking_uri, tmp_path) -> None:
    rows = "\n".join(f"{i % 7},{i % 3 == 0}" for i in range(60))
    (tmp_path / "d.csv").write_text(f"a,y\n{rows}\n")
    named = ["--dataset", f"csv:{tmp_path / 'd.csv'}", "--target", "y"]
    first = CliRunner().invoke(main, ["train", *named, "--max-epochs", "2", "--quiet",
                                      "--hidden-units", "4", "--log-model", "false"])
    assert first.exit_code == 0, first.output
    run_id = mlflow.search_runs(search_all_experiments=True)["run_id"][0]
    assert resume(run_id).exit_code == 2
    result = resume(run_id, *named)
    assert result.exit_code == 0, result.output
    assert n_runs() == 2


def test_shown_values_are_escaped_and_short() -> None:
    assert checkpoints.shown("\x1b[2J" + "x" * 200).startswith("'\\x1b[2J")
    assert len(checkpoints.shown("x" * 200)) < 90


def test_a_run_may_move_between_cpu_and_cuda(last_pt) -> None:
    """``device`` and ``amp`` are the resuming command's: a CUDA generator state or a mixed-
    precision scaler state on one side only is no fault (simulated: this runs on the CPU)."""
    trainer = fresh_trainer()
    fresh = trainer.checkpoint(0)
    shapes = [p.shape for group in trainer.optimizer.param_groups for p in group["params"]]
    cuda_rng = torch.zeros(16, dtype=torch.uint8)
    on_cuda = fresh | {"rng": fresh["rng"] | {"cuda": cuda_rng}}
    checkpoints.check_resumable(last_pt, on_cuda, shapes)  # a CPU run resumed on CUDA
    from_cuda = copy.deepcopy(last_pt)
    from_cuda["rng"]["cuda"] = from_cuda["best"]["rng"]["cuda"] = cuda_rng
    scaler = {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
              "growth_interval": 2000, "_growth_tracker": 0}
    from_cuda["scaler"] = from_cuda["best"]["scaler"] = scaler
    checkpoints.check_resumable(from_cuda, fresh, shapes)  # an AMP run resumed on the CPU
    checkpoints.check_resumable(from_cuda, on_cuda | {"scaler": scaler}, shapes)  # AMP again
    with pytest.raises(checkpoints.CheckpointError, match="amp=false"):
        checkpoints.check_resumable(last_pt, on_cuda | {"scaler": scaler}, shapes)
