"""The police link's parts, built from the `police` section; the push/pull worker runs only when enabled."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from server.police.authorisations import AuthorisationDesk
from server.police.export import Exporter
from server.police.queries import PoliceQueries
from server.police.settings import PoliceSettings
from server.police.signing import ExportSigner, load_signer
from server.police.worker import PoliceLink
from server.storage.crypto import FieldCipher

log = logging.getLogger(__name__)


@dataclass
class PoliceRuntime:
    """Desk (workflow), queries, exporter and the optional link worker."""

    settings: PoliceSettings
    desk: AuthorisationDesk
    queries: PoliceQueries
    exporter: Exporter | None
    signer: ExportSigner | None
    link: PoliceLink | None

    @property
    def enabled(self) -> bool:
        """Whether police routes answer at all."""
        return self.settings.enabled

    def start(self) -> None:
        """Start the link worker if configured."""
        if self.link is not None:
            self.link.start()

    def stop(self) -> None:
        """Stop the link worker."""
        if self.link is not None:
            self.link.stop()


def build_police(settings: PoliceSettings, engine: Engine, cipher: FieldCipher | None = None) -> PoliceRuntime:
    """Everything the police link needs; with the link off, nothing is loaded, started or sent."""
    desk = AuthorisationDesk(engine, settings)
    queries = PoliceQueries(engine, settings)
    if not settings.enabled:
        return PoliceRuntime(settings, desk, queries, None, None, None)
    signer = load_signer(settings.export)
    exporter = Exporter(engine, settings, queries, signer)
    link = PoliceLink(engine, settings, cipher=cipher) if settings.link_ready() else None
    log.info("police link enabled (push: %s, watchlist: %s)", settings.push.enabled, settings.watchlist.enabled)
    return PoliceRuntime(settings, desk, queries, exporter, signer, link)
