"""VIID push over mutual TLS to a local endpoint: client certificates enforced, outages survived, nothing twice."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import insert, select

from server.police.client import PoliceLinkError, ViidClient
from server.police.pushqueue import queue_status
from server.police.settings import PoliceSettings
from server.police.worker import PoliceLink
from server.services.alerts import AlertHub, WatchlistMonitor
from server.storage.audit import AuditEntry, verify_chain
from server.storage.db import make_engine, migrate
from server.storage.models import Event
from server.storage.police import PolicePushItem
from server.storage.registry import Device, Site
from server.storage.watchlists import WatchlistEntry
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
PLATFORM_ID = "11010500002000000001"
CAMERA_ID = "11010500001320000007"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool, usage=None, ip: str | None = None):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ip is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, cert, key) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA with a server (127.0.0.1) and a client certificate, plus a rogue CA's client certificate."""
    directory = tmp_path_factory.mktemp("pki")
    paths: dict[str, Path] = {}
    for ca_name in ("ca", "rogue-ca"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _issue(ca_name, ca_key, _name(ca_name), ca_key, ca=True)
        paths[ca_name], _ = _write(directory, ca_name, ca_cert, ca_key)
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _issue(
            f"{ca_name}-client", client_key, ca_cert.subject, ca_key, ca=False, usage=ExtendedKeyUsageOID.CLIENT_AUTH
        )
        paths[f"{ca_name}-client"], paths[f"{ca_name}-client-key"] = _write(
            directory, f"{ca_name}-client", client, client_key
        )
        if ca_name == "ca":
            server_key = ec.generate_private_key(ec.SECP256R1())
            server = _issue(
                "police-endpoint",
                server_key,
                ca_cert.subject,
                ca_key,
                ca=False,
                usage=ExtendedKeyUsageOID.SERVER_AUTH,
                ip="127.0.0.1",
            )
            paths["server"], paths["server-key"] = _write(directory, "server", server, server_key)
    return paths


class ViidEndpoint:
    """A VIID receiver on 127.0.0.1 that demands a client certificate from our CA and records what it gets."""

    def __init__(self, pki: dict[str, Path], port: int) -> None:
        self.pki, self.port = pki, port
        self.requests: list[dict] = []
        self.stored: dict[str, dict] = {}
        self.dispositions: list[dict] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ViidEndpoint:
        endpoint = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki["server"], self.pki["server-key"])
        context.load_verify_locations(self.pki["ca"])
        context.verify_mode = ssl.CERT_REQUIRED

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/VIID+JSON")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key")
                endpoint.requests.append(
                    {"path": self.path, "key": key, "body": body, "user": self.headers.get("User-Identify")}
                )
                if key:
                    endpoint.stored.setdefault(key, body)
                status = {"Id": "", "RequestURL": self.path, "StatusCode": 0, "StatusString": "OK"}
                self._answer({"ResponseStatusObject": status})

            def do_GET(self) -> None:  # noqa: N802
                endpoint.requests.append({"path": self.path, "key": None, "body": None})
                self._answer({"DispositionListObject": {"DispositionObject": endpoint.dispositions}})

            def log_message(self, *_args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def posts(self, prefix: str = "/VIID/") -> list[dict]:
        return [r for r in self.requests if r["path"].startswith(prefix) and r["key"]]


@pytest.fixture()
def endpoint(pki):
    server = ViidEndpoint(pki, free_port()).start()
    yield server
    server.stop()


def link_settings(pki: dict[str, Path], port: int, **push) -> PoliceSettings:
    return PoliceSettings.model_validate(
        {
            "enabled": True,
            "platform_id": PLATFORM_ID,
            "endpoint_url": f"https://127.0.0.1:{port}",
            "client_cert": str(pki["ca-client"]),
            "client_key": str(pki["ca-client-key"]),
            "ca_file": str(pki["ca"]),
            "timeout_s": 3,
            "push": {
                "enabled": True,
                "interval_s": 0.1,
                "retry_base_s": 0.05,
                "retry_max_s": 0.2,
                "subscriptions": [
                    {"name": "hits", "kind": "watchlist_hit"},
                    {"name": "alarms", "kind": "alarm", "levels": ["critical"]},
                ],
            }
            | push,
        }
    )


def test_client_certificate_is_required(pki, endpoint):
    settings = link_settings(pki, endpoint.port)
    good = ViidClient(settings)
    good.register()
    good.close()
    assert [r["path"] for r in endpoint.requests] == ["/VIID/System/Register"]
    assert endpoint.requests[0]["user"] == PLATFORM_ID

    rogue = settings.model_copy(
        update={"client_cert": pki["rogue-ca-client"], "client_key": pki["rogue-ca-client-key"]}
    )
    client = ViidClient(rogue)
    with pytest.raises(PoliceLinkError):
        client.register()
    client.close()

    context = ssl.create_default_context(cafile=str(pki["ca"]))
    with httpx.Client(verify=context, timeout=3) as anonymous, pytest.raises(httpx.HTTPError):
        anonymous.post(f"https://127.0.0.1:{endpoint.port}/VIID/System/Register", json={})
    with httpx.Client(verify=False, timeout=3) as plain, pytest.raises(httpx.HTTPError):
        plain.post(f"https://127.0.0.1:{endpoint.port}/VIID/System/Register", json={})
    assert len(endpoint.requests) == 1, "only the request with our CA's client certificate got through"


@pytest.fixture()
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/push.db")
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(insert(Site).values(id="north", name="North"))
        connection.execute(insert(Device).values(site_id="north", code="cam-1", kind="camera", gb28181_id=CAMERA_ID))
        connection.execute(
            insert(WatchlistEntry).values(
                site_id="north",
                kind="plate",
                value="京A12345",
                level="critical",
                reason="stolen",
                created_by="police:D-1",
            )
        )
        connection.execute(
            insert(WatchlistEntry).values(
                site_id="north",
                kind="plate",
                value="京M00001",
                level="critical",
                reason="local",
                created_by="user:manager",
            )
        )
    yield engine
    engine.dispose()


def ingest(engine, monitor: WatchlistMonitor, kind: str, **columns) -> str:
    """Store an event as ingest does and hand it to the real watchlist monitor."""
    now = datetime.now(UTC)
    row = {
        "event_id": uuid.uuid4(),
        "schema_name": kind,
        "kind": kind,
        "site": "north",
        "device": "cam-1",
        "seq": 1,
        "ts": now,
        "received_at": now,
        "gate": "g1",
        "method": None,
        "result": None,
        "person_id": None,
        "plate": None,
        "data": {},
    } | columns
    with engine.begin() as connection:
        connection.execute(insert(Event).values(**row))
    monitor(row)
    return str(row["event_id"])


def run_until(link: PoliceLink, engine, predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        link.run_once()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached: {queue_status(engine)}")


def test_outage_queues_and_delivers_everything_once(pki, engine):
    port = free_port()
    server = ViidEndpoint(pki, port).start()
    monitor = WatchlistMonitor(engine, AlertHub())
    link = PoliceLink(engine, link_settings(pki, port))
    try:
        link.run_once()  # first round: registers, starts the cursors at now
        first = ingest(engine, monitor, "plate", plate="京A12345", data={"colour": "blue"})
        ingest(engine, monitor, "plate", plate="京M00001", data={"colour": "blue"})  # not a police entry
        ingest(engine, monitor, "alarm", data={"alarm_type": "tamper", "severity": "warning"})  # not subscribed
        run_until(link, engine, lambda: len(server.posts()) == 1)
        vehicle = server.posts()[0]["body"]["MotorVehicleListObject"]["MotorVehicleObject"][0]
        assert server.posts()[0]["path"] == "/VIID/MotorVehicles"
        assert vehicle["PlateNo"] == "京A12345" and vehicle["PlateColor"] == "5" and vehicle["DeviceID"] == CAMERA_ID
        assert vehicle["SCEventID"] == first and len(vehicle["MotorVehicleID"]) == 48

        server.stop()
        during = [ingest(engine, monitor, "plate", plate="京A12345", data={"colour": "blue"}) for _ in range(3)]
        during.append(ingest(engine, monitor, "alarm", data={"alarm_type": "door_forced_open", "severity": "critical"}))
        for _ in range(5):
            link.run_once()
            time.sleep(0.1)
        status = queue_status(engine)
        assert status["pending"] == 4 and status["delivered"] == 1, status
        assert not link.stats.registered
        with engine.connect() as connection:
            errors = connection.execute(select(PolicePushItem.last_error).where(PolicePushItem.status == "pending"))
            assert any("ConnectError" in error for error in errors.scalars()), "the failed attempt is recorded"

        server = ViidEndpoint(pki, port).start()
        run_until(link, engine, lambda: queue_status(engine)["pending"] == 0)
        for _ in range(5):  # later rounds re-scan the look-back window; nothing is queued or sent again
            link.run_once()
        keys = [r["key"] for r in server.posts()]
        assert len(keys) == len(set(keys)) == 4
        assert "/VIID/System/Register" in [r["path"] for r in server.requests]
        sent_events = {
            obj["SCEventID"]
            for r in server.posts()
            for wrapper in r["body"].values()
            for objects in wrapper.values()
            for obj in objects
        }
        assert sent_events == set(during)
        notices = [r for r in server.posts() if r["path"] == "/VIID/DispositionNotifications"]
        assert notices[0]["body"]["DispositionNotificationListObject"]["DispositionNotificationObject"][0]["Title"] == (
            "door_forced_open"
        )
        with engine.connect() as connection:
            pushes = connection.execute(select(AuditEntry).where(AuditEntry.action == "police.push")).all()
            assert len(pushes) == 5
            assert {p.detail["subscription"] for p in pushes} == {"hits", "alarms"}
            assert all(p.detail["object_id"] and p.detail["status_code"] == 200 for p in pushes)
            assert verify_chain(connection) is None
    finally:
        link.stop()
        server.stop()


def test_police_watchlist_is_pulled_and_applied(pki, engine, endpoint):
    settings = link_settings(pki, endpoint.port).model_copy(
        update={"watchlist": PoliceSettings().watchlist.model_copy(update={"enabled": True, "interval_s": 0.01})}
    )
    endpoint.dispositions = [
        {
            "DispositionID": "D-2",
            "DispositionCategory": "2",
            "PlateNo": "沪B 67890",
            "PriorityLevel": "1",
            "Title": "wanted vehicle",
        },
        {"DispositionID": "D-3", "DispositionCategory": "2", "PlateNo": "沪C11111", "EndTime": "20000101000000"},
    ]
    link = PoliceLink(engine, settings)
    try:
        link.run_once()

        def police_entries():
            with engine.connect() as connection:
                query = select(WatchlistEntry.value, WatchlistEntry.level, WatchlistEntry.created_by).where(
                    WatchlistEntry.created_by.startswith("police:"), WatchlistEntry.removed_at.is_(None)
                )
                return sorted(connection.execute(query).all())

        assert police_entries() == [("沪B67890", "critical", "police:D-2")], "D-1 withdrawn, D-3 ended"
        monitor = WatchlistMonitor(engine, AlertHub())
        ingest(engine, monitor, "plate", plate="沪B67890", data={"colour": "blue"})
        run_until(link, engine, lambda: any(r["path"] == "/VIID/MotorVehicles" for r in endpoint.requests))
        with engine.connect() as connection:
            applied = (
                connection.execute(select(AuditEntry.detail).where(AuditEntry.action == "police.watchlist.applied"))
                .scalars()
                .first()
            )
        assert applied["added"] == 1 and applied["removed"] == 1
    finally:
        link.stop()
