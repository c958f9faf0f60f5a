"""Dependencies every API route uses: the caller (JWT), the one authorisation check, a transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection
from sqlalchemy.exc import DataError

from server.security.policy import Principal, check_route
from server.security.tokens import TokenError, decode_access_token
from server.services.accounts import load_principal
from server.services.errors import ServiceError
from server.services.hooks import discard, run_after_commit

if TYPE_CHECKING:
    from server.services.container import Services

log = logging.getLogger(__name__)
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
UNAUTHORISED = {"WWW-Authenticate": "Bearer"}


def get_services(request: Request) -> Services:
    """The API's services (keys, sync, provisioning...)."""
    return request.app.state.services


def current_principal(request: Request, token: str | None = Depends(oauth2)) -> Principal:
    """The caller named by a valid access token, as the database knows them now; 401 otherwise."""
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=UNAUTHORISED)
    services = get_services(request)
    try:
        claims = decode_access_token(services.keys.jwt_key, token)
    except TokenError as err:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(err), headers=UNAUTHORISED) from err
    with services.engine.connect() as connection:
        principal = load_principal(connection, claims.user_id)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "user is disabled or gone", headers=UNAUTHORISED)
    return principal


def authorize(request: Request, principal: Principal = Depends(current_principal)) -> Principal:
    """The single route check: the route's rule in server.security.policy must name the caller's role."""
    route = request.scope.get("route")
    check_route(principal, request.method, getattr(route, "path", ""))
    return principal


def transaction(request: Request) -> Iterator[Connection]:
    """A connection in a transaction, committed when the route returns normally."""
    with get_services(request).engine.begin() as connection:
        try:
            yield connection
        except BaseException:
            discard(connection)
            raise
    run_after_commit(connection)


Caller = Annotated[Principal, Depends(authorize)]
# scope="function": commit (and run the after-commit actions) before the response is sent. In the default request
# scope FastAPI runs this exit code only after sending, so a client could be told 201 for a transaction that has
# not committed yet (or never will), and a read on another connection right after could miss the row.
Tx = Annotated[Connection, Depends(transaction, scope="function")]
ServicesDep = Annotated["Services", Depends(get_services)]


def install_error_handlers(app: FastAPI) -> None:
    """Map the services' errors to their HTTP status with the message as detail."""

    async def handle(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, ServiceError)
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    app.add_exception_handler(ServiceError, handle)

    async def out_of_range(_request: Request, err: Exception) -> JSONResponse:
        """A value the database cannot hold (an integer beyond 64 bits: sqlite3 raises OverflowError, PostgreSQL a
        data exception; a NUL in text on PostgreSQL) is the client's input, not a server failure."""
        log.info("request refused by the database as data: %s", type(err).__name__)
        return JSONResponse({"detail": "a value is out of range or not storable"}, status_code=422)

    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)
