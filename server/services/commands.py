"""The platform's MQTT client for commands to edges (QoS 1): gallery and allowlist syncs, erasures."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from protocol import build, encode
from protocol.broker import BrokerSettings, make_client
from protocol.commands import Command
from protocol.errors import ProtocolError
from server.services.errors import InvalidInput

log = logging.getLogger(__name__)


class CommandSender:
    """Publishes command envelopes to `sc/v1/{site}/{device}/cmd/{name}`; paho queues them while disconnected."""

    def __init__(self, broker: BrokerSettings, client_id: str | None = None) -> None:
        self.broker = broker
        self.client_id = client_id or f"platform-cmd-{socket.gethostname()[:20]}-{os.getpid()}"
        self.connected = threading.Event()
        self._seq = itertools.count(int(time.time() * 1000))
        self._lock = threading.Lock()
        self.client = make_client(broker, self.client_id)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._started = False

    def start(self) -> None:
        """Connect in the background (reconnecting with backoff)."""
        if not self._started:
            self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive_s)
            self.client.loop_start()
            self._started = True

    def stop(self) -> None:
        """Disconnect."""
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False

    def send(self, body: Command, site: str, device: str) -> mqtt.MQTTMessageInfo:
        """Publish one command to a device at QoS 1."""
        with self._lock:
            seq = next(self._seq)
        try:
            message = build(body, site=site, device=device, seq=seq)
            payload = encode(message)
        except ProtocolError as err:
            raise InvalidInput(f"command {type(body).__name__} for {site}/{device}: {err}") from err
        info = self.client.publish(message.topic(), payload, qos=1)
        log.info("sent %s to %s/%s (request %s)", type(body).TOPIC_NAME, site, device, body.request_id)
        return info

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the command client: %s", reason)
            return
        self.connected.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        log.warning("command client disconnected: %s", reason)
