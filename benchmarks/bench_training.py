"""Side-by-side fit time: bare loops, improvenn's tracked trainer, Lightning and skorch.

Every configuration trains the same network (``build_model`` with the same seed) on the same
train/dev split with the same optimizer, step LR schedule and number of epochs, and
computes the same per-epoch numbers (train loss and error, dev loss and error). They differ
only in what they do with them:

- ``bare DataLoader``, ``bare slices``: no tracking; batches from a shuffled
  ``DataLoader(TensorDataset)`` or as index slices of a permutation of the train tensors.
- ``bare slices + sync log``: the slice loop plus ``mlflow.start_run``, ``log_params`` and
  one synchronous ``mlflow.log_metrics`` per epoch (train/dev loss and error, lr).
- ``improvenn``: ``train()`` with its full tracking: params, per-epoch metrics and lr,
  in-memory best snapshot, early stopping (patience 0: never stops), LR schedule, and at the
  end best-weight restore, test evaluation, ``history.csv``, the learning-curve plot and
  ``checkpoints/best.pt`` as artifacts. ``log_model=False`` (peers log no model either).
  Its clock also covers loading the data from file and building the model.
- ``Lightning``: ``MLFlowLogger`` (params, epoch metrics), ``EarlyStopping``,
  ``ModelCheckpoint`` (best ``.ckpt`` written on every improvement), ``LearningRateMonitor``.
- ``skorch``: ``EarlyStopping``, ``LRScheduler``, ``Checkpoint`` (params, optimizer, history
  written on every improvement), ``MlflowLogger`` (params logged first; history, params and
  optimizer as artifacts at the end), plus train accuracy.

Early stopping everywhere is set so it never fires. Every tracked configuration writes to
its own fresh sqlite store, created before the clock starts; the clock stops when the run
has ended, so every metric is in the store. Rounds interleave the configurations.

Usage: ``python benchmarks/bench_training.py [--rounds 3] [--workloads W1,W2] [--json PATH]
[--profile DIR]`` (Lightning and skorch: ``pip install -e .[bench]``). ``--profile`` then runs
improvenn once more per workload under cProfile, prints where its time went beside the bare
loop's, and leaves ``DIR/W1.prof``... for ``snakeviz`` or ``pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.util
import json
import logging
import math
import os
import platform
import pstats
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification
from torch.utils.data import DataLoader, TensorDataset

from mlflow_improvenn.runs.training_run import train
from mlflow_improvenn.training import data
from mlflow_improvenn.training.loop import Objective, Split, evaluate, to_device_splits
from mlflow_improvenn.training.models import build_model
from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.regularization import build_optimizer

EXPERIMENT = "bench"
EVAL_BATCH = 8192  # the trainer's evaluation chunk: dev is evaluated in one batch by all
HAS_LIGHTNING = importlib.util.find_spec("lightning") is not None
HAS_SKORCH = importlib.util.find_spec("skorch") is not None


@dataclass
class Workload:
    name: str
    description: str
    config: TrainConfig
    splits: data.DataSplits  # numpy, exactly the split the trainer makes from `config`
    train: Split
    dev: Split


def make_workloads(names: Iterable[str], directory: Path) -> list[Workload]:
    """W1 (written once to parquet, as a user's file would be) and W2 (generated moons)."""
    common = dict(
        optimizer="adam", scheduler="step", gamma=0.5, patience=0, device="cpu",
        log_model=False, seed=0,
    )
    configs = {}
    if "W1" in names:
        x, y = make_classification(
            n_samples=20_000, n_features=64, n_informative=32, n_redundant=8, n_classes=10,
            n_clusters_per_class=1, class_sep=1.0, random_state=0,
        )
        path = directory / "w1.parquet"
        pd.DataFrame(x.astype(np.float32), columns=[f"f{i}" for i in range(64)]).assign(
            y=y).to_parquet(path)
        configs["W1"] = (
            "20,000 x 64, 10 classes, MLP 256-256 + BatchNorm + dropout 0.2, batch 128, "
            "10 epochs, Adam 1e-3, step LR",
            TrainConfig(dataset=f"parquet:{path}", target="y", hidden_units=(256, 256),
                        batch_norm=True, dropout=(0.2,), batch_size=128, max_epochs=10,
                        lr=1e-3, step_size=4, **common),
        )
    if "W2" in names:
        configs["W2"] = (
            "400 points of two moons, MLP 32-32, batch 64, 300 epochs, Adam 1e-2, step LR",
            TrainConfig(dataset="moons", n_samples=400, hidden_units=(32, 32), batch_size=64,
                        max_epochs=300, lr=1e-2, step_size=100, **common),
        )
    workloads = []
    for name, (description, config) in configs.items():
        splits = data.load(config)
        tensors = to_device_splits(splits, torch.device("cpu"))
        workloads.append(
            Workload(name, description, config, splits, tensors["train"], tensors["dev"])
        )
    return workloads


def fresh_model(w: Workload) -> torch.nn.Module:
    torch.manual_seed(w.config.seed)
    return build_model(w.config, w.splits)


def train_loader(w: Workload) -> DataLoader:
    generator = torch.Generator().manual_seed(w.config.seed)
    dataset = TensorDataset(w.train.x, w.train.y)
    return DataLoader(dataset, batch_size=w.config.batch_size, shuffle=True, generator=generator)


def dev_loader(w: Workload) -> DataLoader:
    return DataLoader(TensorDataset(w.dev.x, w.dev.y), batch_size=EVAL_BATCH)


def slice_batches(w: Workload) -> Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]:
    generator = torch.Generator().manual_seed(w.config.seed)

    def batches() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(w.train), generator=generator)
        return ((w.train.x[i], w.train.y[i]) for i in order.split(w.config.batch_size))

    return batches


def bare_loop(
    w: Workload,
    batches: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    log: Callable[[dict[str, float], int], None] | None = None,
) -> float:
    """The hand-written loop: train, evaluate dev, (log), step the LR. Returns dev error."""
    model = fresh_model(w)
    optimizer = build_optimizer(w.config, model)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, w.config.step_size, w.config.gamma)
    objective = Objective(w.splits.task)
    dev_error = math.nan
    for epoch in range(1, w.config.max_epochs + 1):
        started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        model.train()
        total_loss, wrong = torch.zeros(()), torch.zeros(())
        for x, y in batches():
            output = model(x)
            loss = objective.loss(output, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(x)
            wrong += objective.errors(output.detach(), y)
        dev_loss, dev_error = evaluate(model, w.dev, objective)
        if log is not None:
            log({"train_loss": total_loss.item() / len(w.train),
                 "train_error": wrong.item() / len(w.train), "dev_loss": dev_loss,
                 "dev_error": dev_error, "lr": lr,
                 "epoch_seconds": time.perf_counter() - started}, epoch)
        schedule.step()
    return dev_error


def fit_bare_dataloader(w: Workload, workdir: Path) -> float:
    loader = train_loader(w)
    return bare_loop(w, lambda: loader)


def fit_bare_slices(w: Workload, workdir: Path) -> float:
    return bare_loop(w, slice_batches(w))


def fit_bare_slices_sync_log(w: Workload, workdir: Path) -> float:
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run():
        mlflow.log_params(w.config.to_params())
        return bare_loop(w, slice_batches(w), lambda m, epoch: mlflow.log_metrics(m, step=epoch))


def fit_improvenn(w: Workload, workdir: Path) -> float:
    outcome = train(w.config, experiment=EXPERIMENT)
    return float(outcome.history["dev_error"].iloc[-1])


def fit_lightning(w: Workload, workdir: Path) -> float:
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import MLFlowLogger

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = fresh_model(w)
            self.objective = Objective(w.splits.task)
            self.save_hyperparameters(w.config.to_params())

        def _step(self, batch: list[torch.Tensor], split: str) -> torch.Tensor:
            x, y = batch
            output = self.model(x)
            loss = self.objective.loss(output, y)
            error = self.objective.errors(output.detach(), y) / len(x)
            self.log_dict({f"{split}_loss": loss, f"{split}_error": error},
                          on_step=False, on_epoch=True, batch_size=len(x))
            return loss

        def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
            return self._step(batch, "train")

        def validation_step(self, batch: list[torch.Tensor], _: int) -> None:
            self._step(batch, "dev")

        def configure_optimizers(self) -> dict:
            optimizer = build_optimizer(w.config, self.model)
            schedule = torch.optim.lr_scheduler.StepLR(
                optimizer, w.config.step_size, w.config.gamma)
            return {"optimizer": optimizer, "lr_scheduler": schedule}

    trainer = L.Trainer(
        max_epochs=w.config.max_epochs, accelerator="cpu", devices=1,
        logger=MLFlowLogger(experiment_name=EXPERIMENT, tracking_uri=mlflow.get_tracking_uri()),
        callbacks=[
            EarlyStopping("dev_loss", patience=w.config.max_epochs + 1),
            ModelCheckpoint(dirpath=workdir / "lightning", monitor="dev_loss", save_top_k=1),
            LearningRateMonitor(logging_interval="epoch"),
        ],
        default_root_dir=workdir, num_sanity_val_steps=0, enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Module(), train_loader(w), dev_loader(w))
    return float(trainer.callback_metrics["dev_error"])


def fit_skorch(w: Workload, workdir: Path) -> float:
    from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
    from skorch.callbacks import (
        Checkpoint,
        EarlyStopping,
        EpochScoring,
        LRScheduler,
        MlflowLogger,
    )
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    client = MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    run = client.create_run(experiment.experiment_id)
    client.log_batch(run.info.run_id, params=[
        mlflow.entities.Param(k, v) for k, v in w.config.to_params().items()])
    binary = w.splits.task == "binary"
    y_train, y_dev = (y.astype(np.float32 if binary else np.int64)
                      for y in (w.splits.y_train, w.splits.y_dev))
    net_class = NeuralNetBinaryClassifier if binary else NeuralNetClassifier
    criterion = torch.nn.BCEWithLogitsLoss if binary else torch.nn.CrossEntropyLoss
    net = net_class(
        fresh_model(w), criterion=criterion, optimizer=torch.optim.Adam, lr=w.config.lr,
        max_epochs=w.config.max_epochs, batch_size=w.config.batch_size,
        iterator_train__shuffle=True, iterator_valid__batch_size=EVAL_BATCH,
        train_split=predefined_split(Dataset(w.splits.x_dev, y_dev)),
        callbacks=[
            EpochScoring("accuracy", lower_is_better=False, on_train=True, name="train_acc"),
            EarlyStopping(monitor="valid_loss", patience=w.config.max_epochs + 1),
            LRScheduler(policy=torch.optim.lr_scheduler.StepLR,
                        step_size=w.config.step_size, gamma=w.config.gamma),
            Checkpoint(monitor="valid_loss_best", dirname=str(workdir / "skorch")),
            MlflowLogger(run=run, client=client),
        ],
        device="cpu", verbose=0,
    )
    net.fit(w.splits.x_train, y_train)
    return 1.0 - float(net.history[-1, "valid_acc"])


@dataclass(frozen=True)
class Configuration:
    name: str
    fit: Callable[[Workload, Path], float]
    tracked: bool


CONFIGURATIONS = [
    Configuration("bare DataLoader", fit_bare_dataloader, tracked=False),
    Configuration("bare slices", fit_bare_slices, tracked=False),
    Configuration("bare slices + sync log", fit_bare_slices_sync_log, tracked=True),
    Configuration("improvenn", fit_improvenn, tracked=True),
    Configuration("Lightning", fit_lightning, tracked=True),
    Configuration("skorch", fit_skorch, tracked=True),
]
MISSING = {"Lightning": not HAS_LIGHTNING, "skorch": not HAS_SKORCH}


def busy_share(seconds: float = 0.3) -> float:
    """Share of all CPUs busy over ``seconds`` (Linux /proc/stat; 0 elsewhere)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    if not Path("/proc/stat").exists():
        return 0.0
    (total0, idle0), _, (total1, idle1) = sample(), time.sleep(seconds), sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet_cpu(limit: float = 0.25, patience_s: float = 120.0) -> float:
    """Wait until other processes leave the CPUs (at most ``patience_s``); the last share."""
    deadline = time.monotonic() + patience_s
    share = busy_share()
    while share > limit and time.monotonic() < deadline:
        time.sleep(1.0)
        share = busy_share()
    return share


def run_once(c: Configuration, w: Workload, root: Path) -> tuple[float, float, float]:
    """Fit once in a fresh directory (and store): seconds, final dev error, CPU busy before."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{w.name}-", dir=root))
    if c.tracked:
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
        MlflowClient(uri).create_experiment(EXPERIMENT, (workdir / "artifacts").as_uri())
        mlflow.set_tracking_uri(uri)
    gc.collect()
    busy = wait_for_quiet_cpu()
    started = time.perf_counter()
    dev_error = c.fit(w, workdir)
    return time.perf_counter() - started, dev_error, busy


def benchmark(
    workloads: list[Workload], configurations: list[Configuration], rounds: int, root: Path
) -> dict[str, dict[str, dict]]:
    """Warm up each pair once (imports, lazy inits), then time ``rounds`` interleaved rounds."""
    for w in workloads:
        short = Workload(w.name, w.description, w.config.replace(max_epochs=2), w.splits,
                         w.train, w.dev)
        for c in configurations:
            run_once(c, short, root)
    times = {w.name: {c.name: [] for c in configurations} for w in workloads}
    errors = {w.name: {c.name: [] for c in configurations} for w in workloads}
    for r in range(rounds):
        for w in workloads:
            shift = r % len(configurations)  # rotate the order so no one always goes first
            for c in configurations[shift:] + configurations[:shift]:
                seconds, dev_error, busy = run_once(c, w, root)
                times[w.name][c.name].append(seconds)
                errors[w.name][c.name].append(dev_error)
                print(f"  round {r + 1} {w.name} {c.name:<24} {seconds:7.3f} s  "
                      f"dev error {dev_error:.4f}  (CPUs {busy:.0%} busy before)", flush=True)
    return {
        w.name: {
            c.name: {"seconds": times[w.name][c.name],
                     "median_s": statistics.median(times[w.name][c.name]),
                     "min_s": min(times[w.name][c.name]),
                     "dev_error": statistics.median(errors[w.name][c.name])}
            for c in configurations
        }
        for w in workloads
    }


def add_ratios_and_check(results: dict, workloads: list[Workload]) -> None:
    """Ratios to both bare loops; dev errors within 3 binomial standard errors of the median."""
    for w in workloads:
        rows = results[w.name]
        for row in rows.values():
            for base in ("bare DataLoader", "bare slices"):
                if base in rows:
                    row[f"ratio_to_{base}"] = row["median_s"] / rows[base]["median_s"]
        reference = statistics.median(row["dev_error"] for row in rows.values())
        tolerance = 3 * math.sqrt(max(reference * (1 - reference), 0.01) / len(w.dev))
        for row in rows.values():
            row["dev_error_ok"] = abs(row["dev_error"] - reference) <= tolerance
        rows["_check"] = {"reference_dev_error": reference, "tolerance": tolerance}


def print_table(results: dict, workloads: list[Workload]) -> None:
    for w in workloads:
        rows = results[w.name]
        check = rows["_check"]
        print(f"\n{w.name}: {w.description}")
        print(f"{'configuration':<24} {'median s':>9} {'/ DataLoader':>13} {'/ slices':>9} "
              f"{'min s':>7} {'dev error':>10}")
        for name, row in rows.items():
            if name.startswith("_"):
                continue
            ok = "" if row["dev_error_ok"] else "  <- differs"
            print(f"{name:<24} {row['median_s']:9.3f} "
                  f"{row.get('ratio_to_bare DataLoader', math.nan):13.2f} "
                  f"{row.get('ratio_to_bare slices', math.nan):9.2f} {row['min_s']:7.3f} "
                  f"{row['dev_error']:10.4f}{ok}")
        print(f"dev error check: median {check['reference_dev_error']:.4f}, tolerance "
              f"+/-{check['tolerance']:.4f} (3 binomial s.e. on {len(w.dev)} dev rows): "
              + ("all agree" if all(r.get("dev_error_ok", True) for r in rows.values())
                 else "SOME DIFFER"))


#: Phases of improvenn's ``train()``, read off cProfile's cumulative time of these functions
#: (main thread only: the metric writer's background thread is not seen, which matters for
#: long runs only: it writes once a second).
PHASES = [
    ("data load", "mlflow_improvenn/data.py", "load"),
    ("run start + tags", "mlflow_improvenn/tracking.py", "start"),
    ("log params", "mlflow_improvenn/tracking.py", "log_params"),
    ("training loop (Trainer.fit)", "mlflow_improvenn/training.py", "fit"),
    ("  of which: metric queue (MetricWriter.add)", "mlflow_improvenn/tracking.py", "add"),
    ("evaluate restored best weights", "mlflow_improvenn/run.py", "_evaluate_best"),
    ("history.csv, learning-curve plot, best.pt", "mlflow_improvenn/artifacts.py",
     "write_run_files"),
    ("  of which: learning-curve plot", "mlflow_improvenn/plots.py", "learning_curves"),
    ("metric flush (MetricWriter.close, log_batch)", "mlflow_improvenn/tracking.py", "close"),
    ("summary metrics and tags", "mlflow_improvenn/tracking.py", "log_summary"),
    ("artifact upload", "mlflow_improvenn/tracking.py", "log_artifacts"),
    ("end run", "mlflow_improvenn/tracking.py", "end"),
]


def profile_improvenn(workloads: list[Workload], root: Path, directory: Path) -> None:
    """Profile one improvenn fit per workload; print its phases beside a bare slice loop."""
    directory.mkdir(parents=True, exist_ok=True)
    improvenn, bare = (next(c for c in CONFIGURATIONS if c.name == name)
                       for name in ("improvenn", "bare slices"))
    for w in workloads:
        bare_s = statistics.median(run_once(bare, w, root)[0] for _ in range(3))
        profiler = cProfile.Profile()
        profiler.enable()
        total_s = run_once(improvenn, w, root)[0]
        profiler.disable()
        profiler.dump_stats(directory / f"{w.name}.prof")
        cumulative = _cumulative_by_function(pstats.Stats(profiler))
        print(f"\n{w.name}, improvenn under cProfile: {total_s:.3f} s "
              f"(bare slice loop without profiler: {bare_s:.3f} s)")
        for label, file, function in PHASES:
            seconds = cumulative.get((file, function), 0.0)
            print(f"  {label:<46} {seconds * 1000:8.1f} ms  {seconds / total_s:6.1%}")


def _cumulative_by_function(stats: pstats.Stats) -> dict[tuple[str, str], float]:
    totals: dict[tuple[str, str], float] = {}
    for (file, _, function), (_, _, _, cumulative, _) in stats.stats.items():
        key = ("/".join(Path(file).parts[-2:]), function)
        totals[key] = totals.get(key, 0.0) + cumulative
    return totals


def machine() -> dict[str, str]:
    import mlflow as _mlflow

    info = {
        "cpus": str(os.cpu_count()), "torch_threads": str(torch.get_num_threads()),
        "python": platform.python_version(), "torch": torch.__version__,
        "mlflow": _mlflow.__version__, "platform": platform.platform(),
    }
    for package in ("lightning", "skorch"):
        if importlib.util.find_spec(package) is not None:
            info[package] = __import__(package).__version__
    return info


def quiet() -> None:
    """No progress, tips or warnings in the timing output (Lightning sets its level on import)."""
    warnings.filterwarnings("ignore")
    if HAS_LIGHTNING:
        import lightning  # noqa: F401
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", type=Path, help="profile improvenn, leave .prof files here")
    args = parser.parse_args()
    quiet()
    for name, missing in MISSING.items():
        if missing:
            print(f"{name} is not installed (pip install -e .[bench]): not measured.")
    configurations = [c for c in CONFIGURATIONS if not MISSING.get(c.name)]
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    with tempfile.TemporaryDirectory(prefix="improvenn-bench-") as root:
        workloads = make_workloads(args.workloads.split(","), Path(root))
        results = benchmark(workloads, configurations, args.rounds, Path(root))
        add_ratios_and_check(results, workloads)
        print_table(results, workloads)
        if args.profile:
            profile_improvenn(workloads, Path(root), args.profile)
    if args.json:
        document = {"machine": info, "rounds": args.rounds,
                    "workloads": {w.name: w.description for w in workloads},
                    "results": results}
        args.json.write_text(json.dumps(document, indent=2, default=float))


if __name__ == "__main__":
    main()
