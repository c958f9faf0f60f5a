"""The police link's worker thread: register and keep alive, queue subscribed items, deliver, pull the watchlist."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from server.police.client import PoliceLinkError, ViidClient
from server.police.collector import Collector, object_id_of
from server.police.inbound import WatchlistPuller
from server.police.pushqueue import claim_due, mark_delivered, mark_failed, release
from server.police.settings import PoliceSettings
from server.storage.crypto import FieldCipher

log = logging.getLogger(__name__)


@dataclass
class LinkStats:
    """What the worker has done since start (for logs, health and tests)."""

    rounds: int = 0
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    registered: bool = False
    last_error: str = ""
    watchlist_pulls: int = 0


class PoliceLink:
    """Runs in a thread of the platform when the police link is enabled; every round is safe to repeat."""

    def __init__(
        self,
        engine: Engine,
        settings: PoliceSettings,
        client_factory: Callable[[PoliceSettings], ViidClient] = ViidClient,
        cipher: FieldCipher | None = None,
    ) -> None:
        self.engine, self.settings = engine, settings
        self.client = client_factory(settings)
        self.collector = Collector(engine, settings)
        self.puller = WatchlistPuller(engine, settings, self.client, cipher) if settings.watchlist.enabled else None
        self.stats = LinkStats()
        self._last_keepalive = float("-inf")
        self._last_pull = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="police-link", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, say goodbye to the endpoint (best effort) and close the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.stats.registered:
            try:
                self.client.unregister()
            except PoliceLinkError as err:
                log.info("police unregister failed: %s", err)
        self.client.close()

    def _loop(self) -> None:
        """One round every push interval until stopped; errors are logged, never end the thread."""
        interval = self.settings.push.interval_s
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as err:  # noqa: BLE001 - the thread must outlive any one bad round
                log.exception("police link round failed")
                self.stats.last_error = str(err)
            self._stop.wait(interval)

    def run_once(self) -> None:
        """Pull the watchlist if due; queue new items; keep the session alive; deliver due items."""
        self.stats.rounds += 1
        if self.puller is not None and time.monotonic() - self._last_pull >= self.settings.watchlist.interval_s:
            try:
                self.puller.pull()
                self.stats.watchlist_pulls += 1
                self._last_pull = time.monotonic()
            except PoliceLinkError as err:
                log.warning("police watchlist pull failed: %s", err)
        if not self.settings.push.enabled:
            return
        self.stats.queued += self.collector.collect()
        if self._session():
            self.deliver()

    def _session(self) -> bool:
        """Register when not registered, keepalive when due; False while the endpoint is unreachable."""
        try:
            if not self.stats.registered:
                self.client.register()
                self.stats.registered = True
                self._last_keepalive = time.monotonic()
                log.info("registered with the police endpoint as %s", self.settings.platform_id)
            elif time.monotonic() - self._last_keepalive >= self.settings.keepalive_interval_s:
                self.client.keepalive()
                self._last_keepalive = time.monotonic()
        except PoliceLinkError as err:
            self.stats.registered = False
            self.stats.last_error = str(err)
            log.warning("police endpoint unavailable: %s", err)
            return False
        return True

    def deliver(self) -> int:
        """Send due items oldest first; stop the round at the first transport failure."""
        items = claim_due(self.engine, self.settings.push.batch)
        sent = 0
        for index, item in enumerate(items):
            try:
                status_code = self.client.post_objects(item.resource, item.payload, item.idempotency_key)
            except PoliceLinkError as err:
                mark_failed(self.engine, item, str(err), err.retryable, self.settings.push)
                self.stats.failed += 1
                self.stats.last_error = str(err)
                if err.status_code is None:
                    self.stats.registered = False
                    release(self.engine, items[index + 1 :])
                    break
                continue
            mark_delivered(self.engine, item, status_code, object_id_of(item.payload))
            sent += 1
        self.stats.delivered += sent
        return sent
