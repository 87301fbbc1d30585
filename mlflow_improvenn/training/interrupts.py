"""Steps that an interrupt must not cut in two: hold Ctrl-C and SIGTERM, then deliver them.

Python turns a signal into ``KeyboardInterrupt`` between any two bytecodes, so a step of two
writes (an epoch's record and its metrics; a run's ``interrupted`` tag and its end) can be
left half done. Inside :func:`interrupts_held` the signals are only noted; on leaving, each
noted one goes to the handler that was in place before, so the interrupt still happens, just
after the step. Signals are only handled in the main thread, so elsewhere this does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Holder:
    """The handler installed while a step runs: notes signals while ``holding``, else passes
    them on (a signal that lands while the previous handlers are being put back)."""

    def __init__(self) -> None:
        self.holding = True
        self.previous: dict[int, Any] = {}
        self.noted: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.holding:
            self.noted.append(signum)
        else:
            deliver(signum, self.previous.get(signum, signal.default_int_handler), frame)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Run the block whole: SIGINT and SIGTERM that arrive inside it are delivered after it
    (in order, to the handlers in place before), and so raise there, if they raise at all.

    Keep the block short: a Ctrl-C waits for it. A no-op outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    holder = _Holder()
    try:
        for signum in _SIGNALS:
            holder.previous[signum] = signal.signal(signum, holder)
        yield
    finally:
        holder.holding = False
        for signum, handler in holder.previous.items():
            signal.signal(signum, handler)
        for signum in holder.noted:
            deliver(signum, holder.previous[signum], None)


def deliver(signum: int, handler: Any, frame: FrameType | None) -> None:
    """Do what ``handler`` (a function, ``SIG_DFL`` or ``SIG_IGN``) does with ``signum``."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:  # the default action: end the process
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
