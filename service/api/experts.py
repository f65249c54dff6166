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
from index.experts.finder import Evidence, Expert, ExpertFilters, ExpertFinder
from index.experts.model import ExpertSettings
from index.experts.profile import Activity, Mentor, PersonProfile
from service.deps import MAX_PERSON_ID_CHARS, EngineDep, PrincipalDep, checked_query
from service.engine import Engine

router = APIRouter()
# People per answer: each comes with evidence and a profile lookup, and nobody reads past a few dozen.
MAX_EXPERTS = 50
MAX_TEAM_CHARS = 200  # a team name, not a document


class MentorModel(BaseModel):
    opt_in: bool
    capacity: int | None
    active: bool
    available: bool


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


class ExpertsResponse(BaseModel):
    """No timing: how long ranking took depends on hidden documents too."""

    query: str
    experts: list[ExpertModel]


class TopicModel(BaseModel):
    topic: str
    weight: float


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


def finder_of(engine: Engine) -> ExpertFinder:
    return ExpertFinder(engine.retriever, ExpertSettings())


DIRECTORY_FACTS = ("team", "title", "timezone", "mentor")


def _mentor(mentor: Mentor) -> MentorModel:
    return MentorModel(**asdict(mentor), available=mentor.available)


def expert_model(e: Expert, principal: Principal) -> ExpertModel:
    """An expert as `principal` may see them: no directory facts for an anonymous caller."""
    data = {**asdict(e), "mentor": _mentor(e.mentor)}
    if principal.is_anonymous:
        data.update(dict.fromkeys(DIRECTORY_FACTS))
    return ExpertModel(**{k: v for k, v in data.items() if k in ExpertModel.model_fields})


def person_model(p: PersonProfile, principal: Principal) -> PersonModel | None:
    """A profile as `principal` may see it; None for an anonymous caller when the person has no public
    work (the directory alone does not make them exist for anonymous callers)."""
    if principal.is_anonymous and not p.counts:
        return None
    data = {**asdict(p), "mentor": _mentor(p.mentor)}
    data["topics"] = [TopicModel(topic=t, weight=w) for t, w in p.topics]
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
    mentors_only: Annotated[bool, Query(description="only people who mentor and have room")] = False,
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
