"""Every API route, called by every role: refused exactly when the route's rule does not name the role."""

from __future__ import annotations

import re

import pytest

from server.config import ServerSettings
from server.security.policy import PUBLIC_ROUTES, RULES, Role
from tests.support.api_world import USERNAMES, api_settings, build_world

CALLERS = ("anonymous", *USERNAMES)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One app and world for the whole matrix (calls that succeed may change it; only refusals are compared)."""
    path = tmp_path_factory.mktemp("matrix") / "sc.db"
    # Switch on every optional feature that has routes, so its routes face the role check too.
    optional = {"police": {"enabled": True}} if "police" in ServerSettings.model_fields else {}
    app, world = build_world(api_settings(f"sqlite:///{path}", **optional))
    with world.client:
        world.headers = {role: world.login(name) for role, name in USERNAMES.items()}
        world.headers["anonymous"] = {}
        yield app, world


def api_operations(app) -> list[tuple[str, str]]:
    """(METHOD, path template) of every HTTP route under /api/v1, from the app itself."""
    operations = []
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/v1/"):
            operations += [
                (method.upper(), path) for method in item if method in ("get", "post", "put", "patch", "delete")
            ]
    return sorted(operations)


def concrete(path: str, ids: dict) -> str:
    """Fill path parameters with ids of the world (the resident's own objects, the manager's site)."""
    values = {
        "site_id": "north",
        "person_id": "p-alice",
        "vehicle_id": ids["vehicle_id"],
        "user_id": ids["user_ids"]["spare"],
        "device_id": 999999,
        "credential_id": 999999,
        "pass_id": "vp-none",
        "entry_id": 999999,
        "alert_id": 999999,
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "999999")), path)


def test_every_route_has_a_rule(world):
    app, _ = world
    operations = api_operations(app)
    assert len(operations) >= 50
    missing = [op for op in operations if op not in RULES and op not in PUBLIC_ROUTES]
    assert missing == [], "routes without an access rule in server/security/policy.py"


@pytest.mark.parametrize("caller", CALLERS)
def test_each_role_is_refused_exactly_where_the_rule_says(world, caller):
    app, world = world
    wrong = []
    for method, path in api_operations(app):
        if (method, path) in PUBLIC_ROUTES:
            continue
        response = world.client.request(method, concrete(path, world.ids), headers=world.headers[caller], json={})
        allowed = caller != "anonymous" and Role(caller) in RULES.get((method, path), frozenset())
        if caller == "anonymous":
            expected_ok = response.status_code == 401
        elif allowed:
            expected_ok = response.status_code not in (401, 403)
        else:
            expected_ok = response.status_code == 403
        if not expected_ok:
            wrong.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
    assert wrong == [], f"{caller}: " + "\n".join(wrong)


def test_public_routes_need_their_own_proof(world):
    _, world = world
    assert world.client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"}).status_code == 401
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 40}).status_code == 401
    assert world.client.get("/api/v1/passes/qr.png", params={"token": "SCP1.forged.token"}).status_code == 422
