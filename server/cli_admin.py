"""Administration commands: first admin (create-user), bulk imports with a progress bar, broker accounts, keys."""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.config import ServerSettings
from server.security.keys import MissingKeyError, load_keys
from server.security.pass_tokens import private_key_pem
from server.security.policy import Role
from server.services.accounts import create_user
from server.services.errors import ServiceError
from server.services.imports import import_residents, import_vehicles
from server.services.provisioning import BrokerFiles, ensure_platform_account
from server.storage.db import make_engine, migrate

COMMANDS = ("create-user", "import-residents", "import-vehicles", "broker-account", "keys")


def build_parser() -> argparse.ArgumentParser:
    """The administration sub-commands."""
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--config", help="YAML configuration file (defaults apply when omitted)")
    commands = parser.add_subparsers(dest="command", required=True)
    user = commands.add_parser("create-user", help="create a user (the first admin, managers, residents...)")
    user.add_argument("--username", required=True)
    user.add_argument("--role", required=True, choices=[role.value for role in Role])
    user.add_argument("--site", action="append", default=[], help="site in scope (repeat for several)")
    user.add_argument("--person", help="person id (residents)")
    user.add_argument("--password-env", help="read the password from this environment variable (else prompt)")
    for kind in ("residents", "vehicles"):
        sub = commands.add_parser(f"import-{kind}", help=f"import {kind} from a .csv or .xlsx file")
        sub.add_argument("file", type=Path)
        sub.add_argument("--site", required=True)
        sub.add_argument("--apply", action="store_true", help="write the rows (default: dry run)")
    broker = commands.add_parser("broker-account", help="create or re-key a platform broker account")
    broker.add_argument("--username", required=True)
    broker.add_argument("--password-env", required=True, help="environment variable holding the password")
    commands.add_parser("keys", help="print fresh key variables for the environment (JWT, field, look-up, passes)")
    return parser


def _password(variable: str | None) -> str:
    if variable:
        value = os.environ.get(variable, "")
        if not value:
            raise SystemExit(f"environment variable {variable} is empty")
        return value
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("passwords differ")
    return first


def print_keys() -> None:
    """Shell lines setting every key variable to a fresh random value."""
    pem = private_key_pem(Ed25519PrivateKey.generate())
    print(f"SC_JWT_KEY={secrets.token_urlsafe(48)}")
    print(f"SC_FIELD_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}")
    print(f"SC_LOOKUP_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}")
    print(f"SC_PASS_SIGNING_KEY={json.dumps(pem)}")


def run(settings: ServerSettings, args: argparse.Namespace) -> int:
    """Run one administration command against the configured database."""
    if args.command == "keys":
        print_keys()
        return 0
    engine = make_engine(settings.database.resolved_url())
    if settings.database.migrate_on_start:
        migrate(engine)
    try:
        if args.command == "create-user":
            with engine.begin() as connection:
                user_id = create_user(
                    connection,
                    "cli",
                    username=args.username,
                    password=_password(args.password_env),
                    role=Role(args.role),
                    site_ids=args.site,
                    person_id=args.person,
                )
            print(f"created user {args.username} (id {user_id}, role {args.role})")
        elif args.command == "broker-account":
            with engine.begin() as connection:
                ensure_platform_account(connection, args.username, _password(args.password_env))
            BrokerFiles(settings.provisioning, engine).apply()
            print(f"broker account {args.username} ready")
        else:
            return _import(settings, engine, args)
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _import(settings: ServerSettings, engine, args: argparse.Namespace) -> int:
    """Import with a progress bar; prints the per-line error report."""
    from tqdm import tqdm

    try:
        cipher = load_keys(settings.security).cipher
    except MissingKeyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    importer = import_residents if args.command == "import-residents" else import_vehicles
    data = args.file.read_bytes()
    with tqdm(desc=args.file.name, unit="line", file=sys.stderr) as bar, engine.begin() as connection:
        report = importer(
            connection, cipher, "cli", args.site, args.file.name, data, dry_run=not args.apply, progress=bar.update
        )
    for error in report.errors:
        print(f"line {error.line}: {error.field}: {error.message}")
    state = "applied" if report.applied else ("dry run" if report.dry_run else "NOT applied (errors)")
    print(f"{report.lines} line(s), {report.valid} valid, {len(report.errors)} error(s): {state}")
    return 0 if not report.errors else 1


def main(argv: list[str], settings_loader) -> int:
    """Entry point used by server/__main__.py when the first command is an administration command."""
    args = build_parser().parse_args(argv)
    return run(settings_loader(args.config), args)
