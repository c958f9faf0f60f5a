"""Composition root of the platform: create_app(settings) wires stores, ingest and routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server.api import events, health, live
from server.config import ServerSettings
from server.live import LiveHub
from server.platform import Platform, build_platform


def create_app(settings: ServerSettings, platform: Platform | None = None) -> FastAPI:
    """Build the FastAPI application; the platform starts with the app and stops with it."""
    platform = platform or build_platform(settings)
    hub = LiveHub()
    if platform.ingest is not None:
        platform.ingest.listeners.append(hub.publish)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        platform.start()
        try:
            yield
        finally:
            hub.unbind()
            platform.stop()

    app = FastAPI(title="Smart-community security platform", version="0.1.0", lifespan=lifespan)
    app.state.platform = platform
    app.state.live = hub
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(live.router)
    return app
