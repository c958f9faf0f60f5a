"""Helpers to run the platform and an edge publisher against the test services."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from edge.outbox import Outbox
from edge.publisher import EdgePublisher
from protocol.broker import BrokerSettings
from server.config import ServerSettings


def server_settings(broker_port: int, database_url: str, **ingest) -> ServerSettings:
    """Settings for a platform process talking to the test broker and database.

    Each call gets its own shared-subscription group: a persistent ingest session left by an earlier
    test would otherwise keep receiving its share of the group's messages.
    """
    unique = uuid4().hex[:8]
    defaults = {"client_id": f"ingest-{unique}", "group": f"ingest-{unique}", "batch_linger_ms": 5}
    return ServerSettings.model_validate(
        {
            "database": {"url": database_url, "url_env": "SC_TEST_UNSET_DATABASE_URL"},
            "broker": {"port": broker_port},
            "ingest": defaults | ingest,
            "api": {"token_env": "SC_TEST_API_TOKEN"},
        }
    )


def edge_publisher(broker_port: int, workdir: Path, site: str = "demo", device: str = "gate-1") -> EdgePublisher:
    """An edge publisher with its outbox in `workdir`."""
    outbox = Outbox(workdir / f"{device}-outbox.db")
    return EdgePublisher(BrokerSettings(port=broker_port), outbox, site=site, device=device, software="test")
