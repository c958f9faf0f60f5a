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
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from protocol import Message, ProtocolError, build, decode, encode
from protocol.broker import BrokerSettings, make_client
from protocol.commands import CommandResult
from protocol.device import Status, Telemetry
from protocol.receipts import MAX_RECEIPT_IDS, EventsStored
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
from server.ingest_store import BatchStore, StorageUnavailable, new_points, unique_by_event_id
from server.metrics import Metrics
from server.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

EventListener = Callable[[dict[str, Any]], None]
ONLINE_REFRESH_S = 1.0
# What a database or its driver raises for data it cannot hold (sqlite3 raises a bare OverflowError for an
# integer beyond 64 bits): the batch is then stored one message at a time instead of being retried forever.
DATA_ERRORS = (SQLAlchemyError, ValueError, OverflowError)
UNPROCESSABLE = "unprocessable"


@dataclass(frozen=True)
class Received:
    """A message taken from the broker, not yet acknowledged; `generation` names the connection it came on."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int
    decoded: Message | ProtocolError | None = None


class IngestWorker:
    """Consumes device messages and stores them exactly once, acknowledging only after the commit.

    Back-pressure comes from the broker: nothing is acknowledged before its batch is committed, so while
    the database is down the broker stops sending once the client's in-flight window is full and queues
    the rest in the persistent session.
    """

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
        self.store = BatchStore(engine, timeseries, metrics)
        self.listeners: list[EventListener] = []
        self.connected = threading.Event()
        self.stored = 0
        self._queue: queue.Queue[Received] = queue.Queue()
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._stop = threading.Event()
        self._broker = broker
        self._online_refreshed = 0.0
        self._online_dirty = False
        self.client = make_client(broker, settings.client_id, manual_ack=True, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)

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

    def pending(self) -> int:
        """Messages received and not yet committed."""
        return self._queue.qsize()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        """Subscribe on every connect; messages of an older connection are no longer ours to ack."""
        if reason.is_failure:
            log.warning("broker refused the ingest worker: %s", reason)
            return
        with self._ack_lock:
            self._generation += 1
        client.subscribe([(topic_filter, 1) for topic_filter in ingest_filters(self.settings.group)])
        self.connected.set()
        log.info(
            "ingest worker %s subscribed (group %s, session present %s)",
            self.settings.client_id,
            self.settings.group,
            getattr(flags, "session_present", None),
        )

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        """Retire the connection's generation: its packet ids must never be acked on a later connection."""
        with self._ack_lock:
            self._generation += 1
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("ingest worker disconnected: %s", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        """Validate here (overlapping the writer's database round trips) and queue; never raise into the loop."""
        payload = bytes(message.payload)
        decoded: Message | ProtocolError | None
        try:
            decoded = decode(payload, message.topic)
        except ProtocolError as err:
            decoded = err
        except Exception:  # noqa: BLE001 - the writer decodes again and reports it
            log.exception("unexpected error decoding a message on %s", message.topic)
            decoded = None
        self._queue.put(Received(message.mid, message.qos, message.topic, payload, self._generation, decoded))

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
        """Write batches until stopped; a failed batch is retried, nothing is acked before its commit."""
        while not self._stop.is_set():
            batch = self._take_batch()
            self.metrics.queue_depth.set(self._queue.qsize())
            if not batch:
                if self._online_dirty:
                    self._refresh_online()
                continue
            try:
                stored = self._store(batch)
            except Exception:  # noqa: BLE001 - the writer thread must survive any bug in one batch
                log.exception("batch of %d could not be processed; it stays unacknowledged", len(batch))
                self._stop.wait(1.0)
                continue
            if stored is None:
                return
            rows, inserted = stored
            try:
                self._after_commit(batch, rows, inserted)
            except Exception:  # noqa: BLE001 - committed already; a bug after the commit must not stop ingest
                log.exception("after storing a batch of %d", len(batch))

    def _store(self, batch: list[Received]) -> tuple[BatchRows, set[str]] | None:
        """Commit a batch; a batch the database refuses for its data is stored message by message."""
        rows = self._to_rows(batch)
        try:
            inserted = self._commit_retrying(rows, len(batch))
        except DATA_ERRORS as err:
            log.warning("batch of %d refused (%s); storing one message at a time", len(batch), err.__class__.__name__)
            return self._store_individually(batch)
        return None if inserted is None else (rows, inserted)

    def _store_individually(self, batch: list[Received]) -> tuple[BatchRows, set[str]] | None:
        """Store each message alone; one the database still refuses is kept as rejected (storage_error)."""
        merged, inserted = BatchRows(), set()
        for item in batch:
            rows = self._to_rows([item])
            try:
                new = self._commit_retrying(rows, 1)
            except DATA_ERRORS as err:
                detail = f"{type(err).__name__}: {str(getattr(err, 'orig', None) or err)[:300]}"
                rows = BatchRows(rejected=[rejected_row(item.topic, item.payload, "storage_error", detail, _now())])
                new = self._commit_retrying(rows, 1)
            if new is None:
                return None
            merged.merge(rows)
            inserted |= new
        return merged, inserted

    def _commit_retrying(self, rows: BatchRows, size: int) -> set[str] | None:
        """Commit, backing off while the database is unreachable; None when stopped meanwhile."""
        delay = 0.2
        while not self._stop.is_set():
            try:
                return self.store.commit(rows)
            except StorageUnavailable as err:
                self.metrics.db_errors.inc()
                log.warning("batch of %d not stored (%s); retrying in %.1fs", size, err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
        return None

    def _to_rows(self, batch: list[Received]) -> BatchRows:
        """Validate every message and sort it into rows; bad input becomes a rejected row.

        A message the decoder or a row builder fails on with anything but a ProtocolError (a bug, or a value
        the protocol's types allow but Python cannot convert) is rejected as unprocessable: left in the batch,
        it would fail every retry and stop ingest for good.
        """
        rows = BatchRows()
        now = _now()
        for item in batch:
            try:
                _add_rows(rows, _decoded(item), now)
            except ProtocolError as err:
                rows.rejected.append(rejected_row(item.topic, item.payload, err.reason, err.detail, now))
            except Exception as err:  # noqa: BLE001 - one poisoned message must not wedge the batch
                log.warning("unprocessable message on %s: %s: %s", item.topic, type(err).__name__, err)
                detail = f"{type(err).__name__}: {err}"
                rows.rejected.append(rejected_row(item.topic, item.payload, UNPROCESSABLE, detail, now))
        return rows

    def _after_commit(self, batch: list[Received], rows: BatchRows, inserted: set[str]) -> None:
        """Acknowledge, update metrics, feed non-transactional time series and live listeners."""
        with self._ack_lock:
            for item in batch:
                if item.generation == self._generation and item.qos > 0:
                    self.client.ack(item.mid, item.qos)
        try:
            self._send_receipts(rows)
        except Exception:  # noqa: BLE001 - devices publish again without a receipt; ingest must go on
            log.exception("storage receipts not sent")
        if not self.store.transactional_timeseries:
            self.timeseries.write(new_points(rows, inserted))
        self.metrics.batch_size.observe(len(batch))
        self.metrics.duplicates.inc(len(rows.events) - len(inserted))
        # a redelivery in the same batch as its original is one new event, not two
        new_events = [row for row in unique_by_event_id(rows.events) if str(row["event_id"]) in inserted]
        for row in new_events:
            self.metrics.ingested.labels(row["kind"]).inc()
        for _ in rows.results:
            self.metrics.ingested.labels("cmd-result").inc()
        for row in rows.rejected:  # counted once committed, so a batch that is retried is not counted twice
            self.metrics.rejected.labels(row["reason"]).inc()
        if new_events:
            newest = max(row["ts"] for row in new_events)
            self.metrics.lag_seconds.set(max(0.0, (_now() - newest).total_seconds()))
        self.stored += len(new_events)
        if rows.device_states:
            self._online_dirty = True
            self._refresh_online()
        for row in new_events:
            for listener in self.listeners:
                try:
                    listener(row)
                except Exception:  # noqa: BLE001 - a slow or broken listener must not stop ingest
                    log.exception("event listener failed")

    def _send_receipts(self, rows: BatchRows) -> None:
        """Tell each device which of its events are committed (new or duplicate), so its outbox can forget them."""
        by_device: dict[tuple[str, str], list[Any]] = {}
        for row in rows.events:
            by_device.setdefault((row["site"], row["device"]), []).append(row["event_id"])
        for (site, device), event_ids in by_device.items():
            for start in range(0, len(event_ids), MAX_RECEIPT_IDS):
                receipt = EventsStored(event_ids=event_ids[start : start + MAX_RECEIPT_IDS])
                message = build(receipt, site=site, device=device, seq=0)
                self.client.publish(message.topic(), encode(message), qos=1)
        self.metrics.receipts.inc(len(rows.events))

    def _refresh_online(self) -> None:
        """Recount online devices (at most once a second; the count covers every worker's writes)."""
        if time.monotonic() - self._online_refreshed < ONLINE_REFRESH_S:
            return
        self._online_refreshed = time.monotonic()
        self._online_dirty = False
        try:
            self.metrics.devices_online.set(self.store.count_online())
        except SQLAlchemyError as err:
            log.warning("cannot count online devices: %s", err.__class__.__name__)


def _add_rows(rows: BatchRows, message: Message, now: datetime) -> None:
    """Add a decoded message's rows; everything is built before anything is added, so a failure adds nothing."""
    body = message.body
    if isinstance(body, Status | Telemetry):
        key = (message.envelope.site, message.envelope.device)
        update = device_state_update(message, now)
        point = telemetry_point(message) if isinstance(body, Telemetry) else None
        rows.device_states[key] = rows.device_states.get(key, {}) | update
        if point is not None:
            rows.other_points.append(point)
    elif isinstance(body, CommandResult):
        rows.results.append(result_row(message))
    else:
        row, points = event_row(message, now), event_points(message)
        rows.events.append(row)
        rows.event_points.setdefault(str(row["event_id"]), points)  # the first is the one stored


def _decoded(item: Received) -> Message:
    """The message decoded on arrival, or decoded now; raises ProtocolError for bad input."""
    if isinstance(item.decoded, Message):
        return item.decoded
    if isinstance(item.decoded, ProtocolError):
        raise item.decoded
    return decode(item.payload, item.topic)


def _now() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)
