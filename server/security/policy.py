"""Who may do what: the one table of route rules, the caller's scope (sites, own person) and masking by role."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from server.services.errors import Forbidden
from server.storage.identity import mask_id_number, mask_phone


class Role(StrEnum):
    """A user's role."""

    ADMIN = "admin"
    MANAGER = "manager"
    RESIDENT = "resident"
    POLICE = "police"
    DEVICE = "device"


ADMIN = frozenset({Role.ADMIN})
STAFF = frozenset({Role.ADMIN, Role.MANAGER})
PEOPLE = STAFF | {Role.RESIDENT}
SIGNED_IN = PEOPLE | {Role.POLICE}

V1 = "/api/v1"
# Every route under /api/v1 needs an entry here (tests/unit/test_api_policy_matrix.py enumerates the app).
# Public routes authenticate otherwise (password form, refresh token, signed pass token).
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", f"{V1}/auth/token"),
        ("POST", f"{V1}/auth/refresh"),
        ("GET", f"{V1}/passes/qr.png"),
    }
)
RULES: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", f"{V1}/auth/logout"): SIGNED_IN,
    ("GET", f"{V1}/auth/me"): SIGNED_IN,
    ("POST", f"{V1}/auth/password"): SIGNED_IN,
    ("GET", f"{V1}/users"): STAFF,
    ("POST", f"{V1}/users"): STAFF,
    ("POST", f"{V1}/users/{{user_id}}/disable"): STAFF,
    ("POST", f"{V1}/users/{{user_id}}/unlock"): STAFF,
    ("GET", f"{V1}/sites"): STAFF,
    ("POST", f"{V1}/sites"): ADMIN,
    ("GET", f"{V1}/sites/{{site_id}}"): STAFF,
    ("GET", f"{V1}/buildings"): STAFF,
    ("POST", f"{V1}/buildings"): STAFF,
    ("GET", f"{V1}/units"): STAFF,
    ("POST", f"{V1}/units"): STAFF,
    ("GET", f"{V1}/rooms"): STAFF,
    ("POST", f"{V1}/rooms"): STAFF,
    ("GET", f"{V1}/gates"): STAFF,
    ("POST", f"{V1}/gates"): STAFF,
    ("GET", f"{V1}/persons"): PEOPLE,
    ("POST", f"{V1}/persons"): STAFF,
    ("GET", f"{V1}/persons/{{person_id}}"): PEOPLE,
    ("GET", f"{V1}/persons/{{person_id}}/household"): PEOPLE,
    ("POST", f"{V1}/occupancies"): STAFF,
    ("GET", f"{V1}/vehicles"): PEOPLE,
    ("POST", f"{V1}/vehicles"): PEOPLE,
    ("DELETE", f"{V1}/vehicles/{{vehicle_id}}"): PEOPLE,
    ("GET", f"{V1}/credentials"): STAFF,
    ("POST", f"{V1}/credentials"): STAFF,
    ("DELETE", f"{V1}/credentials/{{credential_id}}"): STAFF,
    ("PUT", f"{V1}/persons/{{person_id}}/pin"): PEOPLE,
    ("GET", f"{V1}/devices"): STAFF,
    ("POST", f"{V1}/devices"): STAFF,
    ("DELETE", f"{V1}/devices/{{device_id}}"): STAFF,
    ("GET", f"{V1}/devices/{{device_id}}/sync"): STAFF,
    ("POST", f"{V1}/devices/{{device_id}}/resync"): STAFF,
    ("POST", f"{V1}/imports/residents"): STAFF,
    ("POST", f"{V1}/imports/vehicles"): STAFF,
    ("POST", f"{V1}/persons/{{person_id}}/consents/face"): PEOPLE,
    ("DELETE", f"{V1}/persons/{{person_id}}/consents/face"): PEOPLE,
    ("POST", f"{V1}/persons/{{person_id}}/face"): PEOPLE,
    ("GET", f"{V1}/persons/{{person_id}}/face"): PEOPLE,
    ("GET", f"{V1}/visitor-passes"): PEOPLE,
    ("POST", f"{V1}/visitor-passes"): PEOPLE,
    ("GET", f"{V1}/visitor-passes/{{pass_id}}/qr.png"): PEOPLE,
    ("DELETE", f"{V1}/visitor-passes/{{pass_id}}"): PEOPLE,
    ("GET", f"{V1}/watchlist"): STAFF,
    ("POST", f"{V1}/watchlist"): STAFF,
    ("DELETE", f"{V1}/watchlist/{{entry_id}}"): STAFF,
    ("GET", f"{V1}/alerts"): STAFF,
    ("POST", f"{V1}/alerts/{{alert_id}}/acknowledge"): STAFF,
    ("GET", f"{V1}/events"): PEOPLE,
    ("GET", f"{V1}/events/export.csv"): STAFF,
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: role, the sites in scope, and (for a resident) their own person."""

    user_id: int
    username: str
    role: Role
    site_ids: frozenset[str] = field(default_factory=frozenset)
    person_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"user:{self.username}"

    @property
    def is_admin(self) -> bool:
        """Admins see every site."""
        return self.role is Role.ADMIN


def allowed_roles(method: str, path: str) -> frozenset[Role] | None:
    """The roles a route admits, or None when the route has no rule (refused)."""
    return RULES.get((method.upper(), path))


def check_route(principal: Principal, method: str, path: str) -> None:
    """Refuse a caller whose role the route's rule does not name (no rule: refuse everyone)."""
    roles = allowed_roles(method, path)
    if roles is None:
        raise Forbidden(f"no access rule for {method} {path}")
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role.value} may not call {method} {path}")


def site_scope(principal: Principal) -> frozenset[str] | None:
    """Sites the caller may see: None means all (admin)."""
    return None if principal.is_admin else principal.site_ids


def require_site(principal: Principal, site_id: str) -> None:
    """Refuse a site outside the caller's scope."""
    scope = site_scope(principal)
    if scope is not None and site_id not in scope:
        raise Forbidden(f"site {site_id} is outside your scope")


def require_staff_or_self(principal: Principal, person_id: str, site_id: str, household: Iterable[str] = ()) -> None:
    """Staff of the person's site, or the resident themself (or a household member when `household` lists them)."""
    if principal.role is Role.RESIDENT:
        if principal.person_id is None or (person_id != principal.person_id and person_id not in set(household)):
            raise Forbidden("residents may only act on their own records")
        return
    if principal.role not in STAFF:
        raise Forbidden(f"role {principal.role.value} may not access persons")
    require_site(principal, site_id)


def masked_phone_for(principal: Principal, person_id: str, phone: str | None) -> str | None:
    """Admins, managers and the person themself see the phone number; other residents see it masked."""
    if phone is None:
        return None
    if principal.role in STAFF or principal.person_id == person_id:
        return phone
    return mask_phone(phone)


def masked_id_number_for(principal: Principal, id_number: str | None, reveal: bool) -> str | None:
    """ID numbers are masked for everyone; only an admin asking to reveal (audited) sees the full number."""
    if id_number is None:
        return None
    if reveal and principal.is_admin:
        return id_number
    return mask_id_number(id_number)
