"""WebSocket /api/v1/live: new events and alerts as JSON messages, filtered by the caller's role and sites."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from server.live import LiveHub, Principal
from server.security.policy import site_scope
from server.security.tokens import TokenError, decode_access_token
from server.services.accounts import load_principal

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["live"])


BEARER_SUBPROTOCOL = "sc.bearer"


def offered_bearer(websocket: WebSocket) -> str | None:
    """The token a browser offers as `Sec-WebSocket-Protocol: sc.bearer, <token>` (keeps it out of URLs and logs)."""
    offered = [item.strip() for item in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if len(offered) == 2 and offered[0] == BEARER_SUBPROTOCOL and offered[1]:
        return offered[1]
    return None


def websocket_principal(websocket: WebSocket) -> Principal | None:
    """The caller, from `Authorization: Bearer`, the `sc.bearer` subprotocol (browsers) or `?token=`.

    The token is an access token from /api/v1/auth/token; the role and sites are read from the database.
    """
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:]
    else:
        token = offered_bearer(websocket) or websocket.query_params.get("token", "")
    if not token:
        return None
    services = websocket.app.state.services
    try:
        claims = decode_access_token(services.keys.jwt_key, token)
    except TokenError:
        return None
    with services.engine.connect() as connection:
        caller = load_principal(connection, claims.user_id)
    if caller is None:
        return None
    return Principal(subject=caller.actor, role=caller.role.value, sites=site_scope(caller))


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    """Stream live items until the client goes away; `?site=a&site=b` narrows the sites."""
    principal = websocket_principal(websocket)
    if principal is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid or missing token")
        return
    hub: LiveHub = websocket.app.state.live
    sites = websocket.query_params.getlist("site")
    await websocket.accept(subprotocol=BEARER_SUBPROTOCOL if offered_bearer(websocket) else None)
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
