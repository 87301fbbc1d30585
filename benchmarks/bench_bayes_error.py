"""What the Bayes error of a generated set costs a run, beside loading that set's data.

For each generated set and each ``--noise`` (in a temporary cache folder), times, in one
process whose imports are done (the one-off import of torch, which only a cold call needs
and every training run has made already, is timed on its own first):

- ``load``: ``data.load`` of the set at its default size, what every run on it does anyway;
- ``cold``: ``bayes_error_estimate`` with nothing cached: the computation and the disk write;
- ``disk``: the same after the process forgot it: a read of the cache file;
- ``warm``: the same again: a look-up in the process.

Prints the median over the noise levels, and ``cold`` as a multiple of ``load``. Not a test.

Usage: ``python benchmarks/bench_bayes_error.py [--noise 0.1 0.2 0.3 0.5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from mlflow_improvenn.training import bayes_error, data
from mlflow_improvenn.training.options import TrainConfig


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def costs(dataset: str, noise: float) -> dict[str, float]:
    config = TrainConfig(dataset=dataset, noise=noise)
    result = {"load": seconds(lambda: data.load(config))}
    result["cold"] = seconds(lambda: bayes_error.bayes_error_estimate(dataset, noise))
    bayes_error._memory.clear()
    result["disk"] = seconds(lambda: bayes_error.bayes_error_estimate(dataset, noise))
    result["warm"] = seconds(lambda: bayes_error.bayes_error_estimate(dataset, noise))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5])
    noises = parser.parse_args().noise
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_CACHE_HOME"] = folder
        print(f"import torch (once, cold calls only; a run has it): {seconds(import_torch):.3f} s")
        for dataset in data.GENERATED:  # warm the data set's own imports (scikit-learn)
            data.load(TrainConfig(dataset=dataset))
        print(f"{'set':8} {'load s':>8} {'cold s':>8} {'disk ms':>8} {'warm us':>8} cold/load")
        for dataset in data.GENERATED:
            rows = [costs(dataset, noise) for noise in noises]
            median = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
            print(f"{dataset:8} {median['load']:8.3f} {median['cold']:8.3f} "
                  f"{median['disk'] * 1e3:8.2f} {median['warm'] * 1e6:8.1f} "
                  f"{median['cold'] / median['load']:9.1f}")


def import_torch() -> None:
    import torch  # noqa: F401


if __name__ == "__main__":
    main()
