"""Commands on a real (unconnected) agent: each answered with its request id; bad ones refused, nothing changed."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.app import EdgeAgent
from edge.config import parse_config
from edge.vision.crypto import encode_key, generate_key
from protocol import build, encode
from protocol.commands import (
    AllowlistEntry,
    AllowlistSync,
    ApplyRetention,
    ConfigUpdate,
    ErasePerson,
    GalleryEntry,
    GallerySync,
    OpenDoor,
    SyncMode,
)
from protocol.topics import command_topic

SITE, DEVICE = "demo", "gate-1"


@pytest.fixture()
def agent(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_TEST_GALLERY_KEY", encode_key(generate_key()))
    config = parse_config(
        {
            "site": SITE,
            "device": DEVICE,
            "data_dir": str(tmp_path / "edge"),
            "broker": {"port": 1},
            "doors": [{"id": "door-1"}],
            "gates": [{"id": "north", "door": "door-1"}],
            "faces": {"key_env": "SC_TEST_GALLERY_KEY"},
        },
        "test",
    )
    agent = EdgeAgent(config)
    agent.results = []
    agent.commands.publish = agent.results.append
    yield agent
    agent.allowlist.close()
    agent.outbox.close()


def _send(agent, body, name=None, device=DEVICE, site=SITE, raw: bytes | None = None):
    name = name or body.TOPIC_NAME
    payload = raw if raw is not None else encode(build(body, site=site, device=device, seq=1))
    return agent.commands.handle(command_topic(site, device, name), payload)


def _releases(relay) -> int:
    """How many times a simulated relay was energised (a fail-secure lock released)."""
    return sum(1 for _, energised in relay.changes if energised)


def _card(value, person, ref, **extra):
    return AllowlistEntry(kind="card", value=value, person_id=person, credential_ref=ref, **extra)


def _embedding(seed):
    return np.random.default_rng(seed).normal(0, 0.1, 128).round(5).tolist()


def test_allowlist_full_then_incremental_and_persisted(agent, tmp_path):
    full = AllowlistSync(
        request_id=uuid.uuid4(), mode="full", base_version=0, version=5, upserts=[_card("1", "p1", "c1")]
    )
    result = _send(agent, full)
    assert result.ok and result.request_id == full.request_id and result.version == 5 and result.entries == 1
    step = AllowlistSync(
        request_id=uuid.uuid4(),
        mode="incremental",
        base_version=5,
        version=6,
        upserts=[_card("2", "p2", "c2")],
        removes=["c1"],
    )
    assert _send(agent, step).entries == 1
    stale = AllowlistSync(request_id=uuid.uuid4(), mode="incremental", base_version=5, version=7)
    refused = _send(agent, stale)
    assert not refused.ok and "holds 6" in refused.error and refused.version == 6
    agent.allowlist.close()
    from edge.allowlist import AllowlistStore

    reopened = AllowlistStore(tmp_path / "edge" / "allowlist.db")
    assert reopened.version == 6 and reopened.snapshot.lookup("card", "2").person_id == "p2"
    agent.allowlist = reopened


def test_gallery_sync_in_chunks_applies_atomically(agent):
    entries = [GalleryEntry(person_id=f"p{i}", template_id=f"t{i}", embedding=_embedding(i)) for i in range(4)]
    first = GallerySync(
        request_id=uuid.uuid4(), mode=SyncMode.FULL, base_version=0, version=3, upserts=entries[:2], chunk=0, chunks=2
    )
    staged = _send(agent, first)
    assert staged.ok and staged.version == 0 and staged.templates == 0, "nothing applied before the last chunk"
    last = first.model_copy(update={"upserts": entries[2:], "chunk": 1})  # the platform's chunks share the id
    done = _send(agent, last)
    assert done.ok and done.version == 3 and done.templates == 4
    assert _send(agent, last) == done, "a redelivered chunk is answered again, not re-applied"
    increment = GallerySync(
        request_id=uuid.uuid4(),
        mode=SyncMode.INCREMENTAL,
        base_version=3,
        version=4,
        removes=["p0"],
        upserts=[GalleryEntry(person_id="p9", template_id="t9", embedding=_embedding(9))],
    )
    assert _send(agent, increment).templates == 4
    assert set(agent.gallery.person_ids) == {"p1", "p2", "p3", "p9"}
    wrong_base = increment.model_copy(update={"request_id": uuid.uuid4(), "base_version": 2, "version": 5})
    refused = _send(agent, wrong_base)
    assert not refused.ok and "holds 4" in refused.error and agent.gallery.version == 4


def test_open_door_pulses_and_records_an_audit_event(agent):
    command = OpenDoor(request_id=uuid.uuid4(), door="door-1", pulse_ms=1500, operator="op-7", reason="delivery")
    result = _send(agent, command)
    assert result.ok and result.opened
    relay, door = agent.relays["door-1"], agent.points["door-1"].controller
    assert relay.energised and _releases(relay) == 1, "the lock is released"
    door.tick(time.monotonic() + 1.4)
    assert relay.energised, "still released within the 1500 ms asked for"
    event = json.loads(agent.outbox.pending()[-1].payload)
    assert event["data"]["method"] == "remote" and event["data"]["credential_ref"] == "op-7"
    again = _send(agent, command)
    assert again == result and _releases(relay) == 1, "a redelivered command is not re-run"
    door.tick(time.monotonic() + 1.6)
    assert not relay.energised, "locked again after 1500 ms"


def test_a_remote_opening_delivered_late_is_refused(agent):
    command = OpenDoor(request_id=uuid.uuid4(), door="door-1", operator="op-7", reason="delivery")
    sent_long_ago = datetime.now(UTC) - timedelta(minutes=20)  # queued at the broker while the gate was offline
    payload = encode(build(command, site=SITE, device=DEVICE, seq=1, ts=sent_long_ago))
    result = agent.commands.handle(command_topic(SITE, DEVICE, "open-door"), payload)
    assert not result.ok and result.error.startswith("expired") and not result.opened
    assert _releases(agent.relays["door-1"]) == 0, "the lock stays shut"


def test_erase_person_reports_what_was_erased(agent):
    _send(
        agent,
        GallerySync(
            request_id=uuid.uuid4(),
            mode="full",
            base_version=0,
            version=1,
            upserts=[GalleryEntry(person_id="p1", template_id=f"t{i}", embedding=_embedding(i)) for i in range(2)],
        ),
    )
    _send(
        agent,
        AllowlistSync(
            request_id=uuid.uuid4(),
            mode="full",
            base_version=0,
            version=1,
            upserts=[_card("11", "p1", "c1"), _card("22", "p2", "c2")],
        ),
    )
    agent.gates["north"].card("11")
    result = _send(agent, ErasePerson(request_id=uuid.uuid4(), person_id="p1"))
    assert result.ok and result.person_id == "p1"
    assert (result.templates_erased, result.credentials_erased, result.records_erased) == (2, 1, 1)
    assert result.gallery_version == agent.gallery.version == 1, "the version stays the platform's"
    assert "p1" not in agent.gallery.person_ids and agent.allowlist.snapshot.lookup("card", "11") is None
    assert all(json.loads(i.payload)["data"].get("person_id") != "p1" for i in agent.outbox.pending())


def test_apply_retention_purges_queued_events_older_than_the_policy(agent):
    for card in ("11", "22", "33"):
        agent.gates["north"].card(card)
    assert agent.outbox.depth() == 3
    with sqlite3.connect(agent.outbox.path) as db:  # two decisions queued for ten days (gate offline meanwhile)
        db.execute("UPDATE outbox SET created = created - 10 * 86400 WHERE id IN (SELECT id FROM outbox LIMIT 2)")
    result = _send(agent, ApplyRetention(request_id=uuid.uuid4(), events_max_age_s=86400, snapshots_max_age_s=3600))
    assert result.ok and (result.events_purged, result.snapshots_purged) == (2, 0)
    assert agent.outbox.depth() == 1 and agent.outbox.max_age_s == 86400
    longer = _send(agent, ApplyRetention(request_id=uuid.uuid4(), events_max_age_s=30 * 86400, snapshots_max_age_s=60))
    assert longer.ok and longer.events_purged == 0 and agent.outbox.max_age_s == 86400, "a policy never lengthens"


def test_config_update_applied_or_refused_with_reason(agent):
    good = ConfigUpdate(request_id=uuid.uuid4(), version=2, config={"telemetry": {"interval_s": 7}})
    assert _send(agent, good).version == 2
    assert agent.config.telemetry.interval_s == 7 and agent.config_version == 2
    bad = ConfigUpdate(request_id=uuid.uuid4(), version=3, config={"outbox": {"max_events": -5}})
    refused = _send(agent, bad)
    assert not refused.ok and "outbox.max_events" in refused.error and refused.version == 2
    locked = ConfigUpdate(request_id=uuid.uuid4(), version=3, config={"device": "gate-9"})
    assert "cannot be changed remotely" in _send(agent, locked).error
    old = ConfigUpdate(request_id=uuid.uuid4(), version=2, config={"telemetry": {"interval_s": 9}})
    assert "greater than the running version 2" in _send(agent, old).error
    assert agent.config.telemetry.interval_s == 7 and agent.config_version == 2
    restarted = EdgeAgent(agent.base_config)
    assert restarted.config_version == 2 and restarted.config.telemetry.interval_s == 7, "accepted update persists"
    restarted.allowlist.close()
    restarted.outbox.close()


def _state(agent):
    return (
        agent.allowlist.version,
        len(agent.allowlist.snapshot),
        agent.gallery.version,
        len(agent.relays["door-1"].changes),
        agent.config_version,
        agent.outbox.depth(),
    )


def test_bad_commands_get_error_results_and_change_nothing(agent):
    before = _state(agent)
    open_door = OpenDoor(request_id=uuid.uuid4(), door="door-1", operator="op", reason="r")
    payload = encode(build(open_door, site=SITE, device=DEVICE, seq=1))
    cases = {
        "wrong device": _send(agent, open_door, device="gate-2"),
        "unknown door": _send(agent, open_door.model_copy(update={"request_id": uuid.uuid4(), "door": "door-9"})),
        "schema for another topic": _send(
            agent, open_door.model_copy(update={"request_id": uuid.uuid4()}), name="allowlist-sync"
        ),
        "unknown name": _send(agent, open_door.model_copy(update={"request_id": uuid.uuid4()}), name="reboot"),
    }
    request_id = uuid.uuid4()
    oversize = payload.replace(str(open_door.request_id).encode(), str(request_id).encode())
    oversize = oversize[:-1] + b', "pad": "' + b"x" * (1024 * 1024) + b'"}'
    cases["oversize"] = _send(agent, open_door, raw=oversize)
    broken_id = uuid.uuid4()
    cases["wrong types"] = _send(
        agent,
        open_door,
        raw=payload.replace(b'"pulse_ms":3000', b'"pulse_ms":"long"').replace(
            str(open_door.request_id).encode(), str(broken_id).encode()
        ),
    )
    for label, result in cases.items():
        assert result is not None and not result.ok and result.error, label
    assert "wrong_device" in cases["wrong device"].error
    assert "unknown_door" in cases["unknown door"].error
    assert "topic_mismatch" in cases["schema for another topic"].error
    assert "unknown_command" in cases["unknown name"].error
    assert "too_large" in cases["oversize"].error and cases["oversize"].request_id == request_id
    assert "invalid_data" in cases["wrong types"].error and cases["wrong types"].request_id == broken_id
    assert _send(agent, open_door, raw=b"not json at all") is None, "no request id: cannot be answered"
    assert _state(agent) == before, "nothing changed"
    assert agent.commands.stats.refused == 6 and agent.commands.stats.unanswerable == 1
