"""Composition root of the gate agent: builds every part from one EdgeConfig and runs them."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devices.camera import OpenCVCamera
from devices.clock import SystemClock
from devices.control import ControlFile
from devices.relay import Relay
from edge.access.errors import AccessError
from edge.access.gate import AccessPoint, GateDevices, GateRunner
from edge.access.policy import AccessPolicy
from edge.access.qr_pass import PassVerifier, load_public_key
from edge.access.used_passes import UsedPassStore
from edge.allowlist import AllowlistStore
from edge.capture import LatestFrameCapture
from edge.commands import CommandProcessor
from edge.config import REMOTE_LOCKED_SECTIONS, CameraRole, ConfigError, EdgeConfig, merge_sections
from edge.gallery_sync import GallerySynchroniser
from edge.gate import GateController, alarm_filter
from edge.hardware import InputDevices, build_inputs, build_relay, close_device
from edge.outbox import Outbox
from edge.pipeline import CameraPipeline
from edge.publisher import Confirm, EdgePublisher
from edge.telemetry import CameraHealth, LatencyStats, TelemetryCollector
from protocol.commands import ConfigUpdate
from protocol.device import Capability
from protocol.topics import device_command_filter

log = logging.getLogger(__name__)

SOFTWARE = "sc-edge/0.1.0"
OVERRIDE_FILE = "config-override.json"


class EdgeAgent:
    """One gate agent: outbox, MQTT session, cached allowlist and gallery, doors, gates, devices, commands.

    Decisions and door logic are edge.access's (AccessPolicy, AccessPoint); one runner thread reads the
    readers, keypads and sensors and ticks the door timers at 20 Hz, camera pipelines add faces, plates
    and QR passes, and commands add remote opens. One lock serialises them into the shared policy.
    """

    def __init__(self, config: EdgeConfig) -> None:
        self.base_config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_version, self.config = self._load_override(config)
        cfg = self.config
        self.outbox = Outbox(
            cfg.path(cfg.outbox.file),
            max_events=cfg.outbox.max_events,
            max_age_s=cfg.outbox.max_age_s,
            max_bytes=cfg.outbox.max_bytes,
        )
        self.publisher = EdgePublisher(
            cfg.broker,
            self.outbox,
            site=cfg.site,
            device=cfg.device,
            software=SOFTWARE,
            window=cfg.outbox.window,
            alarm_interval_s=cfg.outbox.alarm_interval_s,
            confirm=Confirm(cfg.outbox.confirm),
            receipt_timeout_s=cfg.outbox.receipt_timeout_s,
        )
        self.allowlist = AllowlistStore(cfg.data_dir / "allowlist.db")
        self.gallery = self._open_gallery(cfg)
        self.latency = LatencyStats()
        self.relays: dict[str, Relay] = {}
        self._relay_settings: dict[str, Any] = {}
        self.gates: dict[str, GateController] = {}
        self.points: dict[str, AccessPoint] = {}
        self.devices = InputDevices()
        self.runner = GateRunner()
        self.pipelines: list[CameraPipeline] = []
        self.used_passes: UsedPassStore | None = None
        self.control: ControlFile | None = None
        self._access_lock = threading.RLock()
        self._runtime_lock = threading.RLock()
        self._stop = threading.Event()
        self._telemetry_thread = threading.Thread(target=self._telemetry_loop, name="telemetry", daemon=True)
        self.telemetry = TelemetryCollector(
            self.latency,
            self.outbox.depth,
            lambda: self.publisher.dropped_since_start,
            self._versions,
            self._camera_health,
        )
        self.commands = CommandProcessor(
            cfg.site,
            cfg.device,
            self._publish_result,
            self.allowlist,
            self.outbox,
            lambda: list(self.gates.values()),
            self.apply_config_update,
            lambda: self.config_version,
            gallery=GallerySynchroniser(self.gallery) if self.gallery is not None else None,
            max_bytes=cfg.commands.max_bytes,
        )
        self._build_runtime(cfg)

    def start(self) -> EdgeAgent:
        """Connect, subscribe to commands and start every loop."""
        self._refresh_status()
        self.publisher.subscribe_commands(device_command_filter(self.config.site, self.config.device), self._command)
        self.publisher.start()
        self._start_runtime()
        self._telemetry_thread.start()
        log.info("edge agent %s/%s started (config v%d)", self.config.site, self.config.device, self.config_version)
        return self

    def stop(self) -> None:
        """Stop loops, disconnect (offline status), close stores."""
        self._stop.set()
        self._stop_runtime()
        self.publisher.stop()
        if self._telemetry_thread.is_alive():
            self._telemetry_thread.join(5)
        for relay in self.relays.values():
            close_device(relay)
        if self.used_passes is not None:
            self.used_passes.close()
        self.allowlist.close()
        self.outbox.close()

    def apply_config_update(self, command: ConfigUpdate) -> int:
        """Validate an update before applying it; a bad one raises ConfigError and the running config stays."""
        source = f"config-update v{command.version}"
        if command.version <= self.config_version:
            raise ConfigError(f"{source}: version: must be greater than the running version {self.config_version}")
        new_config = merge_sections(self.config, command.config, source)
        sections = self._stored_sections() | command.config
        self._write_override(command.version, sections)
        with self._runtime_lock:
            self._stop_runtime()
            self.config, self.config_version = new_config, command.version
            bounds = new_config.outbox
            self.outbox.set_bounds(bounds.max_events, bounds.max_bytes, bounds.max_age_s)
            self.publisher.window = new_config.outbox.window
            self.publisher.alarm_interval_s = new_config.outbox.alarm_interval_s
            self.commands.max_bytes = new_config.commands.max_bytes
            self._build_runtime(new_config)
            self._start_runtime()
        log.warning("config v%d applied (sections: %s)", command.version, ", ".join(sorted(command.config)))
        return command.version

    def _build_runtime(self, cfg: EdgeConfig) -> None:
        """Policy, doors, gates, input devices and camera pipelines for a config (not started)."""
        self._build_relays(cfg)
        self.devices = build_inputs(cfg)
        self.runner = GateRunner()
        self.points, self.gates = {}, {}
        access = cfg.access_config()
        if access is not None:
            policy = AccessPolicy(
                access, self.allowlist.snapshot, verifier=self._verifier(cfg), used_passes=self._used_passes(cfg)
            )
            sink = alarm_filter(self.publisher.send, cfg.decision)
            for door in cfg.doors:
                point = AccessPoint(
                    door.id,
                    policy,
                    self.relays[door.id],
                    sink,
                    clock=SystemClock(),
                    qr_repeat_s=cfg.access.passes.repeat_s,
                    lock=self._access_lock,
                )
                gate = cfg.gate_of(door.id)
                inputs = GateDevices(
                    card_readers=[self.devices.readers[r.id] for r in cfg.card_readers if r.gate == gate.id],
                    keypads=[self.devices.keypads[k.id] for k in cfg.keypads if k.gate == gate.id],
                    sensor=self.devices.sensors.get(door.id),
                )
                self.runner.add(point, inputs)
                self.points[door.id] = point
                self.gates[gate.id] = GateController(gate, point, sink, cfg.decision, self.allowlist.snapshot)
        if cfg.simulation is not None:
            if self.control is None:
                self.control = ControlFile(cfg.path(cfg.simulation.control_file))
            self.control.readers, self.control.keypads, self.control.sensors = self.devices.simulated()
        self.pipelines = [self._pipeline(cfg, camera) for camera in cfg.cameras]

    def _build_relays(self, cfg: EdgeConfig) -> None:
        """Relays by door; one whose settings did not change is kept (with its state) across rebuilds."""
        relays, settings = {}, {}
        for index, door in enumerate(cfg.doors):
            kept = self.relays.get(door.id)
            if kept is not None and self._relay_settings.get(door.id) == door.relay:
                relays[door.id] = kept
            else:
                if kept is not None:
                    close_device(kept)
                relays[door.id] = build_relay(door.relay, door.id, f"doors.{index}.relay", cfg)
            settings[door.id] = door.relay
        for door_id, relay in self.relays.items():
            if door_id not in relays:
                close_device(relay)
        self.relays, self._relay_settings = relays, settings

    def _verifier(self, cfg: EdgeConfig) -> PassVerifier | None:
        """The offline pass verifier, when pass keys are configured."""
        keys = cfg.access.passes.public_keys
        if not keys:
            return None
        public = {key_id: load_public_key(text) for key_id, text in keys.items()}
        return PassVerifier(public, site=cfg.site, clock_skew_s=cfg.access.passes.clock_skew_s)

    def _used_passes(self, cfg: EdgeConfig) -> UsedPassStore | None:
        """The store of used single-use passes (kept open across rebuilds; expired ones purged)."""
        if not cfg.access.passes.public_keys:
            return None
        path = cfg.path(cfg.access.passes.used_store)
        if self.used_passes is None or self.used_passes.path != path:
            if self.used_passes is not None:
                self.used_passes.close()
            try:
                self.used_passes = UsedPassStore(path)
            except AccessError as err:
                raise ConfigError(f"access.passes.used_store: {err}") from err
        self.used_passes.purge(datetime.now(UTC))
        return self.used_passes

    def _pipeline(self, cfg: EdgeConfig, camera: Any) -> CameraPipeline:
        """A capture and recognition pipeline for one camera."""
        source = OpenCVCamera(camera.source, loop=camera.loop, realtime=camera.realtime)
        capture = LatestFrameCapture(
            camera.id, source, backoff_min_s=camera.reconnect_min_s, backoff_max_s=camera.reconnect_max_s
        )
        faces = plates = None
        if camera.role in (CameraRole.FACE, CameraRole.BOTH) and cfg.faces and self.gallery is not None:
            from edge.vision.faces import FaceRecogniser

            faces = FaceRecogniser(cfg.faces.pipeline, self.gallery)
        if camera.role in (CameraRole.PLATE, CameraRole.BOTH) and cfg.plates:
            from edge.vision.plates import PlateRecogniser

            plates = PlateRecogniser(cfg.plates.recogniser)
        return CameraPipeline(camera, capture, self.gates[camera.gate], self.latency, faces, plates, cfg.plates)

    def _start_runtime(self) -> None:
        """Start the device runner (20 Hz), the control file and the pipelines."""
        self.runner.start(interval_s=0.05)
        if self.control is not None:
            self.control.start()
        for pipeline in self.pipelines:
            pipeline.start()

    def _stop_runtime(self) -> None:
        """Stop pipelines, the control file and the runner; release the input devices."""
        for pipeline in self.pipelines:
            pipeline.stop()
        if self.control is not None:
            self.control.stop()
        self.runner.stop()
        self.devices.close()

    def _open_gallery(self, cfg: EdgeConfig):
        """The encrypted face gallery, when faces are configured (its key comes from the environment)."""
        if cfg.faces is None:
            return None
        from edge.vision.face_errors import GalleryStoreError
        from edge.vision.gallery import Gallery
        from edge.vision.gallery_store import EncryptedGalleryStore

        try:
            path = cfg.path(cfg.faces.gallery_file)
            store = EncryptedGalleryStore.from_env(path, cfg.faces.key_env, cfg.faces.key_file)
            return Gallery.open(store)
        except GalleryStoreError as err:
            raise ConfigError(f"faces.gallery_file: {err}") from err

    def _versions(self) -> tuple[int, int]:
        """(gallery version, allowlist version)."""
        return (self.gallery.version if self.gallery is not None else 0), self.allowlist.version

    def _camera_health(self) -> list[CameraHealth]:
        """Capture figures of every camera."""
        return [
            CameraHealth(p.settings.id, p.capture.fps, lambda p=p: p.capture.connected) for p in list(self.pipelines)
        ]

    def _capabilities(self) -> tuple[Capability, ...]:
        """What this device does: faces when it holds a gallery, plates when a camera reads plates."""
        found = [Capability.FACES] if self.gallery is not None else []
        if any(pipeline.plates is not None for pipeline in self.pipelines):
            found.append(Capability.PLATES)
        return tuple(found)

    def _refresh_status(self) -> None:
        """Versions and capabilities reported in the retained status."""
        gallery_version, allowlist_version = self._versions()
        self.publisher.status_extra.update(
            gallery_version=gallery_version, allowlist_version=allowlist_version, capabilities=self._capabilities()
        )

    def _command(self, topic: str, payload: bytes) -> None:
        """Handle a command (one at a time), then refresh the versions in the status."""
        with self._runtime_lock:
            self.commands.handle(topic, payload)
        self._refresh_status()

    def _publish_result(self, result: Any) -> None:
        """Answer a command at QoS 1."""
        self.publisher.publish_now(result)

    def _telemetry_loop(self) -> None:
        """Publish telemetry every interval while connected (none piles up during an outage)."""
        while not self._stop.wait(self.config.telemetry.interval_s):
            if not self.publisher.connected.is_set():
                continue
            try:
                self.publisher.publish_now(self.telemetry.collect())
            except Exception:  # noqa: BLE001 - telemetry must never stop the agent
                log.exception("telemetry failed")

    def _override_path(self) -> Path:
        """Where accepted remote config updates are kept."""
        return self.base_config.data_dir / OVERRIDE_FILE

    def _stored_sections(self) -> dict[str, Any]:
        """Sections replaced by earlier remote updates."""
        path = self._override_path()
        if not path.exists():
            return {}
        return json.loads(path.read_text(encoding="utf-8")).get("sections", {})

    def _write_override(self, version: int, sections: dict[str, Any]) -> None:
        """Persist accepted updates atomically, so they survive a restart."""
        path = self._override_path()
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"version": version, "sections": sections}), encoding="utf-8")
        os.replace(temporary, path)

    def _load_override(self, config: EdgeConfig) -> tuple[int, EdgeConfig]:
        """The file config with the remote updates accepted earlier; a stale override is ignored, not fatal."""
        path = config.data_dir / OVERRIDE_FILE
        if not path.exists():
            return 0, config
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            sections = {k: v for k, v in stored["sections"].items() if k not in REMOTE_LOCKED_SECTIONS}
            return int(stored["version"]), merge_sections(config, sections, str(path))
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.error("ignoring remote config override %s: %s", path, err)
            return 0, config
