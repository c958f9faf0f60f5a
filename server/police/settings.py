"""The `police` config section: off by default; one section switches the link on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from server.storage.identity import IdentifierError, parse_gb28181_id

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Strict(BaseModel):
    """Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def _gb28181(value: str | None, field: str) -> str | None:
    """Validate a GB/T 28181 id segment by segment; the error names the field."""
    if value is None:
        return None
    try:
        parse_gb28181_id(value)
    except IdentifierError as err:
        raise ValueError(f"{field}: {err}") from err
    return value


class Subscription(_Strict):
    """What the police asked to be sent as it happens: watchlist hits or alarms, optionally narrowed."""

    name: str = Field(description="Stable name (a-z, 0-9, '-', '_'); recorded with every push")
    kind: Literal["watchlist_hit", "alarm"] = Field(description="watchlist_hit (alerts) or alarm (device alarms)")
    sites: list[str] = Field(default_factory=list, description="Sites covered; empty means every site")
    levels: list[Literal["info", "warning", "critical"]] = Field(
        default_factory=lambda: ["warning", "critical"], description="Alert levels / alarm severities sent"
    )
    alarm_types: list[str] = Field(default_factory=list, description="Alarm types sent (kind alarm); empty means all")
    police_entries_only: bool = Field(
        default=True, description="watchlist_hit: only hits on entries that came from the police watchlist"
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        """Names go into idempotency keys: keep them plain."""
        if not _NAME.match(value):
            raise ValueError("must be 1-64 of a-z, 0-9, '-', '_'")
        return value


class PushSettings(_Strict):
    """Outbound push of subscribed hits and alarms to the police endpoint (VIID style, over mutual TLS)."""

    enabled: bool = Field(default=False, description="Run the push worker in this process")
    subscriptions: list[Subscription] = Field(default_factory=list, description="What is pushed")
    interval_s: float = Field(default=2.0, gt=0, le=3600, description="How often new items are looked for and sent")
    batch: int = Field(default=50, ge=1, le=1000, description="Most items sent per round")
    retry_base_s: float = Field(default=2.0, gt=0, description="First back-off after a failed send")
    retry_max_s: float = Field(default=300.0, gt=0, description="Longest back-off between attempts")
    reject_after: int = Field(
        default=10, ge=1, description="Attempts refused with a 4xx before an item is parked as rejected (kept)"
    )
    lookback_s: float = Field(
        default=120.0, ge=0, description="Re-scan this far back each round so late-committed rows are not missed"
    )


class InboundWatchlistSettings(_Strict):
    """Pulling the police watchlist (GA/T 1400 dispositions) and applying it like any watchlist."""

    enabled: bool = Field(default=False, description="Pull the police watchlist on a schedule")
    path: str = Field(default="/VIID/Dispositions", description="Path on the endpoint that lists dispositions")
    interval_s: float = Field(default=300.0, gt=0, description="How often the watchlist is pulled")
    sites: list[str] = Field(default_factory=list, description="Sites the entries apply to; empty means every site")


class ExportSettings(_Strict):
    """Signing of exports (detached Ed25519 signatures)."""

    signing_key_env: str = Field(
        default="SC_POLICE_SIGNING_KEY", description="Environment variable with the Ed25519 export key (PKCS#8 PEM)"
    )
    key_id: str = Field(default="police-k1", max_length=64, description="Key id written beside every signature")
    key_required: bool = Field(
        default=False, description="Refuse to start without the key (production); otherwise a random key per run"
    )


class PoliceSettings(_Strict):
    """The police link. Off by default: police routes answer 404 and nothing is pushed or pulled."""

    enabled: bool = Field(default=False, description="Switch the police link on")
    platform_id: str | None = Field(
        default=None, description="This platform's GB/T 28181 20-digit id (VIID User-Identify and register id)"
    )
    endpoint_url: str | None = Field(default=None, description="Base URL of the police VIID endpoint (https://...)")
    client_cert: Path | None = Field(default=None, description="PEM client certificate presented to the endpoint")
    client_key: Path | None = Field(default=None, description="PEM private key of the client certificate")
    ca_file: Path | None = Field(default=None, description="PEM CA bundle that signs the endpoint's certificate")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Timeout of one request to the endpoint")
    keepalive_interval_s: float = Field(default=60.0, gt=0, description="Seconds between VIID keepalives")
    device_ids: dict[str, str] = Field(
        default_factory=dict,
        description="GB/T 28181 ids by 'site/device' for devices whose registry entry has none",
    )
    max_validity_days: int = Field(default=90, ge=1, le=366, description="Longest life of an approved authorisation")
    max_window_days: int = Field(default=366, ge=1, description="Longest time window an authorisation may cover")
    max_results: int = Field(default=1000, ge=1, le=100000, description="Most records one query returns")
    push: PushSettings = Field(default_factory=PushSettings, description="Outbound push")
    watchlist: InboundWatchlistSettings = Field(
        default_factory=InboundWatchlistSettings, description="Inbound police watchlist"
    )
    export: ExportSettings = Field(default_factory=ExportSettings, description="Signed exports")

    @field_validator("platform_id")
    @classmethod
    def _check_platform_id(cls, value: str | None) -> str | None:
        """The platform id is a GB/T 28181 id."""
        return _gb28181(value, "platform_id")

    @field_validator("device_ids")
    @classmethod
    def _check_device_ids(cls, value: dict[str, str]) -> dict[str, str]:
        """Every configured device id is a GB/T 28181 id, keyed by 'site/device'."""
        for key, device_id in value.items():
            if key.count("/") != 1:
                raise ValueError(f"device_ids.{key}: key must be 'site/device'")
            _gb28181(device_id, f"device_ids.{key}")
        return value

    @model_validator(mode="after")
    def _check_link(self) -> PoliceSettings:
        """Push or pull needs an https endpoint, client certificate, key, CA and platform id."""
        if not self.enabled or not (self.push.enabled or self.watchlist.enabled):
            return self
        missing = [
            name
            for name in ("endpoint_url", "client_cert", "client_key", "ca_file", "platform_id")
            if getattr(self, name) is None
        ]
        if missing:
            raise ValueError(f"{', '.join(missing)}: required when push or watchlist is enabled")
        if not str(self.endpoint_url).startswith("https://"):
            raise ValueError("endpoint_url: must be https:// (mutual TLS)")
        return self

    def link_ready(self) -> bool:
        """Whether the outbound link (push or pull) runs."""
        return self.enabled and (self.push.enabled or self.watchlist.enabled)
