"""Helpers to run the platform and an edge publisher against the test services."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from edge.outbox import Outbox
from edge.publisher import Confirm, EdgePublisher
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
        }
    )


def edge_publisher(
    broker_port: int, workdir: Path, site: str = "demo", device: str = "gate-1", confirm: Confirm = Confirm.STORED
) -> EdgePublisher:
    """An edge publisher with its outbox in `workdir` (confirm on the broker when no platform sends receipts)."""
    outbox = Outbox(workdir / f"{device}-outbox.db")
    return EdgePublisher(
        BrokerSettings(port=broker_port), outbox, site=site, device=device, software="test", confirm=confirm
    )


ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "test-admin-password"


def admin_headers(client) -> dict[str, str]:
    """Create (or reset) an admin user in the app's database, log in through the API, return the bearer header."""
    from server.security.policy import Role
    from server.services.accounts import ensure_user

    with client.app.state.services.engine.begin() as connection:
        ensure_user(connection, "test", ADMIN_USERNAME, ADMIN_PASSWORD, Role.ADMIN)
    response = client.post("/api/v1/auth/token", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
