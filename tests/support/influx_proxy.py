"""Test-only proxy giving InfluxDB 1.6 the /api/v2/write endpoint that 1.8+ serves natively.

It maps `/api/v2/write?bucket=db/rp&precision=ns` to 1.x's `/write?db=db&rp=rp&precision=n` and passes
every other request (`/query`, `/ping`) through unchanged, so the real influxdb-client writer runs
against a real engine.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.ports import free_port

PRECISION = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}


class InfluxV2WriteProxy:
    """A small HTTP server on 127.0.0.1 in front of an InfluxDB 1.x."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self.writes = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                """Stay quiet in test output."""

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                """Pass reads through."""
                self._forward("GET", self.path, None)

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                """Translate v2 writes; pass other posts through."""
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/api/v2/write":
                    self._forward("POST", self.path, body)
                    return
                params = urllib.parse.parse_qs(url.query)
                bucket = params.get("bucket", [""])[0]
                database, _, policy = bucket.partition("/")
                if not database:
                    self._reply(400, b'{"code":"invalid","message":"bucket is required"}')
                    return
                query = {"db": database, "precision": PRECISION.get(params.get("precision", ["ns"])[0], "n")}
                if policy:
                    query["rp"] = policy
                proxy.writes += 1
                self._forward("POST", "/write?" + urllib.parse.urlencode(query), body)

            def _forward(self, method: str, path: str, body: bytes | None) -> None:
                """Send the request upstream and copy the answer back."""
                request = urllib.request.Request(proxy.upstream + path, data=body, method=method)
                for header in ("Content-Type", "Content-Encoding", "Authorization"):
                    if self.headers.get(header):
                        request.add_header(header, self.headers[header])
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._reply(response.status, response.read(), response.headers.get("Content-Type"))
                except urllib.error.HTTPError as err:
                    self._reply(err.code, err.read(), err.headers.get("Content-Type"))

            def _reply(self, status: int, payload: bytes, content_type: str | None = "application/json") -> None:
                """Write a response."""
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="influx-proxy", daemon=True)

    @property
    def url(self) -> str:
        """Base URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> InfluxV2WriteProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        self._server.shutdown()
        self._server.server_close()
