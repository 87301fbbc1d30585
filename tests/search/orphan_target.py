"""A worker target for the orphan test: says it started, sleeps until stopped, says so."""

from __future__ import annotations

import os
import time
from pathlib import Path


def sleep_until_stopped(index: int) -> None:
    """Write ``INDEX.pid`` in ``$ORPHAN_DIR``, sleep; on the KeyboardInterrupt a stopped
    worker gets (its SIGTERM), write ``INDEX.stopped`` and let it go on, as a trial does."""
    folder = Path(os.environ["ORPHAN_DIR"])
    (folder / f"{index}.pid").write_text(str(os.getpid()))
    try:
        while True:
            time.sleep(0.05)
    except KeyboardInterrupt:
        (folder / f"{index}.stopped").write_text("")
        raise
