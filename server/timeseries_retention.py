"""Retention of the InfluxDB time series: retention policies on 1.x (InfluxQL), bucket rules on 2.x+."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import httpx

log = logging.getLogger(__name__)

DURATION_PATTERN = re.compile(r"^(\d+)([hdw])$")
UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}


class RetentionError(RuntimeError):
    """Retention could not be read or set on the time-series store."""


def parse_duration(text: str) -> timedelta:
    """A retention duration such as '90d', '12w' or '48h' (at least one hour)."""
    match = DURATION_PATTERN.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise RetentionError(f"retention {text!r} is not a positive number of hours, days or weeks (e.g. 90d)")
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])


def influxql_duration(value: timedelta) -> str:
    """An InfluxQL duration literal in whole hours."""
    return f"{max(1, int(value.total_seconds() // 3600))}h"


def shard_duration(retention: timedelta) -> timedelta:
    """InfluxDB's own rule for a shard group duration fitting a retention period."""
    if retention < timedelta(days=2):
        return timedelta(hours=1)
    if retention <= timedelta(days=180):
        return timedelta(days=1)
    return timedelta(days=7)


def server_major_version(url: str, headers: dict[str, str]) -> int:
    """Major version: from /ping's X-Influxdb-Version, else /health, else 1 when there is no /api/v2 at all."""
    try:
        version = httpx.get(f"{url}/ping", headers=headers, timeout=5).headers.get("X-Influxdb-Version", "")
        if not version.lstrip("v")[:1].isdigit():
            health = httpx.get(f"{url}/health", headers=headers, timeout=5)
            version = str(health.json().get("version", "")) if health.status_code == 200 else ""
        if not version.lstrip("v")[:1].isdigit():
            buckets = httpx.get(f"{url}/api/v2/buckets", headers=headers, timeout=5)
            version = "1" if buckets.status_code == 404 else "2"
    except (httpx.HTTPError, ValueError) as err:
        raise RetentionError(f"InfluxDB at {url} is unreachable or not InfluxDB: {err}") from err
    return int(version.lstrip("v").split(".")[0])


def influxql(url: str, headers: dict[str, str], statement: str, database: str | None = None) -> list[dict[str, Any]]:
    """Run one InfluxQL statement over /query (POST, as management statements need) and return its series."""
    params = {"q": statement} | ({"db": database} if database else {})
    try:
        response = httpx.post(f"{url}/query", params=params, headers=headers, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as err:
        raise RetentionError(f"InfluxQL {statement.split(' ')[0]} failed: {err}") from err
    series: list[dict[str, Any]] = []
    for result in response.json().get("results", []):
        if "error" in result:
            raise RetentionError(f"InfluxQL error for {statement!r}: {result['error']}")
        series.extend(result.get("series", []))
    return series


def ensure_retention_v1(url: str, headers: dict[str, str], database: str, policy: str, retention: timedelta) -> str:
    """Create the database and create or alter its retention policy (made the default); returns the action."""
    name = policy.replace('"', "")
    db = database.replace('"', "")
    influxql(url, headers, f'CREATE DATABASE "{db}"')
    existing = influxql(url, headers, f'SHOW RETENTION POLICIES ON "{db}"')
    names = {row[0] for item in existing for row in item.get("values", [])}
    shard = influxql_duration(shard_duration(retention))
    spec = f"DURATION {influxql_duration(retention)} REPLICATION 1 SHARD DURATION {shard} DEFAULT"
    action = "ALTER" if name in names else "CREATE"
    influxql(url, headers, f'{action} RETENTION POLICY "{name}" ON "{db}" {spec}')
    log.info("InfluxDB 1.x retention policy %s.%s: %s to %s", db, name, action.lower(), retention)
    return action.lower()


def read_retention_v1(url: str, headers: dict[str, str], database: str, policy: str) -> timedelta | None:
    """The duration of a 1.x retention policy (None when the policy does not exist; zero means forever)."""
    for item in influxql(url, headers, f'SHOW RETENTION POLICIES ON "{database.replace(chr(34), "")}"'):
        columns = item.get("columns", [])
        for row in item.get("values", []):
            record = dict(zip(columns, row, strict=False))
            if record.get("name") == policy:
                return _go_duration(str(record.get("duration", "0s")))
    return None


def ensure_retention_v2(client: Any, org: str, bucket: str, database: str, retention: timedelta) -> str:
    """Create or update a 2.x bucket's expiry rule and map `database` to it for InfluxQL; returns the action."""
    from influxdb_client import BucketRetentionRules
    from influxdb_client.rest import ApiException

    rules = BucketRetentionRules(type="expire", every_seconds=int(retention.total_seconds()))
    buckets = client.buckets_api()
    try:
        found = buckets.find_bucket_by_name(bucket)
        if found is None:
            found = buckets.create_bucket(bucket_name=bucket, retention_rules=rules, org=org)
            action = "create"
        else:
            found.retention_rules = [rules]
            buckets.update_bucket(found)
            action = "alter"
        _ensure_dbrp(client, found, database)
    except ApiException as err:
        raise RetentionError(f"bucket {bucket!r}: {err.status} {err.reason}") from err
    log.info("InfluxDB bucket %s: %s retention to %s", bucket, action, retention)
    return action


def _ensure_dbrp(client: Any, bucket: Any, database: str) -> None:
    """Map an InfluxQL database name to the bucket (virtual DBRP mappings exist already on 2.x for the name)."""
    from influxdb_client import DBRPCreate
    from influxdb_client.service.dbr_ps_service import DBRPsService

    service = DBRPsService(client.api_client)
    existing = service.get_dbr_ps(org_id=bucket.org_id, bucket_id=bucket.id).content or []
    if any(mapping.database == database for mapping in existing):
        return
    service.post_dbrp(
        DBRPCreate(
            org_id=bucket.org_id, bucket_id=bucket.id, database=database, retention_policy="autogen", default=True
        )
    )


def _go_duration(text: str) -> timedelta:
    """Parse InfluxDB's Go duration strings such as '720h0m0s' or '0s'."""
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", text):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
    return timedelta(seconds=total)
