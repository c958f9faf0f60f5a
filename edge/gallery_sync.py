"""Applies versioned gallery syncs from the platform (full or incremental, possibly in chunks) to the face gallery."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edge.vision.face_errors import GalleryError
from edge.vision.gallery import AddTemplates, Gallery, RemoveTemplates, Template
from protocol.commands import GallerySync, SyncMode

log = logging.getLogger(__name__)


class GallerySyncError(ValueError):
    """A sync that cannot be applied; the message says why (the gallery is unchanged)."""


@dataclass
class _Staging:
    """Chunks of one sync received so far."""

    key: tuple[str, int, int, int]
    chunks: dict[int, GallerySync] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncOutcome:
    """What a sync message did: applied (all chunks in) or staged, and the gallery it leaves."""

    applied: bool
    version: int
    templates: int
    detail: str


class GallerySynchroniser:
    """Stages the chunks of a sync and applies them as one atomic gallery update once all have arrived."""

    def __init__(self, gallery: Gallery) -> None:
        self.gallery = gallery
        self._staging: _Staging | None = None

    def handle(self, sync: GallerySync) -> SyncOutcome:
        """Stage one chunk; apply the whole sync when its last chunk arrives."""
        held = self.gallery.version
        if sync.mode is SyncMode.INCREMENTAL and sync.base_version != held:
            self._staging = None
            raise GallerySyncError(f"increment is based on version {sync.base_version}, this edge holds {held}")
        key = (sync.mode.value, sync.base_version, sync.version, sync.chunks)
        if self._staging is None or self._staging.key != key:
            self._staging = _Staging(key)
        self._staging.chunks[sync.chunk] = sync
        if len(self._staging.chunks) < sync.chunks:
            detail = f"chunk {sync.chunk + 1} of {sync.chunks} staged"
            return SyncOutcome(False, held, len(self.gallery), detail)
        parts = [self._staging.chunks[index] for index in range(sync.chunks)]
        self._staging = None
        return self._apply(sync, parts)

    def _apply(self, sync: GallerySync, parts: list[GallerySync]) -> SyncOutcome:
        """Build the templates and apply the full replace or the increment in one update."""
        try:
            entries = [entry for part in parts for entry in part.upserts]
            templates = [Template(entry.template_id, entry.person_id, entry.embedding) for entry in entries]
            if sync.mode is SyncMode.FULL:
                report = self.gallery.replace_all(templates, version=sync.version)
            else:
                removes = tuple(person for part in parts for person in part.removes)
                ops = [RemoveTemplates(template_ids=tuple(t.template_id for t in templates), person_ids=removes)]
                if templates:
                    ops.append(AddTemplates(tuple(templates)))
                report = self.gallery.apply(ops, expected_version=sync.base_version, new_version=sync.version)
        except GalleryError as err:
            raise GallerySyncError(str(err)) from err
        detail = f"{len(report.added_template_ids)} added, {len(report.removed_template_ids)} removed"
        return SyncOutcome(True, report.version, report.template_count, detail)
