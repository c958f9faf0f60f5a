"""MQTT ingest worker: shared subscription, validation, batched idempotent writes, ack after commit."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import Engine, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from protocol import ProtocolError, decode
from protocol.base import WireModel
from protocol.broker import BrokerSettings, make_client
from protocol.commands import CommandResult
from protocol.device import Status, Telemetry
from protocol.topics import ingest_filters
from server.config import IngestSettings
from server.ingest_rows import (
    BatchRows,
    device_state_update,
    event_points,
    event_row,
    rejected_row,
    result_row,
    telemetry_point,
)
from server.metrics import Metrics
from server.storage.models import CommandResultRow, DeviceState, Event, RejectedMessage
from server.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

EventListener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Received:
    """A message taken from the broker, not yet acknowledged."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int


class IngestWorker:
    """Consumes device messages and stores them exactly once, acknowledging only after the commit."""

    def __init__(
        self,
        settings: IngestSettings,
        broker: BrokerSettings,
        engine: Engine,
        timeseries: TimeSeriesStore,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.timeseries = timeseries
        self.metrics = metrics
        self.listeners: list[EventListener] = []
        self.connected = threading.Event()
        self.stored = 0
        self._queue: queue.Queue[Received] = queue.Queue()
        self._generation = 0
        self._stop = threading.Event()
        self._broker = broker
        self.client = make_client(broker, settings.client_id, manual_ack=True, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._insert_event = _insert_ignoring_duplicates(engine, Event, "event_id").returning(Event.event_id)
        self._insert_result = _insert_ignoring_duplicates(engine, CommandResultRow, "event_id")

    def start(self) -> None:
        """Connect (retrying in the background) and start the writer."""
        self._writer.start()
        self.client.connect_async(self._broker.host, self._broker.port, keepalive=self._broker.keepalive_s)
        self.client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming; what is queued but not committed will be redelivered by the broker."""
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()
        self._writer.join(timeout)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        """Subscribe on every connect; messages of an older connection are no longer ours to ack."""
        if reason.is_failure:
            log.warning("broker refused the ingest worker: %s", reason)
            return
        self._generation += 1
        client.subscribe([(topic_filter, 1) for topic_filter in ingest_filters(self.settings.group)])
        self.connected.set()
        log.info("ingest worker %s subscribed (group %s)", self.settings.client_id, self.settings.group)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        """Note the disconnect; unacknowledged messages come back after reconnecting."""
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("ingest worker disconnected: %s", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        """Queue the message for the writer; never raise into the network loop."""
        self._queue.put(Received(message.mid, message.qos, message.topic, bytes(message.payload), self._generation))

    def _take_batch(self) -> list[Received]:
        """Wait for one message, then gather more for up to the linger time."""
        try:
            batch = [self._queue.get(timeout=0.5)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.settings.batch_linger_ms / 1000
        while len(batch) < self.settings.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        """Write batches until stopped, retrying a failed batch with back-off (nothing acked meanwhile)."""
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch:
                continue
            rows = self._to_rows(batch)
            delay = 0.2
            while not self._stop.is_set():
                try:
                    inserted = self._commit(rows)
                    break
                except SQLAlchemyError as err:
                    self.metrics.db_errors.inc()
                    log.warning(
                        "batch of %d not stored (%s); retrying in %.1fs", len(batch), err.__class__.__name__, delay
                    )
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.settings.retry_max_s)
            else:
                return
            self._after_commit(batch, rows, inserted)

    def _to_rows(self, batch: list[Received]) -> BatchRows:
        """Validate every message and sort it into rows; bad input becomes a rejected row."""
        rows = BatchRows()
        now = datetime.now(UTC)
        for item in batch:
            try:
                message = decode(item.payload, item.topic)
            except ProtocolError as err:
                rows.rejected.append(rejected_row(item.topic, item.payload, err.reason, err.detail, now))
                self.metrics.rejected.labels(err.reason).inc()
                continue
            body: WireModel = message.body
            if isinstance(body, Status | Telemetry):
                key = (message.envelope.site, message.envelope.device)
                rows.device_states[key] = rows.device_states.get(key, {}) | device_state_update(message, now)
                if isinstance(body, Telemetry):
                    rows.other_points.append(telemetry_point(message))
            elif isinstance(body, CommandResult):
                rows.results.append(result_row(message))
            else:
                row = event_row(message, now)
                rows.events.append(row)
                rows.event_points[str(row["event_id"])] = event_points(message)
        return rows

    def _commit(self, rows: BatchRows) -> set[str]:
        """Write one batch in one transaction; returns the event ids that were new."""
        started = time.perf_counter()
        inserted: set[str] = set()
        with self.engine.begin() as connection:
            if rows.events:
                result = connection.execute(self._insert_event, _unique(rows.events))
                inserted = {str(event_id) for event_id in result.scalars()}
            if rows.rejected:
                connection.execute(insert(RejectedMessage), rows.rejected)
            if rows.results:
                connection.execute(self._insert_result, _unique(rows.results))
            for update_row in rows.device_states.values():
                _upsert_device_state(connection, update_row)
            if getattr(self.timeseries, "transactional", False):
                self.timeseries.write(self._new_points(rows, inserted), connection)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        return inserted

    def _new_points(self, rows: BatchRows, inserted: set[str]) -> list:
        """Points of newly stored events only (redelivered duplicates are not counted twice)."""
        points = list(rows.other_points)
        for event_id in inserted:
            points.extend(rows.event_points.get(event_id, []))
        return points

    def _after_commit(self, batch: list[Received], rows: BatchRows, inserted: set[str]) -> None:
        """Acknowledge, update metrics, feed non-transactional time series and live listeners."""
        for item in batch:
            if item.generation == self._generation and item.qos > 0:
                self.client.ack(item.mid, item.qos)
        if not getattr(self.timeseries, "transactional", False):
            self.timeseries.write(self._new_points(rows, inserted))
        self.metrics.batch_size.observe(len(batch))
        self.metrics.duplicates.inc(len(rows.events) - len(inserted))
        new_events = [row for row in rows.events if str(row["event_id"]) in inserted]
        for row in new_events:
            self.metrics.ingested.labels(row["kind"]).inc()
        if new_events:
            newest = max(row["ts"] for row in new_events)
            self.metrics.lag_seconds.set(max(0.0, (datetime.now(UTC) - newest).total_seconds()))
        self.stored += len(new_events)
        for row in new_events:
            for listener in self.listeners:
                try:
                    listener(row)
                except Exception:  # noqa: BLE001 - a slow or broken listener must not stop ingest
                    log.exception("event listener failed")


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeated event ids inside one batch (a redelivery can land beside the original)."""
    seen: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(row["event_id"], row)
    return list(seen.values())


def _insert_ignoring_duplicates(engine: Engine, model: Any, column: str) -> Any:
    """INSERT ... ON CONFLICT (column) DO NOTHING for the engine's dialect."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing(index_elements=[column])


def _upsert_device_state(connection: Any, row: dict[str, Any]) -> None:
    """Update a device's state, creating the row the first time it is seen."""
    key = (DeviceState.site == row["site"]) & (DeviceState.device == row["device"])
    values = {k: v for k, v in row.items() if k not in ("site", "device")}
    if connection.execute(update(DeviceState).where(key).values(**values)).rowcount == 0:
        defaults = {"online": True, "software": "", "gallery_version": 0, "allowlist_version": 0, "telemetry": {}}
        connection.execute(insert(DeviceState).values(**(defaults | row)))
