"""Worker processes of a sweep on one machine: spawned, one torch thread each, stopped cleanly.

torch and ``fork`` do not mix, so workers are spawned. Each worker ignores Ctrl-C (a terminal
sends it to the whole process group) and turns SIGTERM into ``KeyboardInterrupt``: the main
process alone decides to stop, forwards SIGTERM once, and waits while each worker ends its
trial's run KILLED with the best weights logged. A worker stopped on its own (SIGTERM from
someone else) ends its trial the same way, and the others go on. A worker whose main process
dies without stopping it (``kill -9``) stops itself the same way: it watches its parent.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

#: How long stopping workers may take to log their trial's run before they are killed.
STOP_GRACE_S = 60.0


def run_in_processes(target: Callable[[int], None], count: int) -> list[int | None]:
    """Run ``target(index)`` for index 0 to ``count - 1`` in spawned processes.

    Returns their exit codes (negative: killed by that signal). ``target`` must be picklable.
    On ``KeyboardInterrupt`` in this process the workers are stopped, then it is re-raised.
    """
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_main, args=(target, index), name=f"improvenn-worker-{index}")
        for index in range(count)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        stop(processes)
        raise
    return [process.exitcode for process in processes]


def stop(processes: list[BaseProcess], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each live worker, wait up to ``grace_s`` in all, then SIGKILL what is left."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _worker_main(target: Callable[[int], None], index: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # raises KeyboardInterrupt
    threading.Thread(target=_stop_when_orphaned, name="improvenn-parent-watch",
                     daemon=True).start()
    import torch

    torch.set_num_threads(1)  # N workers on N cores, not N x N threads
    try:
        target(index)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # its trial's run already ended KILLED


def _stop_when_orphaned(grace_s: float = STOP_GRACE_S) -> None:
    """Wait for the main process to die, then stop this worker as the main process would
    have: SIGTERM to itself (its trial's run ends KILLED), and after ``grace_s`` an exit
    without cleanup, so that no worker trains on unsupervised. The parent's sentinel (a
    pipe multiprocessing keeps open) becomes readable when the parent dies, however."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    parent.join()  # returns once the parent is gone
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    os._exit(143)
