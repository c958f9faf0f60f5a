"""A scene simulator for gate cameras: people walking up to a door (real photos from a data directory, never
copied into the repo), cars stopping at a barrier with rendered Chinese plates, and visitors holding up QR passes.

`SceneCamera` is read like a camera (`read()` -> BGR frame); `write_mp4` records a scene for the demo.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.errors import DeviceError

log = logging.getLogger(__name__)
FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FACE_DATA_ENV = "SC_FACE_DATA"
# Background and character colours (RGB) of GA 36 plate families.
PLATE_STYLES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "blue": ((18, 62, 170), (255, 255, 255)),
    "yellow": ((240, 190, 20), (0, 0, 0)),
    "green": ((120, 200, 120), (0, 0, 0)),
    "white": ((245, 245, 245), (0, 0, 0)),
    "black": ((20, 20, 20), (255, 255, 255)),
}


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    """The CJK font plates are drawn with."""
    try:
        return ImageFont.truetype(str(FONT_PATH), size)
    except OSError as err:
        raise DeviceError(f"plate font {FONT_PATH} is missing (Debian package fonts-wqy-zenhei): {err}") from err


def plate_colour_for(text: str) -> str:
    """The usual colour of a plate: 8 characters are new-energy green, 学 and 挂 yellow, 警 white, else blue."""
    if len(text) == 8:
        return "green"
    if text.endswith(("学", "挂")):
        return "yellow"
    if text.endswith("警"):
        return "white"
    return "blue"


def render_plate(text: str, colour: str | None = None, height: int = 140) -> np.ndarray:
    """A front plate as a BGR image: border, province and letter, separator dot, then the serial."""
    colour = colour or plate_colour_for(text)
    background, ink = PLATE_STYLES[colour]
    width = int(height * (480 if len(text) == 8 else 440) / 140)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    margin = max(3, height // 28)
    draw.rounded_rectangle(
        (margin, margin, width - margin, height - margin), radius=height // 10, outline=ink, width=max(2, height // 45)
    )
    font = _font(int(height * 0.64))
    slots = len(text) + 0.5  # half a slot more for the separator dot after the second character
    slot = (width - 4 * margin) / slots
    glyph_w, glyph_h = int(slot * 0.82), int(height * 0.64)
    x = 2 * margin
    for index, char in enumerate(text):
        if index == 2:
            dot = height // 22
            cx, cy = x + slot / 4, height / 2
            draw.ellipse((cx - dot, cy - dot, cx + dot, cy + dot), fill=ink)
            x += slot / 2
        box = font.getbbox(char)
        mask = Image.new("L", (box[2] - box[0], box[3] - box[1]), 0)
        ImageDraw.Draw(mask).text((-box[0], -box[1]), char, font=font, fill=255)
        mask = mask.resize((glyph_w, glyph_h), Image.Resampling.LANCZOS)  # plate glyphs are tall and narrow
        image.paste(Image.new("RGB", mask.size, ink), (int(x + (slot - glyph_w) / 2), (height - glyph_h) // 2), mask)
        x += slot
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def face_photos(data_dir: Path | str | None = None) -> dict[str, list[Path]]:
    """Photos per person from `<data_dir>/<person>/*.jpg` (default: $SC_FACE_DATA); never copied anywhere."""
    root = Path(data_dir or os.environ.get(FACE_DATA_ENV, ""))
    if not str(root) or not root.is_dir():
        raise DeviceError(f"face data directory {root!s} not found (pass a path or set {FACE_DATA_ENV})")
    people = {p.name: sorted(p.glob("*.jpg")) for p in sorted(root.iterdir()) if p.is_dir()}
    return {name: photos for name, photos in people.items() if photos}


@cache
def _load_photo(path: Path) -> np.ndarray:
    """A photo as BGR (cached: scenes reuse them every frame)."""
    image = cv2.imread(str(path))
    if image is None:
        raise DeviceError(f"cannot read face photo {path}")
    return image


@dataclass(frozen=True)
class Actor:
    """Something in view from `start` for `duration` seconds of scene time."""

    start: float
    duration: float
    kind: str  # "face", "car" or "qr"
    source: str  # photo path, plate text or pass token

    def progress(self, t: float) -> float | None:
        """0..1 through the appearance, or None when not in view."""
        if t < self.start or t >= self.start + self.duration:
            return None
        return (t - self.start) / self.duration


class SceneCamera:
    """A deterministic camera over a scripted scene; time is frame count / fps unless a clock is given."""

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 10.0,
        seed: int = 0,
        clock: object | None = None,
        noise: float = 2.0,
        idle_frames: bool = True,
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.idle_frames = idle_frames  # False: read() gives None while nothing is in view (a motion-gated camera)
        self.clock = clock  # anything with monotonic(); else frames advance time
        self.noise = noise
        self.actors: list[Actor] = []
        self.frame_index = 0
        self._rng = np.random.default_rng(seed)
        self._background = self._draw_background()

    def now(self) -> float:
        """Scene time in seconds."""
        return self.clock.monotonic() if self.clock is not None else self.frame_index / self.fps

    def walk_face(self, photo: Path | str, duration: float = 3.0, start: float | None = None) -> Actor:
        """A person (a real photo) approaching the camera: small and far, then close."""
        return self._add("face", str(photo), duration, start)

    def drive_car(self, plate: str, duration: float = 4.0, start: float | None = None) -> Actor:
        """A car with a rendered plate driving up and stopping at the barrier."""
        return self._add("car", plate, duration, start)

    def show_qr(self, token: str, duration: float = 2.0, start: float | None = None) -> Actor:
        """A phone held up with a pass QR code."""
        return self._add("qr", token, duration, start)

    def read(self) -> np.ndarray | None:
        """The frame at the current scene time (then one frame later, when frame-timed)."""
        t = self.now()
        self.actors = [actor for actor in self.actors if t < actor.start + actor.duration]
        if not self.idle_frames and not any(actor.progress(t) is not None for actor in self.actors):
            self.frame_index += 1
            return None
        frame = self._background.copy()
        for actor in self.actors:
            progress = actor.progress(t)
            if progress is not None:
                getattr(self, f"_draw_{actor.kind}")(frame, actor, progress)
        if self.noise:
            grain = self._rng.normal(0, self.noise, frame.shape)
            frame = np.clip(frame.astype(np.float32) + grain, 0, 255).astype(np.uint8)
        self.frame_index += 1
        return frame

    def close(self) -> None:
        """Nothing to release."""

    def write_mp4(self, path: Path | str, seconds: float) -> int:
        """Record `seconds` of the scene to an MP4 file; returns the frames written."""
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (self.width, self.height))
        if not writer.isOpened():
            raise DeviceError(f"cannot write video {path}")
        frames = int(seconds * self.fps)
        try:
            for _ in range(frames):
                writer.write(self.read())
        finally:
            writer.release()
        return frames

    def _add(self, kind: str, source: str, duration: float, start: float | None) -> Actor:
        """Schedule an actor (now, unless a start time is given)."""
        actor = Actor(self.now() if start is None else start, duration, kind, source)
        self.actors.append(actor)
        return actor

    def _draw_background(self) -> np.ndarray:
        """A grey gate entrance: floor gradient, wall and door frame."""
        frame = np.zeros((self.height, self.width, 3), np.uint8)
        ramp = np.linspace(150, 90, self.height, dtype=np.float32)[:, None]
        frame[:] = np.repeat(ramp, self.width, axis=1)[:, :, None].astype(np.uint8)
        w, h = self.width, self.height
        cv2.rectangle(frame, (int(w * 0.3), int(h * 0.08)), (int(w * 0.7), int(h * 0.85)), (70, 70, 80), 6)
        cv2.line(frame, (0, int(h * 0.85)), (w, int(h * 0.85)), (60, 60, 60), 3)
        return frame

    def _draw_face(self, frame: np.ndarray, actor: Actor, progress: float) -> None:
        """Paste the photo, growing as the person walks closer, then standing still for the last third."""
        photo = _load_photo(Path(actor.source))
        scale = 0.25 + 0.55 * min(1.0, progress * 1.5)
        target_h = int(self.height * scale)
        target_w = max(1, int(photo.shape[1] * target_h / photo.shape[0]))
        if target_w > self.width * 0.9:
            target_w = int(self.width * 0.9)
            target_h = max(1, int(photo.shape[0] * target_w / photo.shape[1]))
        person = cv2.resize(photo, (target_w, target_h), interpolation=cv2.INTER_AREA)
        self._paste(frame, person, (self.width - target_w) // 2, int(self.height * 0.05))

    def _draw_car(self, frame: np.ndarray, actor: Actor, progress: float) -> None:
        """A car body driving in from the bottom and stopping with its plate in the middle of the view."""
        arrive = min(1.0, progress * 2)
        body_w, body_h = int(self.width * 0.6), int(self.height * 0.55)
        x = (self.width - body_w) // 2
        y = int(self.height - (self.height * 0.75) * arrive)
        cv2.rectangle(frame, (x, y), (x + body_w, y + body_h), (40, 40, 150), -1)
        cv2.rectangle(frame, (x + body_w // 8, y - body_h // 3), (x + 7 * body_w // 8, y), (30, 30, 110), -1)
        for lamp_x in (x + body_w // 12, x + 9 * body_w // 12):
            cv2.rectangle(
                frame, (lamp_x, y + body_h // 6), (lamp_x + body_w // 6, y + body_h // 4), (200, 230, 240), -1
            )
        plate = render_plate(actor.source, height=max(20, int(self.height * 0.12)))
        self._paste(frame, plate, x + (body_w - plate.shape[1]) // 2, y + body_h // 2)

    def _draw_qr(self, frame: np.ndarray, actor: Actor, progress: float) -> None:
        """A phone screen with the QR code, held in front of the reader."""
        code = cv2.QRCodeEncoder.create().encode(actor.source)
        module = max(2, int(self.height * 0.55 / code.shape[0]))
        code = cv2.resize(code, None, fx=module, fy=module, interpolation=cv2.INTER_NEAREST)
        pad = module * 4
        phone = np.full((code.shape[0] + 2 * pad, code.shape[1] + 2 * pad, 3), 255, np.uint8)
        phone[pad:-pad, pad:-pad] = code[:, :, None]
        cv2.rectangle(phone, (0, 0), (phone.shape[1] - 1, phone.shape[0] - 1), (20, 20, 20), max(2, module))
        self._paste(frame, phone, (self.width - phone.shape[1]) // 2, (self.height - phone.shape[0]) // 2)

    @staticmethod
    def _paste(frame: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
        """Copy `image` onto `frame` at (x, y), clipped to the frame."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(frame.shape[1], x + w), min(frame.shape[0], y + h)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]
