"""Bounded mentoring: "ask to be mentored" records a request and notifies the webhook; the mentor
accepts or declines; accepted requests fill their capacity, and a mentor at capacity takes no more."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, StringConstraints

from index.experts.corrections import chosen_mentor, covers, topic_key, topic_terms
from index.experts.profile import person_by_person_id
from index.state.profiles.mentoring import MentoringError, MentoringRequest, MentoringStore
from index.state.profiles.settings import ProfileStore
from service.api.experts import finder_of
from service.api.self_service import MAX_TOPIC_CHARS, Me, MeDep
from service.deps import MAX_PERSON_ID_CHARS, EngineDep
from service.engine import Engine
from service.notify import Webhook

router = APIRouter(tags=["mentoring"])
MAX_MESSAGE_CHARS = 2000
Line = Annotated[str, StringConstraints(max_length=MAX_TOPIC_CHARS, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text = Annotated[
    str, StringConstraints(max_length=MAX_MESSAGE_CHARS, pattern=r"^[^\x00-\x09\x0b-\x1f\x7f]*$")
]


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: Line = ""
    message: Text = ""


class RequestModel(BaseModel):
    id: int
    mentor: str
    requester: str
    requester_person: str | None
    topic: str
    message: str
    status: str  # pending | accepted | declined | withdrawn | ended
    created_at: str
    decided_at: str | None
    decided_by: str | None
    notified: bool | None  # the webhook took the last event; None: no webhook is configured
    notify_error: str | None


class RequestLists(BaseModel):
    received: list[RequestModel]  # as the mentor
    sent: list[RequestModel]


def request_model(r: MentoringRequest) -> RequestModel:
    notified = True if r.notified_at else (False if r.notify_error else None)
    return RequestModel(**asdict(r), notified=notified)


def _refuse(detail: str) -> HTTPException:
    return HTTPException(status_code=409, detail=detail)


@router.post("/people/{person_id}/mentoring-requests", status_code=201, response_model=RequestModel)
def ask(
    engine: EngineDep,
    me: MeDep,
    person_id: Annotated[str, Path(max_length=MAX_PERSON_ID_CHARS)],
    body: AskBody,
) -> RequestModel:
    """Ask to be mentored: refused (409) when the mentor does not mentor, is busy or asked not to be
    asked about the topic, or when you already asked them or have too many requests waiting."""
    user = me.signed_in()
    profile = finder_of(engine).profile(person_id, me.principal)
    if profile is None:
        raise HTTPException(status_code=404, detail="no such person")
    if me.person_id == person_id:
        raise _refuse("you cannot ask yourself to be your mentor")
    name, mentor = profile.name or person_id, profile.mentor
    if not mentor.active:
        raise _refuse(f"{name} is no longer active")
    if not mentor.opt_in:
        raise _refuse(f"{name} does not take mentoring requests")
    if mentor.busy:
        raise _refuse(f"{name} is busy: every mentoring place is taken")
    asked = topic_terms(body.topic)
    declined = [t for t in profile.do_not_ask if covers(topic_key(t), asked)]
    if declined:
        raise _refuse(f"{name} asked not to be asked about {declined[0]}")
    store = MentoringStore(engine.state)
    try:
        created = store.create(
            person_id, user, me.person_id, body.topic.strip(), body.message.strip(), me.actor()
        )
    except MentoringError as exc:
        raise _refuse(str(exc)) from exc
    return request_model(_notified(engine, store, created))


@router.get("/mentoring/requests", response_model=RequestLists)
def my_requests(engine: EngineDep, me: MeDep) -> RequestLists:
    """The requests you received (as a mentor) and those you sent, newest first."""
    user = me.signed_in()
    store = MentoringStore(engine.state)
    received = store.received(me.person_id) if me.person_id else []
    return RequestLists(
        received=[request_model(r) for r in received],
        sent=[request_model(r) for r in store.sent(me.person_id, [user])],
    )


# who may take each action, besides an admin
ACTORS = {"accept": "mentor", "decline": "mentor", "withdraw": "requester", "end": "either"}


@router.post("/mentoring/requests/{request_id}/{action}", response_model=RequestModel)
def decide(
    engine: EngineDep,
    me: MeDep,
    request_id: Annotated[int, Path(ge=1, le=2**53)],
    action: Literal["accept", "decline", "withdraw", "end"],
) -> RequestModel:
    """The mentor accepts or declines (409 when at capacity), the requester withdraws, either ends an
    accepted one (which frees its place). Someone else's request is 404, as a missing one."""
    me.signed_in()
    store = MentoringStore(engine.state)
    found = store.get(request_id)
    if found is None or not (_is_mentor(me, found) or _is_requester(me, found) or me.admin):
        raise HTTPException(status_code=404, detail="no such mentoring request")
    who = ACTORS[action]
    allowed = (
        (who in ("mentor", "either") and _is_mentor(me, found))
        or (who in ("requester", "either") and _is_requester(me, found))
        or me.admin
    )
    if not allowed:
        raise HTTPException(status_code=403, detail=f"only the {who} or an admin may {action} this request")
    role = "self" if _is_mentor(me, found) else ("user" if _is_requester(me, found) else "admin")
    try:
        decided = store.decide(request_id, action, me.actor(role), _capacity(engine, found.mentor))
    except MentoringError as exc:
        raise _refuse(str(exc)) from exc
    return request_model(_notified(engine, store, decided))


def _is_mentor(me: Me, r: MentoringRequest) -> bool:
    return me.person_id is not None and me.person_id == r.mentor


def _is_requester(me: Me, r: MentoringRequest) -> bool:
    return me.user == r.requester or (me.person_id is not None and me.person_id == r.requester_person)


def _capacity(engine: Engine, mentor: str) -> int | None:
    row = person_by_person_id(engine.reader.db, mentor)
    chosen = ProfileStore(engine.state).settings(mentor)
    return chosen_mentor(chosen, row.mentor_opt_in if row else False, row.mentor_capacity if row else None)[1]


def _contact(db: sqlite3.Connection, person_id: str | None) -> dict[str, str | None]:
    row = (
        db.execute("SELECT name, email FROM people WHERE person_id = ?", (person_id,)).fetchone()
        if person_id
        else None
    )
    return {"person_id": person_id, "name": row[0] if row else None, "email": row[1] if row else None}


def _notified(engine: Engine, store: MentoringStore, r: MentoringRequest) -> MentoringRequest:
    """Tell the webhook (when one is configured) and record whether it took the event."""
    webhook = Webhook.from_settings(engine.settings)
    if webhook is None:
        return r
    event = "mentoring.requested" if r.status == "pending" else f"mentoring.{r.status}"
    payload = {
        "request": request_model(r).model_dump(
            include={"id", "status", "topic", "message", "created_at", "decided_at"}
        ),
        "mentor": _contact(engine.reader.db, r.mentor),
        "requester": {"user": r.requester, **_contact(engine.reader.db, r.requester_person)},
    }
    store.record_notification(r.id, webhook.send(event, payload))
    return store.get(r.id) or r
