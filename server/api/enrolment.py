"""Face consent (with notice, channel, guardian), enrolment from photos, withdrawal with erasure on every edge."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, UploadFile
from pydantic import BaseModel, Field

from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.services import enrolment as service
from server.services.errors import InvalidInput
from server.services.hooks import after_commit

router = APIRouter(prefix="/api/v1", tags=["enrolment"], dependencies=[Depends(authorize)])
ROUTERS = (router,)
MAX_PHOTO_BYTES = 8 * 1024 * 1024


class ConsentBody(BaseModel):
    """A face consent record."""

    given_by: str = Field(min_length=1, max_length=128, description="Who consented (the person or the guardian)")
    notice_version: str = Field(min_length=1, max_length=32, description="Version of the privacy notice shown")
    channel: str = Field(pattern=r"^(in_person|app|paper|web)$", description="How the consent was collected")
    subject_birth_date: date | None = Field(default=None, description="Needed when the person has no ID number")
    guardian_name: str | None = Field(default=None, max_length=128, description="Required under 14")
    guardian_relation: str | None = Field(default=None, max_length=32, description="Required under 14")


@router.post("/persons/{person_id}/consents/face", status_code=201)
def grant_consent(
    person_id: str, body: ConsentBody, caller: Caller, connection: Tx, services: ServicesDep
) -> dict[str, int]:
    """Record the person's consent to face recognition."""
    consent = service.ConsentIn(**body.model_dump())
    return {"consent_id": service.record_consent(connection, services.keys.cipher, caller, person_id, consent)}


@router.delete("/persons/{person_id}/consents/face", status_code=202)
def withdraw_consent(person_id: str, caller: Caller, connection: Tx, services: ServicesDep) -> dict[str, Any]:
    """Withdraw the consent: templates are deleted here and an erase command goes to every edge that held them."""
    commands = service.withdraw_consent(connection, caller, person_id)
    for site, device, command in commands:
        after_commit(connection, lambda c=command, s=site, d=device: services.sender.send(c, s, d))
    after_commit(connection, services.sync.kick)
    return {"person_id": person_id, "erase_sent_to": [device for _, device, _ in commands]}


@router.post("/persons/{person_id}/face", status_code=201)
async def enrol(
    person_id: str,
    caller: Caller,
    services: ServicesDep,
    photos: list[UploadFile] = File(description="1-10 photos, one face each"),
) -> dict[str, Any]:
    """Enrol photos with the edge's own face code; needs a standing face consent."""
    contents = []
    for photo in photos:
        data = await photo.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise InvalidInput(f"photos: {photo.filename} is larger than {MAX_PHOTO_BYTES} bytes")
        contents.append((photo.filename or "photo", data))
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_enrol_sync, services, caller, person_id, contents)


def _enrol_sync(services: Any, caller: Any, person_id: str, contents: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Face analysis is CPU-bound: run it off the event loop, in one transaction."""
    with services.engine.begin() as connection:
        result = service.enrol_photos(connection, services.keys.cipher, services.enrolment, caller, person_id, contents)
    services.sync.kick()
    return result


@router.get("/persons/{person_id}/face")
def face_status(person_id: str, caller: Caller, connection: Tx) -> dict[str, Any]:
    """Consent, templates held, and each edge's confirmation of an erasure."""
    return service.face_status(connection, caller, person_id)
