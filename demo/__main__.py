"""Run the embedded demo: mosquitto as a child process, the platform on SQLite with the web interface, and a
simulated community with two gates running the real edge agent (a face gate and a vehicle barrier)."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path

import psutil
import uvicorn

from demo.broker import BrokerUnavailable, Mosquitto
from demo.gates import REPO_ROOT, gate_config, go_live, start_agents, stop_agents, swipe_cards
from demo.photos import PhotoUnavailable, jpeg, resident_face, write_gate_photo
from demo.scenes import render_car_lane, render_lobby
from demo.world import UNKNOWN_CARDS, Api, DemoSetupError, build_world, wait_for_sync
from edge.config import ConfigError as EdgeConfigError
from protocol.stop_signal import StopSignal
from server.app import create_app
from server.config import ConfigError, ServerSettings, load_settings
from server.security.policy import Role
from server.services.accounts import ensure_user

log = logging.getLogger("demo")
USERS = ("admin", "manager", "resident")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--config", default=str(REPO_ROOT / "configs/server/embedded.yaml"), help="platform config")
    parser.add_argument("--var", default="var/demo", help="the demo's folder (emptied at every start)")
    parser.add_argument("--port", type=int, default=None, help="web and API port (default: from the config)")
    parser.add_argument("--swipe-interval", type=float, default=4.0, help="seconds between simulated card swipes")
    parser.add_argument("--run-for", type=float, default=None, help="stop after this many seconds")
    return parser.parse_args(argv)


def demo_settings(settings: ServerSettings, var: Path, broker_port: int, api_port: int | None) -> ServerSettings:
    """The embedded settings pointed at this run's SQLite file, broker and port, with a quick edge sync."""
    return settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"url": f"sqlite:///{var}/sc.db", "url_env": "SC_DEMO_DB"}),
            "broker": settings.broker.model_copy(update={"port": broker_port}),
            "api": settings.api.model_copy(update={"port": api_port or settings.api.port}),
            "sync": settings.sync.model_copy(update={"interval_s": 1.0, "resend_after_s": 10.0}),
            "security": settings.security.model_copy(
                update={"public_base_url": f"http://{settings.api.host}:{api_port or settings.api.port}"}
            ),
        }
    )


def passwords() -> dict[str, str]:
    """One password per demo login: SC_DEMO_PASSWORD for all of them, else random ones."""
    fixed = os.environ.get("SC_DEMO_PASSWORD")
    return {user: fixed or secrets.token_urlsafe(12) for user in USERS}


def banner(base: str, logins: dict[str, str], world, started: float) -> str:
    """What to open and how to log in."""
    lines = [
        "",
        f"Demo running (ready in {time.monotonic() - started:.1f} s). Web interface: {base}/ui/   API: {base}/docs",
        *(f"  {user} login: {user} / {password}" for user, password in logins.items()),
        "  lobby gate (face, card, QR): resident 王芳 Wang Fang walks up, then visitor 陈女士 Ms Chen shows her QR",
        f"    pass, every 15.5 s; card swipes: {', '.join(world.cards)} (residents) and unknown cards",
        "  car park barrier (plates), one car every 8 s:",
        *(f"    {car.plate}  {car.who}" for car in world.cars),
        *(f"  visitor pass link: {link}" for link in world.pass_links),
        f"  curl -s -d 'username=admin&password={logins['admin']}' {base}/api/v1/auth/token",
        "Press Ctrl+C to stop.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Start everything, print where to look, run until interrupted."""
    args = parse_args(argv)
    started = time.monotonic() - (time.time() - psutil.Process().create_time())  # count the imports too
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    var = Path(args.var).resolve()
    shutil.rmtree(var, ignore_errors=True)  # the API keys are random per run: old encrypted rows would be unreadable
    var.mkdir(parents=True)
    try:
        settings = load_settings(args.config)
        face = resident_face()
    except (ConfigError, PhotoUnavailable) as err:
        print(f"demo: {err}", file=sys.stderr)
        return 2
    try:
        broker = Mosquitto(var / "broker").start()
    except BrokerUnavailable as err:
        print(f"demo: cannot start the broker: {err}", file=sys.stderr)
        return 1
    settings = demo_settings(settings, var, broker.port, args.port)
    logins = passwords()
    app = create_app(settings)
    with app.state.services.engine.begin() as connection:
        ensure_user(connection, "demo", "admin", logins["admin"], Role.ADMIN)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.api.host, port=settings.api.port, log_level="warning"))
    api_thread = threading.Thread(target=server.run, name="api", daemon=True)
    api_thread.start()
    stop = threading.Event()
    agents = []
    try:
        while not server.started:
            if not api_thread.is_alive():
                raise DemoSetupError(
                    f"the API did not start on {settings.api.host}:{settings.api.port} (is the port in use? "
                    "choose another with: .venv/bin/python -m demo --port N)"
                )
            time.sleep(0.05)
        base = f"http://{settings.api.host}:{settings.api.port}"
        api = Api(base, "admin", logins["admin"])
        world = build_world(api, jpeg(face), logins)
        videos = var / "scenes"
        videos.mkdir()
        render_lobby(videos / "lobby.mp4", write_gate_photo(videos), world.walk_pass_token)
        render_car_lane(videos / "car-in.mp4", world.cars)
        configs = [
            gate_config("face", var, broker.port, videos / "lobby.mp4", world.pass_keys),
            gate_config("vehicle", var, broker.port, videos / "car-in.mp4", world.pass_keys),
        ]
        agents = start_agents(configs)
        if not wait_for_sync(api, world):
            log.warning("the gates have not confirmed their lists yet; they keep retrying")
        api.close()
        go_live(agents, configs)
        swiper = threading.Thread(
            target=swipe_cards,
            args=(agents[0], list(world.cards), UNKNOWN_CARDS, stop, args.swipe_interval),
            name="card-swipes",
            daemon=True,
        )
        swiper.start()
        stop_signal = StopSignal()  # from here on Ctrl+C and SIGTERM end the demo through the clean-up below
        print(banner(base, logins, world, started), flush=True)
        stop_signal.wait(args.run_for)
        return 0
    except (DemoSetupError, EdgeConfigError) as err:
        print(f"demo: set-up failed: {err}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        stop_agents(agents)
        server.should_exit = True
        api_thread.join(15)
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
