"""What the edge sync sends to one device: nothing, an increment or a full list (server.services.sync)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protocol.commands import SyncMode
from server.services.sync import DeviceView, choose_mode, wants_list

NOW = datetime(2026, 12, 3, tzinfo=UTC)
RESEND = timedelta(seconds=60)


def view(list_name: str = "gallery", **changes) -> DeviceView:
    """A device one version behind, online, never sent anything."""
    fields = dict(
        device_id=1,
        site="s1",
        device="d1",
        list_name=list_name,
        current=5,
        reported=4,
        sent=None,
        sent_at=None,
        confirmed=4,
        request_id=None,
        online=True,
    )
    return DeviceView(**(fields | changes))


def test_face_templates_go_only_to_devices_that_recognise_faces():
    assert wants_list(["faces", "plates"], "gallery")
    assert not wants_list(["plates"], "gallery") and not wants_list([], "gallery")
    assert wants_list(None, "gallery"), "an agent that says nothing is assumed to take everything"
    assert wants_list([], "allowlist"), "every gate takes its allowlist"
    assert choose_mode(view(wanted=False), False, RESEND, NOW) is None
    assert choose_mode(view(wanted=False), True, RESEND, NOW) is None, "not even a forced resync"
    assert choose_mode(view(), False, RESEND, NOW) is SyncMode.INCREMENTAL


def test_mode_follows_the_reported_version():
    assert choose_mode(view(reported=5), False, RESEND, NOW) is None
    assert choose_mode(view(online=False), False, RESEND, NOW) is None, "sent once the device is back"
    assert choose_mode(view(reported=0), False, RESEND, NOW) is SyncMode.FULL
    assert choose_mode(view(reported=9), False, RESEND, NOW) is SyncMode.FULL, "ahead of us: start over"
    assert choose_mode(view(reported=None), False, RESEND, NOW) is SyncMode.FULL
    assert choose_mode(view(reported=5), True, RESEND, NOW) is SyncMode.FULL
    waiting = view(sent=5, sent_at=NOW - timedelta(seconds=10))
    assert choose_mode(waiting, False, RESEND, NOW) is None, "an answer is still awaited"
    assert choose_mode(view(sent=5, sent_at=NOW - timedelta(seconds=61)), False, RESEND, NOW) is SyncMode.INCREMENTAL
