"""docker-compose.yml is valid against the Compose specification, keeps secrets out of the repo, and its Grafana
provisioning parses and asks only for measurements, tags and fields the platform writes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from protocol import build
from protocol.device import Telemetry
from protocol.events import (
    AccessDecision,
    Alarm,
    AlarmType,
    Direction,
    DoorState,
    DoorStateName,
    Method,
    PlateColour,
    PlateRead,
    Result,
    Severity,
)
from server.ingest_rows import event_points, telemetry_point
from tests.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
GRAFANA = REPO_ROOT / "configs" / "grafana"
SECRET_WORDS = ("password", "token", "secret", "key")


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
    assert {"mosquitto", "postgres", "influxdb", "migrate", "api", "ingest", "retention", "grafana",
            "edge-simulator"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["influxdb"]["image"].startswith("influxdb:2.7")
    assert services["ingest"]["deploy"]["replicas"] >= 2
    assert "{hostname}" in services["ingest"]["environment"]["SC_INGEST__CLIENT_ID"], "one session per replica"
    assert services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_BUCKET"] == "sc"
    assert re.fullmatch(r"\d+d", services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_RETENTION"])
    assert "migrate" in " ".join(services["migrate"]["command"])
    for name in ("api", "ingest", "retention"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["api"]["environment"]["SC_PRIVACY__ENFORCE_INTERVAL_S"] == "0", "retention runs once, apart"
    assert "privacy" in services["retention"]["command"][-1] and "enforce" in services["retention"]["command"][-1]


def test_broker_runs_tls_with_passwords_and_an_acl_the_platform_writes():
    services = _compose()["services"]
    conf = (REPO_ROOT / "configs/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    settings = dict(line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#")
                    and len(line.split(None, 1)) == 2)
    assert settings["allow_anonymous"] == "false"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["mosquitto"]["volumes"]}
    api_env = services["api"]["environment"]
    assert Path(settings["password_file"]).parent == Path(api_env["SC_PROVISIONING__PASSWORD_FILE"]).parent
    assert settings["password_file"] == api_env["SC_PROVISIONING__PASSWORD_FILE"]
    assert settings["acl_file"] == api_env["SC_PROVISIONING__ACL_FILE"]
    auth_dir = str(Path(settings["password_file"]).parent)
    assert mounts[auth_dir] == "broker-auth", "the broker reads the files the platform writes"
    api_mounts = {v.split(":")[1]: v.split(":")[0] for v in services["api"]["volumes"]}
    assert api_mounts[auth_dir] == "broker-auth"
    tls_dir = str(Path(settings["certfile"]).parent)
    assert mounts[tls_dir] == "broker-tls" and Path(settings["keyfile"]).parent == Path(tls_dir)
    init = services["broker-init"]["command"][-1]
    for name in ("ca.crt", "server.crt", "server.key"):
        assert f"/tls/{name}" in init, name
    assert "listener 8883" in conf and services["mosquitto"]["ports"] == ["8883:8883"]
    assert "kill -HUP" in services["mosquitto"]["command"][-1], "the broker re-reads the files when they change"
    assert mounts["/mosquitto/config/mosquitto.conf"] == "./configs/mosquitto/mosquitto.conf"


def test_no_secret_values_in_the_compose_file():
    text = COMPOSE.read_text(encoding="utf-8").lower()
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key.lower() for word in SECRET_WORDS):
                assert str(value).startswith("/"), f"{name}.{key}: secrets come from deploy.env, only paths here"
    assert "change-me" not in text


GENERATED_AT_DEPLOY = {"./certs": "scripts/make-certs.sh"}


def test_bind_mounts_and_env_example_exist():
    document = _compose()
    for service in document["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in GENERATED_AT_DEPLOY:
                assert (REPO_ROOT / GENERATED_AT_DEPLOY[source]).is_file(), f"{source} has no generator"
            elif source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"{source} is mounted but missing"
            else:
                assert source in document["volumes"], f"named volume {source} is not declared"
    example = (REPO_ROOT / "deploy.env.example").read_text(encoding="utf-8")
    for variable in ("SC_DATABASE_URL", "POSTGRES_PASSWORD", "SC_INFLUX_TOKEN", "SC_MQTT_PASSWORD",
                     "GF_SECURITY_ADMIN_PASSWORD", "SC_JWT_KEY"):
        assert f"\n{variable}=" in example, variable
    ignored = (REPO_ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "deploy.env" in ignored and "certs" in ignored


def test_platform_commands_use_configs_that_load():
    from edge.config import load_config
    from server.config import load_settings

    services = _compose()["services"]
    for name in ("migrate", "api", "ingest", "retention"):
        command = " ".join(services[name]["command"])
        for config in re.findall(r"--config (\S+)", command):
            load_settings(REPO_ROOT / config)
    command = services["edge-simulator"]["command"]
    edge = load_config(REPO_ROOT / command[command.index("--config") + 1])
    assert edge.broker.tls and edge.broker.host == "mosquitto" and edge.broker.username.startswith("dev.")


def test_grafana_provisioning_parses_and_points_at_the_mounted_folders():
    services = _compose()["services"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"]}
    assert mounts["./configs/grafana/provisioning"] == "/etc/grafana/provisioning"
    [datasource] = yaml.safe_load((GRAFANA / "provisioning/datasources/influxdb.yaml").read_text())["datasources"]
    assert datasource["type"] == "influxdb" and datasource["url"] == "http://influxdb:8086"
    assert datasource["jsonData"]["version"] == "InfluxQL"
    assert datasource["jsonData"]["dbName"] == _compose()["services"]["influxdb"]["environment"][
        "DOCKER_INFLUXDB_INIT_BUCKET"]
    assert datasource["secureJsonData"]["httpHeaderValue1"] == "Token $SC_INFLUX_TOKEN", "token from the environment"
    [provider] = yaml.safe_load((GRAFANA / "provisioning/dashboards/smart-community.yaml").read_text())["providers"]
    assert mounts["./configs/grafana/dashboards"] == provider["options"]["path"]
    for dashboard in _dashboards():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
            assert panel["targets"], panel["title"]


def written_schema() -> dict[str, tuple[set[str], set[str]]]:
    """Measurement -> (tags, fields) of every point the ingest writes, from its own code on sample messages."""
    ts = datetime.now(UTC)
    bodies = [
        AccessDecision(gate="g", door="d", direction=Direction.IN, method=Method.FACE, result=Result.GRANTED,
                       reason="r", latency_ms=5.0),
        PlateRead(gate="g", direction=Direction.IN, plate="沪A12345", colour=PlateColour.BLUE, plate_type="ordinary",
                  validated=True, confidence=0.9),
        Alarm(alarm_type=AlarmType.DOOR_FORCED_OPEN, severity=Severity.CRITICAL, gate="g"),
        DoorState(door="d", state=DoorStateName.OPEN),
    ]
    points = [p for body in bodies for p in event_points(build(body, site="s", device="e", seq=1, ts=ts))]
    telemetry = Telemetry(uptime_s=1, cpu_percent=1, memory_bytes=1, outbox_depth=0, temperature_c=40,
                          recognition_p50_ms=1, recognition_p95_ms=2)
    points.append(telemetry_point(build(telemetry, site="s", device="e", seq=1, ts=ts)))
    schema: dict[str, tuple[set[str], set[str]]] = {}
    for point in points:
        tags, fields = schema.setdefault(point.measurement, (set(), set()))
        tags |= set(point.tags)
        fields |= set(point.fields)
    return schema


def _dashboards() -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted((GRAFANA / "dashboards").glob("*.json"))]


def dashboard_queries() -> list[str]:
    """Every InfluxQL query of the shipped dashboards (panels and template variables)."""
    queries = []
    for dashboard in _dashboards():
        queries += [target["query"] for panel in dashboard["panels"] for target in panel["targets"]]
        queries += [variable["query"] for variable in dashboard.get("templating", {}).get("list", [])]
    return queries


def query_names(query: str) -> tuple[str, set[str], set[str]]:
    """(measurement, tags, fields) an InfluxQL query names: quoted identifiers in SELECT are fields, the rest tags."""
    measurement = re.search(r'FROM "([^"]+)"', query).group(1)
    select = query.split(" FROM ", 1)[0]
    fields = set(re.findall(r'"([^"]+)"', select))
    rest = query.split(" FROM ", 1)[1].split(" ", 1)[1] if " " in query.split(" FROM ", 1)[1] else ""
    tags = set(re.findall(r'"([^"]+)"', rest)) | set(re.findall(r"WITH KEY = \"([^\"]+)\"", query))
    return measurement, tags, fields


def test_dashboard_queries_use_only_what_the_platform_writes():
    schema = written_schema()
    queries = dashboard_queries()
    assert len(queries) >= 10
    measurements_used = set()
    for query in queries:
        measurement, tags, fields = query_names(query)
        assert measurement in schema, f"{measurement} is never written: {query}"
        written_tags, written_fields = schema[measurement]
        assert tags <= written_tags, f"tags {tags - written_tags} are not written to {measurement}: {query}"
        assert fields <= written_fields, f"fields {fields - written_fields} are not in {measurement}: {query}"
        measurements_used.add(measurement)
    assert {"passages", "recognition_latency", "alarms", "device_telemetry"} <= measurements_used


def test_query_parser_catches_a_tag_the_platform_does_not_write():
    measurement, tags, fields = query_names(
        'SELECT sum("value") FROM "passages" WHERE "person_id" = \'x\' AND $timeFilter GROUP BY "gate"')
    assert (measurement, tags, fields) == ("passages", {"person_id", "gate"}, {"value"})
    assert not tags <= written_schema()["passages"][0]
