"""The privacy CLI's command sending when the broker is away (server.privacy.cli)."""

from __future__ import annotations

import uuid

from protocol.commands import ApplyRetention
from server.config import ServerSettings
from server.privacy.cli import _with_sender
from tests.support.ports import free_port


def test_commands_the_broker_never_took_stay_outstanding_instead_of_crashing(caplog):
    settings = ServerSettings.model_validate({"broker": {"port": free_port(), "keepalive_s": 5}})
    command = ApplyRetention(request_id=uuid.uuid4(), events_max_age_s=3600, snapshots_max_age_s=3600)

    def work(send) -> str:
        send(command, "north", "gate-1")
        return "recorded"

    assert _with_sender(settings, 0.5, work) == "recorded"
    assert "1 command(s) not taken by the broker" in caplog.text
