"""The platform's running parts (engine, time series, metrics, ingest) built from one settings object."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine

from server.config import ServerSettings
from server.ingest import IngestWorker
from server.metrics import Metrics
from server.storage.db import make_engine, migrate
from server.timeseries import InfluxTimeSeries, SqlTimeSeries, TimeSeriesStore

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """Everything a platform process runs, started and stopped together."""

    settings: ServerSettings
    engine: Engine
    metrics: Metrics
    timeseries: TimeSeriesStore
    ingest: IngestWorker | None = None
    started: bool = field(default=False)

    def start(self) -> None:
        """Start the ingest worker if configured."""
        if self.ingest is not None and not self.started:
            self.ingest.start()
        self.started = True

    def stop(self) -> None:
        """Stop ingest, flush the time series, dispose of the engine."""
        if self.ingest is not None and self.started:
            self.ingest.stop()
        self.timeseries.close()
        self.engine.dispose()
        self.started = False


def make_timeseries(settings: ServerSettings, engine: Engine, metrics: Metrics) -> TimeSeriesStore:
    """The configured time-series backend."""
    if settings.timeseries.backend == "influx":
        influx = settings.timeseries.influx
        return InfluxTimeSeries(
            influx.url,
            influx.token(),
            influx.org,
            influx.bucket,
            influx.database,
            metrics,
            influx.batch_size,
            influx.flush_interval_ms,
        )
    return SqlTimeSeries(engine, metrics)


def build_platform(settings: ServerSettings) -> Platform:
    """Create (and migrate) the stores and the ingest worker; nothing runs until start()."""
    engine = make_engine(settings.database.resolved_url())
    if settings.database.migrate_on_start:
        migrate(engine)
    metrics = Metrics()
    timeseries = make_timeseries(settings, engine, metrics)
    ingest = None
    if settings.ingest.enabled:
        ingest = IngestWorker(settings.ingest, settings.broker, engine, timeseries, metrics)
    return Platform(settings, engine, metrics, timeseries, ingest)
