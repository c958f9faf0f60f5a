"""Police routes: file and decide authorisations, query and export inside one, approver rights, push status.

With the police link off every route answers 404, whoever calls.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from server.api.deps import Caller, authorize
from server.police.authorisations import RequestIn
from server.police.export import ExportIn
from server.police.pushqueue import queue_status
from server.police.runtime import PoliceRuntime
from server.police.scope import GateRef, QueryFilter, RecordKind
from server.security import policy
from server.security.policy import ADMIN, SIGNED_IN, STAFF, V1, Role

P = f"{V1}/police"
POLICE = frozenset({Role.POLICE})
DECIDERS = frozenset({Role.ADMIN, Role.MANAGER, Role.POLICE})
READERS = STAFF | POLICE
# The police routes' rules, merged into the one route table server.security.policy checks.
POLICE_RULES: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", f"{P}/authorisations"): POLICE,
    ("GET", f"{P}/authorisations"): READERS,
    ("GET", f"{P}/authorisations/{{authorisation_id}}"): READERS,
    ("POST", f"{P}/authorisations/{{authorisation_id}}/approve"): DECIDERS,
    ("POST", f"{P}/authorisations/{{authorisation_id}}/refuse"): DECIDERS,
    ("POST", f"{P}/authorisations/{{authorisation_id}}/revoke"): DECIDERS,
    ("GET", f"{P}/authorisations/{{authorisation_id}}/passages"): POLICE,
    ("GET", f"{P}/authorisations/{{authorisation_id}}/plates"): POLICE,
    ("GET", f"{P}/authorisations/{{authorisation_id}}/alarms"): POLICE,
    ("POST", f"{P}/authorisations/{{authorisation_id}}/export"): POLICE,
    ("GET", f"{P}/export-key"): SIGNED_IN,
    ("GET", f"{P}/approvers"): ADMIN,
    ("POST", f"{P}/approvers"): ADMIN,
    ("DELETE", f"{P}/approvers/{{user_id}}"): ADMIN,
    ("GET", f"{P}/push"): ADMIN,
}
policy.RULES.update(POLICE_RULES)


def police_runtime(request: Request) -> PoliceRuntime:
    """The police runtime; 404 for everyone while the link is off."""
    runtime: PoliceRuntime | None = getattr(request.app.state, "police", None)
    if runtime is None or not runtime.enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return runtime


router = APIRouter(prefix=P, tags=["police"], dependencies=[Depends(police_runtime), Depends(authorize)])
ROUTERS = (router,)


class DecisionIn(BaseModel):
    """An approver's decision note."""

    note: str = Field(default="", max_length=2000, description="Why (recorded in the audit log)")


class ApproverIn(BaseModel):
    """A user to give the approver right."""

    user_id: int = Field(ge=1)


class RecordPage(BaseModel):
    """Minimised records and the cursor of the next page."""

    authorisation_id: int
    case_number: str
    kind: str
    items: list[dict[str, Any]]
    next_before_id: int | None


class ExportOut(BaseModel):
    """A signed export: the exact document text and its detached signature."""

    document: str
    sha256: str
    signature: dict[str, str]


def _runtime(request: Request) -> PoliceRuntime:
    return request.app.state.police


@router.post("/authorisations", status_code=201)
def file_request(request: Request, caller: Caller, body: RequestIn) -> dict[str, Any]:
    """A police officer files a request for records; it waits for a second person's approval."""
    return _runtime(request).desk.file(caller, body).as_dict()


@router.get("/authorisations")
def list_authorisations(
    request: Request,
    caller: Caller,
    state: Literal["pending", "approved", "refused", "revoked", "expired"] | None = Query(default=None),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Police see their own requests; approvers and admins see all."""
    return [item.as_dict() for item in _runtime(request).desk.list_for(caller, state, limit)]


@router.get("/authorisations/{authorisation_id}")
def get_authorisation(request: Request, caller: Caller, authorisation_id: int) -> dict[str, Any]:
    """One authorisation, if the caller filed it, may decide it, or is an admin."""
    return _runtime(request).desk.visible(caller, authorisation_id).as_dict()


@router.post("/authorisations/{authorisation_id}/approve")
def approve(request: Request, caller: Caller, authorisation_id: int, body: DecisionIn) -> dict[str, Any]:
    """Approve a pending request (approver right; never its author)."""
    return _runtime(request).desk.decide(caller, authorisation_id, True, body.note).as_dict()


@router.post("/authorisations/{authorisation_id}/refuse")
def refuse(request: Request, caller: Caller, authorisation_id: int, body: DecisionIn) -> dict[str, Any]:
    """Refuse a pending request (approver right; never its author)."""
    return _runtime(request).desk.decide(caller, authorisation_id, False, body.note).as_dict()


@router.post("/authorisations/{authorisation_id}/revoke")
def revoke(request: Request, caller: Caller, authorisation_id: int, body: DecisionIn) -> dict[str, Any]:
    """Withdraw a pending or approved authorisation."""
    return _runtime(request).desk.revoke(caller, authorisation_id, body.note).as_dict()


def _filter(
    since: AwareDatetime | None = Query(default=None, description="Earliest time (inclusive)"),
    until: AwareDatetime | None = Query(default=None, description="Latest time (exclusive)"),
    person: list[str] = Query(default=[], description="Person ids (subset of the scope)"),
    plate: list[str] = Query(default=[], description="Plates (subset of the scope)"),
    gate: list[str] = Query(default=[], description="Gates as site/gate (subset of the scope)"),
    before_id: int | None = Query(default=None, ge=1),
    limit: int = Query(default=100, ge=1, le=10000),
) -> QueryFilter:
    """A query filter from query parameters."""
    gates = []
    for item in gate:
        site, _, gate_id = item.partition("/")
        try:
            gates.append(GateRef(site=site, gate=gate_id))
        except ValueError as err:
            raise HTTPException(422, f"gate: {item!r} is not site/gate") from err
    return QueryFilter(
        since=since, until=until, persons=person, plates=plate, gates=gates, before_id=before_id, limit=limit
    )


def _records(request: Request, caller: Caller, authorisation_id: int, kind: RecordKind, query: QueryFilter):
    result = _runtime(request).queries.run(caller, authorisation_id, kind, query)
    return RecordPage(
        authorisation_id=authorisation_id,
        case_number=result.authorisation.case_number,
        kind=kind,
        items=result.records,
        next_before_id=result.next_before_id,
    )


@router.get("/authorisations/{authorisation_id}/passages", response_model=RecordPage)
def passages(request: Request, caller: Caller, authorisation_id: int, query: QueryFilter = Depends(_filter)):
    """Gate passages inside the authorisation (audited; out-of-scope parts refused with 403)."""
    return _records(request, caller, authorisation_id, "passages", query)


@router.get("/authorisations/{authorisation_id}/plates", response_model=RecordPage)
def plates(request: Request, caller: Caller, authorisation_id: int, query: QueryFilter = Depends(_filter)):
    """Plate reads inside the authorisation (audited; out-of-scope parts refused with 403)."""
    return _records(request, caller, authorisation_id, "plates", query)


@router.get("/authorisations/{authorisation_id}/alarms", response_model=RecordPage)
def alarms(request: Request, caller: Caller, authorisation_id: int, query: QueryFilter = Depends(_filter)):
    """Alarms inside the authorisation (audited; out-of-scope parts refused with 403)."""
    return _records(request, caller, authorisation_id, "alarms", query)


@router.post("/authorisations/{authorisation_id}/export", response_model=ExportOut)
def export(request: Request, caller: Caller, authorisation_id: int, body: ExportIn) -> ExportOut:
    """GA/T 1400 style objects with a detached Ed25519 signature over the exact document text."""
    runtime = _runtime(request)
    assert runtime.exporter is not None  # built whenever the link is enabled
    bundle = runtime.exporter.export(caller, authorisation_id, body)
    return ExportOut(document=bundle.document, sha256=bundle.sha256, signature=bundle.signature.as_dict())


@router.get("/export-key")
def export_key(request: Request, _caller: Caller) -> dict[str, str]:
    """The public key exports verify against."""
    signer = _runtime(request).signer
    assert signer is not None
    return {"algorithm": "Ed25519", "key_id": signer.key_id, "public_key_pem": signer.public_key_pem()}


@router.get("/approvers")
def list_approvers(request: Request, _caller: Caller) -> list[dict[str, Any]]:
    """Users holding the approver right."""
    return _runtime(request).desk.approvers()


@router.post("/approvers", status_code=201)
def grant_approver(request: Request, caller: Caller, body: ApproverIn) -> dict[str, int]:
    """Give a user the right to approve or refuse police requests (audited)."""
    _runtime(request).desk.grant_approver(caller, body.user_id)
    return {"user_id": body.user_id}


@router.delete("/approvers/{user_id}", status_code=204)
def withdraw_approver(request: Request, caller: Caller, user_id: int) -> None:
    """Take the approver right away (audited)."""
    _runtime(request).desk.withdraw_approver(caller, user_id)


@router.get("/push")
def push_status(request: Request, _caller: Caller) -> dict[str, Any]:
    """The push queue: pending, delivered and rejected items, and the oldest pending item's age."""
    runtime = _runtime(request)
    stats = runtime.link.stats if runtime.link is not None else None
    return queue_status(runtime.desk.engine) | {
        "worker": None if stats is None else {"registered": stats.registered, "last_error": stats.last_error}
    }
