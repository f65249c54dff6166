"""GET /experts (who knows X) and GET /people/{id} (a profile), both within the caller's ACL.

Anonymous callers (when allowed at all) see people only through their public work: a person with none
does not exist for them, and no directory fact (team, title, time zone, mentoring) is shown.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from index.acl import Principal
from index.experts.corrections import BUSY_LABEL  # a mentoring fact, hidden from anonymous callers
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
    mentor: MentorModel | None = Field(description="null for anonymous callers")
    signals: dict[str, float]
    labels: list[str]  # what people's corrections did: named expert, confirmed topic, busy


class ExpertsResponse(BaseModel):
    """No timing: how long ranking took depends on hidden documents too."""

    query: str
    experts: list[ExpertModel]


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
    mentor: MentorModel | None = Field(description="null for anonymous callers")
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


DIRECTORY_FACTS = ("team", "title", "timezone", "mentor")


def expert_model(e: Expert, principal: Principal) -> ExpertModel:
    """An expert as `principal` may see them: no directory facts for an anonymous caller."""
    data = {**asdict(e), "mentor": mentor_model(e.mentor)}
    if principal.is_anonymous:
        data.update(dict.fromkeys(DIRECTORY_FACTS))
        data["labels"] = [label for label in e.labels if label != BUSY_LABEL]
    return ExpertModel(**{k: v for k, v in data.items() if k in ExpertModel.model_fields})


def person_model(p: PersonProfile, principal: Principal) -> PersonModel | None:
    """A profile as `principal` may see it; None for an anonymous caller when the person has no public
    work (the directory alone does not make them exist for anonymous callers)."""
    if principal.is_anonymous and not p.counts:
        return None
    data = {**asdict(p), "mentor": mentor_model(p.mentor)}
    del data["topic_status"]
    data["topics"] = [
        TopicModel(topic=t, weight=w, status=p.topic_status.get(t, "inferred")) for t, w in p.topics
    ]
    if principal.is_anonymous:
        data.update(dict.fromkeys(DIRECTORY_FACTS))
    return PersonModel(**data)


def expert_filters(principal: Principal, filters: ExpertFilters) -> ExpertFilters | None:
    """The filters to rank with; None when nobody can match: an anonymous caller may not filter by
    mentoring or team, which are directory facts."""
    if principal.is_anonymous and (filters.mentors_only or filters.team):
        return None
    return filters


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
    asked = ExpertFilters(include_inactive=include_inactive, mentors_only=mentors_only, team=team or None)
    filters = expert_filters(principal, asked)
    found = []
    if q.strip() and filters is not None:
        found = finder_of(engine).rank_experts(q, principal, k=k, filters=filters)
    return ExpertsResponse(query=q, experts=[expert_model(e, principal) for e in found])


@router.get("/people/{person_id:path}", response_model=PersonModel, tags=["experts"])
def person(
    engine: EngineDep,
    principal: PrincipalDep,
    person_id: Annotated[
        str,
        Path(
            description="a directory id ('chloe.martin') or, for someone outside it, an account "
            "('forum:1234'), as /experts shows it",
            max_length=MAX_PERSON_ID_CHARS,
        ),
    ],
) -> PersonModel:
    profile = finder_of(engine).profile(person_id, principal)
    shown = person_model(profile, principal) if profile is not None else None
    if shown is None:
        raise HTTPException(status_code=404, detail="no such person")
    return shown
