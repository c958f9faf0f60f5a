"""A burst of stop signals ends a process through a flag set without taking a lock (protocol.stop_signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from protocol.stop_signal import StopSignal
from tests.conftest import REPO_ROOT

CHILD = textwrap.dedent(
    """
    import sys, threading, time
    sys.path.insert(0, sys.argv[1])
    from protocol.stop_signal import StopSignal
    stop_signal = StopSignal()
    busy = threading.Event()
    print("ready", flush=True)
    started = time.monotonic()
    while stop_signal.received is None and time.monotonic() - started < 20:
        busy.set(); busy.clear(); busy.wait(0.0001)  # the main thread holds Event locks most of the time
    print("stopped" if stop_signal.received else "timeout", stop_signal.received, flush=True)
    sys.stdin.readline()  # stay alive until every signal was sent: at exit Python restores the default handlers
    """
)


def test_a_burst_of_stop_signals_ends_the_process_cleanly():
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(REPO_ROOT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    for _ in range(20):
        os.kill(child.pid, signal.SIGTERM)
    os.kill(child.pid, signal.SIGINT)
    first = child.stdout.readline()
    out, err = child.communicate("\n", timeout=15)
    assert child.returncode == 0, err
    assert first.split()[0] == "stopped", first + out


def test_wait_returns_on_timeout_or_signal():
    stop_signal = StopSignal(signals=(signal.SIGUSR1,))
    started = time.monotonic()
    assert stop_signal.wait(0.3) is False and time.monotonic() - started >= 0.3
    os.kill(os.getpid(), signal.SIGUSR1)
    assert stop_signal.wait(5) is True and stop_signal.received == signal.SIGUSR1
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
