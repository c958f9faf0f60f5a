"""Encrypted, atomic on-disk store of a face gallery (AES-GCM; the key never lives in the repo)."""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.vision.crypto import CryptoError, DecryptionError, load_key, read_encrypted, write_encrypted
from edge.vision.face_errors import GalleryError, GalleryStoreError
from edge.vision.gallery import EMBEDDING_DIM, Template

logger = logging.getLogger(__name__)

KEY_ENV_VAR = "SC_FACE_GALLERY_KEY"
_FORMAT = b"SCGALLERY1"
_CONTEXT = b"sc-face-gallery-v1"
_HEADER_LEN = struct.Struct("<I")


class EncryptedGalleryStore:
    """Keeps the whole gallery in one AES-GCM encrypted file, rewritten atomically on every update."""

    def __init__(self, path: str | os.PathLike[str], key: bytes) -> None:
        """Store at `path`, encrypted with the 32-byte `key`."""
        self.path = Path(path)
        self._key = key

    @classmethod
    def from_env(
        cls, path: str | os.PathLike[str], env_var: str = KEY_ENV_VAR, key_file: str | os.PathLike[str] | None = None
    ) -> EncryptedGalleryStore:
        """Store whose key comes from `env_var` (base64 or hex) or else from `key_file`."""
        try:
            return cls(path, load_key(env_var, key_file))
        except CryptoError as err:
            raise GalleryStoreError(f"gallery key: {err}") from err

    def save(self, version: int, templates: Sequence[Template]) -> None:
        """Encrypt and write the full gallery; the previous file is replaced only once this one is complete."""
        try:
            write_encrypted(self.path, self._key, encode_gallery(version, templates), _CONTEXT)
        except CryptoError as err:
            raise GalleryStoreError(f"cannot save gallery: {err}") from err
        logger.debug("gallery version %d saved to %s (%d templates)", version, self.path, len(templates))

    def load(self) -> tuple[int, list[Template]] | None:
        """Decrypt and parse the gallery; None if the file does not exist yet."""
        if not self.path.exists():
            return None
        try:
            plaintext = read_encrypted(self.path, self._key, _CONTEXT)
        except DecryptionError as err:
            raise GalleryStoreError(f"gallery file {self.path}: wrong key or corrupted file") from err
        except CryptoError as err:
            raise GalleryStoreError(f"cannot load gallery: {err}") from err
        return decode_gallery(plaintext, origin=str(self.path))


def encode_gallery(version: int, templates: Sequence[Template]) -> bytes:
    """Serialise a gallery: format tag, JSON header with ids, then the float32 matrix (little endian)."""
    header = json.dumps(
        {
            "version": version,
            "dim": EMBEDDING_DIM,
            "template_ids": [t.template_id for t in templates],
            "person_ids": [t.person_id for t in templates],
        },
        separators=(",", ":"),
    ).encode()
    matrix = np.stack([t.vector for t in templates]) if templates else np.zeros((0, EMBEDDING_DIM))
    return _FORMAT + _HEADER_LEN.pack(len(header)) + header + matrix.astype("<f4").tobytes()


def decode_gallery(data: bytes, origin: str = "gallery") -> tuple[int, list[Template]]:
    """Parse bytes made by encode_gallery."""
    try:
        if not data.startswith(_FORMAT):
            raise ValueError("unknown format tag")
        offset = len(_FORMAT)
        (header_len,) = _HEADER_LEN.unpack_from(data, offset)
        offset += _HEADER_LEN.size
        header = json.loads(data[offset : offset + header_len])
        offset += header_len
        ids, persons, dim = header["template_ids"], header["person_ids"], int(header["dim"])
        if dim != EMBEDDING_DIM or len(ids) != len(persons):
            raise ValueError("inconsistent header")
        matrix = np.frombuffer(data, dtype="<f4", offset=offset).reshape(len(ids), dim)
        templates = [Template(t, p, matrix[i]) for i, (t, p) in enumerate(zip(ids, persons, strict=True))]
        return int(header["version"]), templates
    except (ValueError, KeyError, TypeError, struct.error, GalleryError) as err:
        raise GalleryStoreError(f"{origin}: malformed gallery data ({err})") from err
