"""A small community with personal data of every class, old and new, for the privacy engine's tests."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, insert

from server.services.edge_lists import encrypt_vector
from server.storage.crypto import FieldCipher
from server.storage.enrolment import ConsentDetail, FaceTemplate
from server.storage.media import Snapshot
from server.storage.models import DeviceState, Event, RejectedMessage
from server.storage.people import Consent, Credential, Occupancy, Person, Vehicle, person_values, vehicle_values
from server.storage.registry import Building, Room, Site, Unit
from server.storage.sync import CredentialValue
from server.storage.visitors import VisitorPass

SITE = "north"
ALICE, BOB = "p-alice", "p-bob"
ALICE_ID = "11010519491231002X"
ALICE_PLATE = "皖A12345"
STRANGER_PLATE = "沪B67890"


def new_cipher() -> FieldCipher:
    """A cipher with fresh random keys."""
    return FieldCipher(os.urandom(32), os.urandom(32))


@dataclass
class PrivacyWorld:
    """What was seeded: ids, snapshot files, and the instant everything is measured from."""

    now: datetime
    snapshot_root: Path
    files: dict[str, Path] = field(default_factory=dict)
    event_ids: dict[str, uuid.UUID] = field(default_factory=dict)


def event_row(name: str, world: PrivacyWorld, kind: str, age_days: float, device: str = "gate-1", **columns) -> dict:
    """An events row `age_days` old."""
    event_id = uuid.uuid4()
    world.event_ids[name] = event_id
    ts = world.now - timedelta(days=age_days)
    data = {key: value for key, value in columns.items() if value is not None} | {"gate": "main"}
    return {
        "event_id": event_id,
        "schema_name": kind,
        "kind": kind,
        "site": SITE,
        "device": device,
        "seq": 1,
        "ts": ts,
        "received_at": ts,
        "gate": "main",
        "method": columns.get("method"),
        "result": columns.get("result"),
        "person_id": columns.get("person_id"),
        "plate": columns.get("plate"),
        "data": data,
    }


def snapshot_row(name: str, world: PrivacyWorld, event: str | None, age_days: float) -> dict:
    """A snapshot file written under the snapshot root, and its row."""
    path = world.snapshot_root / f"{name}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    content = b"\xff\xd8" + name.encode() + os.urandom(64)
    path.write_bytes(content)
    world.files[name] = path
    taken = world.now - timedelta(days=age_days)
    return {
        "event_id": world.event_ids[event] if event else None,
        "site": SITE,
        "gate": "main",
        "taken_at": taken,
        "path": path.name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "expires_at": taken + timedelta(days=365),
    }


def seed(connection: Connection, cipher: FieldCipher, snapshot_root: Path, now: datetime | None = None) -> PrivacyWorld:
    """Alice (resident, face consent, card, car), Bob (moved out 40 days ago, template), events of every class."""
    world = PrivacyWorld(now or datetime.now(UTC), snapshot_root)
    connection.execute(insert(Site).values(id=SITE, name="North"))
    building = connection.execute(insert(Building).values(site_id=SITE, code="1").returning(Building.id)).scalar_one()
    unit = connection.execute(insert(Unit).values(building_id=building, code="1").returning(Unit.id)).scalar_one()
    room = connection.execute(
        insert(Room).values(unit_id=unit, code="101", address="North 1-1-101").returning(Room.id)
    ).scalar_one()
    connection.execute(
        insert(Person).values(
            person_values(
                cipher,
                person_id=ALICE,
                site_id=SITE,
                kind="resident",
                name="Alice Wang",
                phone="13800138000",
                id_number=ALICE_ID,
            )
        )
    )
    connection.execute(
        insert(Person).values(person_values(cipher, person_id=BOB, site_id=SITE, kind="resident", name="Bob Li"))
    )
    connection.execute(
        insert(Occupancy),
        [
            {
                "person_id": ALICE,
                "room_id": room,
                "relation": "owner",
                "since": world.now - timedelta(days=900),
                "until": None,
            },
            {
                "person_id": BOB,
                "room_id": room,
                "relation": "tenant",
                "since": world.now - timedelta(days=400),
                "until": world.now - timedelta(days=40),
            },
        ],
    )
    connection.execute(
        insert(Vehicle).values(
            vehicle_values(site_id=SITE, plate=ALICE_PLATE, colour="blue", vehicle_type="car", owner_id=ALICE)
        )
    )
    credential = connection.execute(
        insert(Credential).values(ref="c-alice-card", person_id=ALICE, kind="card").returning(Credential.id)
    ).scalar_one()
    connection.execute(
        insert(CredentialValue).values(
            credential_id=credential, value_enc=cipher.encrypt("00112233", "credential_values.value")
        )
    )
    rng = np.random.default_rng(7)
    for index, person in enumerate((ALICE, BOB)):
        consent = connection.execute(
            insert(Consent).values(person_id=person, purpose="face", evidence="{}").returning(Consent.id)
        ).scalar_one()
        connection.execute(
            insert(ConsentDetail).values(
                consent_id=consent, given_by=person, notice_version="v1", channel="in_person", recorded_by="user:admin"
            )
        )
        connection.execute(
            insert(FaceTemplate).values(
                template_id=f"t-{index}",
                person_id=person,
                consent_id=consent,
                vector_enc=encrypt_vector(cipher, rng.normal(size=128)),
            )
        )
    connection.execute(
        insert(VisitorPass),
        [
            {
                "id": "vp-old",
                "site_id": SITE,
                "host_person_id": ALICE,
                "visitor_name": "Guest",
                "gates": {"all": True},
                "valid_from": world.now - timedelta(days=61),
                "valid_until": world.now - timedelta(days=60),
                "key_id": "k1",
                "created_by": "user:alice",
            },
            {
                "id": "vp-new",
                "site_id": SITE,
                "host_person_id": ALICE,
                "visitor_name": "Friend",
                "gates": {"all": True},
                "valid_from": world.now,
                "valid_until": world.now + timedelta(days=1),
                "key_id": "k1",
                "created_by": "user:alice",
            },
        ],
    )
    rows = [
        event_row("alice-old", world, "access", 120, person_id=ALICE, method="card", result="granted"),
        event_row("alice-new", world, "access", 2, person_id=ALICE, method="face", result="granted"),
        event_row("alice-car-old", world, "plate", 100, plate=ALICE_PLATE),
        event_row("alice-car-new", world, "plate", 1, plate=ALICE_PLATE),
        event_row("visitor-old", world, "access", 45, method="qr", result="granted"),
        event_row("visitor-new", world, "access", 3, method="qr", result="granted"),
        event_row("stranger-old", world, "plate", 40, plate=STRANGER_PLATE),
        event_row("stranger-new", world, "plate", 5, plate=STRANGER_PLATE),
        event_row("alarm-old", world, "alarm", 200),
        event_row("alarm-new", world, "alarm", 10),
        event_row("door-old", world, "door", 200),
        event_row("door-new", world, "door", 100),
        event_row("unknown-face-old", world, "access", 8, method="face", result="unknown", device="cam-street"),
        event_row("unknown-face-new", world, "access", 1, method="face", result="unknown", device="cam-street"),
    ]
    connection.execute(insert(Event), rows)
    connection.execute(
        insert(Snapshot),
        [
            snapshot_row("snap-old", world, "unknown-face-old", 8),
            snapshot_row("snap-new", world, "unknown-face-new", 1),
            snapshot_row("snap-alice", world, "alice-new", 2),
        ],
    )
    connection.execute(
        insert(RejectedMessage),
        [
            {
                "received_at": world.now - timedelta(days=age),
                "topic": "sc/v1/north/gate-1/event/access",
                "reason": "invalid",
                "detail": "bad",
                "payload_size": 3,
                "payload_head": "{}",
            }
            for age in (190, 20)
        ],
    )
    connection.execute(
        insert(DeviceState),
        [
            {"site": SITE, "device": device, "online": True, "last_seen": world.now, "gallery_version": version}
            for device, version in (("gate-1", 3), ("cam-street", 0))
        ],
    )
    return world
