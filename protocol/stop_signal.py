"""SIGTERM and SIGINT as a flag the main thread polls, for the platform's, the gate's and the demo's processes.

A handler that sets a threading.Event takes the Event's lock inside the main thread; a second signal arriving
while the first handler (or the main thread's own wait) holds that lock deadlocks the process. It happened to
the demo when make and the shell both sent SIGTERM. These handlers only assign an attribute.
"""

from __future__ import annotations

import signal
import time

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignal:
    """Installs lock-free handlers for SIGTERM and SIGINT (main thread only) and tells whether one came."""

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.received: int | None = None
        for signum in signals:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        """Remember the signal; nothing else (no locks, no I/O)."""
        self.received = signum

    def wait(self, timeout: float | None = None, poll_s: float = 0.2) -> bool:
        """Sleep until a stop signal came (True) or the timeout passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.received is None:
            remaining = poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
            if remaining <= 0:
                return False
            time.sleep(remaining)
        return True
