"""What an authorisation covers (persons, plates, gates, a window, record kinds) and what a query may ask."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

RecordKind = Literal["passages", "plates", "alarms"]
RECORD_KINDS: tuple[RecordKind, ...] = ("passages", "plates", "alarms")
_LEVEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_OPAQUE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class OutOfScope(Exception):
    """A query asks for something its authorisation does not cover; the message says what."""


def normalise_plate(raw: str) -> str:
    """Plate text as events store it: upper case, no spaces, dots or dashes."""
    return re.sub(r"[\s.\-·]", "", raw).upper()


class GateRef(BaseModel):
    """One gate of one site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(description="Site id (topic level)")
    gate: str = Field(description="Gate id at the site")

    @field_validator("site", "gate")
    @classmethod
    def _level(cls, value: str) -> str:
        """Site and gate ids are topic levels."""
        if not _LEVEL.match(value):
            raise ValueError("must be a-z, 0-9 and '-'")
        return value


class Scope(BaseModel):
    """Whom (persons, plates) and where (gates) an authorisation covers, and which kinds of record."""

    model_config = ConfigDict(extra="forbid")

    persons: list[str] = Field(default_factory=list, max_length=100, description="Platform person ids")
    plates: list[str] = Field(default_factory=list, max_length=100, description="Plate numbers")
    gates: list[GateRef] = Field(default_factory=list, max_length=100, description="Gates (site and gate id)")
    identify_all_at_gates: bool = Field(
        default=False, description="Reveal every person id and plate seen at the named gates (needs gates)"
    )
    kinds: list[RecordKind] = Field(default_factory=lambda: list(RECORD_KINDS), min_length=1, description="Records")

    @field_validator("persons")
    @classmethod
    def _persons(cls, value: list[str]) -> list[str]:
        """Person ids are opaque ids."""
        for person in value:
            if not _OPAQUE.match(person):
                raise ValueError(f"person id {person!r} is not an opaque id")
        return sorted(set(value))

    @field_validator("plates")
    @classmethod
    def _plates(cls, value: list[str]) -> list[str]:
        """Plates are normalised the way events store them."""
        plates = sorted({normalise_plate(plate) for plate in value})
        if any(not 2 <= len(plate) <= 16 for plate in plates):
            raise ValueError("a plate number has 2 to 16 characters")
        return plates

    @model_validator(mode="after")
    def _not_empty(self) -> Scope:
        """A scope names someone or somewhere; identifying everyone needs gates."""
        if not (self.persons or self.plates or self.gates):
            raise ValueError("scope: name at least one person, plate or gate")
        if self.identify_all_at_gates and not self.gates:
            raise ValueError("scope.identify_all_at_gates: needs gates")
        self.kinds = sorted(set(self.kinds))  # type: ignore[assignment]
        return self

    def reveals_person(self, person_id: str | None) -> bool:
        """Whether a person id may appear in a response."""
        return person_id is not None and (self.identify_all_at_gates or person_id in self.persons)

    def reveals_plate(self, plate: str | None) -> bool:
        """Whether a plate may appear in a response."""
        return plate is not None and (self.identify_all_at_gates or plate in self.plates)


class QueryFilter(BaseModel):
    """What one query asks for: a part of the authorisation's window and scope (all of it by default)."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(default=None, description="Earliest time (inclusive); window start if unset")
    until: AwareDatetime | None = Field(default=None, description="Latest time (exclusive); window end if unset")
    persons: list[str] = Field(default_factory=list, max_length=100, description="Subset of the scope's persons")
    plates: list[str] = Field(default_factory=list, max_length=100, description="Subset of the scope's plates")
    gates: list[GateRef] = Field(default_factory=list, max_length=100, description="Subset of the scope's gates")
    before_id: int | None = Field(default=None, ge=1, description="Cursor from the previous page")
    limit: int = Field(default=100, ge=1, le=100000, description="Most records returned")


class Narrowed(BaseModel):
    """A query resolved against its scope: the concrete window, subjects and gates searched."""

    since: datetime
    until: datetime
    persons: list[str]
    plates: list[str]
    gates: list[GateRef]


def narrow(scope: Scope, window: tuple[datetime, datetime], kind: RecordKind, query: QueryFilter) -> Narrowed:
    """The query limited to the scope; OutOfScope when it asks for anything the scope does not name."""
    start, end = window
    if kind not in scope.kinds:
        raise OutOfScope(f"record kind {kind} is not in the authorisation's scope")
    since = query.since or start
    until = query.until or end
    if since < start or until > end:
        raise OutOfScope(f"time {since.isoformat()}..{until.isoformat()} is outside the authorised window")
    if until <= since:
        raise OutOfScope("until must be after since")
    persons = sorted(set(query.persons))
    plates = sorted({normalise_plate(plate) for plate in query.plates})
    extra_persons = set(persons) - set(scope.persons)
    extra_plates = set(plates) - set(scope.plates)
    extra_gates = set(query.gates) - set(scope.gates)
    if extra_persons:
        raise OutOfScope(f"{len(extra_persons)} person id(s) are not in the authorisation's scope")
    if extra_plates:
        raise OutOfScope(f"plate(s) {', '.join(sorted(extra_plates))} are not in the authorisation's scope")
    if extra_gates:
        raise OutOfScope(f"gate(s) {', '.join(f'{g.site}/{g.gate}' for g in extra_gates)} are not in scope")
    if not (persons or plates):
        persons, plates = list(scope.persons), list(scope.plates)
    gates = list(query.gates) or list(scope.gates)
    return Narrowed(since=since, until=until, persons=persons, plates=plates, gates=gates)
