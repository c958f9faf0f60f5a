"""Logins: tokens, refresh rotation with re-use detection, lock-out, rate limit, audit, keys at start."""

from __future__ import annotations

import base64
import os

import jwt
import pytest
from sqlalchemy import select

from server.security.keys import MissingKeyError, load_keys
from server.security.settings import SecuritySettings
from server.storage.audit import AuditEntry, verify_chain
from tests.support.api_world import PASSWORD, api_settings, build_world


@pytest.fixture()
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_JWT_KEY", "k" * 40)
    app, world = build_world(api_settings(f"sqlite:///{tmp_path}/sc.db"))
    with world.client:
        yield app, world


def audit_actions(app, subject: str) -> list[str]:
    with app.state.services.engine.connect() as connection:
        rows = (
            connection.execute(select(AuditEntry.action).where(AuditEntry.subject == subject).order_by(AuditEntry.id))
            .scalars()
            .all()
        )
    return list(rows)


def test_login_gives_a_signed_short_lived_token_and_me(world):
    app, world = world
    response = world.client.post("/api/v1/auth/token", data={"username": "manager", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["access_token"], "k" * 40, algorithms=["HS256"], issuer="sc-platform")
    assert claims["role"] == "manager" and claims["exp"] - claims["iat"] == 900
    me = world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me == {
        "user_id": claims["sub"] and int(claims["sub"]),
        "username": "manager",
        "role": "manager",
        "site_ids": ["north"],
        "person_id": None,
    }
    forged = jwt.encode({**claims, "role": "admin"}, "another-key-of-enough-length-0123456789", algorithm="HS256")
    assert world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert audit_actions(app, "user:manager")[-1] == "login.ok"


def test_refresh_rotates_and_a_reused_token_revokes_the_family(world):
    app, world = world
    first = world.client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD}).json()
    second = world.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    # The spent token is presented again (stolen copy): refused, and the new one dies with its family.
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).status_code == 401
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert "token.reuse" in [a for a in audit_actions(app, f"user-id:{app_user_id(app, 'alice')}")]


def app_user_id(app, username: str) -> int:
    from server.storage.accounts import User

    with app.state.services.engine.connect() as connection:
        return connection.execute(select(User.id).where(User.username == username)).scalar_one()


def test_logout_revokes_the_refresh_token(world):
    _, world = world
    tokens = world.client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (
        world.client.post(
            "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=headers
        ).status_code
        == 204
    )
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_repeated_failures_lock_the_account_and_every_attempt_is_audited(world):
    app, world = world
    for _ in range(3):  # max_failed_logins is 3 in the test settings
        assert (
            world.client.post(
                "/api/v1/auth/token", data={"username": "police", "password": "wrong-password"}
            ).status_code
            == 401
        )
    locked = world.client.post("/api/v1/auth/token", data={"username": "police", "password": PASSWORD})
    assert locked.status_code == 401, "the right password is refused while locked"
    actions = audit_actions(app, "user:police")
    assert actions.count("login.failed") == 3 and "user.locked" in actions and actions[-1] == "login.refused"
    admin = world.login("admin")
    assert world.client.get("/api/v1/users", headers=admin).json()[3]["locked"] is True
    police_id = app_user_id(app, "police")
    assert world.client.post(f"/api/v1/users/{police_id}/unlock", headers=admin).status_code == 204
    world.login("police")
    with app.state.services.engine.connect() as connection:
        assert verify_chain(connection) is None


def test_login_attempts_are_rate_limited_per_user_and_client(tmp_path):
    _, world = build_world(
        api_settings(f"sqlite:///{tmp_path}/sc.db", security={"login_attempts_per_minute": 2, "max_failed_logins": 50})
    )
    with world.client:
        codes = [
            world.client.post(
                "/api/v1/auth/token", data={"username": "admin", "password": "nope-nope-nope"}
            ).status_code
            for _ in range(3)
        ]
        assert codes == [401, 401, 429]
        assert (
            world.client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 429
        )


def test_disabled_user_loses_access_at_once(world):
    app, world = world
    alice = world.login("alice")
    admin = world.login("admin")
    assert world.client.post(f"/api/v1/users/{app_user_id(app, 'alice')}/disable", headers=admin).status_code == 204
    assert world.client.get("/api/v1/auth/me", headers=alice).status_code == 401
    assert world.client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD}).status_code == 401


def test_manager_creates_residents_of_own_sites_only(world):
    _, world = world
    manager = world.login("manager")
    ok = world.client.post(
        "/api/v1/users",
        headers=manager,
        json={"username": "bob", "password": "bobs-long-password", "role": "resident", "person_id": "p-bob"},
    )
    assert ok.status_code == 201, ok.text
    for body in (
        {"username": "carol", "password": "x" * 12, "role": "resident", "person_id": "p-carol"},
        {"username": "boss", "password": "x" * 12, "role": "admin"},
    ):
        assert world.client.post("/api/v1/users", headers=manager, json=body).status_code == 403
    short = world.client.post(
        "/api/v1/users", headers=world.login("admin"), json={"username": "weak", "password": "short", "role": "police"}
    )
    assert short.status_code == 422


def test_keys_are_required_in_production_and_named_in_the_error(monkeypatch):
    for variable in ("SC_JWT_KEY", "SC_FIELD_KEY", "SC_LOOKUP_KEY", "SC_PASS_SIGNING_KEY"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(MissingKeyError, match="SC_JWT_KEY .*security.jwt_key_env"):
        load_keys(SecuritySettings(keys_required=True))
    monkeypatch.setenv("SC_JWT_KEY", "j" * 32)
    monkeypatch.setenv("SC_FIELD_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("SC_LOOKUP_KEY", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(MissingKeyError, match="SC_PASS_SIGNING_KEY"):
        load_keys(SecuritySettings(keys_required=True))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from server.security.pass_tokens import private_key_pem

    monkeypatch.setenv("SC_PASS_SIGNING_KEY", private_key_pem(Ed25519PrivateKey.generate()).replace("\n", "\\n"))
    keys = load_keys(SecuritySettings(keys_required=True))
    assert keys.jwt_key == b"j" * 32 and keys.pass_signer.key_id == "k1"
    monkeypatch.setenv("SC_JWT_KEY", "short")
    with pytest.raises(MissingKeyError, match="at least 32 bytes"):
        load_keys(SecuritySettings())


def test_cli_creates_the_first_admin(tmp_path, monkeypatch, capsys):
    from server.__main__ import main

    config = tmp_path / "server.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path}/cli.db\n  url_env: SC_TEST_UNSET_DATABASE_URL\n")
    monkeypatch.setenv("SC_TEST_ADMIN_PASSWORD", "first-admin-password")
    assert (
        main(
            [
                "--config",
                str(config),
                "create-user",
                "--username",
                "root",
                "--role",
                "admin",
                "--password-env",
                "SC_TEST_ADMIN_PASSWORD",
            ]
        )
        == 0
    )
    assert "created user root" in capsys.readouterr().out
    assert (
        main(
            [
                "--config",
                str(config),
                "create-user",
                "--username",
                "root",
                "--role",
                "admin",
                "--password-env",
                "SC_TEST_ADMIN_PASSWORD",
            ]
        )
        == 1
    )
    from server.services.accounts import authenticate
    from server.storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/cli.db")
    with engine.begin() as connection:
        assert authenticate(connection, SecuritySettings(), "root", "first-admin-password", "test") > 0
    engine.dispose()
