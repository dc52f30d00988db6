"""Clean stops and on-demand statistics for the runtime loop.

SIGINT (Ctrl-C) and SIGTERM (systemd, docker stop, kill) do not interrupt the
loop mid-frame: they set a flag the loop checks between frames, so the last
frame's results are written, the sinks are flushed and closed and the summary
is printed and saved.  A second SIGINT stops at once (KeyboardInterrupt), except while the
results are renamed into place (``finishing``), which always completes.
SIGUSR1 prints the statistics so far without stopping (``kill -USR1 <pid>``).
Handlers are installed only in the main thread and restored afterwards.
Torch-free.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Callable, Iterator

log = logging.getLogger(__name__)


class StopFlag:
    """Set by a signal; ``reason`` says which."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None


@contextlib.contextmanager
def stop_on_signals(on_report: Callable[[], None] | None = None,
                    on_stop: Callable[[], None] | None = None) -> Iterator[StopFlag]:
    """Install the handlers for the ``with`` block; ``on_stop`` wakes a loop blocked on a silent source."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals are delivered to the main thread only; the caller stops us another way
        return

    def _stop(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if flag and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the user really wants out
        log.info("%s received: finishing the current frame and stopping", name)
        flag.set(f"signal {name}")
        if on_stop is not None:
            on_stop()

    def _report(_signum: int, _frame: object) -> None:
        if on_report is not None:
            on_report()

    wanted: dict[int, Callable[[int, object], None]] = {signal.SIGINT: _stop, signal.SIGTERM: _stop}
    if hasattr(signal, "SIGUSR1"):
        wanted[signal.SIGUSR1] = _report
    previous = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def finishing() -> Iterator[None]:
    """While the results are renamed into place: SIGINT and SIGTERM are noted, not obeyed.

    Why: a second Ctrl-C in those milliseconds left the results as ``.partial`` files with their
    locks; the commit is a few renames, so it always completes and the process stops right after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _note(signum: int, _frame: object) -> None:
        log.warning("%s received while the results are written: finishing that first", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, _note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
