"""docker-compose.yml is valid against the Compose specification and keeps secrets out of the repo."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_file_matches_the_compose_spec():
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker, "check-jsonschema is a dev dependency"
    result = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_the_production_services():
    services = _compose()["services"]
    assert {"mosquitto", "postgres", "influxdb", "migrate", "api", "ingest", "edge-simulator"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["influxdb"]["image"].startswith("influxdb:2.7")
    assert services["ingest"]["deploy"]["replicas"] >= 2


def test_no_secret_values_in_the_compose_file():
    text = COMPOSE.read_text(encoding="utf-8").lower()
    for service in _compose()["services"].values():
        for key in (service.get("environment") or {}):
            assert not any(word in key.lower() for word in ("password", "token", "secret")), key
    assert "change-me" not in text


GENERATED_AT_DEPLOY = {"./certs": "scripts/make-certs.sh"}


def test_bind_mounts_and_env_example_exist():
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in GENERATED_AT_DEPLOY:
                assert (REPO_ROOT / GENERATED_AT_DEPLOY[source]).is_file(), f"{source} has no generator"
            elif source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"{source} is mounted but missing"
    example = (REPO_ROOT / "deploy.env.example").read_text(encoding="utf-8")
    assert "SC_DATABASE_URL=" in example and "POSTGRES_PASSWORD=" in example


def test_platform_commands_use_a_config_that_loads():
    from server.config import load_settings

    for name in ("migrate", "api", "ingest"):
        command = _compose()["services"][name]["command"]
        config = command[command.index("--config") + 1]
        load_settings(REPO_ROOT / config)
