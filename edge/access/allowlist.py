"""The cached allowlist, indexed for the gate: cards and plates by value (plates also by serial), PINs by account,
entries by person."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.access.errors import CredentialFormatError
from edge.access.pin import PinHash
from edge.vision.plate_rules import PROVINCES, normalise_plate_text
from protocol.cards import CardFormatError, canonical_card
from protocol.commands import AllowlistEntry, CredentialKind

log = logging.getLogger(__name__)


def normalise_card(text: str) -> str:
    """A card number as the allowlist keys it: protocol.cards.canonical_card, the platform's form too."""
    try:
        return canonical_card(text)
    except CardFormatError as err:
        raise CredentialFormatError(str(err)) from err


def normalise_plate(text: str) -> str:
    """A plate as the allowlist keys it: the plate recogniser's canonical form."""
    return normalise_plate_text(text)


def plate_serial(plate: str) -> str:
    """A normalised plate's text after its opening province character ("" when it opens with none)."""
    return plate[1:] if len(plate) > 1 and plate[0] in PROVINCES else ""


def normalise(kind: CredentialKind, value: str) -> str:
    """The index key of a credential value."""
    if kind is CredentialKind.CARD:
        return normalise_card(value)
    if kind is CredentialKind.PLATE:
        return normalise_plate(value)
    return value


@dataclass(frozen=True)
class _Index:
    """An immutable snapshot of the allowlist; replaced whole on every change."""

    by_ref: dict[str, AllowlistEntry] = field(default_factory=dict)
    by_value: dict[tuple[str, str], AllowlistEntry] = field(default_factory=dict)
    pins: dict[str, list[tuple[PinHash, AllowlistEntry]]] = field(default_factory=dict)
    by_person: dict[str, list[AllowlistEntry]] = field(default_factory=dict)
    by_plate_serial: dict[str, list[AllowlistEntry]] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable[AllowlistEntry]) -> _Index:
        """Index entries, skipping (and logging) those whose value cannot be parsed."""
        index = cls()
        for entry in entries:
            try:
                if entry.kind is CredentialKind.PIN:
                    parsed = PinHash.parse(entry.value)
                    index.pins.setdefault(parsed.account, []).append((parsed, entry))
                else:
                    value = normalise(entry.kind, entry.value)
                    index.by_value[(entry.kind.value, value)] = entry
                    serial = plate_serial(value) if entry.kind is CredentialKind.PLATE else ""
                    if serial:
                        index.by_plate_serial.setdefault(serial, []).append(entry)
            except CredentialFormatError as err:
                log.warning("allowlist entry %s skipped: %s", entry.credential_ref, err)
                continue
            index.by_ref[entry.credential_ref] = entry
            if entry.person_id:
                index.by_person.setdefault(entry.person_id, []).append(entry)
        return index


class Allowlist:
    """Thread-safe allowlist: readers see a consistent snapshot while a sync swaps in a new one."""

    def __init__(self, entries: Iterable[AllowlistEntry] = (), version: int = 0) -> None:
        self._index = _Index.build(entries)
        self.version = version
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._index.by_ref)

    def lookup(self, kind: CredentialKind | str, value: str) -> AllowlistEntry | None:
        """The card or plate entry for a presented value (None if unknown or unparseable)."""
        kind = CredentialKind(kind)
        try:
            return self._index.by_value.get((kind.value, normalise(kind, value)))
        except CredentialFormatError:
            return None

    def plates_with_serial(self, plate: str) -> list[AllowlistEntry]:
        """The plate entries whose text after the province character is that of this plate."""
        serial = plate_serial(normalise_plate(plate))
        return list(self._index.by_plate_serial.get(serial, [])) if serial else []

    def pins_for(self, account: str) -> list[tuple[PinHash, AllowlistEntry]]:
        """The PIN hashes registered for an account."""
        return self._index.pins.get(account, [])

    def for_person(self, person_id: str) -> list[AllowlistEntry]:
        """All entries of a person."""
        return self._index.by_person.get(person_id, [])

    def entries(self) -> list[AllowlistEntry]:
        """All entries."""
        return list(self._index.by_ref.values())

    def replace(self, entries: Iterable[AllowlistEntry], version: int) -> None:
        """Replace everything (a full sync)."""
        index = _Index.build(entries)
        with self._lock:
            self._index, self.version = index, version

    def apply(self, upserts: Iterable[AllowlistEntry], removes: Iterable[str], version: int) -> None:
        """Apply an incremental sync: upsert by credential_ref, remove by credential_ref."""
        with self._lock:
            current = dict(self._index.by_ref)
            for ref in removes:
                current.pop(ref, None)
            for entry in upserts:
                current[entry.credential_ref] = entry
            self._index, self.version = _Index.build(current.values()), version

    def remove_person(self, person_id: str) -> int:
        """Drop every entry of a person (erasure); returns how many."""
        with self._lock:
            kept = [entry for entry in self._index.by_ref.values() if entry.person_id != person_id]
            removed = len(self._index.by_ref) - len(kept)
            self._index = _Index.build(kept)
        return removed
