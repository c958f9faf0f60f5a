"""Run the embedded demo: mosquitto as a child process, the platform on SQLite, a simulated card gate."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

import uvicorn

from demo.broker import BrokerUnavailable, Mosquitto
from devices.card_reader import SimulatedCardReader
from devices.relay import SimulatedRelay
from edge.card_gate import CardGate
from edge.outbox import Outbox
from edge.publisher import EdgePublisher
from protocol.broker import BrokerSettings
from protocol.commands import AllowlistEntry, CredentialKind
from server.app import create_app
from server.config import ConfigError, load_settings
from server.security.policy import Role
from server.services.accounts import ensure_user

log = logging.getLogger("demo")
CARDS = {"10000001": "p-0001", "10000002": "p-0002", "10000003": "p-0003"}
UNKNOWN_CARDS = ["99990001", "99990002"]


def _allowlist() -> dict[tuple[str, str], AllowlistEntry]:
    """The demo residents' cards."""
    return {
        ("card", card): AllowlistEntry(
            kind=CredentialKind.CARD, value=card, person_id=person, credential_ref=f"c-{card[-4:]}"
        )
        for card, person in CARDS.items()
    }


def _swipe_forever(reader: SimulatedCardReader, stop: threading.Event, interval_s: float) -> None:
    """Present a resident's card (and now and then an unknown one) every few seconds."""
    chooser = random.Random(7)
    while not stop.wait(interval_s):
        reader.present(chooser.choice(list(CARDS) * 4 + UNKNOWN_CARDS))


def main(argv: list[str] | None = None) -> int:
    """Start everything, print where to look, run until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--config", default="configs/server/embedded.yaml", help="platform configuration")
    parser.add_argument("--var", default="var/demo", help="folder for the demo's database, broker and outbox")
    parser.add_argument("--port", type=int, default=None, help="API port (default: from the config)")
    parser.add_argument("--swipe-interval", type=float, default=3.0, help="seconds between simulated swipes")
    parser.add_argument("--run-for", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    var = Path(args.var).resolve()
    var.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    try:
        broker = Mosquitto(var / "broker").start()
    except BrokerUnavailable as err:
        print(f"cannot start the broker: {err}", file=sys.stderr)
        return 1
    password = os.environ.get("SC_DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    settings = settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"url": f"sqlite:///{var}/sc.db"}),
            "broker": settings.broker.model_copy(update={"port": broker.port}),
            "api": settings.api.model_copy(update={"port": args.port or settings.api.port}),
        }
    )
    app = create_app(settings)
    with app.state.services.engine.begin() as connection:
        ensure_user(connection, "demo", "admin", password, Role.ADMIN)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.api.host, port=settings.api.port, log_level="warning"))
    api_thread = threading.Thread(target=server.run, name="api", daemon=True)
    api_thread.start()

    publisher = EdgePublisher(
        BrokerSettings(port=broker.port),
        Outbox(var / "gate-north-outbox.db"),
        site="demo",
        device="gate-north",
        software="demo",
    )
    reader = SimulatedCardReader("reader-north")
    gate = CardGate("north", "door-north", reader, SimulatedRelay("door-north"), publisher, _allowlist())
    stop = threading.Event()
    swiper = threading.Thread(target=_swipe_forever, args=(reader, stop, args.swipe_interval), daemon=True)
    while not server.started and api_thread.is_alive():
        time.sleep(0.05)
    publisher.start()
    gate.start()
    reader.present(next(iter(CARDS)))
    swiper.start()

    base = f"http://{settings.api.host}:{settings.api.port}"
    print(
        f"\nDemo running. API: {base}/docs\n  admin login: admin / {password}\n"
        f"  TOKEN=$(curl -s -d 'username=admin&password={password}' {base}/api/v1/auth/token"
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f"  curl -H \"Authorization: Bearer $TOKEN\" {base}/api/v1/events\nPress Ctrl+C to stop.\n",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait(args.run_for)
    stop.set()
    gate.stop()
    publisher.stop()
    server.should_exit = True
    api_thread.join(10)
    broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
