"""Command line of the platform: run the API (with an ingest worker), a standalone ingest worker, or migrate."""

from __future__ import annotations

import argparse
import logging
import sys

from protocol.stop_signal import StopSignal
from server.cli_admin import COMMANDS as ADMIN_COMMANDS
from server.cli_admin import main as admin_main
from server.config import ConfigError, ServerSettings, load_settings

log = logging.getLogger("server")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen command."""
    argv = sys.argv[1:] if argv is None else argv
    if "privacy" in argv:
        from server.privacy.cli import main as privacy_main

        return privacy_main(argv, load_settings)
    if any(word in ADMIN_COMMANDS for word in argv):
        try:
            return admin_main(argv, load_settings)
        except ConfigError as err:
            print(f"configuration error: {err}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--config", help="YAML configuration file (defaults apply when omitted)")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate", "ingest"])
    parser.add_argument("--client-id", help="ingest: MQTT client id of this worker (stable and unique per worker)")
    parser.add_argument("--metrics-port", type=int, default=0, help="ingest: serve Prometheus metrics on this port")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="ingest: address for the metrics port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        from server.storage.db import make_engine, migrate

        migrate(make_engine(settings.database.resolved_url()))
        return 0
    if args.command == "ingest":
        return run_ingest(settings, args.client_id, args.metrics_host, args.metrics_port)
    import uvicorn

    from server.app import create_app

    uvicorn.run(create_app(settings), host=settings.api.host, port=settings.api.port, log_level="info")
    return 0


def run_ingest(settings: ServerSettings, client_id: str | None, metrics_host: str, metrics_port: int) -> int:
    """Run one ingest worker until SIGTERM or SIGINT; workers scale out on the shared subscription."""
    from server.ingest import IngestWorker
    from server.metrics import Metrics
    from server.platform import make_timeseries
    from server.storage.db import make_engine, migrate

    ingest = settings.ingest.model_copy(update={"client_id": client_id}) if client_id else settings.ingest
    engine = make_engine(settings.database.resolved_url())
    if settings.database.migrate_on_start:
        migrate(engine)
    metrics = Metrics()
    timeseries = make_timeseries(settings, engine, metrics)
    worker = IngestWorker(ingest, settings.broker, engine, timeseries, metrics)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, metrics_host, registry=metrics.registry)
    stop_signal = StopSignal()
    worker.start()
    log.info("ingest worker %s running (group %s)", ingest.client_id, ingest.group)
    try:
        stop_signal.wait()
    finally:
        worker.stop()
        timeseries.close()
        engine.dispose()
    log.info("ingest worker %s stopped after storing %d events", ingest.client_id, worker.stored)
    return 0


if __name__ == "__main__":
    sys.exit(main())
