"""Edge publisher: writes every event to the outbox, then drains the outbox to the broker in order.

When an event leaves the outbox depends on `confirm`. With `broker`, on the broker's PUBACK. With `stored` (what
an agent does), only when the platform's receipt (protocol.receipts.EventsStored) names it: a broker killed -9
before its next save loses messages it had already acknowledged, so events acknowledged but not receipted are
published again after every reconnect and after a timeout that doubles per attempt (the platform stores by
event id, so a second copy is only counted as a duplicate).

Ordering across reconnects: paho re-sends its unacknowledged QoS 1 messages after the CONNACK, but calls
`on_connect` first. New events are therefore held back after a reconnect until every message that was in
flight before it has been acknowledged; otherwise a new event could overtake an older re-sent one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import paho.mqtt.client as mqtt

from edge.outbox import Outbox
from protocol import Message, ProtocolError, build, decode, encode
from protocol.base import WireModel
from protocol.broker import BrokerSettings, make_client
from protocol.device import DeviceState, Status
from protocol.events import Alarm, AlarmType, Severity
from protocol.receipts import EventsStored
from protocol.topics import command_topic, status_topic

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, bytes], None]
EXPIRE_EVERY_S = 10.0
MAX_RECEIPT_WAIT_S = 900.0
ATTEMPTS_SLACK = 10_000  # attempt counts kept beyond the events in play before stale ones are pruned


class Confirm(StrEnum):
    """What lets an event leave the outbox."""

    BROKER = "broker"
    STORED = "stored"


@dataclass
class Awaiting:
    """An event the broker acknowledged that no receipt has named yet."""

    row_id: int
    since: float
    attempts: int


class EdgePublisher:
    """Owns the device's MQTT session: status with last will, store-and-forward events, command intake."""

    def __init__(
        self,
        broker: BrokerSettings,
        outbox: Outbox,
        *,
        site: str,
        device: str,
        software: str = "",
        window: int = 500,
        on_dropped: Callable[[int], None] | None = None,
        alarm_interval_s: float = 60.0,
        confirm: Confirm = Confirm.STORED,
        receipt_timeout_s: float = 60.0,
    ) -> None:
        self.site, self.device, self.software = site, device, software
        self.outbox = outbox
        self.window = window
        self.on_dropped = on_dropped
        self.alarm_interval_s = alarm_interval_s
        self.connected = threading.Event()
        self.status_extra: dict[str, Any] = {}
        self.dropped_since_start = 0
        self.confirm = Confirm(confirm)
        self.receipt_timeout_s = receipt_timeout_s
        self.republished = 0
        self._inflight: list[tuple[mqtt.MQTTMessageInfo, int, str]] = []
        self._awaiting: dict[str, Awaiting] = {}
        self._attempts: dict[str, int] = {}
        self._resend: list[int] = []
        self._receipts: queue.SimpleQueue[list[str]] = queue.SimpleQueue()
        self._unreceipted = 0
        self._last_receipt_warning = float("-inf")
        self._receipt_topic = command_topic(site, device, EventsStored.TOPIC_NAME)
        self._last_row = 0
        self._resending = False
        self._publish_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._command_handler: CommandHandler | None = None
        self._command_filters: list[str] = []
        self._alarm_lock = threading.Lock()
        self._unreported_drops = 0
        self._last_alarm = float("-inf")
        self._last_expire = time.monotonic()
        # A persistent session: commands sent while the gate is offline (erasures above all) wait at the broker.
        self.client = make_client(broker, client_id=f"{site}.{device}", clean_session=False)
        offline = build(Status(state=DeviceState.OFFLINE, software=software), site=site, device=device, seq=0)
        self.client.will_set(status_topic(site, device), encode(offline), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._broker = broker
        self._drainer = threading.Thread(target=self._drain_loop, name="outbox-drain", daemon=True)

    def start(self) -> None:
        """Connect in the background (retrying forever with backoff) and start draining the outbox."""
        self.client.connect_async(self._broker.host, self._broker.port, keepalive=self._broker.keepalive_s)
        self.client.loop_start()
        self._drainer.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop draining and disconnect cleanly (the broker then keeps the retained offline status)."""
        self._stop.set()
        self._wake.set()
        if self._drainer.is_alive():
            self._drainer.join(timeout)
        if self.connected.is_set():
            info = self.publish_status(DeviceState.OFFLINE)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as err:  # the broker went first: its last will says offline
                log.info("offline status not published on stop: %s", err)
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe_commands(self, topic_filter: str, handler: CommandHandler) -> None:
        """Receive commands on a filter; subscriptions are renewed on every connect."""
        self._command_handler = handler
        self._command_filters.append(topic_filter)
        if self.connected.is_set():
            self.client.subscribe(topic_filter, qos=1)

    def send(self, body: WireModel) -> Message:
        """Store an event durably (numbered in order), then let the drainer publish it; returns the message."""
        built: list[Message] = []

        def make(seq: int) -> tuple[str, str, bytes]:
            message = build(body, site=self.site, device=self.device, seq=seq)
            built.append(message)
            return str(message.envelope.event_id), message.topic(), encode(message)

        appended = self.outbox.append(make)
        if appended.dropped:
            self._note_dropped(appended.dropped)
        self._wake.set()
        return built[0]

    def publish_now(self, body: WireModel, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish without the outbox (command results, telemetry, status): QoS 1, lost if never connected."""
        message = build(body, site=self.site, device=self.device, seq=self.outbox.next_seq())
        return self.client.publish(message.topic(), encode(message), qos=1, retain=retain)

    def publish_status(self, state: DeviceState) -> mqtt.MQTTMessageInfo:
        """Publish the retained status."""
        return self.publish_now(Status(state=state, software=self.software, **self.status_extra), retain=True)

    def depth(self) -> int:
        """Events still held: not yet receipted by the platform (or, confirming on the broker, not acknowledged)."""
        return self.outbox.depth()

    def _note_dropped(self, dropped: int) -> None:
        """Count events lost to the outbox bound and raise an outbox_overflow alarm (at most one per interval)."""
        with self._alarm_lock:
            self.dropped_since_start += dropped
            self._unreported_drops += dropped
        if self.on_dropped:
            self.on_dropped(dropped)
        self._maybe_alarm()

    def _maybe_alarm(self) -> None:
        """Send one alarm folding every drop not yet reported, unless one went out less than an interval ago."""
        with self._alarm_lock:
            now = time.monotonic()
            if not self._unreported_drops or now - self._last_alarm < self.alarm_interval_s:
                return
            count, self._unreported_drops, self._last_alarm = self._unreported_drops, 0, now
        alarm = Alarm(
            alarm_type=AlarmType.OUTBOX_OVERFLOW,
            severity=Severity.WARNING,
            detail=f"outbox bound reached: {count} oldest events dropped "
            f"(limits {self.outbox.max_events} events, {self.outbox.max_bytes} bytes, {self.outbox.max_age_s:.0f} s)",
            count=count,
        )
        log.warning("outbox overflow: %d events dropped", count)
        appended = self.outbox.append(_maker(alarm, self.site, self.device))
        if appended.dropped:  # the alarm displaced one more event: folded into the next alarm
            with self._alarm_lock:
                self.dropped_since_start += appended.dropped
                self._unreported_drops += appended.dropped
        self._wake.set()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        """On every (re)connect: announce online, renew subscriptions, resume draining after the re-sends."""
        if reason.is_failure:
            log.warning("broker refused connection: %s", reason)
            return
        log.info("connected to broker as %s/%s", self.site, self.device)
        with self._publish_lock:
            self._resending = bool(self._inflight)
            self.connected.set()
        self.publish_status(DeviceState.ONLINE)
        for topic_filter in self._command_filters:
            client.subscribe(topic_filter, qos=1)
        if self.confirm is Confirm.STORED:
            client.subscribe(self._receipt_topic, qos=1)
        self._wake.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        """Stop publishing new events until reconnected; paho re-sends the unacknowledged ones then.

        Events the broker acknowledged but the platform has not receipted are published again after the
        reconnect: the broker may have died before saving them.
        """
        with self._publish_lock:
            self.connected.clear()
            self._receipts.put([])  # an empty receipt: tells the drainer to requeue every unreceipted event
        log.warning("disconnected from broker: %s", reason)

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, _mid: int, _reason: Any, _props: Any) -> None:
        """The broker acknowledged a message: let the drainer sweep the acknowledged ones."""
        self._wake.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        """Hand a receipt to the drainer and a command to its handler; errors never reach the network loop."""
        if message.topic == self._receipt_topic:
            self._take_receipt(message)
            return
        if self._command_handler is None:
            return
        try:
            self._command_handler(message.topic, message.payload)
        except Exception:  # noqa: BLE001 - a bad command must not kill the MQTT loop
            log.exception("command handler failed on %s", message.topic)

    def _drain_loop(self) -> None:
        """Publish stored events in order, keeping at most `window` unacknowledged."""
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                self._drain_once()
            except Exception:  # noqa: BLE001 - the drainer must outlive a transient database error
                log.exception("outbox drain failed; retrying")
                time.sleep(1.0)

    def _take_receipt(self, message: mqtt.MQTTMessage) -> None:
        """Queue the event ids of a valid receipt for the drainer; a bad one is logged and ignored."""
        try:
            body = decode(message.payload, message.topic).body
        except ProtocolError as err:
            log.warning("receipt refused: %s", err)
            return
        if isinstance(body, EventsStored):
            self._receipts.put([str(event_id) for event_id in body.event_ids])
            self._wake.set()

    def _drain_once(self) -> None:
        """One pass: sweep acknowledgements and receipts, apply the age bound, publish what the window allows."""
        self._sweep_acknowledged()
        self._apply_receipts()
        if time.monotonic() - self._last_expire >= EXPIRE_EVERY_S:
            self._last_expire = time.monotonic()
            dropped = self.outbox.expire()
            if dropped:
                self._note_dropped(dropped)
        self._maybe_alarm()
        room = self.window - len(self._inflight)
        if room <= 0 or not self.connected.is_set():
            return
        if self._resending:
            if self._inflight:
                return
            self._resending = False
        resending = bool(self._resend)
        if resending:
            wanted, self._resend = self._resend[:room], self._resend[room:]
            items = self.outbox.items(wanted)
        else:
            items = self.outbox.pending(after_row=self._last_row, limit=room)
        sent = 0
        with self._publish_lock:
            for item in items:
                if not self.connected.is_set():
                    if resending:
                        self._resend[:0] = [i.row_id for i in items[sent:]]
                    break
                info = self.client.publish(item.topic, item.payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:  # e.g. the connection dropped since the check above
                    log.warning("publish failed rc=%s; will retry", info.rc)
                    if resending:
                        self._resend[:0] = [i.row_id for i in items[sent:]]
                    break
                self._inflight.append((info, item.row_id, item.event_id))
                if resending:
                    self.republished += 1
                else:
                    self._last_row = item.row_id
                sent += 1
        if self._resend or (items and sent == room):
            self._wake.set()

    def _sweep_acknowledged(self) -> None:
        """Handle every in-flight event the broker acknowledged: delete it, or await its receipt."""
        acknowledged, waiting, unsent = [], [], []
        for entry in self._inflight:
            if entry[0].rc != mqtt.MQTT_ERR_SUCCESS:  # the connection dropped as it was published
                unsent.append(entry)
            else:
                (acknowledged if entry[0].is_published() else waiting).append(entry)
        if unsent:  # published again (paho may also send its own copy on reconnect: the platform deduplicates)
            queued = set(self._resend)
            self._resend = sorted(queued | {row_id for _, row_id, _ in unsent})
        if not acknowledged and not unsent:
            return
        self._inflight = waiting
        if not acknowledged:
            return
        if self.confirm is Confirm.BROKER:
            self.outbox.remove_many([row_id for _, row_id, _ in acknowledged])
            return
        now = time.monotonic()
        for _, row_id, event_id in acknowledged:
            attempts = self._attempts.get(event_id, 0) + 1
            self._attempts[event_id] = attempts
            self._awaiting[event_id] = Awaiting(row_id, now, attempts)

    def _apply_receipts(self) -> None:
        """Forget receipted events; requeue unreceipted ones after a reconnect or once their wait ran out."""
        if self.confirm is Confirm.BROKER:
            return
        stored: list[str] = []
        reconnected = False
        while True:
            try:
                ids = self._receipts.get_nowait()
            except queue.Empty:
                break
            reconnected |= not ids
            stored.extend(ids)
        if stored:
            self.outbox.remove_events(stored)
            for event_id in stored:
                self._awaiting.pop(event_id, None)
                self._attempts.pop(event_id, None)
        if len(self._attempts) > len(self._awaiting) + len(self._inflight) + len(self._resend) + ATTEMPTS_SLACK:
            self._prune_attempts()
        now = time.monotonic()
        due = [
            (event_id, entry)
            for event_id, entry in self._awaiting.items()
            if reconnected or now - entry.since >= self._receipt_wait(entry.attempts)
        ]
        if not due:
            return
        for event_id, _ in due:
            del self._awaiting[event_id]
        queued = set(self._resend)
        self._resend.extend(sorted(entry.row_id for _, entry in due if entry.row_id not in queued))
        if not reconnected:
            self._unreceipted += len(due)
            if now - self._last_receipt_warning >= self.alarm_interval_s:
                log.warning("no receipt for %d events; publishing them again", self._unreceipted)
                self._unreceipted, self._last_receipt_warning = 0, now

    def _prune_attempts(self) -> None:
        """Forget attempt counts of events no longer in play (dropped by the bounds; queued resends restart at 1)."""
        live = set(self._awaiting) | {event_id for _, _, event_id in self._inflight}
        self._attempts = {event_id: n for event_id, n in self._attempts.items() if event_id in live}

    def _receipt_wait(self, attempts: int) -> float:
        """How long an event waits for its receipt before it is published again (doubling per attempt)."""
        return min(self.receipt_timeout_s * 2 ** (attempts - 1), MAX_RECEIPT_WAIT_S)


def _maker(body: WireModel, site: str, device: str) -> Callable[[int], tuple[str, str, bytes]]:
    """A record maker for Outbox.append that numbers and encodes `body`."""

    def make(seq: int) -> tuple[str, str, bytes]:
        message = build(body, site=site, device=device, seq=seq)
        return str(message.envelope.event_id), message.topic(), encode(message)

    return make
