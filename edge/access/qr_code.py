"""QR codes on camera frames: decode with OpenCV's detector, render for tickets and the scene simulator."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from edge.access.errors import CredentialFormatError

log = logging.getLogger(__name__)


class QrReader:
    """Finds and decodes QR codes on BGR or grey frames (one detector per reader; not thread-safe)."""

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetector()

    def decode(self, frame: np.ndarray) -> list[str]:
        """The texts of the QR codes found on the frame (empty when none decodes)."""
        if frame is None or frame.size == 0:
            return []
        try:
            found, texts, _points, _codes = self._detector.detectAndDecodeMulti(frame)
            if found:
                return [text for text in texts if text]
            text, _points, _code = self._detector.detectAndDecode(frame)
        except cv2.error as err:
            log.warning("QR detector failed on a %s frame: %s", frame.shape, err)
            return []
        return [text] if text else []


def render_qr(text: str, module_px: int = 6) -> np.ndarray:
    """A white-bordered grey QR image of `text` with `module_px` pixels per module."""
    try:
        code = cv2.QRCodeEncoder.create().encode(text)
    except cv2.error as err:
        raise CredentialFormatError(f"cannot encode {len(text)} characters as a QR code: {err}") from err
    return cv2.resize(code, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
