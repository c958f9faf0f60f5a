"""AES-256-GCM encryption of small files at rest, with the key from an env var or a key file."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

logger = logging.getLogger(__name__)

MAGIC = b"SCAESGCM1"
NONCE_BYTES = 12
KEY_BYTES = 32


class CryptoError(Exception):
    """A key could not be loaded or data could not be encrypted."""


class DecryptionError(CryptoError):
    """Ciphertext did not authenticate: wrong key, wrong context or a corrupted file."""


def generate_key() -> bytes:
    """Return a fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """Return the key as URL-safe base64 text (the form stored in env vars and key files)."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def parse_key(text: str | bytes, origin: str = "key") -> bytes:
    """Parse a 32-byte key given as base64 (standard or URL-safe), hex, or raw bytes."""
    if isinstance(text, bytes):
        if len(text) == KEY_BYTES:
            return text
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as err:
            raise CryptoError(f"{origin}: expected a {KEY_BYTES}-byte key, got {len(text)} bytes") from err
    value = text.strip()
    candidates: list[bytes] = []
    if len(value) == 2 * KEY_BYTES:
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(value))
    for decoder in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            candidates.append(decoder(value + "=" * (-len(value) % 4)))
        except (binascii.Error, ValueError):
            continue
    for candidate in candidates:
        if len(candidate) == KEY_BYTES:
            return candidate
    raise CryptoError(f"{origin}: not a {KEY_BYTES}-byte key in base64 or hex")


def load_key(env_var: str | None = None, key_file: str | os.PathLike[str] | None = None) -> bytes:
    """Load the key from env var `env_var` if set, else from `key_file`; raise CryptoError if neither."""
    if env_var and os.environ.get(env_var):
        return parse_key(os.environ[env_var], origin=f"environment variable {env_var}")
    if key_file is not None:
        path = Path(key_file)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise CryptoError(f"cannot read key file {path}: {err.strerror or err}") from err
        return parse_key(raw if len(raw) == KEY_BYTES else raw.strip(), origin=f"key file {path}")
    where = " or ".join(x for x in (f"${env_var}" if env_var else "", "a key file" if key_file else "") if x)
    raise CryptoError(f"no encryption key configured (set {where or 'a key'})")


def encrypt(key: bytes, plaintext: bytes, context: bytes = b"") -> bytes:
    """Encrypt and authenticate `plaintext`; `context` is bound as associated data (not stored)."""
    if len(key) != KEY_BYTES:
        raise CryptoError(f"key must be {KEY_BYTES} bytes, got {len(key)}")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, MAGIC + context)


def decrypt(key: bytes, blob: bytes, context: bytes = b"", origin: str = "data") -> bytes:
    """Decrypt a blob made by `encrypt`; raise DecryptionError on a wrong key, context or tampering."""
    if len(key) != KEY_BYTES:
        raise CryptoError(f"key must be {KEY_BYTES} bytes, got {len(key)}")
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise DecryptionError(f"{origin} is not an encrypted file of this format")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], MAGIC + context)
    except InvalidTag as err:
        raise DecryptionError(f"cannot decrypt {origin}: wrong key or the file was modified") from err


def write_encrypted(path: str | os.PathLike[str], key: bytes, plaintext: bytes, context: bytes = b"") -> None:
    """Encrypt to `path` atomically (temp file, fsync, rename) so readers never see a partial file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    blob = encrypt(key, plaintext, context)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, target)
    except OSError as err:
        Path(tmp_name).unlink(missing_ok=True)
        raise CryptoError(f"cannot write {target}: {err.strerror or err}") from err
    _fsync_directory(target.parent)


def read_encrypted(path: str | os.PathLike[str], key: bytes, context: bytes = b"") -> bytes:
    """Read and decrypt `path`; raise DecryptionError naming the file on a wrong key."""
    source = Path(path)
    try:
        blob = source.read_bytes()
    except OSError as err:
        raise CryptoError(f"cannot read {source}: {err.strerror or err}") from err
    return decrypt(key, blob, context, origin=str(source))


def _fsync_directory(directory: Path) -> None:
    """Flush the directory entry so a rename survives a power cut (best effort on odd filesystems)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        logger.debug("fsync of directory %s not supported", directory)
    finally:
        os.close(fd)
