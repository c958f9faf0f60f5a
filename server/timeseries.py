"""Time series behind one small interface: the SQL table (embedded) or InfluxDB (production).

Points carry no personal identifiers: tag keys come from an allowlist enforced here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import Connection, Engine, delete, select

from server.metrics import Metrics
from server.storage.bulk import bulk_insert
from server.storage.models import TimeSeriesPoint
from server.timeseries_retention import (
    ensure_retention_v1,
    ensure_retention_v2,
    parse_duration,
    server_major_version,
)

log = logging.getLogger(__name__)

AGGREGATES = ("sum", "mean", "max", "min", "count")
ALLOWED_TAGS = frozenset({"site", "gate", "device", "kind", "method", "result", "direction", "camera", "alarm_type"})


class TimeSeriesError(RuntimeError):
    """The time-series store failed."""


@dataclass(frozen=True)
class Point:
    """A measurement at a time with allowlisted tags and numeric fields."""

    measurement: str
    ts: datetime
    tags: dict[str, str] = field(default_factory=dict)
    fields: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse tags outside the allowlist and naive timestamps."""
        unknown = set(self.tags) - ALLOWED_TAGS
        if unknown:
            raise ValueError(f"tag(s) {sorted(unknown)} not allowed in time series (allowed: {sorted(ALLOWED_TAGS)})")
        if self.ts.tzinfo is None:
            raise ValueError("time-series timestamps must be timezone-aware")
        if not self.fields:
            raise ValueError("a point needs at least one field")


class TimeSeriesStore(Protocol):
    """Where points go and how counts come back."""

    def write(self, points: Sequence[Point], connection: Connection | None = None) -> None:
        """Store points (inside the caller's transaction where the backend supports it)."""

    def count(self, measurement: str, since: datetime, until: datetime, tags: dict[str, str] | None = None) -> float:
        """Sum of the `value` field of a measurement in a time range, filtered by tags."""

    def aggregate(
        self,
        measurement: str,
        since: datetime,
        until: datetime,
        *,
        field: str = "value",
        fn: str = "sum",
        group_by: Sequence[str] = (),
        tags: dict[str, str] | None = None,
    ) -> dict[tuple[str, ...], float]:
        """One aggregate of a field per group of tag values (e.g. passages per gate by method and result)."""

    def ensure_retention(self, retention: str) -> str:
        """Apply a retention period such as '90d'; returns what was done."""

    def ping(self) -> bool:
        """Whether the store is reachable."""

    def close(self) -> None:
        """Flush and release resources."""


class SqlTimeSeries:
    """Embedded backend: one row per point in the platform's SQL database."""

    transactional = True

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self.engine = engine
        self.metrics = metrics

    def write(self, points: Sequence[Point], connection: Connection | None = None) -> None:
        """Insert points, in the caller's transaction if one is given."""
        if not points:
            return
        rows = [{"measurement": p.measurement, "ts": p.ts, "tags": p.tags, "fields": p.fields} for p in points]
        if connection is not None:
            bulk_insert(connection, TimeSeriesPoint.__table__, rows)
        else:
            with self.engine.begin() as own:
                bulk_insert(own, TimeSeriesPoint.__table__, rows)
        self.metrics.ts_points.inc(len(points))

    def count(self, measurement: str, since: datetime, until: datetime, tags: dict[str, str] | None = None) -> float:
        """Sum `value` over matching rows (tag filtering in Python keeps the query portable)."""
        query = select(TimeSeriesPoint.tags, TimeSeriesPoint.fields).where(
            TimeSeriesPoint.measurement == measurement, TimeSeriesPoint.ts >= since, TimeSeriesPoint.ts < until
        )
        wanted = tags or {}
        total = 0.0
        with self.engine.connect() as connection:
            for row_tags, row_fields in connection.execute(query):
                if all(row_tags.get(k) == v for k, v in wanted.items()):
                    total += float(row_fields.get("value", 0))
        return total

    def aggregate(
        self,
        measurement: str,
        since: datetime,
        until: datetime,
        *,
        field: str = "value",
        fn: str = "sum",
        group_by: Sequence[str] = (),
        tags: dict[str, str] | None = None,
    ) -> dict[tuple[str, ...], float]:
        """Aggregate in Python over the rows of the range (portable across SQLite and PostgreSQL)."""
        _check_query(fn, group_by, tags)
        query = select(TimeSeriesPoint.tags, TimeSeriesPoint.fields).where(
            TimeSeriesPoint.measurement == measurement, TimeSeriesPoint.ts >= since, TimeSeriesPoint.ts < until
        )
        wanted = tags or {}
        groups: dict[tuple[str, ...], list[float]] = {}
        with self.engine.connect() as connection:
            for row_tags, row_fields in connection.execute(query):
                if field in row_fields and all(row_tags.get(k) == v for k, v in wanted.items()):
                    key = tuple(str(row_tags.get(name, "")) for name in group_by)
                    groups.setdefault(key, []).append(float(row_fields[field]))
        return {key: _reduce(fn, values) for key, values in groups.items()}

    def ensure_retention(self, retention: str) -> str:
        """Delete points older than the retention period (call periodically: SQL has no expiry of its own)."""
        cutoff = datetime.now(UTC) - parse_duration(retention)
        with self.engine.begin() as connection:
            deleted = connection.execute(delete(TimeSeriesPoint).where(TimeSeriesPoint.ts < cutoff)).rowcount
        return f"pruned {deleted}"

    def ping(self) -> bool:
        """The SQL database is the store: reachable if a trivial query runs."""
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
            return True
        except Exception:  # noqa: BLE001 - any failure means unreachable
            return False

    def close(self) -> None:
        """Nothing to flush."""


class InfluxTimeSeries:
    """InfluxDB backend: batching writes through influxdb-client, InfluxQL reads over /query."""

    transactional = False

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        database: str,
        metrics: Metrics,
        batch_size: int = 5000,
        flush_interval_ms: int = 1000,
    ) -> None:
        from influxdb_client import InfluxDBClient, WriteOptions

        self.url, self.bucket, self.database, self.org = url.rstrip("/"), bucket, database, org
        self.metrics = metrics
        self.errors: list[str] = []
        self._token = token
        self._client = InfluxDBClient(url=self.url, token=token or "none", org=org)
        options = WriteOptions(
            batch_size=batch_size,
            flush_interval=flush_interval_ms,
            max_retries=5,
            retry_interval=500,
            max_retry_delay=10_000,
        )
        self._write_api = self._client.write_api(
            write_options=options,
            success_callback=self._on_success,
            error_callback=self._on_error,
            retry_callback=self._on_retry,
        )

    def _on_success(self, _conf: Any, data: Any) -> None:
        """Count points the server accepted."""
        self.metrics.ts_points.inc(_line_count(data))

    def _on_error(self, _conf: Any, data: Any, exception: Exception) -> None:
        """The batching writer never raises: log, count and keep the last errors for /readyz."""
        self.metrics.ts_write_errors.inc()
        status, body = getattr(exception, "status", None), getattr(exception, "body", None)
        if status is not None:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
            message = f"HTTP {status}: {text.strip()[:300]}"
        else:
            message = f"{type(exception).__name__}: {str(exception)[:300]}"
        self.errors = [*self.errors[-9:], message]
        log.error("InfluxDB write of %d points failed: %s", _line_count(data), message)

    def _on_retry(self, _conf: Any, _data: Any, exception: Exception) -> None:
        """Log retries so an outage is visible before it becomes an error."""
        log.warning("InfluxDB write retried: %s", exception)

    def write(self, points: Sequence[Point], connection: Connection | None = None) -> None:
        """Queue points for the batching writer (the SQL transaction is not involved)."""
        from influxdb_client import Point as InfluxPoint
        from influxdb_client import WritePrecision

        records = []
        for p in points:
            record = InfluxPoint(p.measurement).time(p.ts, WritePrecision.NS)
            for key, value in p.tags.items():
                record = record.tag(key, value)
            for key, value in p.fields.items():
                record = record.field(key, float(value))
            records.append(record)
        if records:
            self._write_api.write(bucket=self.bucket, org=self.org, record=records)

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run an InfluxQL query over /query and return its series."""
        try:
            response = httpx.get(
                f"{self.url}/query",
                params={"db": self.database, "q": influxql, "epoch": "ns"},
                headers=self._headers(),
                timeout=10,
            )
            response.raise_for_status()
        except httpx.HTTPError as err:
            raise TimeSeriesError(f"InfluxQL query failed: {err}") from err
        series: list[dict[str, Any]] = []
        for result in response.json().get("results", []):
            if "error" in result:
                raise TimeSeriesError(f"InfluxQL error: {result['error']}")
            series.extend(result.get("series", []))
        return series

    def count(self, measurement: str, since: datetime, until: datetime, tags: dict[str, str] | None = None) -> float:
        """Sum `value` of a measurement in a time range with tag filters, through InfluxQL."""
        conditions = [f"time >= '{_rfc3339(since)}'", f"time < '{_rfc3339(until)}'"]
        for key, value in (tags or {}).items():
            if key not in ALLOWED_TAGS:
                raise ValueError(f"tag {key!r} not allowed")
            conditions.append(f"\"{key}\" = '{_quote(value)}'")
        series = self.query(f'SELECT sum("value") FROM "{_quote(measurement)}" WHERE {" AND ".join(conditions)}')
        if not series or not series[0].get("values"):
            return 0.0
        return float(series[0]["values"][0][1] or 0.0)

    def aggregate(
        self,
        measurement: str,
        since: datetime,
        until: datetime,
        *,
        field: str = "value",
        fn: str = "sum",
        group_by: Sequence[str] = (),
        tags: dict[str, str] | None = None,
    ) -> dict[tuple[str, ...], float]:
        """One InfluxQL query: SELECT fn(field) ... GROUP BY the tags."""
        _check_query(fn, group_by, tags)
        conditions = [f"time >= '{_rfc3339(since)}'", f"time < '{_rfc3339(until)}'"]
        conditions += [f"\"{key}\" = '{_quote(value)}'" for key, value in (tags or {}).items()]
        statement = f'SELECT {fn}("{_quote(field)}") FROM "{_quote(measurement)}" WHERE {" AND ".join(conditions)}'
        if group_by:
            statement += " GROUP BY " + ", ".join(f'"{name}"' for name in group_by)
        result: dict[tuple[str, ...], float] = {}
        for series in self.query(statement):
            values = series.get("values") or []
            if values and values[0][1] is not None:
                series_tags = series.get("tags") or {}
                result[tuple(str(series_tags.get(name, "")) for name in group_by)] = float(values[0][1])
        return result

    def ensure_retention(self, retention: str) -> str:
        """Set the retention: a 1.x retention policy through InfluxQL, or the bucket's expiry rule on 2.x+."""
        period = parse_duration(retention)
        major = server_major_version(self.url, self._headers())
        if major == 1:
            database, _, policy = self.bucket.partition("/")
            return ensure_retention_v1(self.url, self._headers(), database, policy or "autogen", period)
        return ensure_retention_v2(self._client, self.org, self.bucket, self.database, period)

    def _headers(self) -> dict[str, str]:
        """Authorization header when a token is configured."""
        return {"Authorization": f"Token {self._token}"} if self._token else {}

    def flush(self) -> None:
        """Write what is batched now."""
        self._write_api.flush()

    def ping(self) -> bool:
        """Whether /ping answers (which does not prove /api/v2/write exists: see write errors)."""
        try:
            return httpx.get(f"{self.url}/ping", timeout=3).status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """Flush pending batches and close the client."""
        self._write_api.close()
        self._client.close()


def _check_query(fn: str, group_by: Sequence[str], tags: dict[str, str] | None) -> None:
    """Refuse unknown aggregates and tags outside the allowlist."""
    if fn not in AGGREGATES:
        raise ValueError(f"aggregate {fn!r} is not one of {AGGREGATES}")
    unknown = (set(group_by) | set(tags or {})) - ALLOWED_TAGS
    if unknown:
        raise ValueError(f"tag(s) {sorted(unknown)} not allowed in time series")


def _reduce(fn: str, values: list[float]) -> float:
    """Apply an aggregate to a non-empty list."""
    if fn == "sum":
        return sum(values)
    if fn == "mean":
        return sum(values) / len(values)
    if fn == "count":
        return float(len(values))
    return max(values) if fn == "max" else min(values)


def _line_count(data: Any) -> int:
    """Number of line-protocol lines in a batch the writer hands to its callbacks."""
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8", "replace")
    return len(str(data).strip().splitlines()) if data else 0


def _rfc3339(value: datetime) -> str:
    """An RFC 3339 UTC timestamp for InfluxQL."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quote(value: str) -> str:
    """Escape a value for an InfluxQL string literal or identifier."""
    return value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
