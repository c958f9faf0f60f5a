"""The VIID client: register, keepalive and POST objects to the police endpoint over mutual TLS (httpx)."""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any

import httpx

from server.police.settings import PoliceSettings

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/VIID+JSON;charset=UTF-8"
RETRYABLE_STATUS = frozenset({408, 425, 429})


class PoliceLinkError(RuntimeError):
    """The police endpoint cannot be reached or refused a request; `retryable` says whether to try again."""

    def __init__(self, message: str, retryable: bool = True, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable, self.status_code = retryable, status_code


def tls_context(settings: PoliceSettings) -> ssl.SSLContext:
    """A client TLS context: trust only the configured CA, present the client certificate."""
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_file))
        context.load_cert_chain(str(settings.client_cert), str(settings.client_key))
    except (OSError, ssl.SSLError) as err:
        raise PoliceLinkError(f"police.client_cert / client_key / ca_file: {err}", retryable=False) from err
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _status_code_of(body: Any) -> int | None:
    """The VIID StatusCode of a response body (0 means OK), if it has one."""
    if not isinstance(body, dict):
        return None
    single = body.get("ResponseStatusObject")
    if isinstance(single, dict):
        return int(single.get("StatusCode", 0))
    listed = body.get("ResponseStatusListObject", {})
    statuses = listed.get("ResponseStatusObject") if isinstance(listed, dict) else None
    if isinstance(statuses, list) and statuses:
        return max(int(s.get("StatusCode", 0)) for s in statuses if isinstance(s, dict))
    return None


class ViidClient:
    """One HTTPS client to the police endpoint, identified by the platform's GB/T 28181 id."""

    def __init__(self, settings: PoliceSettings) -> None:
        self.settings = settings
        self.platform_id = settings.platform_id or ""
        self._http = httpx.Client(
            base_url=str(settings.endpoint_url),
            verify=tls_context(settings),
            timeout=settings.timeout_s,
            headers={"User-Identify": self.platform_id, "Content-Type": CONTENT_TYPE},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Send one request; PoliceLinkError unless the answer is a 2xx (and a VIID StatusCode of 0)."""
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as err:
            raise PoliceLinkError(f"{method} {path}: {type(err).__name__}: {err}") from err
        if not 200 <= response.status_code < 300:
            retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUS
            raise PoliceLinkError(
                f"{method} {path}: HTTP {response.status_code}", retryable=retryable, status_code=response.status_code
            )
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = None
        code = _status_code_of(answer)
        if code not in (None, 0):
            raise PoliceLinkError(f"{method} {path}: VIID StatusCode {code}", status_code=response.status_code)
        return response.status_code, answer

    def register(self) -> None:
        """POST /VIID/System/Register."""
        self._request("POST", "/VIID/System/Register", {"RegisterObject": {"DeviceID": self.platform_id}})

    def keepalive(self) -> None:
        """POST /VIID/System/Keepalive."""
        self._request("POST", "/VIID/System/Keepalive", {"KeepaliveObject": {"DeviceID": self.platform_id}})

    def unregister(self) -> None:
        """POST /VIID/System/UnRegister."""
        self._request("POST", "/VIID/System/UnRegister", {"UnRegisterObject": {"DeviceID": self.platform_id}})

    def post_objects(self, resource: str, body: dict[str, Any], idempotency_key: str) -> int:
        """POST /VIID/{resource} with the item's idempotency key (the receiver drops a repeat); the 2xx status."""
        return self._request("POST", f"/VIID/{resource}", body, headers={"Idempotency-Key": idempotency_key})[0]

    def get(self, path: str) -> Any:
        """GET a JSON document (the police watchlist)."""
        return self._request("GET", path)[1]
