"""How the benchmarks time things: wall and CPU seconds, the machine's load, robust summaries.

A shared 2-core machine gives one fit 1.5x its usual time when another process wakes up, so
every sample records how busy the CPUs were just before it (``/proc/stat``), the process's
CPU seconds beside the wall seconds (``time.process_time``: all its threads; a child's
through ``resource.getrusage``), and a summary gives the median, the minimum and the spread
across rounds. Compare numbers of one run of a script only.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One timed call: wall and CPU seconds, and the share of all CPUs busy just before."""

    wall_s: float
    cpu_s: float
    busy_before: float


@dataclass(frozen=True)
class Summary:
    """Samples of one job over rounds: medians, the fastest wall time, the spread."""

    wall_s: float  # median
    min_s: float
    max_s: float
    cpu_s: float  # median
    busy_before: float  # the highest seen

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Summary:
        walls = [s.wall_s for s in samples]
        return cls(statistics.median(walls), min(walls), max(walls),
                   statistics.median(s.cpu_s for s in samples),
                   max(s.busy_before for s in samples))

    @property
    def spread(self) -> float:
        """(max - min) / median: how far apart the rounds were."""
        return (self.max_s - self.min_s) / self.wall_s


def busy_share(seconds: float = 0.3) -> float:
    """Share of all CPUs busy over ``seconds`` (Linux ``/proc/stat``; 0 elsewhere)."""

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


def timed(call: Callable[[], Any]) -> tuple[Sample, Any]:
    """Run ``call`` in this process once the CPUs are quiet; its sample and result."""
    gc.collect()  # no full collection of an earlier job's garbage inside this one's clock
    busy = wait_for_quiet_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return Sample(time.perf_counter() - wall, time.process_time() - cpu, busy), result


def timed_process(command: Sequence[str], env: dict[str, str] | None = None) -> Sample:
    """Run ``command`` as a child process once the CPUs are quiet; raises on a failure."""
    busy = wait_for_quiet_cpu()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(elapsed, cpu, busy)


def machine(packages: Sequence[str] = ("torch", "mlflow", "lightning", "skorch")) -> dict:
    """What the numbers were measured on."""
    import torch

    info = {"cpus": str(os.cpu_count()), "torch_threads": str(torch.get_num_threads()),
            "python": platform.python_version(), "platform": platform.platform()}
    for package in packages:
        if importlib.util.find_spec(package) is not None:
            info[package] = __import__(package).__version__
    return info
