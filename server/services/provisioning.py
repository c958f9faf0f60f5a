"""Device provisioning: a device gets broker credentials, an ACL entry and a config bundle; revoking removes them."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from protocol.errors import TopicError
from protocol.topics import check_level, device_command_filter
from server.security.mosquitto_auth import (
    BrokerUser,
    device_topic_root,
    hash_password,
    render_acl_file,
    render_password_file,
    write_atomically,
)
from server.security.policy import Principal, require_site
from server.security.settings import ProvisioningSettings
from server.services.errors import Conflict, InvalidInput, NotFound, Unavailable
from server.storage.audit import append_audit
from server.storage.broker_accounts import BrokerAccount
from server.storage.registry import Device, Gate, Site

log = logging.getLogger(__name__)


class BrokerFiles:
    """Renders the password and ACL files from the broker_accounts table and tells mosquitto to re-read them."""

    def __init__(self, settings: ProvisioningSettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    @property
    def enabled(self) -> bool:
        """Whether this installation manages mosquitto's files."""
        return self.settings.password_file is not None and self.settings.acl_file is not None

    def apply(self) -> None:
        """Rewrite both files from the active accounts, then reload the broker."""
        if not self.enabled:
            log.info("provisioning.password_file/acl_file not set: broker files not managed")
            return
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(BrokerAccount).where(BrokerAccount.revoked_at.is_(None)).order_by(BrokerAccount.id)
            ).all()
        users = [BrokerUser(r.username, r.password_hash, r.kind, r.site_id, r.device_code) for r in rows]
        assert self.settings.password_file is not None and self.settings.acl_file is not None
        write_atomically(self.settings.password_file, render_password_file(users))
        write_atomically(self.settings.acl_file, render_acl_file(users, self.settings.platform_users))
        self.reload()

    def reload(self) -> None:
        """SIGHUP the broker (pid file) or run the configured command."""
        if self.settings.reload == "pid_file":
            if self.settings.pid_file is None:
                raise Unavailable("provisioning.pid_file is not set but reload is pid_file")
            if not self.settings.pid_file.exists():
                log.warning(
                    "provisioning.pid_file %s is absent: the broker reads the files when it starts",
                    self.settings.pid_file,
                )
                return
            try:
                pid = int(self.settings.pid_file.read_text().strip())
                os.kill(pid, signal.SIGHUP)
            except (OSError, ValueError) as err:
                raise Unavailable(
                    f"provisioning.pid_file {self.settings.pid_file}: cannot signal the broker: {err}"
                ) from err
        elif self.settings.reload == "command":
            result = subprocess.run(self.settings.reload_command, capture_output=True, text=True, timeout=30)
            if result.returncode != 0:
                raise Unavailable(f"provisioning.reload_command failed: {result.stderr.strip()[-300:]}")


def broker_username(site: str, code: str) -> str:
    """The broker user name of a device."""
    return f"dev.{site}.{code}"


def ensure_platform_account(connection: Connection, username: str, password: str) -> None:
    """Create or re-key a broker account for a platform service (ingest, API command client)."""
    digest = hash_password(password)
    existing = connection.execute(select(BrokerAccount.id).where(BrokerAccount.username == username)).scalar()
    if existing is None:
        connection.execute(insert(BrokerAccount).values(username=username, password_hash=digest, kind="platform"))
    else:
        connection.execute(
            update(BrokerAccount).where(BrokerAccount.id == existing).values(password_hash=digest, revoked_at=None)
        )
    append_audit(connection, "system", "broker.platform_account", f"broker:{username}")


def create_device(
    connection: Connection,
    caller: Principal,
    settings: ProvisioningSettings,
    pass_keys: dict[str, str],
    *,
    site_id: str,
    code: str,
    kind: str,
    name: str = "",
    gate: str | None = None,
    gb28181_id: str | None = None,
) -> dict[str, Any]:
    """Register a device with its own broker account; returns its config bundle (the password appears only here)."""
    require_site(caller, site_id)
    try:
        check_level(code, "code")
    except TopicError as err:
        raise InvalidInput(str(err)) from err
    if connection.execute(select(Site.id).where(Site.id == site_id)).first() is None:
        raise InvalidInput(f"site_id: unknown site {site_id}")
    gate_id = None
    if gate is not None:
        gate_id = connection.execute(select(Gate.id).where(Gate.site_id == site_id, Gate.code == gate)).scalar()
        if gate_id is None:
            raise InvalidInput(f"gate: unknown gate {gate} at site {site_id}")
    password = secrets.token_urlsafe(24)
    username = broker_username(site_id, code)
    try:
        with connection.begin_nested():
            device_id = connection.execute(
                insert(Device)
                .values(site_id=site_id, code=code, kind=kind, gate_id=gate_id, name=name, gb28181_id=gb28181_id)
                .returning(Device.id)
            ).scalar_one()
            connection.execute(
                insert(BrokerAccount).values(
                    username=username,
                    password_hash=hash_password(password),
                    kind="device",
                    device_id=device_id,
                    site_id=site_id,
                    device_code=code,
                )
            )
    except IntegrityError as err:
        raise Conflict(f"device {code} already exists at site {site_id}") from err
    append_audit(connection, caller.actor, "device.provision", f"device:{site_id}/{code}", {"kind": kind})
    return {
        "device_id": device_id,
        "site": site_id,
        "device": code,
        "gate": gate,
        "broker": {
            "host": settings.broker_host,
            "port": settings.broker_port,
            "tls": settings.broker_tls,
            "username": username,
            "password": password,
        },
        "topics": {
            "publish": device_topic_root(site_id, code) + "/#",
            "commands": device_command_filter(site_id, code),
        },
        "pass_public_keys": pass_keys,
    }


def revoke_device(connection: Connection, caller: Principal, device_id: int) -> None:
    """Revoke a device's broker account (the device row stays: events refer to it)."""
    device = connection.execute(select(Device).where(Device.id == device_id)).first()
    if device is None:
        raise NotFound(f"device {device_id}")
    require_site(caller, device.site_id)
    revoked = connection.execute(
        update(BrokerAccount)
        .where(BrokerAccount.device_id == device_id, BrokerAccount.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    ).rowcount
    if not revoked:
        raise Conflict(f"device {device.code} has no active credentials")
    append_audit(connection, caller.actor, "device.revoke", f"device:{device.site_id}/{device.code}")
