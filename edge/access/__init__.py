"""Access control at the edge: credentials (card, PIN, QR pass, face, plate), doors, barriers and policy.

A library without MQTT or database: the runtime feeds it presentations and publishes what it emits. Names are
imported lazily, so `import edge.access.qr_pass` (the platform's tests, tools) does not load OpenCV or numpy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Allowlist": "edge.access.allowlist",
    "BarrierController": "edge.access.barrier",
    "AccessConfig": "edge.access.config",
    "DoorConfig": "edge.access.config",
    "load_access_config": "edge.access.config",
    "parse_access_config": "edge.access.config",
    "DoorController": "edge.access.door",
    "AccessConfigError": "edge.access.errors",
    "AccessError": "edge.access.errors",
    "CredentialFormatError": "edge.access.errors",
    "PassError": "edge.access.errors",
    "PassKeyError": "edge.access.errors",
    "AccessPoint": "edge.access.gate",
    "GateDevices": "edge.access.gate",
    "GateRunner": "edge.access.gate",
    "PinLockout": "edge.access.pin",
    "hash_pin": "edge.access.pin",
    "AccessPolicy": "edge.access.policy",
    "Outcome": "edge.access.policy",
    "PassSigner": "edge.access.qr_pass",
    "PassVerifier": "edge.access.qr_pass",
    "VisitorPass": "edge.access.qr_pass",
    "AntiPassback": "edge.access.schedule",
    "in_schedule": "edge.access.schedule",
    "UsedPassStore": "edge.access.used_passes",
}
__all__ = [
    "AccessConfig",
    "AccessConfigError",
    "AccessError",
    "AccessPoint",
    "AccessPolicy",
    "Allowlist",
    "AntiPassback",
    "BarrierController",
    "CredentialFormatError",
    "DoorConfig",
    "DoorController",
    "GateDevices",
    "GateRunner",
    "Outcome",
    "PassError",
    "PassKeyError",
    "PassSigner",
    "PassVerifier",
    "PinLockout",
    "UsedPassStore",
    "VisitorPass",
    "hash_pin",
    "in_schedule",
    "load_access_config",
    "parse_access_config",
]

if TYPE_CHECKING:
    from edge.access.allowlist import Allowlist
    from edge.access.barrier import BarrierController
    from edge.access.config import AccessConfig, DoorConfig, load_access_config, parse_access_config
    from edge.access.door import DoorController
    from edge.access.errors import AccessConfigError, AccessError, CredentialFormatError, PassError, PassKeyError
    from edge.access.gate import AccessPoint, GateDevices, GateRunner
    from edge.access.pin import PinLockout, hash_pin
    from edge.access.policy import AccessPolicy, Outcome
    from edge.access.qr_pass import PassSigner, PassVerifier, VisitorPass
    from edge.access.schedule import AntiPassback, in_schedule
    from edge.access.used_passes import UsedPassStore


def __getattr__(name: str) -> Any:
    """Import an exported name on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edge.access' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
