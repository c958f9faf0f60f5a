"""Errors of the device layer: driver-library failures leave as these."""

from __future__ import annotations


class DeviceError(Exception):
    """A device could not be opened, read or driven."""
