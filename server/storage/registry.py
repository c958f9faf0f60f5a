"""The standard address (一标三实) and the installation: sites, buildings, units, rooms, gates and devices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from server.storage.base import Base, BigId
from server.storage.identity import parse_gb28181_id
from server.storage.types import utc_now


class Site(Base):
    """A residential community (小区); its id is the topic level devices publish under."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(Text, default="")
    division_code: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Building(Base):
    """A building (楼栋) of a site."""

    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128), default="")

    __table_args__ = (UniqueConstraint("site_id", "code"),)


class Unit(Base):
    """A stairwell unit (单元) of a building."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("building_id", "code"),)


class Room(Base):
    """A dwelling (房屋) in a unit; `address` is its full standard address."""

    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    floor: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("unit_id", "code"),)


class Gate(Base):
    """An entrance of a site (pedestrian door or vehicle barrier); `code` is the gate id in events."""

    __tablename__ = "gates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16), default="pedestrian")

    __table_args__ = (UniqueConstraint("site_id", "code"),)


class Device(Base):
    """A device at a site (gate controller, camera, reader, NVR); `code` is its topic level."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    gb28181_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (UniqueConstraint("site_id", "code"),)

    @validates("gb28181_id")
    def _check_gb28181_id(self, _key: str, value: str | None) -> str | None:
        """Refuse a GB/T 28181 id whose segments are invalid."""
        if value is not None:
            parse_gb28181_id(value)
        return value
