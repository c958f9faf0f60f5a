"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Whether the database, the time-series store and (if ingesting) the broker are reachable."""
    platform = request.app.state.platform
    checks: dict[str, bool] = {}
    try:
        with platform.engine.connect() as connection:
            connection.execute(select(1))
        checks["database"] = True
    except Exception:  # noqa: BLE001 - any failure means not ready
        checks["database"] = False
    checks["timeseries"] = platform.timeseries.ping()
    if platform.ingest is not None:
        checks["broker"] = platform.ingest.connected.is_set()
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(request.app.state.platform.metrics.registry), media_type=CONTENT_TYPE_LATEST)
