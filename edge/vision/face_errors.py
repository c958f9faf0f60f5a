"""Exceptions of the face pipeline: library errors are converted to these at the boundary."""

from __future__ import annotations


class FaceError(Exception):
    """Base error of the face pipeline (detection, encoding, gallery, enrolment)."""


class ImageError(FaceError):
    """An image could not be read or has an unusable shape or type."""


class GalleryError(FaceError):
    """A gallery update or search was invalid."""


class GalleryVersionError(GalleryError):
    """An update was based on another gallery version than the one held (a full sync is needed)."""


class GalleryStoreError(GalleryError):
    """The encrypted gallery file could not be read, decrypted or written."""
