"""Config sections of the API's security, device provisioning and edge sync (part of ServerSettings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    """Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class SecuritySettings(_Strict):
    """Keys (named by environment variable, never stored in YAML), token lifetimes and login limits."""

    keys_required: bool = Field(
        default=False,
        description="Refuse to start when a key variable is missing (production); otherwise use a random key per run",
    )
    jwt_key_env: str = Field(default="SC_JWT_KEY", description="Environment variable with the JWT signing key")
    field_key_env: str = Field(default="SC_FIELD_KEY", description="Variable with the 32-byte field encryption key")
    lookup_key_env: str = Field(default="SC_LOOKUP_KEY", description="Variable with the 32-byte look-up hash key")
    pass_key_env: str = Field(
        default="SC_PASS_SIGNING_KEY", description="Variable with the Ed25519 visitor-pass signing key (PKCS#8 PEM)"
    )
    pass_key_id: str = Field(default="k1", max_length=64, description="Key id written into visitor passes")
    access_ttl_s: int = Field(default=900, ge=30, le=86400, description="Lifetime of an access token")
    refresh_ttl_s: int = Field(default=14 * 86400, ge=300, description="Lifetime of a refresh token")
    max_failed_logins: int = Field(default=5, ge=1, le=100, description="Failures in a row before the lock-out")
    lockout_s: int = Field(default=900, ge=1, description="How long an account stays locked")
    login_attempts_per_minute: int = Field(
        default=10, ge=1, description="Login attempts allowed per user name and client address per minute"
    )
    public_base_url: str = Field(default="http://127.0.0.1:8080", description="Base URL printed in visitor-pass links")


class ProvisioningSettings(_Strict):
    """How device broker credentials reach mosquitto, and what a device's config bundle points at."""

    password_file: Path | None = Field(default=None, description="mosquitto password_file the platform rewrites")
    acl_file: Path | None = Field(default=None, description="mosquitto acl_file the platform rewrites")
    reload: Literal["none", "pid_file", "command"] = Field(
        default="none", description="How the broker is told to re-read the files: SIGHUP via pid_file, or a command"
    )
    pid_file: Path | None = Field(default=None, description="mosquitto's pid_file (reload: pid_file)")
    reload_command: list[str] = Field(default_factory=list, description="Command to run (reload: command)")
    platform_users: list[str] = Field(
        default_factory=list, description="Broker users of the platform itself (ingest, API): read sc/v1/#, write cmd"
    )
    broker_host: str = Field(default="127.0.0.1", description="Broker address written into device bundles")
    broker_port: int = Field(default=1883, ge=1, le=65535, description="Broker port written into device bundles")
    broker_tls: bool = Field(default=False, description="Whether device bundles say to use TLS")


class SyncSettings(_Strict):
    """Pushing galleries and allowlists to the edges."""

    enabled: bool = Field(default=True, description="Run the sync reconciler in this process")
    interval_s: float = Field(default=5.0, gt=0, description="How often device versions are compared")
    resend_after_s: float = Field(default=60.0, gt=0, description="Wait this long for an answer before re-sending")
    chunk_templates: int = Field(default=300, ge=1, le=5000, description="Templates per gallery-sync message")
    chunk_entries: int = Field(
        default=1500, ge=1, le=2500, description="Entries per allowlist-sync message (2,000 PIN entries are 0.8 MiB)"
    )
