"""Encrypted gallery store and the generic AES-GCM helpers: round trip, wrong key, no plaintext on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.vision.crypto import (
    CryptoError,
    DecryptionError,
    encode_key,
    generate_key,
    load_key,
    read_encrypted,
    write_encrypted,
)
from edge.vision.face_config import MatcherConfig
from edge.vision.face_errors import GalleryStoreError
from edge.vision.gallery import EMBEDDING_DIM, Gallery, Template
from edge.vision.gallery_store import EncryptedGalleryStore, decode_gallery, encode_gallery

MATCHER = MatcherConfig()


def make_templates(count: int = 6) -> list[Template]:
    """Templates of three persons with distinctive ids."""
    rng = np.random.default_rng(5)
    return [
        Template(f"tmpl-{i:04d}-x", f"resident-{i % 3}-secret", rng.normal(size=EMBEDDING_DIM)) for i in range(count)
    ]


def test_round_trip_keeps_version_ids_and_exact_vectors(tmp_path: Path) -> None:
    key = generate_key()
    templates = make_templates()
    gallery = Gallery.open(EncryptedGalleryStore(tmp_path / "gallery.bin", key))
    gallery.add(templates, new_version=12)
    reopened = Gallery.open(EncryptedGalleryStore(tmp_path / "gallery.bin", key))
    assert reopened.version == 12
    assert reopened.fingerprint == gallery.fingerprint
    by_id = {t.template_id: t for t in reopened.templates()}
    for template in templates:
        assert by_id[template.template_id].person_id == template.person_id
        assert np.array_equal(by_id[template.template_id].vector, template.vector)


def test_missing_file_opens_an_empty_gallery(tmp_path: Path) -> None:
    gallery = Gallery.open(EncryptedGalleryStore(tmp_path / "none.bin", generate_key()))
    assert len(gallery) == 0 and gallery.version == 0


def test_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "gallery.bin"
    Gallery.open(EncryptedGalleryStore(path, generate_key())).add(make_templates())
    with pytest.raises(GalleryStoreError, match="wrong key"):
        Gallery.open(EncryptedGalleryStore(path, generate_key()))


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "gallery.bin"
    Gallery.open(EncryptedGalleryStore(path, key)).add(make_templates())
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(GalleryStoreError):
        EncryptedGalleryStore(path, key).load()


def test_no_plaintext_ids_or_template_bytes_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "gallery.bin"
    templates = make_templates()
    Gallery.open(EncryptedGalleryStore(path, generate_key())).add(templates)
    raw = path.read_bytes()
    plain = encode_gallery(1, templates)
    assert len(raw) > len(plain)  # the file really holds the whole gallery
    for template in templates:
        assert template.person_id.encode() not in raw
        assert template.template_id.encode() not in raw
        vector_bytes = template.vector.astype("<f4").tobytes()
        for offset in range(0, len(vector_bytes), 64):
            assert vector_bytes[offset : offset + 16] not in raw
    assert b"template_ids" not in raw
    assert list(tmp_path.iterdir()) == [path]  # no temp file with plaintext left behind


def test_erasure_is_provable_from_the_file(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "gallery.bin"
    templates = make_templates()
    gallery = Gallery.open(EncryptedGalleryStore(path, key))
    gallery.add(templates)
    report = gallery.remove(person_ids=["resident-1-secret"])
    assert report.removed_person_ids == ("resident-1-secret",)
    assert set(report.removed_template_ids) == {t.template_id for t in templates if t.person_id == "resident-1-secret"}
    version, stored = decode_gallery(read_encrypted(path, key, b"sc-face-gallery-v1"))
    assert version == report.version == 2
    assert {t.person_id for t in stored} == {"resident-0-secret", "resident-2-secret"}
    assert not set(report.removed_template_ids) & {t.template_id for t in stored}
    removed_vector = next(t for t in templates if t.person_id == "resident-1-secret").vector
    assert not any(np.array_equal(removed_vector, t.vector) for t in stored)
    assert Gallery.open(EncryptedGalleryStore(path, key)).fingerprint == report.fingerprint


class FailingStore:
    """A store whose disk is full: the update must not take effect in memory either."""

    def save(self, version: int, templates: object) -> None:
        raise GalleryStoreError("disk full")

    def load(self) -> None:
        return None


def test_update_is_not_applied_when_persisting_fails() -> None:
    gallery = Gallery(make_templates(3), version=4, store=FailingStore())
    with pytest.raises(GalleryStoreError):
        gallery.remove(person_ids=["resident-0-secret"])
    assert gallery.version == 4 and "resident-0-secret" in gallery.person_ids


def test_key_from_env_in_base64_or_hex_and_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("SC_TEST_KEY", encode_key(key))
    assert load_key("SC_TEST_KEY") == key
    monkeypatch.setenv("SC_TEST_KEY", key.hex())
    assert load_key("SC_TEST_KEY") == key
    monkeypatch.delenv("SC_TEST_KEY")
    key_file = tmp_path / "key"
    key_file.write_text(encode_key(key) + "\n")
    assert load_key("SC_TEST_KEY", key_file) == key
    key_file.write_bytes(key)
    assert load_key("SC_TEST_KEY", key_file) == key
    with pytest.raises(CryptoError, match="SC_TEST_KEY"):
        load_key("SC_TEST_KEY")
    monkeypatch.setenv("SC_TEST_KEY", "too-short")
    with pytest.raises(CryptoError, match="not a 32-byte key"):
        load_key("SC_TEST_KEY")


def test_store_from_env_reports_a_missing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SC_FACE_GALLERY_KEY", raising=False)
    with pytest.raises(GalleryStoreError, match="SC_FACE_GALLERY_KEY"):
        EncryptedGalleryStore.from_env(tmp_path / "g.bin")


def test_context_is_bound_to_the_ciphertext(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "blob"
    write_encrypted(path, key, b"hello", b"context-a")
    assert read_encrypted(path, key, b"context-a") == b"hello"
    with pytest.raises(DecryptionError):
        read_encrypted(path, key, b"context-b")
