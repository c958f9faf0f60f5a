"""The API's running services, built from the settings and the platform, started and stopped with the app."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine

from server.config import ServerSettings
from server.security.keys import PlatformKeys, load_keys
from server.services.accounts import LoginRateLimiter
from server.services.alerts import AlertHub, WatchlistMonitor
from server.services.commands import CommandSender
from server.services.enrolment import EnrolmentEngine
from server.services.provisioning import BrokerFiles
from server.services.sync import EdgeSync

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Keys, login limiter, command client, edge sync, broker files, enrolment and alerts."""

    settings: ServerSettings
    engine: Engine
    keys: PlatformKeys
    login_limiter: LoginRateLimiter
    sender: CommandSender
    sync: EdgeSync
    broker_files: BrokerFiles
    enrolment: EnrolmentEngine
    alerts: AlertHub
    watchlist: WatchlistMonitor
    started: bool = field(default=False)

    def start(self) -> None:
        """Connect the command client and start the sync loop."""
        self.sender.start()
        self.sync.start()
        self.started = True

    def stop(self) -> None:
        """Stop the sync loop and the command client."""
        self.sync.stop()
        self.sender.stop()
        self.started = False


def build_services(settings: ServerSettings, engine: Engine) -> Services:
    """Load keys (MissingKeyError names the variable when one is required) and build the services."""
    keys = load_keys(settings.security)
    sender = CommandSender(settings.broker)
    hub = AlertHub()
    return Services(
        settings=settings,
        engine=engine,
        keys=keys,
        login_limiter=LoginRateLimiter(settings.security.login_attempts_per_minute),
        sender=sender,
        sync=EdgeSync(engine, keys.cipher, sender, settings.sync),
        broker_files=BrokerFiles(settings.provisioning, engine),
        enrolment=EnrolmentEngine(),
        alerts=hub,
        watchlist=WatchlistMonitor(engine, hub),
    )
