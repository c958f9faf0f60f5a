"""Scene videos for the demo's gate cameras, rendered with devices.scene and looped by the edge's capture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devices.scene import SceneCamera

WIDTH, HEIGHT, FPS = 960, 540, 8.0


@dataclass(frozen=True)
class CarVisit:
    """A car stopping at the barrier: its plate and who it is, for the printed guide."""

    plate: str
    who: str


def render_lobby(path: Path, photo: Path, pass_token: str, idle_s: float = 3.0, walk_s: float = 3.0) -> float:
    """A resident walking up to the lobby door, then a visitor holding up a QR pass; returns the loop length."""
    camera = SceneCamera(WIDTH, HEIGHT, FPS, noise=0.0)
    camera.walk_face(photo, duration=walk_s, start=idle_s)
    camera.show_qr(pass_token, duration=2.5, start=idle_s + walk_s + 3.0)
    seconds = idle_s + walk_s + 3.0 + 2.5 + 4.0
    camera.write_mp4(path, seconds)
    return seconds


def render_car_lane(path: Path, cars: list[CarVisit], lead_s: float = 2.0, drive_s: float = 4.0, gap_s: float = 4.0):
    """Cars stopping at the barrier one after another, with gaps long enough to end each passage."""
    camera = SceneCamera(WIDTH, HEIGHT, FPS, noise=0.0)
    for index, car in enumerate(cars):
        camera.drive_car(car.plate, duration=drive_s, start=lead_s + index * (drive_s + gap_s))
    seconds = lead_s + len(cars) * (drive_s + gap_s)
    camera.write_mp4(path, seconds)
    return seconds
