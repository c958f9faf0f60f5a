"""The thin slice: a simulated card gate publishes through the real broker into SQL and out of the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from devices.card_reader import SimulatedCardReader
from devices.relay import SimulatedRelay
from edge.card_gate import CardGate
from protocol.commands import AllowlistEntry, CredentialKind
from server.app import create_app
from tests.support.platform import admin_headers, edge_publisher, server_settings
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def _allowlist() -> dict:
    entry = AllowlistEntry(kind=CredentialKind.CARD, value="12345678", person_id="p-001", credential_ref="c-001")
    return {("card", "12345678"): entry}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_card_passage_reaches_api(database, mosquitto, tmp_path, request):
    """A granted and a denied swipe travel gate -> mosquitto -> ingest -> SQL -> GET /api/v1/events."""
    url = f"sqlite:///{tmp_path}/sc.db" if database == "sqlite" else request.getfixturevalue("postgres_url")
    app = create_app(server_settings(mosquitto.port, url))
    publisher = edge_publisher(mosquitto.port, tmp_path)
    relay = SimulatedRelay("door-1")
    reader = SimulatedCardReader("reader-1", ["12345678", "99999999"])
    gate = CardGate("north", "door-1", reader, relay, publisher, _allowlist())
    with TestClient(app) as client:
        wait_until(app.state.platform.ingest.connected.is_set, 10, message="ingest connected")
        publisher.start()
        gate.start()
        headers = admin_headers(client)
        wait_until(
            lambda: len(client.get("/api/v1/events", headers=headers).json()["items"]) == 2,
            15,
            message="two events in the API",
        )
        items = client.get("/api/v1/events", headers=headers, params={"gate": "north"}).json()["items"]
        wait_until(lambda: publisher.depth() == 0, 10, message="the platform's receipts empty the outbox")
        gate.stop()
        publisher.stop()
        assert client.get("/api/v1/events").status_code == 401
    by_result = {item["result"]: item for item in items}
    assert by_result["granted"]["person_id"] == "p-001"
    assert by_result["granted"]["method"] == "card"
    assert by_result["denied"]["data"]["reason"] == "unknown-card"
    assert by_result["denied"]["person_id"] is None
    assert len(relay.pulses) == 1, "only the granted swipe pulses the relay"
    assert publisher.depth() == 0 and publisher.republished == 0, "receipted events leave the outbox, sent once"
