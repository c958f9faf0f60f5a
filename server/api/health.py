"""Liveness, readiness (broker, database, time-series store) and Prometheus metrics."""

from __future__ import annotations

import socket

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select

router = APIRouter(tags=["operations"])
PROBE_TIMEOUT_S = 2.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


def database_reachable(engine) -> bool:
    """Whether a trivial query runs."""
    try:
        with engine.connect() as connection:
            connection.execute(select(1))
        return True
    except Exception:  # noqa: BLE001 - any failure means not reachable
        return False


def broker_reachable(host: str, port: int) -> bool:
    """Whether the broker accepts TCP connections (used when this process runs no ingest worker)."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Whether the broker, the database and the time-series store are reachable (503 when any is not)."""
    platform = request.app.state.platform
    checks: dict[str, bool] = {"database": database_reachable(platform.engine), "timeseries": False}
    try:
        checks["timeseries"] = bool(platform.timeseries.ping())
    except Exception:  # noqa: BLE001 - a failing probe means not ready
        checks["timeseries"] = False
    if platform.ingest is not None:
        checks["broker"] = platform.ingest.connected.is_set()
    else:
        broker = platform.settings.broker
        checks["broker"] = broker_reachable(broker.host, broker.port)
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(request.app.state.platform.metrics.registry), media_type=CONTENT_TYPE_LATEST)
