"""Composition root of the platform: create_app(settings) wires stores, ingest, API services and routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server.api import (
    auth,
    dashboard,
    devices,
    enrolment,
    events,
    health,
    imports,
    live,
    people,
    registry,
    visitors,
    watchlists,
)
from server.api import police as police_api
from server.api import privacy as privacy_api
from server.api.deps import install_error_handlers
from server.config import ServerSettings
from server.live import LiveHub
from server.platform import Platform, build_platform
from server.police.runtime import build_police
from server.services.alerts import live_row
from server.services.container import Services, build_services
from server.web import install_web


def create_app(settings: ServerSettings, platform: Platform | None = None, services: Services | None = None) -> FastAPI:
    """Build the FastAPI application; the platform and the API services start with the app and stop with it."""
    platform = platform or build_platform(settings)
    services = services or build_services(settings, platform.engine)
    police = build_police(settings.police, platform.engine, services.keys.cipher)
    retention = privacy_api.build_worker(settings, platform, services)
    hub = LiveHub()
    if platform.ingest is not None:
        platform.ingest.listeners.append(hub.publish)
        platform.ingest.listeners.append(services.watchlist)
    services.alerts.subscribe(lambda alert: hub.publish(live_row(alert)))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        platform.start()
        services.start()
        police.start()
        retention.start()
        try:
            yield
        finally:
            retention.stop()
            police.stop()
            services.stop()
            hub.unbind()
            platform.stop()

    app = FastAPI(title="Smart-community security platform", version="0.1.0", lifespan=lifespan)
    app.state.platform = platform
    app.state.live = hub
    app.state.services = services
    app.state.police = police
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(live.router)
    for module in (auth, registry, people, devices, imports, enrolment, visitors, watchlists, events):
        for router in module.ROUTERS:
            app.include_router(router)
    for router in police_api.ROUTERS:
        app.include_router(router)
    for router in privacy_api.ROUTERS:
        app.include_router(router)
    for router in dashboard.ROUTERS:
        app.include_router(router)
    install_web(app)
    return app
