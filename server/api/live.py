"""WebSocket /api/v1/live: new events and alerts as JSON messages, filtered by the caller's role and sites."""

from __future__ import annotations

import asyncio
import hmac
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from server.live import LiveHub, Principal

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["live"])


def websocket_principal(websocket: WebSocket) -> Principal | None:
    """The caller, from `Authorization: Bearer` or `?token=` (browsers cannot set headers on a WebSocket).

    Today only the admin token exists; role-bearing tokens plug in here without touching the fan-out.
    """
    header = websocket.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else websocket.query_params.get("token", "")
    expected = websocket.app.state.platform.settings.api.token()
    if not token or expected is None:
        return None
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return None
    return Principal(subject="admin", role="admin", sites=None)


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    """Stream live items until the client goes away; `?site=a&site=b` narrows the sites."""
    principal = websocket_principal(websocket)
    if principal is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid or missing token")
        return
    hub: LiveHub = websocket.app.state.live
    sites = websocket.query_params.getlist("site")
    await websocket.accept()
    subscription = hub.subscribe(principal, frozenset(sites) if sites else None)

    async def forward() -> None:
        """Send queued items as they come."""
        await websocket.send_json({"type": "hello", "role": principal.role})
        while True:
            await websocket.send_json(await subscription.queue.get())

    async def until_closed() -> None:
        """Read (and ignore) client messages until the client disconnects."""
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = {asyncio.create_task(forward()), asyncio.create_task(until_closed())}
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect):
                log.info("live subscriber %s dropped: %s", principal.subject, error.__class__.__name__)
    finally:
        hub.unsubscribe(subscription)
