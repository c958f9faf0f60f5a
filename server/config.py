"""The platform's root configuration: one validated model, loaded from YAML plus environment secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from protocol.broker import BrokerSettings
from server.police.settings import PoliceSettings
from server.privacy.settings import PrivacySettings
from server.security.settings import ProvisioningSettings, SecuritySettings, SyncSettings


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the field."""


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Strict):
    """Relational store."""

    url: str = Field(default="sqlite:///var/sc.db", description="SQLAlchemy URL (sqlite:/// or postgresql+psycopg://)")
    url_env: str = Field(default="SC_DATABASE_URL", description="Environment variable that overrides url")
    migrate_on_start: bool = Field(default=True, description="Run Alembic migrations to head at start")

    def resolved_url(self) -> str:
        """The URL from the environment if set, else from the file."""
        return os.environ.get(self.url_env) or self.url


class InfluxSettings(Strict):
    """InfluxDB time-series backend (writes through /api/v2/write, reads InfluxQL over /query)."""

    url: str = Field(default="http://127.0.0.1:8086", description="InfluxDB base URL")
    org: str = Field(default="sc", description="Organisation (ignored by 1.x)")
    bucket: str = Field(default="sc/autogen", description="Bucket; on 1.8 'database/retention-policy'")
    database: str = Field(default="sc", description="Database name for InfluxQL reads (DBRP mapping on 2.x)")
    token_env: str = Field(default="SC_INFLUX_TOKEN", description="Environment variable with the API token")
    batch_size: int = Field(default=5000, ge=1, description="Points per write batch")
    flush_interval_ms: int = Field(default=1000, ge=10, description="Longest wait before a batch is written")

    def token(self) -> str:
        """The token from the environment (empty for an unauthenticated 1.x)."""
        return os.environ.get(self.token_env, "")


class TimeSeriesSettings(Strict):
    """Which time-series backend stores counts and latencies (no personal identifiers either way)."""

    backend: Literal["sql", "influx"] = Field(default="sql", description="sql (embedded) or influx")
    influx: InfluxSettings = Field(default_factory=InfluxSettings, description="InfluxDB settings")


class IngestSettings(Strict):
    """The MQTT ingest worker."""

    enabled: bool = Field(default=True, description="Run an ingest worker inside this process")
    group: str = Field(default="ingest", description="Shared-subscription group name")
    client_id: str = Field(
        default="ingest-1",
        description="Stable MQTT client id, one per worker; '{hostname}' is replaced by the host name",
    )
    batch_size: int = Field(default=500, ge=1, le=10000, description="Most messages per database transaction")
    batch_linger_ms: int = Field(default=20, ge=0, le=5000, description="Wait for a batch to fill")
    retry_max_s: float = Field(default=10.0, gt=0, description="Longest back-off while the database is down")


class ApiSettings(Strict):
    """The HTTP API."""

    host: str = Field(default="127.0.0.1", description="Listen address")
    port: int = Field(default=8080, ge=0, le=65535, description="Listen port")


class ServerSettings(BaseSettings):
    """Root configuration of a platform process: YAML values, overridden by SC_SECTION__FIELD variables."""

    model_config = SettingsConfigDict(extra="forbid", env_prefix="SC_", env_nested_delimiter="__")

    site_name: str = Field(default="Smart community", description="Display name of this installation")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="Relational store")
    timeseries: TimeSeriesSettings = Field(default_factory=TimeSeriesSettings, description="Time-series store")
    broker: BrokerSettings = Field(default_factory=BrokerSettings, description="MQTT broker")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingest worker")
    api: ApiSettings = Field(default_factory=ApiSettings, description="HTTP API")
    security: SecuritySettings = Field(default_factory=SecuritySettings, description="API keys, tokens, logins")
    provisioning: ProvisioningSettings = Field(
        default_factory=ProvisioningSettings, description="Device broker credentials and config bundles"
    )
    sync: SyncSettings = Field(default_factory=SyncSettings, description="Gallery and allowlist sync to edges")
    police: PoliceSettings = Field(default_factory=PoliceSettings, description="Police link (off by default)")
    privacy: PrivacySettings = Field(
        default_factory=PrivacySettings, description="Retention per data class, erasure, audit anchoring"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment wins over the file, so one image serves every deployment."""
        return env_settings, init_settings


def load_settings(path: Path | str | None) -> ServerSettings:
    """Load and validate a YAML file (or defaults when None); errors name the file and the field."""
    if path is None:
        return ServerSettings()
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from err
    try:
        return ServerSettings(**document)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in err.errors())
        raise ConfigError(f"{path}: {problems}") from err
