"""`python -m server privacy ...`: report, enforce, verify-audit, rotate-keys, pia, export, erase, certificate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.config import ConfigError, ServerSettings

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The privacy sub-commands."""
    parser = argparse.ArgumentParser(prog="python -m server privacy", description=__doc__)
    parser.add_argument("--config", help="YAML configuration file (defaults apply when omitted)")
    parser.add_argument("--actor", default="cli:privacy", help="Who runs this, as the audit log names them")
    sub = parser.add_subparsers(dest="action", required=True)
    report = sub.add_parser("report", help="Compliance report: classes against limits, last run, edges, filing")
    report.add_argument("--json", action="store_true", help="Print JSON instead of a table")
    sub.add_parser("enforce", help="Run retention enforcement once")
    verify = sub.add_parser("verify-audit", help="Verify the audit chain (exit 1 when broken)")
    verify.add_argument("--no-anchor", action="store_true", help="Do not move the anchor to the current head")
    rotate = sub.add_parser("rotate-keys", help="Re-encrypt fields with the current key (old keys in <VAR>_PREVIOUS)")
    rotate.add_argument("--batch", type=int, default=500, help="Rows per transaction")
    rotate.add_argument("--status", action="store_true", help="Only count fields per key id")
    pia = sub.add_parser("pia", help="Render the privacy impact assessment with the live configuration")
    pia.add_argument("--out", type=Path, help="Write Markdown here instead of standard output")
    export = sub.add_parser("export", help="Export everything held about a person (ZIP)")
    export.add_argument("person_id")
    export.add_argument("--out", type=Path, required=True, help="ZIP file to write")
    erase = sub.add_parser("erase", help="Erase a person here and on every edge")
    erase.add_argument("person_id")
    erase.add_argument("--wait", type=float, default=10.0, help="Seconds to wait for the broker to take the commands")
    certificate = sub.add_parser("certificate", help="Certificate of an erasure (bound once every edge confirmed)")
    certificate.add_argument("request_id", type=uuid.UUID)
    camera = sub.add_parser("camera", help="Register a camera's purpose and signage")
    camera.add_argument("site_id")
    camera.add_argument("device")
    camera.add_argument("--camera", default="", help="Camera id on the device (empty: the whole device)")
    camera.add_argument("--purpose", required=True, choices=["public_security", "access_control"])
    camera.add_argument("--signage", action=argparse.BooleanOptionalAction, default=False, help="Sign posted")
    return parser


def _engine(settings: ServerSettings) -> Any:
    from server.storage.db import make_engine, migrate

    engine = make_engine(settings.database.resolved_url())
    if settings.database.migrate_on_start:
        migrate(engine)
    return engine


def _cipher(settings: ServerSettings) -> Any:
    from server.storage.crypto import FieldCipher

    return FieldCipher.from_env(settings.security.field_key_env, settings.security.lookup_key_env)


def _with_sender(settings: ServerSettings, wait_s: float, work: Callable[[Callable[..., object]], Any]) -> Any:
    """Run `work(send)` with a connected command client, then wait until the broker took every command."""
    from server.services.commands import CommandSender

    sender = CommandSender(settings.broker)
    sender.start()
    infos = []
    try:
        if not sender.connected.wait(wait_s):
            log.warning("broker not reachable: commands stay recorded as outstanding and can be re-sent")
        result = work(lambda command, site, device: infos.append(sender.send(command, site, device)))
        unsent = 0
        for info in infos:
            try:
                info.wait_for_publish(wait_s)
            except (RuntimeError, ValueError):  # paho: not connected, or the message was not queued
                unsent += 1
        if unsent:
            log.warning("%d command(s) not taken by the broker: they stay outstanding and can be re-sent", unsent)
        return result
    finally:
        sender.stop()


def run(settings: ServerSettings, args: argparse.Namespace) -> int:
    """Carry out one privacy command."""
    privacy = settings.privacy
    engine = _engine(settings)
    try:
        if args.action == "report":
            from server.privacy.report import build_report, render_text

            report = build_report(engine, privacy)
            print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else render_text(report))
            return 0 if report["compliant"] else 1
        if args.action == "enforce":
            from server.metrics import Metrics
            from server.platform import make_timeseries
            from server.privacy.retention import RetentionEnforcer

            timeseries = make_timeseries(settings, engine, Metrics())
            try:
                result = _with_sender(
                    settings, 10.0, lambda send: RetentionEnforcer(engine, privacy, timeseries, send).run("cli")
                )
            finally:
                timeseries.close()
            print(json.dumps(result.as_dict(), indent=2))
            return 0 if not result.errors else 1
        if args.action == "verify-audit":
            from server.privacy.audit_chain import verify_and_anchor

            chain = verify_and_anchor(engine, privacy.audit_anchor_file, update_anchor=not args.no_anchor)
            print(json.dumps(chain.as_dict(), indent=2))
            return 0 if chain.ok else 1
        if args.action == "rotate-keys":
            from server.privacy.keys import key_usage, rotate_keys

            cipher = _cipher(settings)
            if not args.status:
                print(json.dumps(rotate_keys(engine, cipher, args.batch).as_dict(), indent=2))
            print(json.dumps({"current_key": cipher.key_id, "usage": key_usage(engine, cipher)}, indent=2))
            return 0
        if args.action == "pia":
            from server.privacy.pia import render_pia

            text = render_pia(settings, engine)
            if args.out:
                args.out.write_text(text, encoding="utf-8")
            else:
                print(text)
            return 0
        return _subject_command(settings, engine, args)
    finally:
        engine.dispose()


def _subject_command(settings: ServerSettings, engine: Any, args: argparse.Namespace) -> int:
    """export, erase, certificate, camera."""
    privacy = settings.privacy
    if args.action == "export":
        from server.privacy.subjects import export_person

        with engine.begin() as connection:
            request_id, data = export_person(
                connection, _cipher(settings), privacy.snapshot_root, args.person_id, args.actor
            )
        args.out.write_bytes(data)
        print(json.dumps({"request_id": str(request_id), "file": str(args.out), "bytes": len(data)}))
        return 0
    if args.action == "erase":
        from server.privacy.edges import send_all
        from server.privacy.subjects import erase_person

        with engine.begin() as connection:
            request_id, outgoing = erase_person(
                connection, privacy.snapshot_root, args.person_id, args.actor, privacy.erased_events
            )
        sent = _with_sender(settings, args.wait, lambda send: send_all(send, outgoing))
        print(json.dumps({"request_id": str(request_id), "edges_asked": sent}))
        return 0
    if args.action == "certificate":
        from server.privacy.subjects import erasure_certificate

        with engine.begin() as connection:
            issued = erasure_certificate(connection, args.request_id, args.actor)
        print(json.dumps(issued, indent=2, ensure_ascii=False))
        return 0 if issued["status"] == "certified" else 3
    from server.privacy.purpose import register_camera

    with engine.begin() as connection:
        register_camera(
            connection,
            args.actor,
            site_id=args.site_id,
            device=args.device,
            camera=args.camera,
            purpose=args.purpose,
            signage_posted=args.signage,
        )
    return 0


def main(argv: list[str], settings_loader: Callable[[str | None], ServerSettings]) -> int:
    """Entry point used by server/__main__.py for `privacy ...`."""
    words = [word for word in argv if word != "privacy"]
    args = build_parser().parse_args(words)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_loader(args.config)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    from server.privacy.subjects import SubjectNotFound
    from server.storage.crypto import KeyConfigError

    try:
        return run(settings, args)
    except (SubjectNotFound, KeyConfigError, PermissionError, ValueError) as err:
        print(f"privacy {args.action}: {err}", file=sys.stderr)
        return 2
