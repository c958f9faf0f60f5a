"""Access control at the edge: credentials (card, PIN, QR pass, face, plate), doors, barriers and policy.

A library without MQTT or database: the runtime feeds it presentations and publishes what it emits.
"""

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
