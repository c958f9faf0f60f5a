"""Prometheus metrics of one platform process (a registry per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Counters and gauges the ingest, time-series and API code update."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter("sc_ingest_messages_total", "Messages stored", ["kind"], registry=self.registry)
        self.rejected = Counter(
            "sc_ingest_rejected_total", "Messages rejected, by reason", ["reason"], registry=self.registry
        )
        self.duplicates = Counter(
            "sc_ingest_duplicates_total", "Events already stored (same event_id)", registry=self.registry
        )
        self.receipts = Counter(
            "sc_ingest_receipts_total", "Stored events named in receipts sent to their devices", registry=self.registry
        )
        self.batch_size = Histogram(
            "sc_ingest_batch_size",
            "Messages per database transaction",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 5000),
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "sc_ingest_commit_seconds", "Time to write and commit one batch", registry=self.registry
        )
        self.db_errors = Counter("sc_ingest_db_errors_total", "Failed batch writes (retried)", registry=self.registry)
        self.lag_seconds = Gauge(
            "sc_ingest_lag_seconds", "Age of the newest stored event when stored", registry=self.registry
        )
        self.queue_depth = Gauge(
            "sc_ingest_queue_depth", "Messages received and waiting for the writer", registry=self.registry
        )
        self.devices_online = Gauge("sc_devices_online", "Devices whose last status is online", registry=self.registry)
        self.ts_write_errors = Counter(
            "sc_timeseries_write_errors_total", "Time-series batches that failed", registry=self.registry
        )
        self.ts_points = Counter("sc_timeseries_points_total", "Time-series points written", registry=self.registry)
