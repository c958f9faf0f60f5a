"""The demo community, created through the platform's own API: site, gates, homes, residents, credentials,
a face enrolment under consent, vehicles, visitor passes, a watched plate, the gate devices and the logins."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from demo.scenes import CarVisit

log = logging.getLogger(__name__)
SITE = "demo"
FACE_GATE, VEHICLE_GATE = "lobby", "car-in"
FACE_DEVICE, VEHICLE_DEVICE = "face-gate-1", "vehicle-gate-1"
RESIDENT_PLATE, VISITOR_PLATE, WATCHED_PLATE, STRANGER_PLATE = "沪A12345", "苏E66666", "京N99999", "浙B77777"
UNKNOWN_CARDS = ("99990001", "99990002")


class DemoSetupError(RuntimeError):
    """The platform refused a step of the demo's set-up; the message names the call and the answer."""


@dataclass
class DemoWorld:
    """What the set-up created: ids the traffic and the printed guide refer to."""

    cards: dict[str, str] = field(default_factory=dict)  # card number -> person name
    face_person: str = ""
    device_ids: dict[str, int] = field(default_factory=dict)
    pass_links: list[str] = field(default_factory=list)
    walk_pass_token: str = ""
    pass_keys: dict[str, str] = field(default_factory=dict)
    cars: list[CarVisit] = field(default_factory=list)


class Api:
    """A logged-in client of the running platform that fails loudly on any refusal."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=60)
        token = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        self._check("POST /api/v1/auth/token", token)
        self.client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def post(self, path: str, **kwargs) -> dict:
        """POST to /api/v1 and return the JSON answer."""
        response = self.client.post(f"/api/v1{path}", **kwargs)
        self._check(f"POST /api/v1{path}", response)
        return response.json() if response.content else {}

    def get(self, path: str, **kwargs) -> dict:
        """GET from /api/v1."""
        response = self.client.get(f"/api/v1{path}", **kwargs)
        self._check(f"GET /api/v1{path}", response)
        return response.json()

    @staticmethod
    def _check(call: str, response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise DemoSetupError(f"{call}: HTTP {response.status_code}: {response.text[:400]}")

    def close(self) -> None:
        """Release the connection pool."""
        self.client.close()


def build_world(api: Api, face_jpeg: bytes, passwords: dict[str, str]) -> DemoWorld:
    """Create the whole community; `passwords` holds the manager's and the resident's."""
    world = DemoWorld()
    api.post("/sites", json={"id": SITE, "name": "演示小区 Demo community", "address": "Demo Road 1"})
    api.post("/gates", json={"site_id": SITE, "code": FACE_GATE, "name": "Lobby 大堂", "kind": "pedestrian"})
    api.post("/gates", json={"site_id": SITE, "code": VEHICLE_GATE, "name": "Car park 车库入口", "kind": "vehicle"})
    building = api.post("/buildings", json={"site_id": SITE, "code": "1", "name": "Building 1"})
    unit = api.post("/units", json={"building_id": building["id"], "code": "1"})
    rooms = [api.post("/rooms", json={"unit_id": unit["id"], "code": code, "floor": 1}) for code in ("101", "102")]
    people = [
        ("王芳 Wang Fang", "13800138001", rooms[0], "10000001"),
        ("李伟 Li Wei", "13800138002", rooms[1], "10000002"),
        ("张敏 Zhang Min", "13800138003", rooms[1], "10000003"),
    ]
    person_ids = []
    for name, phone, room, card in people:
        person = api.post("/persons", json={"site_id": SITE, "name": name, "phone": phone})
        api.post("/occupancies", json={"person_id": person["id"], "room_id": room["id"], "relation": "owner"})
        api.post("/credentials", json={"person_id": person["id"], "kind": "card", "value": card})
        world.cards[card] = name
        person_ids.append(person["id"])
    wang, li = person_ids[0], person_ids[1]
    consent = {
        "given_by": "王芳 Wang Fang",
        "notice_version": "demo-1",
        "channel": "in_person",
        "subject_birth_date": "1986-03-12",
    }
    api.post(f"/persons/{wang}/consents/face", json=consent)
    enrolled = api.post(f"/persons/{wang}/face", files=[("photos", ("wang-fang.jpg", face_jpeg, "image/jpeg"))])
    if enrolled.get("templates", 0) < 1:
        raise DemoSetupError(f"POST /api/v1/persons/{wang}/face: no template from the demo photo: {enrolled}")
    world.face_person = wang
    api.post("/vehicles", json={"site_id": SITE, "plate": RESIDENT_PLATE, "owner_id": li})
    now = datetime.now(UTC).replace(microsecond=0)
    window = {"valid_from": now.isoformat(), "valid_until": (now + timedelta(days=1)).isoformat()}
    car_pass = api.post(
        "/visitor-passes",
        json=window
        | {"visitor_name": "赵先生 Mr Zhao", "plate": VISITOR_PLATE, "host_person_id": wang, "single_use": False},
    )
    walk_pass = api.post(
        "/visitor-passes",
        json=window
        | {"visitor_name": "陈女士 Ms Chen", "host_person_id": li, "gates": [FACE_GATE], "single_use": False},
    )
    world.pass_links = [p["link"] for p in (car_pass, walk_pass) if p.get("link")]
    world.walk_pass_token = walk_pass["token"]
    api.post(
        "/watchlist",
        json={
            "site_id": SITE,
            "kind": "plate",
            "value": WATCHED_PLATE,
            "level": "critical",
            "reason": "demo: reported stolen",
        },
    )
    for code, gate in ((FACE_DEVICE, FACE_GATE), (VEHICLE_DEVICE, VEHICLE_GATE)):
        device = api.post("/devices", json={"site_id": SITE, "code": code, "gate": gate, "kind": "edge"})
        world.device_ids[code] = device["device_id"]
        world.pass_keys = device["pass_public_keys"]  # what a provisioned gate's bundle carries
    api.post(
        "/users", json={"username": "manager", "password": passwords["manager"], "role": "manager", "site_ids": [SITE]}
    )
    api.post(
        "/users",
        json={"username": "resident", "password": passwords["resident"], "role": "resident", "person_id": wang},
    )
    world.cars = [
        CarVisit(RESIDENT_PLATE, "resident Li Wei's car: granted"),
        CarVisit(WATCHED_PLATE, "watched plate: denied, alarm and alert"),
        CarVisit(VISITOR_PLATE, "visitor Mr Zhao's car (pass): granted"),
        CarVisit(STRANGER_PLATE, "unknown car: denied"),
    ]
    return world


def wait_for_sync(api: Api, world: DemoWorld, timeout_s: float = 30.0) -> bool:
    """Wait until both gates confirmed the allowlist (and the face gate its gallery); False on time-out."""
    import time

    for device_id in world.device_ids.values():
        api.post(f"/devices/{device_id}/resync")  # the agents are connected now: no need to wait for a resend
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = {code: api.get(f"/devices/{device_id}/sync") for code, device_id in world.device_ids.items()}
        lists_ok = all(state["allowlist"]["in_sync"] for state in states.values())
        gallery = states[FACE_DEVICE]["gallery"]
        if lists_ok and gallery["in_sync"] and gallery["current"] >= 1:
            return True
        time.sleep(0.5)
    return False
