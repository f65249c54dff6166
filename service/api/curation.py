"""Admin curation of people: named experts per topic or source (the Stack Overflow for Teams pattern),
and the audit log of every change to anyone's profile."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from index.experts.corrections import topic_key
from index.experts.profile import person_by_person_id
from index.state.profiles.audit import AuditEntry, AuditLog
from index.state.profiles.settings import NamedExpert, ProfileError, ProfileStore
from service.api.self_service import MAX_TOPIC_CHARS, MeDep, Topic
from service.deps import MAX_PERSON_ID_CHARS, EngineDep

router = APIRouter(prefix="/admin", tags=["admin"])
PersonIdText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PERSON_ID_CHARS)]


class NamedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["topic", "source"]
    value: Topic  # a topic, or a source's name as in sources.toml
    person_id: PersonIdText


def value_key(kind: str, value: str) -> str:
    """Topics match by their terms; a source by its exact name."""
    return topic_key(value) if kind == "topic" else value.strip()


@router.get("/named-experts", response_model=list[NamedExpert])
def list_named(engine: EngineDep) -> list[NamedExpert]:
    return ProfileStore(engine.state).named_experts()


@router.put("/named-experts", response_model=NamedExpert)
def name_expert(engine: EngineDep, me: MeDep, body: NamedBody) -> NamedExpert:
    """Name `person_id` an expert for a topic or a source: they are suggested first for questions on it."""
    if person_by_person_id(engine.reader.db, body.person_id) is None:
        raise HTTPException(status_code=404, detail="person_id: no such person")
    try:
        named = ProfileStore(engine.state).name_expert(
            body.kind, body.value, value_key(body.kind, body.value), body.person_id, me.actor("admin")
        )
    except ProfileError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return named


@router.delete("/named-experts", status_code=204)
def unname_expert(
    engine: EngineDep,
    me: MeDep,
    kind: Literal["topic", "source"],
    value: Annotated[str, Query(min_length=1, max_length=MAX_TOPIC_CHARS)],
    person_id: Annotated[str, Query(min_length=1, max_length=MAX_PERSON_ID_CHARS)],
) -> Response:
    if not ProfileStore(engine.state).unname_expert(
        kind, value_key(kind, value), person_id, me.actor("admin")
    ):
        raise HTTPException(status_code=404, detail="no such named expert")
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditEntry])
def audit(
    engine: EngineDep,
    person_id: Annotated[str | None, Query(max_length=MAX_PERSON_ID_CHARS)] = None,
    actor: Annotated[str | None, Query(max_length=MAX_PERSON_ID_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """Every change to people's profiles, newest first: who, in which role, when, what."""
    return AuditLog(engine.state).entries(person_id=person_id, actor=actor, limit=limit)
