"""A small community for API tests: two sites, rooms, residents, users of every role, a device, a pass."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from server.app import create_app
from server.config import ServerSettings
from server.security.passwords import hash_password
from server.security.policy import Role
from server.storage.accounts import User, UserSite
from server.storage.people import Occupancy, Person, Vehicle, person_values, vehicle_values
from server.storage.registry import Building, Gate, Room, Site, Unit
from tests.support.ports import free_port

PASSWORD = "correct horse battery"
ALICE_ID_NUMBER = "11010519491231002X"
ROLES = ("admin", "manager", "resident", "police", "device")


def api_settings(database_url: str, broker_port: int | None = None, **sections) -> ServerSettings:
    """Platform settings for API tests: no ingest unless a broker is given, fast sync loop."""
    document = {
        "database": {"url": database_url, "url_env": "SC_TEST_UNSET_DATABASE_URL"},
        "broker": {"port": broker_port or free_port()},
        "ingest": {"enabled": broker_port is not None, "client_id": "ingest-api-test", "batch_linger_ms": 5},
        "sync": {"interval_s": 0.5, "resend_after_s": 5},
        "security": {"max_failed_logins": 3, "lockout_s": 60, "login_attempts_per_minute": 30},
        # not var/ of the working folder: each settings object gets an anchor file of its own
        "privacy": {"audit_anchor_file": str(Path(tempfile.mkdtemp(prefix="sc-anchor-")) / "anchor.json")},
    }
    for name, values in sections.items():
        document[name] = {**document.get(name, {}), **values}
    return ServerSettings.model_validate(document)


@dataclass
class World:
    """Ids of what the world holds, and a logged-in header per role."""

    client: TestClient
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, object] = field(default_factory=dict)

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """Bearer header of a fresh login."""
        response = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def populate(app) -> dict[str, object]:
    """Insert the world's rows directly (the API's own create paths are tested separately)."""
    services = app.state.services
    cipher = services.keys.cipher
    ids: dict[str, object] = {}
    with services.engine.begin() as connection:
        connection.execute(insert(Site), [{"id": "north", "name": "North"}, {"id": "south", "name": "South"}])
        connection.execute(
            insert(Gate),
            [
                {"site_id": "north", "code": "g1", "kind": "vehicle"},
                {"site_id": "south", "code": "g2", "kind": "pedestrian"},
            ],
        )
        building = connection.execute(insert(Building).values(site_id="north", code="1").returning(Building.id))
        building_id = building.scalar_one()
        unit_id = connection.execute(
            insert(Unit).values(building_id=building_id, code="1").returning(Unit.id)
        ).scalar_one()
        rooms = {
            code: connection.execute(insert(Room).values(unit_id=unit_id, code=code).returning(Room.id)).scalar_one()
            for code in ("101", "102")
        }
        south_building = connection.execute(insert(Building).values(site_id="south", code="9").returning(Building.id))
        ids.update(
            building_id=building_id,
            unit_id=unit_id,
            room_id=rooms["101"],
            south_building_id=south_building.scalar_one(),
        )
        people = [
            ("p-alice", "north", "Alice", "13800138000", ALICE_ID_NUMBER, rooms["101"]),
            ("p-dave", "north", "Dave", "13900139000", None, rooms["101"]),
            ("p-bob", "north", "Bob", "13700137000", None, rooms["102"]),
            ("p-carol", "south", "Carol", "13600136000", None, None),
        ]
        for person_id, site, name, phone, id_number, room in people:
            connection.execute(
                insert(Person).values(
                    **person_values(
                        cipher,
                        person_id=person_id,
                        site_id=site,
                        kind="resident",
                        name=name,
                        phone=phone,
                        id_number=id_number,
                    )
                )
            )
            if room is not None:
                connection.execute(insert(Occupancy).values(person_id=person_id, room_id=room, relation="owner"))
        ids["vehicle_id"] = connection.execute(
            insert(Vehicle)
            .values(
                **vehicle_values(
                    site_id="north", plate="京A12345", colour="blue", vehicle_type="car", owner_id="p-alice"
                )
            )
            .returning(Vehicle.id)
        ).scalar_one()
        ids["bob_vehicle_id"] = connection.execute(
            insert(Vehicle)
            .values(
                **vehicle_values(site_id="north", plate="京B54321", colour="blue", vehicle_type="car", owner_id="p-bob")
            )
            .returning(Vehicle.id)
        ).scalar_one()
        users = {
            key: _insert_user(connection, username, role, person, sites)
            for key, username, role, person, sites in (
                ("admin", "admin", Role.ADMIN, None, ()),
                ("manager", "manager", Role.MANAGER, None, ("north",)),
                ("resident", "alice", Role.RESIDENT, "p-alice", ()),
                ("police", "police", Role.POLICE, None, ()),
                ("device", "device", Role.DEVICE, None, ()),
                ("spare", "spare", Role.RESIDENT, "p-bob", ()),
            )
        }
        ids["user_ids"] = users
    return ids


@functools.cache
def _password_hash() -> str:
    """One argon2 hash of PASSWORD per test process (hashing costs ~0.3 s here)."""
    return hash_password(PASSWORD)


def _insert_user(connection, username: str, role: Role, person_id: str | None, sites: tuple[str, ...]) -> int:
    """A user row with the shared password (create_user itself is tested through the API and the CLI)."""
    user_id = connection.execute(
        insert(User)
        .values(username=username, password_hash=_password_hash(), role=role.value, person_id=person_id)
        .returning(User.id)
    )
    user_id = user_id.scalar_one()
    for site in sites:
        connection.execute(insert(UserSite).values(user_id=user_id, site_id=site))
    return user_id


USERNAMES = {"admin": "admin", "manager": "manager", "resident": "alice", "police": "police", "device": "device"}


def build_world(settings: ServerSettings) -> tuple[object, World]:
    """The app and a world; use `with world.client:` to run the app's lifespan."""
    app = create_app(settings)
    ids = populate(app)
    world = World(TestClient(app), ids=ids)
    return app, world


def pass_window(hours: int = 4) -> dict[str, str]:
    """A validity window starting now."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {"valid_from": now.isoformat(), "valid_until": (now + timedelta(hours=hours)).isoformat()}
