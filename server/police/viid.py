"""GA/T 1400 (视图库) style objects: MotorVehicleObject, FaceObject, DispositionNotificationObject, ids and codes.

Times are China Standard Time (UTC+8, no daylight saving) as yyyyMMddHHmmss. Object ids follow GA/T 1400.1:
a 41-digit source id (20-digit device id, 2-digit type, 14-digit time, 5-digit serial) and a 48-digit object id
(source id, 2-digit object type, 5-digit serial). Serials derive from the event id, so re-sending the same event
yields the same ids. Fields that GA/T 1400 has no name for carry an ``SC`` prefix (local extensions).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from server.storage.identity import parse_gb28181_id

CHINA_TIME = timezone(timedelta(hours=8), "CST")
NO_DEVICE_ID = "0" * 20
IMAGE_SOURCE_TYPE = "02"
OBJECT_TYPE = {"person": "01", "motor_vehicle": "02", "face": "06"}
# GA/T 1400.3 colour codes (ColorType) for plate backgrounds.
PLATE_COLOUR_CODES = {"black": "1", "white": "2", "blue": "5", "yellow": "6", "green": "9", "unknown": "99"}
INFO_KIND_AUTOMATIC = 1


def pass_time(ts: datetime) -> str:
    """yyyyMMddHHmmss in China time."""
    return ts.astimezone(CHINA_TIME).strftime("%Y%m%d%H%M%S")


def parse_pass_time(value: str) -> datetime:
    """A yyyyMMddHHmmss China-time string as an aware datetime."""
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TIME)


def plate_colour_code(colour: str | None) -> str:
    """The GA/T 1400 colour code of a plate colour name ('99' when unknown)."""
    return PLATE_COLOUR_CODES.get(colour or "unknown", "99")


def _serial(event_id: str, salt: str = "") -> str:
    """A stable 5-digit serial from an event id."""
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, f'{event_id}{salt}').int % 100000:05d}"


def source_id(device_id: str | None, ts: datetime, event_id: str) -> str:
    """41-digit source id: device id, image type, time, serial."""
    return f"{device_id or NO_DEVICE_ID}{IMAGE_SOURCE_TYPE}{pass_time(ts)}{_serial(event_id)}"


def object_id(device_id: str | None, ts: datetime, event_id: str, object_type: str) -> str:
    """48-digit object id: source id, object type, serial."""
    return f"{source_id(device_id, ts, event_id)}{OBJECT_TYPE[object_type]}{_serial(event_id, object_type)}"


class DeviceIds:
    """GB/T 28181 ids of devices: the registry's first, then the police config's, each validated."""

    def __init__(self, registry: Mapping[tuple[str, str], str], configured: Mapping[str, str]) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        for key, value in configured.items():
            site, device = key.split("/", 1)
            self._ids[(site, device)] = value
        self._ids.update(registry)
        for value in self._ids.values():
            parse_gb28181_id(value)

    def get(self, site: str, device: str) -> str | None:
        """The device's 20-digit id, or None when none is configured."""
        return self._ids.get((site, device))


def _with_device(document: dict[str, Any], device_id: str | None) -> dict[str, Any]:
    """Add DeviceID when the device has a GB/T 28181 id."""
    if device_id:
        document["DeviceID"] = device_id
    return document


def motor_vehicle(record: Mapping[str, Any], device_id: str | None) -> dict[str, Any]:
    """A MotorVehicleObject from a (minimised) plate record; PlateNo only when the record carries the plate."""
    ts = datetime.fromisoformat(record["ts"])
    event_id = record["event_id"]
    document: dict[str, Any] = {
        "MotorVehicleID": object_id(device_id, ts, event_id, "motor_vehicle"),
        "InfoKind": INFO_KIND_AUTOMATIC,
        "SourceID": source_id(device_id, ts, event_id),
        "PassTime": pass_time(ts),
    }
    if record.get("plate"):
        document |= {
            "HasPlate": True,
            "PlateNo": record["plate"],
            "PlateColor": plate_colour_code(record.get("colour")),
        }
    document["SCEventID"] = event_id
    document["SCSite"], document["SCGate"] = record.get("site"), record.get("gate")
    return _with_device(document, device_id)


def face(record: Mapping[str, Any], device_id: str | None) -> dict[str, Any]:
    """A FaceObject from a passage record (no image: events never carry one); SCPersonID when revealed."""
    ts = datetime.fromisoformat(record["ts"])
    event_id = record["event_id"]
    document: dict[str, Any] = {
        "FaceID": object_id(device_id, ts, event_id, "face"),
        "InfoKind": INFO_KIND_AUTOMATIC,
        "SourceID": source_id(device_id, ts, event_id),
        "FaceAppearTime": pass_time(ts),
        "FaceDisAppearTime": pass_time(ts),
    }
    if record.get("person_id"):
        document["SCPersonID"] = record["person_id"]
    document |= {"SCEventID": event_id, "SCSite": record.get("site"), "SCGate": record.get("gate")}
    document |= {"SCMethod": record.get("method"), "SCResult": record.get("result")}
    return _with_device(document, device_id)


def disposition_notification(record: Mapping[str, Any], device_id: str | None, title: str) -> dict[str, Any]:
    """A DispositionNotificationObject (alarm notice) from an alarm or watchlist-hit record."""
    ts = datetime.fromisoformat(record["ts"])
    event_id = record["event_id"]
    document: dict[str, Any] = {
        "NotificationID": f"{source_id(device_id, ts, event_id)}{_serial(event_id, 'notification')}",
        "Title": title,
        "TriggerTime": pass_time(ts),
        "CntObjectID": record.get("related_event_id") or event_id,
        "SCEventID": event_id,
        "SCSite": record.get("site"),
        "SCGate": record.get("gate"),
        "SCSeverity": record.get("severity"),
    }
    return _with_device(document, device_id)


def motor_vehicle_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The MotorVehicleListObject wrapper."""
    return {"MotorVehicleListObject": {"MotorVehicleObject": objects}}


def face_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The FaceListObject wrapper."""
    return {"FaceListObject": {"FaceObject": objects}}


def disposition_notification_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The DispositionNotificationListObject wrapper."""
    return {"DispositionNotificationListObject": {"DispositionNotificationObject": objects}}


def load_device_ids(connection: Any, configured: Mapping[str, str]) -> DeviceIds:
    """Device ids from the registry (devices.gb28181_id), completed by the police config's device_ids."""
    from sqlalchemy import select

    from server.storage.registry import Device

    rows = connection.execute(
        select(Device.site_id, Device.code, Device.gb28181_id).where(Device.gb28181_id.is_not(None))
    )
    return DeviceIds({(site, code): gb_id for site, code, gb_id in rows}, configured)
