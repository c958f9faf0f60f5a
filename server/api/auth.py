"""Who may call the API: one dependency every protected route uses."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False)


def require_admin(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
    """Allow only a caller presenting the configured admin token; no token configured means no access."""
    expected = request.app.state.platform.settings.api.token()
    if expected is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "API access is not configured (set the admin token)")
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or missing token", headers={"WWW-Authenticate": "Bearer"}
        )
    return "admin"
