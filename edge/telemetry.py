"""Device health: recognition latency percentiles, process and host figures, and the periodic Telemetry body."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import psutil

from protocol.device import CameraStats, Telemetry

log = logging.getLogger(__name__)


class LatencyStats:
    """A sliding window of recognition latencies (milliseconds); thread-safe."""

    def __init__(self, size: int = 512) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, milliseconds: float) -> None:
        """Add one measurement."""
        with self._lock:
            self._values.append(milliseconds)

    def percentiles(self) -> tuple[float | None, float | None]:
        """(p50, p95) of the window, or (None, None) when empty."""
        with self._lock:
            values = list(self._values)
        if not values:
            return None, None
        p50, p95 = np.percentile(values, [50, 95])
        return round(float(p50), 2), round(float(p95), 2)


def read_temperature() -> float | None:
    """The SoC/CPU temperature in Celsius where the OS exposes one, else None."""
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return None
    try:
        sensors = reader()
    except (OSError, RuntimeError):
        return None
    for name in ("cpu_thermal", "soc_thermal", "coretemp", "k10temp", "cpu-thermal", "acpitz"):
        for reading in sensors.get(name, []):
            if reading.current is not None and reading.current > 0:
                return round(float(reading.current), 1)
    for readings in sensors.values():
        for reading in readings:
            if reading.current is not None and reading.current > 0:
                return round(float(reading.current), 1)
    return None


@dataclass(frozen=True)
class CameraHealth:
    """What telemetry needs from one capture."""

    camera: str
    fps: Callable[[], float]
    connected: Callable[[], bool]


class TelemetryCollector:
    """Builds Telemetry bodies from the agent's parts."""

    def __init__(
        self,
        latency: LatencyStats,
        outbox_depth: Callable[[], int],
        outbox_dropped: Callable[[], int],
        versions: Callable[[], tuple[int, int]],
        cameras: Callable[[], Sequence[CameraHealth]],
    ) -> None:
        self.latency = latency
        self.outbox_depth = outbox_depth
        self.outbox_dropped = outbox_dropped
        self.versions = versions
        self.cameras = cameras
        self.started = time.monotonic()
        self._process = psutil.Process()
        self._process.cpu_percent(None)

    def collect(self) -> Telemetry:
        """Figures as of now (CPU is the process's share of one core since the previous call)."""
        p50, p95 = self.latency.percentiles()
        gallery_version, allowlist_version = self.versions()
        cameras = [
            CameraStats(camera=c.camera, fps=round(max(0.0, c.fps()), 2), connected=c.connected())
            for c in self.cameras()
        ][:16]
        return Telemetry(
            uptime_s=round(time.monotonic() - self.started, 1),
            cpu_percent=min(100 * 1024, self._process.cpu_percent(None)),
            memory_bytes=self._process.memory_info().rss,
            temperature_c=read_temperature(),
            outbox_depth=self.outbox_depth(),
            outbox_dropped=self.outbox_dropped(),
            recognition_p50_ms=p50,
            recognition_p95_ms=p95,
            cameras=cameras,
            gallery_version=gallery_version,
            allowlist_version=allowlist_version,
        )
