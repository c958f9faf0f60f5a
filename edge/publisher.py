"""Edge publisher: writes every message to the outbox, then drains the outbox to the broker in order."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from edge.outbox import Outbox
from protocol import Message, build, encode
from protocol.base import WireModel
from protocol.broker import BrokerSettings, make_client
from protocol.device import DeviceState, Status
from protocol.topics import status_topic

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, bytes], None]


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
    ) -> None:
        self.site, self.device, self.software = site, device, software
        self.outbox = outbox
        self.window = window
        self.on_dropped = on_dropped
        self.connected = threading.Event()
        self._inflight: list[tuple[mqtt.MQTTMessageInfo, int]] = []
        self._last_row = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._command_handler: CommandHandler | None = None
        self._command_filters: list[str] = []
        self.status_extra: dict[str, Any] = {}
        self.client = make_client(broker, client_id=f"{site}.{device}")
        offline = build(Status(state=DeviceState.OFFLINE, software=software), site=site, device=device, seq=0)
        self.client.will_set(status_topic(site, device), encode(offline), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._broker = broker
        self._drainer = threading.Thread(target=self._drain_loop, name="outbox-drain", daemon=True)

    def start(self) -> None:
        """Connect in the background (retrying forever) and start draining the outbox."""
        self.client.connect_async(self._broker.host, self._broker.port, keepalive=self._broker.keepalive_s)
        self.client.loop_start()
        self._drainer.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop draining and disconnect cleanly (the broker then keeps the retained offline status)."""
        self._stop.set()
        self._wake.set()
        self._drainer.join(timeout)
        if self.connected.is_set():
            info = self.publish_status(DeviceState.OFFLINE)
            info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe_commands(self, topic_filter: str, handler: CommandHandler) -> None:
        """Receive commands on a filter; subscriptions are renewed on every connect."""
        self._command_handler = handler
        self._command_filters.append(topic_filter)
        if self.connected.is_set():
            self.client.subscribe(topic_filter, qos=1)

    def send(self, body: WireModel) -> Message:
        """Store an event durably, then let the drainer publish it; returns the message sent."""
        message = build(body, site=self.site, device=self.device, seq=self.outbox.next_seq())
        payload = encode(message)
        dropped = self.outbox.put(str(message.envelope.event_id), message.envelope.seq, message.topic(), payload)
        if dropped and self.on_dropped:
            self.on_dropped(dropped)
        self._wake.set()
        return message

    def publish_now(self, body: WireModel, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish without the outbox (command results, telemetry): QoS 1, lost if never connected."""
        message = build(body, site=self.site, device=self.device, seq=self.outbox.next_seq())
        return self.client.publish(message.topic(), encode(message), qos=1, retain=retain)

    def publish_status(self, state: DeviceState) -> mqtt.MQTTMessageInfo:
        """Publish the retained status."""
        return self.publish_now(Status(state=state, software=self.software, **self.status_extra), retain=True)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        """On every (re)connect: announce online, renew subscriptions, resume draining."""
        if reason.is_failure:
            log.warning("broker refused connection: %s", reason)
            return
        log.info("connected to broker as %s/%s", self.site, self.device)
        self.connected.set()
        self.publish_status(DeviceState.ONLINE)
        for topic_filter in self._command_filters:
            client.subscribe(topic_filter, qos=1)
        self._wake.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        """Note the disconnect; paho re-sends unacknowledged messages after reconnecting."""
        self.connected.clear()
        log.warning("disconnected from broker: %s", reason)

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, _mid: int, _reason: Any, _props: Any) -> None:
        """The broker acknowledged a message: let the drainer sweep the acknowledged ones."""
        self._wake.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        """Hand a command to its handler; handler errors never reach the network loop."""
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
            self._sweep_acknowledged()
            if not self.connected.is_set():
                continue
            room = self.window - len(self._inflight)
            if room <= 0:
                continue
            items = self.outbox.pending(after_row=self._last_row, limit=room)
            for item in items:
                info = self.client.publish(item.topic, item.payload, qos=1)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    log.warning("publish failed rc=%s; will retry", info.rc)
                    break
                self._inflight.append((info, item.row_id))
                self._last_row = item.row_id
            if len(items) == room:
                self._wake.set()

    def _sweep_acknowledged(self) -> None:
        """Delete from the outbox every in-flight event the broker has acknowledged."""
        acknowledged, waiting = [], []
        for info, row_id in self._inflight:
            (acknowledged if info.is_published() else waiting).append((info, row_id))
        if acknowledged:
            self.outbox.remove_many([row_id for _, row_id in acknowledged])
            self._inflight = waiting

    def depth(self) -> int:
        """Events not yet acknowledged by the broker."""
        return self.outbox.depth()
