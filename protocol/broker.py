"""How a process reaches the MQTT broker: settings and a configured paho client (no connection made)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field, model_validator


class BrokerSettings(BaseModel):
    """Broker address, TLS files and credentials (the password comes from the environment)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 for TLS)")
    username: str | None = Field(default=None, description="MQTT user name (one per device)")
    password_env: str = Field(default="SC_MQTT_PASSWORD", description="Environment variable with the password")
    tls: bool = Field(default=False, description="Use TLS")
    ca_file: Path | None = Field(default=None, description="CA certificate that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="Client certificate for mutual TLS")
    key_file: Path | None = Field(default=None, description="Client key for mutual TLS")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive")
    max_inflight: int = Field(default=200, ge=1, le=65535, description="QoS 1 messages in flight at once")

    @model_validator(mode="after")
    def _tls_files(self) -> BrokerSettings:
        """TLS needs a CA file; a client certificate needs its key."""
        if self.tls and self.ca_file is None:
            raise ValueError("tls is on but ca_file is not set")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    def password(self) -> str | None:
        """The password from the environment, if set."""
        return os.environ.get(self.password_env) or None


def make_client(
    settings: BrokerSettings, client_id: str, *, manual_ack: bool = False, clean_session: bool = True
) -> mqtt.Client:
    """A paho client configured for the broker (TLS, credentials, in-flight window); not yet connected.

    Consumers that must not lose messages across reconnects pass clean_session=False and a stable id.
    """
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=clean_session,
        manual_ack=manual_ack,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password())
    if settings.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file),
            certfile=str(settings.cert_file) if settings.cert_file else None,
            keyfile=str(settings.key_file) if settings.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.max_inflight_messages_set(settings.max_inflight)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
