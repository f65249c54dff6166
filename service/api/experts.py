"""GET /experts (who knows X) and GET /people/{id} (a profile), both within the caller's ACL."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel

from index.experts.finder import Evidence, Expert, ExpertFilters, ExpertFinder
from index.experts.profile import Activity, Mentor, PersonProfile
from service.deps import MAX_PERSON_ID_CHARS, EngineDep, PrincipalDep, checked_query
from service.engine import Engine
from service.finder import corrected_finder

router = APIRouter()
# People per answer: each comes with evidence and a profile lookup, and nobody reads past a few dozen.
MAX_EXPERTS = 50
MAX_TEAM_CHARS = 200  # a team name, not a document


class MentorModel(BaseModel):
    opt_in: bool
    capacity: int | None
    active: bool
    accepted: int  # accepted mentoring requests, which fill the capacity
    available: bool  # takes requests now: active, opted in, room left
    busy: bool  # opted in, every place taken


def mentor_model(m: Mentor) -> MentorModel:
    return MentorModel(**asdict(m), available=m.available, busy=m.busy)


class ExpertModel(BaseModel):
    person_id: str
    name: str | None
    team: str | None
    title: str | None
    score: float
    why: str
    evidence: list[Evidence]
    topics: list[str]
    last_active: str | None
    mentor: MentorModel
    signals: dict[str, float]
    labels: list[str]  # what people's corrections did: named expert, confirmed topic, busy


class ExpertsResponse(BaseModel):
    query: str
    experts: list[ExpertModel]
    took_ms: float


class TopicModel(BaseModel):
    topic: str
    weight: float  # share of the person's visible activity (0 for a self-declared topic)
    status: str  # inferred (from their work), confirmed (by them, and their work), self-declared


class PersonModel(BaseModel):
    person_id: str
    name: str | None
    team: str | None
    title: str | None
    timezone: str | None
    mentor: MentorModel
    last_active: str | None
    topics: list[TopicModel]
    ask_me_about: list[str]
    documents: list[Activity]
    counts: dict[str, int]
    sources: dict[str, int]
    do_not_ask: list[str]  # topics the person asked not to be asked about
    named_expert_for: list[str]  # what an admin named them an expert for ("topic X", "source Y")


def finder_of(engine: Engine) -> ExpertFinder:
    return corrected_finder(engine)


def expert_model(e: Expert) -> ExpertModel:
    data = asdict(e)
    data["mentor"] = mentor_model(e.mentor)
    return ExpertModel(**data)


def person_model(p: PersonProfile) -> PersonModel:
    data = asdict(p)
    del data["topic_status"]
    data["mentor"] = mentor_model(p.mentor)
    data["topics"] = [
        TopicModel(topic=t, weight=w, status=p.topic_status.get(t, "inferred")) for t, w in p.topics
    ]
    return PersonModel(**data)


@router.get("/experts", response_model=ExpertsResponse, tags=["experts"])
def experts(
    engine: EngineDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(description="the question or topic; plain words")] = "",
    k: Annotated[int, Query(ge=1, le=MAX_EXPERTS)] = 10,
    mentors_only: Annotated[bool, Query(description="only people who mentor (busy ones last)")] = False,
    team: Annotated[str | None, Query(max_length=MAX_TEAM_CHARS)] = None,
    include_inactive: Annotated[bool, Query(description="also people who left or are inactive")] = False,
) -> ExpertsResponse:
    checked_query(engine.settings, "q", q)
    started = time.perf_counter()
    filters = ExpertFilters(include_inactive=include_inactive, mentors_only=mentors_only, team=team or None)
    found = finder_of(engine).rank_experts(q, principal, k=k, filters=filters) if q.strip() else []
    took = (time.perf_counter() - started) * 1000
    return ExpertsResponse(query=q, experts=[expert_model(e) for e in found], took_ms=round(took, 2))


@router.get("/people/{person_id}", response_model=PersonModel, tags=["experts"])
def person(
    engine: EngineDep,
    principal: PrincipalDep,
    person_id: Annotated[str, Path(max_length=MAX_PERSON_ID_CHARS)],
) -> PersonModel:
    profile = finder_of(engine).profile(person_id, principal)
    if profile is None:
        raise HTTPException(status_code=404, detail="no such person")
    return person_model(profile)
