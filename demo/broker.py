"""Run mosquitto as a child process with its own config, data folder and port (demo and tests)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from demo.net import free_port, wait_for_port


class BrokerUnavailable(RuntimeError):
    """A service binary is missing on this machine."""


def find_binary(name: str, *extra_dirs: str) -> str:
    """Path of an executable, looking in PATH and the given directories."""
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs]))
    if not found:
        raise BrokerUnavailable(f"{name} is not installed (the README's commands install it)")
    return found


@dataclass
class Mosquitto:
    """A mosquitto broker on 127.0.0.1 with persistence and queues that never drop QoS 1 messages."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    persistence: bool = True
    process: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        """Where the generated configuration lives."""
        return self.workdir / "mosquitto.conf"

    def write_config(self) -> None:
        """One listener on 127.0.0.1; in-flight and queue limits raised so ingest never loses messages."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            # As root, mosquitto would switch to its own user, who cannot write into private temp folders:
            # persistence would then fail silently (only the log says so).
            *(["user root"] if os.geteuid() == 0 else []),
            "per_listener_settings false",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "max_inflight_messages 1000",
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        self.config_path.write_text("\n".join(lines) + "\n" + self.extra_config)

    def start(self) -> Mosquitto:
        """Start (or restart on the same port) and wait until it accepts connections."""
        if not self.config_path.exists():
            self.write_config()
        binary = find_binary("mosquitto", "/usr/sbin")
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen([binary, "-c", str(self.config_path)], stdout=log, stderr=log)
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        """Kill -9, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Terminate cleanly."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
