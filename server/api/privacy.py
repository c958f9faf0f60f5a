"""Privacy routes: compliance report, enforcement, audit verification, PIA, subject export and erasure, cameras."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.privacy.audit_chain import verify_and_anchor
from server.privacy.edges import send_all
from server.privacy.filing import FilingGauge
from server.privacy.purpose import camera_register, register_camera, search_events
from server.privacy.report import build_report
from server.privacy.retention import RetentionEnforcer
from server.privacy.subjects import SubjectNotFound, erase_person, erasure_certificate, export_person
from server.privacy.worker import RetentionWorker
from server.security import policy
from server.security.policy import ADMIN, PEOPLE, STAFF, V1, Principal, require_site, require_staff_or_self
from server.storage.people import Person
from server.storage.privacy import SubjectRequest
from server.storage.registry import Site

P = f"{V1}/privacy"
# The privacy routes' rules, merged into the one route table server.security.policy checks.
PRIVACY_RULES = {
    ("GET", f"{P}/report"): STAFF,
    ("POST", f"{P}/enforce"): ADMIN,
    ("GET", f"{P}/audit/verify"): ADMIN,
    ("GET", f"{P}/pia"): ADMIN,
    ("GET", f"{P}/persons/{{person_id}}/export"): PEOPLE,
    ("POST", f"{P}/persons/{{person_id}}/erase"): PEOPLE,
    ("GET", f"{P}/erasures/{{request_id}}/certificate"): PEOPLE,
    ("GET", f"{P}/cameras"): STAFF,
    ("POST", f"{P}/cameras"): ADMIN,
    ("GET", f"{P}/events"): STAFF,
}
policy.RULES.update(PRIVACY_RULES)
router = APIRouter(prefix=P, tags=["privacy"], dependencies=[Depends(authorize)])
ROUTERS = (router,)


class CameraIn(BaseModel):
    """A camera's declared purpose and whether a sign warns the public."""

    site_id: str = Field(min_length=1, max_length=64)
    device: str = Field(min_length=1, max_length=64)
    camera: str = Field(default="", max_length=64)
    gate: str | None = Field(default=None, max_length=64)
    purpose: Literal["public_security", "access_control"]
    signage_posted: bool
    note: str = Field(default="", max_length=2000)


class EraseIn(BaseModel):
    """An erasure cannot be undone: the body repeats the person id to confirm it."""

    confirm: str = Field(min_length=1, max_length=64, description="The person id being erased, again")


def build_worker(settings: Any, platform: Any, services: Any) -> RetentionWorker:
    """The retention worker of the API process, sending edge commands through the API's command client."""
    enforcer = RetentionEnforcer(platform.engine, settings.privacy, platform.timeseries, services.sender.send)
    return RetentionWorker(enforcer, settings.privacy.enforce_interval_s, FilingGauge(platform.metrics.registry))


def _subject(tx: Any, caller: Principal, person_id: str) -> Any:
    """The person, if the caller is staff of their site or the person themself."""
    person = tx.execute(select(Person.id, Person.site_id).where(Person.id == person_id)).first()
    if person is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"person {person_id}")
    require_staff_or_self(caller, person_id, person.site_id)
    return person


@router.get("/report")
def report(request: Request, caller: Caller, verify: bool = True) -> dict[str, Any]:
    """The compliance report (no personal data: counts, ages, device ids)."""
    services = request.app.state.services
    return build_report(services.engine, services.settings.privacy, verify_chain=verify)


@router.post("/enforce")
def enforce(request: Request, caller: Caller) -> dict[str, Any]:
    """Run retention enforcement now."""
    services = request.app.state.services
    platform = request.app.state.platform
    enforcer = RetentionEnforcer(services.engine, services.settings.privacy, platform.timeseries, services.sender.send)
    return enforcer.run(f"api:{caller.username}").as_dict()


@router.get("/audit/verify")
def verify_audit_chain(services: ServicesDep, caller: Caller, anchor: bool = True) -> dict[str, Any]:
    """Verify the audit chain against the anchor file; 409 when it is broken."""
    chain = verify_and_anchor(services.engine, services.settings.privacy.audit_anchor_file, update_anchor=anchor)
    if not chain.ok:
        raise HTTPException(status.HTTP_409_CONFLICT, chain.as_dict())
    return chain.as_dict()


@router.get("/pia")
def pia(services: ServicesDep, caller: Caller) -> Response:
    """The privacy impact assessment rendered with the live configuration (Markdown)."""
    from server.privacy.pia import render_pia

    return Response(render_pia(services.settings, services.engine), media_type="text/markdown; charset=utf-8")


@router.get("/persons/{person_id}/export")
def export(person_id: str, tx: Tx, services: ServicesDep, caller: Caller) -> Response:
    """Everything held about a person: person.json and snapshot files in a ZIP (audited)."""
    _subject(tx, caller, person_id)
    try:
        request_id, data = export_person(
            tx, services.keys.cipher, services.settings.privacy.snapshot_root, person_id, caller.actor
        )
    except SubjectNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    headers = {"Content-Disposition": f'attachment; filename="{person_id}-{request_id}.zip"'}
    return Response(data, media_type="application/zip", headers=headers)


@router.post("/persons/{person_id}/erase", status_code=status.HTTP_202_ACCEPTED)
def erase(person_id: str, body: EraseIn, services: ServicesDep, caller: Caller) -> dict[str, Any]:
    """Erase a person here now and on every edge; the certificate is issued once every edge confirmed."""
    if body.confirm != person_id:
        raise HTTPException(422, "confirm: must repeat the person id")
    privacy = services.settings.privacy
    with services.engine.begin() as tx:
        _subject(tx, caller, person_id)
        try:
            request_id, outgoing = erase_person(
                tx, privacy.snapshot_root, person_id, caller.actor, privacy.erased_events
            )
        except SubjectNotFound as err:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    sent = send_all(services.sender.send, outgoing)
    return {"request_id": str(request_id), "edges_asked": sent, "devices": [device for _, device, _ in outgoing]}


@router.get("/erasures/{request_id}/certificate")
def certificate(request_id: str, tx: Tx, caller: Caller) -> dict[str, Any]:
    """The certificate of erasure; status 'waiting for edges' until every edge's receipt is in."""
    try:
        key = uuid.UUID(request_id)
    except ValueError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"erasure request {request_id}") from err
    owner = tx.execute(select(SubjectRequest.person_id, SubjectRequest.site_id).where(SubjectRequest.id == key)).first()
    if owner is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"erasure request {request_id}")
    require_staff_or_self(caller, owner.person_id, owner.site_id)
    try:
        return erasure_certificate(tx, key, caller.actor)
    except SubjectNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err


@router.get("/cameras")
def cameras(tx: Tx, caller: Caller) -> list[dict[str, Any]]:
    """The camera register (purpose and signage); cameras of other sites are left out for managers."""
    scope = policy.site_scope(caller)
    return [row for row in camera_register(tx) if scope is None or row["site_id"] in scope]


@router.post("/cameras", status_code=status.HTTP_201_CREATED)
def add_camera(body: CameraIn, tx: Tx, caller: Caller) -> dict[str, Any]:
    """Register (or update) a camera's purpose and signage."""
    if tx.execute(select(Site.id).where(Site.id == body.site_id)).first() is None:
        # checked here: the foreign key would refuse it only at insert time, as a 500
        raise HTTPException(422, f"site_id: unknown site {body.site_id}")
    camera_id = register_camera(
        tx,
        caller.actor,
        site_id=body.site_id,
        device=body.device,
        camera=body.camera,
        gate=body.gate,
        purpose=body.purpose,
        signage_posted=body.signage_posted,
        note=body.note,
    )
    return {"id": camera_id}


@router.get("/events")
def events_for_access_control(
    tx: Tx,
    caller: Caller,
    site_id: str,
    since: datetime,
    until: datetime,
    limit: int = Query(default=500, ge=1, le=5000),
) -> list[dict[str, Any]]:
    """Staff search of passages for access control: public-security cameras' events are withheld (PIPL Art. 26)."""
    require_site(caller, site_id)
    return search_events(tx, "access_control", site_id, since, until, limit)
