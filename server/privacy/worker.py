"""Background retention runs inside the API process, and the filing gauges kept current."""

from __future__ import annotations

import logging
import threading
from typing import Any

from server.privacy.filing import FilingGauge, face_subjects, filing_status
from server.privacy.retention import RetentionEnforcer

log = logging.getLogger(__name__)


class RetentionWorker:
    """Runs the enforcer every interval (first run one interval after start); 0 switches it off."""

    def __init__(self, enforcer: RetentionEnforcer, interval_s: float, gauge: FilingGauge | None = None) -> None:
        self.enforcer = enforcer
        self.interval_s = interval_s
        self.gauge = gauge
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update_gauge(self) -> dict[str, Any]:
        """Count face subjects and set the gauges; returns the filing status."""
        with self.enforcer.engine.connect() as connection:
            status = filing_status(face_subjects(connection), self.enforcer.settings.filing)
        if self.gauge is not None:
            self.gauge.update(status)
        if status["level"] != "ok":
            log.warning("face data held for %d people: filing %s", status["face_subjects"], status["level"])
        return status

    def start(self) -> None:
        """Start the loop (no-op when the interval is 0)."""
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="privacy-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current run."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _loop(self) -> None:
        try:
            self.update_gauge()
        except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
            log.exception("filing count failed")
        while not self._stop.wait(self.interval_s):
            try:
                self.enforcer.run("schedule")
                self.update_gauge()
            except Exception:  # noqa: BLE001 - the next interval tries again
                log.exception("retention run failed")
