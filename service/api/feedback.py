"""Feedback on expert suggestions: a signed-in user marks a person helpful or not for a question; the
ranking counts it, within the bound of index/experts/corrections.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints

from index.experts.corrections import topic_key
from index.experts.finder import topic_of
from index.state.profiles.feedback import FeedbackStore
from service.api.experts import finder_of
from service.api.self_service import MeDep
from service.deps import MAX_PERSON_ID_CHARS, EngineDep, checked_query

router = APIRouter(tags=["experts"])


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: Annotated[str, StringConstraints(min_length=1)]
    person_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PERSON_ID_CHARS)]
    helpful: StrictBool | None  # null takes the vote back


class FeedbackModel(BaseModel):
    query: str
    person_id: str
    helpful: bool | None


class MyVotes(BaseModel):
    query: str
    votes: dict[str, bool]  # person id -> helpful, for the caller's own votes on this question


def _key(engine: EngineDep, query: str) -> str:
    checked_query(engine.settings, "query", query)
    key = topic_key(topic_of(query))
    if not key:
        raise HTTPException(status_code=422, detail="query: needs at least one word")
    return key


@router.post("/experts/feedback", response_model=FeedbackModel)
def give_feedback(engine: EngineDep, me: MeDep, body: FeedbackBody) -> FeedbackModel:
    """Mark `person_id` helpful or not for `query` (one vote per person and question: a new one replaces
    the old). 404 for a person the caller may not see, 403 on oneself."""
    me.signed_in()
    key = _key(engine, body.query)
    if me.person_id == body.person_id:
        raise HTTPException(status_code=403, detail="you cannot rate yourself")
    if finder_of(engine).profile(body.person_id, me.principal) is None:
        raise HTTPException(status_code=404, detail="no such person")
    FeedbackStore(engine.state).vote(me.voter, body.query, key, body.person_id, body.helpful, me.actor())
    return FeedbackModel(query=body.query, person_id=body.person_id, helpful=body.helpful)


@router.get("/experts/feedback", response_model=MyVotes)
def my_feedback(engine: EngineDep, me: MeDep, q: Annotated[str, Query(min_length=1)]) -> MyVotes:
    """The caller's own votes for a question (to show them beside the suggestions)."""
    me.signed_in()
    key = _key(engine, q)
    votes = {
        v.person_id: v.vote > 0 for v in FeedbackStore(engine.state).given_by(me.voter) if v.query_key == key
    }
    return MyVotes(query=q, votes=votes)
