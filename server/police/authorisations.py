"""The authorisation workflow: a police officer files, a second person with the approver right decides; all audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, delete, select, update

from server.police.scope import Scope
from server.police.settings import PoliceSettings
from server.security.policy import Principal, Role
from server.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.storage.accounts import User
from server.storage.audit import append_audit
from server.storage.police import PoliceApprover, PoliceAuthorisation

log = logging.getLogger(__name__)
APPROVER_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.POLICE})


class RequestIn(BaseModel):
    """A police request for records."""

    model_config = ConfigDict(extra="forbid")

    case_number: str = Field(min_length=1, max_length=64, description="Case number (案件编号)")
    legal_basis: str = Field(min_length=1, max_length=2000, description="Legal basis cited")
    purpose: str = Field(min_length=1, max_length=2000, description="What the records are needed for")
    scope: Scope = Field(description="Persons, plates, gates and record kinds")
    window_start: AwareDatetime = Field(description="Start of the period the records may come from")
    window_end: AwareDatetime = Field(description="End of that period (exclusive)")
    expires_at: AwareDatetime = Field(description="When the authorisation stops being usable")


@dataclass(frozen=True)
class Authorisation:
    """An authorisation as read back, with its effective state (an approved one past expiry is 'expired')."""

    id: int
    case_number: str
    legal_basis: str
    purpose: str
    scope: Scope
    window_start: datetime
    window_end: datetime
    expires_at: datetime
    status: str
    requested_by_id: int
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The period records may come from."""
        return self.window_start, self.window_end

    def state(self, now: datetime | None = None) -> str:
        """pending, approved, refused, revoked or expired."""
        now = now or datetime.now(UTC)
        if self.status in ("pending", "approved") and self.expires_at <= now:
            return "expired"
        return self.status

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (the API's response body)."""
        return {
            "id": self.id,
            "case_number": self.case_number,
            "legal_basis": self.legal_basis,
            "purpose": self.purpose,
            "scope": self.scope.model_dump(mode="json"),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "status": self.state(),
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decision_note": self.decision_note,
        }


def subject(authorisation_id: int) -> str:
    """How the audit log names an authorisation."""
    return f"police_authorisation:{authorisation_id}"


def _from_row(row: Any) -> Authorisation:
    """An Authorisation from a police_authorisations row."""
    return Authorisation(
        id=row.id,
        case_number=row.case_number,
        legal_basis=row.legal_basis,
        purpose=row.purpose,
        scope=Scope.model_validate(row.scope),
        window_start=row.window_start,
        window_end=row.window_end,
        expires_at=row.expires_at,
        status=row.status,
        requested_by_id=row.requested_by_id,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
    )


def load(connection: Connection, authorisation_id: int) -> Authorisation:
    """One authorisation; NotFound when there is none."""
    row = connection.execute(
        select(PoliceAuthorisation.__table__).where(PoliceAuthorisation.id == authorisation_id)
    ).first()
    if row is None:
        raise NotFound(f"authorisation {authorisation_id} does not exist")
    return _from_row(row)


def is_approver(connection: Connection, principal: Principal) -> bool:
    """Whether the caller holds the approver right (and a role that may hold it)."""
    if principal.role not in APPROVER_ROLES:
        return False
    granted = connection.execute(select(PoliceApprover.user_id).where(PoliceApprover.user_id == principal.user_id))
    return granted.first() is not None


class AuthorisationDesk:
    """Files, decides, revokes and lists authorisations; refusals are audited in their own transaction."""

    def __init__(self, engine: Engine, settings: PoliceSettings) -> None:
        self.engine, self.settings = engine, settings

    def _refuse(self, principal: Principal, action: str, subject_: str, reason: str, error: type[Exception]) -> None:
        """Record a refused attempt (committed even though the caller's transaction rolls back), then raise."""
        with self.engine.begin() as connection:
            append_audit(connection, principal.actor, action, subject_, {"refused": reason})
        raise error(reason)

    def file(self, principal: Principal, request: RequestIn, now: datetime | None = None) -> Authorisation:
        """A police officer files a request; it waits for a second person's decision."""
        now = now or datetime.now(UTC)
        if principal.role is not Role.POLICE:
            self._refuse(principal, "police.request.refused", "police_authorisation:new", "only police file", Forbidden)
        problem = self._check_request(request, now)
        if problem:
            raise InvalidInput(problem)
        values = {
            "case_number": request.case_number,
            "legal_basis": request.legal_basis,
            "purpose": request.purpose,
            "scope": request.scope.model_dump(mode="json"),
            "window_start": request.window_start,
            "window_end": request.window_end,
            "expires_at": request.expires_at,
            "status": "pending",
            "requested_by_id": principal.user_id,
            "requested_by": principal.actor,
            "requested_at": now,
            "decision_note": "",
        }
        with self.engine.begin() as connection:
            new_id = connection.execute(
                PoliceAuthorisation.__table__.insert().values(**values).returning(PoliceAuthorisation.id)
            ).scalar_one()
            detail = {k: v for k, v in values.items() if k not in ("requested_by_id", "requested_at", "status")}
            detail = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in detail.items()}
            append_audit(connection, principal.actor, "police.request.filed", subject(new_id), detail, ts=now)
            return load(connection, new_id)

    def _check_request(self, request: RequestIn, now: datetime) -> str | None:
        """The first problem with a request's window and expiry, or None."""
        if request.window_end <= request.window_start:
            return "window_end: must be after window_start"
        if request.window_end - request.window_start > timedelta(days=self.settings.max_window_days):
            return f"window_end: the window may cover at most {self.settings.max_window_days} days"
        if request.expires_at <= now:
            return "expires_at: must be in the future"
        if request.expires_at > now + timedelta(days=self.settings.max_validity_days):
            return f"expires_at: at most {self.settings.max_validity_days} days from now"
        return None

    def decide(
        self, principal: Principal, authorisation_id: int, approve: bool, note: str, now: datetime | None = None
    ) -> Authorisation:
        """A second person with the approver right approves or refuses a pending request."""
        now = now or datetime.now(UTC)
        action = "police.request.approved" if approve else "police.request.refused"
        with self.engine.connect() as connection:
            current = load(connection, authorisation_id)
            approver = is_approver(connection, principal)
        if not approver:
            self._refuse(
                principal, "police.decision.refused", subject(authorisation_id), "no approver right", Forbidden
            )
        if current.requested_by_id == principal.user_id:
            reason = "a request cannot be decided by its author"
            self._refuse(principal, "police.decision.refused", subject(authorisation_id), reason, Forbidden)
        if current.state(now) != "pending":
            reason = f"the request is {current.state(now)}, not pending"
            self._refuse(principal, "police.decision.refused", subject(authorisation_id), reason, Conflict)
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(PoliceAuthorisation)
                .where(PoliceAuthorisation.id == authorisation_id, PoliceAuthorisation.status == "pending")
                .values(
                    status="approved" if approve else "refused",
                    decided_by_id=principal.user_id,
                    decided_by=principal.actor,
                    decided_at=now,
                    decision_note=note,
                )
            ).rowcount
            if changed != 1:
                raise Conflict("the request was decided meanwhile")
            detail = {"case_number": current.case_number, "note": note, "expires_at": current.expires_at.isoformat()}
            append_audit(connection, principal.actor, action, subject(authorisation_id), detail, ts=now)
            return load(connection, authorisation_id)

    def revoke(self, principal: Principal, authorisation_id: int, note: str) -> Authorisation:
        """An approver withdraws an approved (or pending) authorisation before it expires."""
        with self.engine.connect() as connection:
            current = load(connection, authorisation_id)
            approver = is_approver(connection, principal)
        if not approver:
            self._refuse(principal, "police.revoke.refused", subject(authorisation_id), "no approver right", Forbidden)
        if current.state() not in ("pending", "approved"):
            raise Conflict(f"the authorisation is {current.state()}")
        with self.engine.begin() as connection:
            connection.execute(
                update(PoliceAuthorisation)
                .where(PoliceAuthorisation.id == authorisation_id)
                .values(status="revoked", decision_note=note)
            )
            append_audit(
                connection, principal.actor, "police.request.revoked", subject(authorisation_id), {"note": note}
            )
            return load(connection, authorisation_id)

    def visible(self, principal: Principal, authorisation_id: int) -> Authorisation:
        """One authorisation, if the caller filed it, may decide it, or is an admin."""
        with self.engine.connect() as connection:
            current = load(connection, authorisation_id)
            allowed = principal.is_admin or current.requested_by_id == principal.user_id
            allowed = allowed or is_approver(connection, principal)
        if not allowed:
            raise NotFound(f"authorisation {authorisation_id} does not exist")
        return current

    def list_for(self, principal: Principal, status: str | None = None, limit: int = 100) -> list[Authorisation]:
        """Police see their own requests; approvers and admins see all; newest first."""
        query = select(PoliceAuthorisation.__table__).order_by(PoliceAuthorisation.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            if not (principal.is_admin or is_approver(connection, principal)):
                query = query.where(PoliceAuthorisation.requested_by_id == principal.user_id)
            items = [_from_row(row) for row in connection.execute(query)]
        return [item for item in items if status is None or item.state() == status]

    def grant_approver(self, principal: Principal, user_id: int) -> None:
        """An admin gives a user (admin, manager or police) the right to decide requests."""
        if not principal.is_admin:
            raise Forbidden("only an admin grants the approver right")
        with self.engine.begin() as connection:
            role = connection.execute(select(User.role).where(User.id == user_id)).scalar()
            if role is None:
                raise NotFound(f"user {user_id} does not exist")
            if role not in {r.value for r in APPROVER_ROLES}:
                raise InvalidInput(f"user_id: a {role} cannot hold the approver right")
            if connection.execute(select(PoliceApprover).where(PoliceApprover.user_id == user_id)).first():
                raise Conflict(f"user {user_id} already holds the approver right")
            connection.execute(PoliceApprover.__table__.insert().values(user_id=user_id, granted_by=principal.actor))
            append_audit(connection, principal.actor, "police.approver.granted", f"user:{user_id}", {"role": role})

    def withdraw_approver(self, principal: Principal, user_id: int) -> None:
        """An admin takes the approver right away."""
        if not principal.is_admin:
            raise Forbidden("only an admin withdraws the approver right")
        with self.engine.begin() as connection:
            removed = connection.execute(delete(PoliceApprover).where(PoliceApprover.user_id == user_id)).rowcount
            if not removed:
                raise NotFound(f"user {user_id} holds no approver right")
            append_audit(connection, principal.actor, "police.approver.withdrawn", f"user:{user_id}", {})

    def approvers(self) -> list[dict[str, Any]]:
        """Users holding the approver right."""
        query = select(PoliceApprover.user_id, User.username, User.role, PoliceApprover.granted_by).join(
            User, User.id == PoliceApprover.user_id
        )
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]
