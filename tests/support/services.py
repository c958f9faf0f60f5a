"""Real services for tests: mosquitto, a temporary PostgreSQL cluster and InfluxDB 1.x, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from demo.broker import BrokerUnavailable, Mosquitto, find_binary
from tests.support.ports import free_port, wait_for_port

POSTGRES_BIN = Path(os.environ.get("SC_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


ServiceUnavailable = BrokerUnavailable
__all__ = ["InfluxDB", "Mosquitto", "Postgres", "ServiceUnavailable", "find_binary", "free_port", "wait_until"]


@dataclass
class Postgres:
    """A temporary PostgreSQL cluster owned by the postgres user (initdb refuses root), on a private port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    user: str = "sc"
    database: str = "sc"

    def _run_as_owner(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a PostgreSQL tool as the postgres OS user when we are root."""
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        result = subprocess.run(args, capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-800:]}")
        return result

    def start(self) -> Postgres:
        """initdb, start on 127.0.0.1:port with the socket in the work dir, create the role and database."""
        initdb = POSTGRES_BIN / "initdb"
        if not initdb.exists():
            raise ServiceUnavailable(f"{initdb} is missing (Debian package postgresql-15)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        data = self.workdir / "data"
        self._run_as_owner([str(initdb), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off -c max_connections=50"
        self._run_as_owner(
            [
                str(POSTGRES_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self.workdir / "pg.log"),
                "-w",
                "start",
            ]
        )
        self.psql(f"CREATE ROLE {self.user} LOGIN SUPERUSER")
        self.psql(f"CREATE DATABASE {self.database} OWNER {self.user}")
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL statement as the superuser."""
        return self._run_as_owner(
            [
                str(POSTGRES_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ]
        ).stdout

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL of a database in the cluster."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database or self.database}"

    def create_database(self, name: str) -> str:
        """Create a fresh database and return its URL."""
        self.psql(f"CREATE DATABASE {name} OWNER {self.user}")
        return self.url(name)

    def pg_ctl(self, action: str) -> None:
        """Run pg_ctl stop/start on the cluster (to simulate an outage)."""
        args = [str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.workdir / "data"), "-w"]
        if action == "start":
            options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off"
            args += ["-o", options, "-l", str(self.workdir / "pg.log")]
        else:
            args += ["-m", "fast"]
        args.append(action)
        self._run_as_owner(args)

    def stop(self) -> None:
        """Stop the cluster."""
        with contextlib.suppress(RuntimeError):
            self.pg_ctl("stop")


@dataclass
class InfluxDB:
    """Debian's InfluxDB 1.x (real engine, InfluxQL) with data in a temp dir, on 127.0.0.1."""

    workdir: Path
    http_port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> InfluxDB:
        """Write a config, start influxd and wait for /ping."""
        binary = find_binary("influxd", "/usr/bin")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "influxdb.conf"
        config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.workdir}/meta"\n'
            f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.http_port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
        )
        log = open(self.workdir / "influxd.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen([binary, "-config", str(config)], stdout=log, stderr=log)
        wait_for_port(self.http_port, timeout=30)
        return self

    @property
    def url(self) -> str:
        """Base URL of the 1.x HTTP API."""
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        """Terminate influxd."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition") -> None:
    """Poll `predicate` until it is true, or raise AssertionError naming the condition."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s")
