"""The police watchlist (GA/T 1400 dispositions) pulled on a schedule and applied as ordinary watchlist entries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, select, update

from server.police.scope import normalise_plate
from server.police.settings import PoliceSettings
from server.police.viid import parse_pass_time
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.crypto import FieldCipher
from server.storage.identity import IdentifierError
from server.storage.people import Person, find_person_ids_by_id_number
from server.storage.registry import Site
from server.storage.watchlists import WatchlistEntry

if TYPE_CHECKING:
    from server.police.client import ViidClient

log = logging.getLogger(__name__)
CREATED_BY_PREFIX = "police:"
LINK_ACTOR = "system:police-link"
PRIORITY_LEVELS = {"1": "critical", "2": "warning", "3": "info"}
CATEGORY_KINDS = {"1": "person", "2": "plate"}


@dataclass(frozen=True)
class WantedEntry:
    """One watchlist entry the police list asks for."""

    site_id: str
    kind: str
    value: str
    level: str
    reason: str
    created_by: str


def parse_dispositions(document: Any) -> list[dict[str, Any]]:
    """The DispositionObject list of a DispositionListObject document (empty when malformed)."""
    if not isinstance(document, dict):
        return []
    wrapper = document.get("DispositionListObject")
    objects = wrapper.get("DispositionObject") if isinstance(wrapper, dict) else None
    return [item for item in objects if isinstance(item, dict)] if isinstance(objects, list) else []


def wanted_entries(
    connection: Connection,
    dispositions: list[dict[str, Any]],
    sites: list[str],
    cipher: FieldCipher | None,
    now: datetime,
) -> tuple[list[WantedEntry], int]:
    """Entries the dispositions ask for at the sites, and how many dispositions were skipped."""
    wanted: list[WantedEntry] = []
    skipped = 0
    for item in dispositions:
        disposition_id = str(item.get("DispositionID", "")).strip()
        kind = CATEGORY_KINDS.get(str(item.get("DispositionCategory", "")))
        level = PRIORITY_LEVELS.get(str(item.get("PriorityLevel", "2")), "warning")
        try:
            ended = bool(item.get("EndTime")) and parse_pass_time(str(item["EndTime"])) <= now
        except ValueError:
            ended = False
        if not disposition_id or kind is None or ended or len(disposition_id) > 100:
            skipped += 1
            continue
        created_by = f"{CREATED_BY_PREFIX}{disposition_id}"
        reason = str(item.get("Title") or item.get("Reason") or "")[:500]
        if kind == "plate":
            plate = normalise_plate(str(item.get("PlateNo", "")))
            if not 2 <= len(plate) <= 16:
                skipped += 1
                continue
            wanted += [WantedEntry(site, "plate", plate, level, reason, created_by) for site in sites]
            continue
        person_sites = _resolve_person(connection, cipher, str(item.get("IDNumber", "")))
        if not person_sites:
            skipped += 1
            continue
        for person_id, site in person_sites:
            if site in sites:
                wanted.append(WantedEntry(site, "person", person_id, level, reason, created_by))
    return wanted, skipped


def _resolve_person(connection: Connection, cipher: FieldCipher | None, id_number: str) -> list[tuple[str, str]]:
    """(person id, site) of registered persons with this ID number, found by keyed hash."""
    if cipher is None or not id_number:
        return []
    try:
        person_ids = find_person_ids_by_id_number(connection, cipher, id_number)
    except IdentifierError:
        return []
    if not person_ids:
        return []
    rows = connection.execute(select(Person.id, Person.site_id).where(Person.id.in_(person_ids)))
    return [(row.id, row.site_id) for row in rows]


def apply_watchlist(connection: Connection, wanted: list[WantedEntry], now: datetime) -> dict[str, int]:
    """Make the police-created entries equal `wanted`: add new ones, retire stale ones, update levels."""
    current = {
        (row.site_id, row.kind, row.value, row.created_by): row
        for row in connection.execute(
            select(WatchlistEntry).where(
                WatchlistEntry.created_by.startswith(CREATED_BY_PREFIX), WatchlistEntry.removed_at.is_(None)
            )
        )
    }
    desired = {(w.site_id, w.kind, w.value, w.created_by): w for w in wanted}
    changed: dict[str, list[str]] = {}
    counts = {"added": 0, "removed": 0, "updated": 0}
    for key, entry in desired.items():
        row = current.get(key)
        if row is None:
            new_id = connection.execute(
                insert(WatchlistEntry)
                .values(
                    site_id=entry.site_id,
                    kind=entry.kind,
                    value=entry.value,
                    level=entry.level,
                    reason=entry.reason,
                    created_by=entry.created_by,
                    created_at=now,
                )
                .returning(WatchlistEntry.id)
            ).scalar_one()
            counts["added"] += 1
            if entry.kind == "plate":
                changed.setdefault(entry.site_id, []).append(f"watch-{new_id}")
        elif row.level != entry.level or row.reason != entry.reason:
            connection.execute(
                update(WatchlistEntry).where(WatchlistEntry.id == row.id).values(level=entry.level, reason=entry.reason)
            )
            counts["updated"] += 1
    for key, row in current.items():
        if key not in desired:
            connection.execute(update(WatchlistEntry).where(WatchlistEntry.id == row.id).values(removed_at=now))
            counts["removed"] += 1
            if row.kind == "plate":
                changed.setdefault(row.site_id, []).append(f"watch-{row.id}")
    for site_id, keys in changed.items():
        record_change(connection, site_id, "allowlist", keys)  # watched plates travel to the edges' allowlists
    return counts


class WatchlistPuller:
    """Pulls the police watchlist and applies it; each change set is audited."""

    def __init__(
        self, engine: Engine, settings: PoliceSettings, client: ViidClient, cipher: FieldCipher | None = None
    ) -> None:
        self.engine, self.settings, self.client, self.cipher = engine, settings, client, cipher

    def pull(self, now: datetime | None = None) -> dict[str, int]:
        """GET the list, apply it, audit the outcome."""
        now = now or datetime.now(UTC)
        dispositions = parse_dispositions(self.client.get(self.settings.watchlist.path))
        return self.apply(dispositions, now)

    def apply(self, dispositions: list[dict[str, Any]], now: datetime | None = None) -> dict[str, int]:
        """Apply a list of dispositions (pulled, or pushed to the platform) in one transaction."""
        now = now or datetime.now(UTC)
        with self.engine.begin() as connection:
            sites = self.settings.watchlist.sites or list(connection.execute(select(Site.id)).scalars())
            wanted, skipped = wanted_entries(connection, dispositions, sites, self.cipher, now)
            counts = apply_watchlist(connection, wanted, now) | {"skipped": skipped, "received": len(dispositions)}
            if counts["added"] or counts["removed"] or counts["updated"] or skipped:
                append_audit(connection, LINK_ACTOR, "police.watchlist.applied", "watchlist:police", counts, ts=now)
        log.info("police watchlist applied: %s", counts)
        return counts
