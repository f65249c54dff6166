"""A person's own profile: who am I (GET /me), settings, topic corrections, and the export of what
WhoKnows shows about them. Only the person and an admin (service/api/self_service.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from index.acl import Principal
from index.experts.corrections import chosen_mentor, topic_key
from index.experts.profile import Mentor, person_by_person_id
from index.state.profiles.audit import AuditEntry, AuditLog
from index.state.profiles.feedback import FeedbackStore
from index.state.profiles.mentoring import MentoringStore
from index.state.profiles.settings import MAX_CAPACITY, ProfileError, ProfileStore, TopicCorrection
from index.store.documents import utc_now
from service.api.experts import MentorModel, PersonModel, finder_of, mentor_model, person_model
from service.api.mentoring import RequestModel, request_model
from service.api.self_service import MeDep, Topic, acting_on
from service.deps import MAX_PERSON_ID_CHARS, EngineDep
from service.engine import Engine

router = APIRouter(tags=["profiles"])
MAX_TOPICS = 20  # per list: ask me about, do not ask me about
PersonId = Annotated[str, Path(max_length=MAX_PERSON_ID_CHARS)]
Topics = Annotated[list[Topic], Field(max_length=MAX_TOPICS)]


class MeModel(BaseModel):
    user: str | None  # None: signed out
    person_id: str | None  # the person the user is (None: nobody's, or more than one match)
    name: str | None
    admin: bool


class SettingsPatch(BaseModel):
    """Fields sent are set (null: back to the default); fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    listed: StrictBool | None = Field(None, description="suggested in expert results (default true)")
    mentor_opt_in: StrictBool | None = Field(None, description="null: the directory's")
    mentor_capacity: Annotated[StrictInt, Field(ge=0, le=MAX_CAPACITY)] | None = Field(
        None, description="mentees at once; null: the directory's"
    )
    ask_me_about: Topics | None = Field(None, description="null: the topics your work shows")
    do_not_ask: Topics | None = None


class ChosenModel(BaseModel):
    listed: bool | None
    mentor_opt_in: bool | None
    mentor_capacity: int | None
    ask_me_about: list[str] | None
    do_not_ask: list[str]


class DirectoryMentoring(BaseModel):
    mentor_opt_in: bool
    mentor_capacity: int | None


class SettingsModel(BaseModel):
    person_id: str
    listed: bool
    mentor: MentorModel  # in effect: the person's choice, else the directory's
    chosen: ChosenModel  # what the person (or an admin for them) chose; null: the default
    directory: DirectoryMentoring
    topics: list[TopicCorrection]  # the person's corrections of their topics
    updated_at: str | None
    updated_by: str | None


class TopicChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: Topic
    status: Literal["confirmed", "hidden", "added", "none"] = Field(
        description="confirmed: yes, I know this; hidden: not me; added: I know this too; none: undo"
    )


class VoteModel(BaseModel):
    query: str
    person_id: str
    helpful: bool
    voted_at: str


class MentoringLists(BaseModel):
    received: list[RequestModel]
    sent: list[RequestModel]


class ExportModel(BaseModel):
    exported_at: str
    person_id: str
    profile: PersonModel | None  # as the caller may see it (within their ACL)
    public_profile: PersonModel | None  # as a signed-out visitor sees it
    settings: SettingsModel
    feedback_given: list[VoteModel]
    feedback_received: dict[str, int]  # helpful / not_helpful, without who or for which question
    mentoring: MentoringLists
    audit: list[AuditEntry]


def settings_model(engine: Engine, person_id: str) -> SettingsModel:
    row = person_by_person_id(engine.reader.db, person_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such person")
    profiles = ProfileStore(engine.state)
    chosen = profiles.settings(person_id)
    opt_in, capacity = chosen_mentor(chosen, row.mentor_opt_in, row.mentor_capacity)
    accepted = MentoringStore(engine.state).accepted_counts([person_id]).get(person_id, 0)
    corrections = profiles.topics_of([person_id]).get(person_id, [])
    return SettingsModel(
        person_id=person_id,
        listed=chosen.is_listed,
        mentor=mentor_model(Mentor(opt_in, capacity, row.active, accepted)),
        chosen=ChosenModel(**chosen.choices()),
        directory=DirectoryMentoring(mentor_opt_in=row.mentor_opt_in, mentor_capacity=row.mentor_capacity),
        topics=corrections,
        updated_at=chosen.updated_at,
        updated_by=chosen.updated_by,
    )


@router.get("/me", response_model=MeModel)
def me(me: MeDep) -> MeModel:
    """Who the caller is: their user id, the person they are, and whether they are an admin."""
    person = me.person
    return MeModel(user=me.user, person_id=me.person_id, name=person.name if person else None, admin=me.admin)


@router.get("/people/{person_id}/settings", response_model=SettingsModel)
def get_settings(request: Request, engine: EngineDep, me: MeDep, person_id: PersonId) -> SettingsModel:
    """The person's own choices, the directory's defaults, and what is in effect."""
    acting_on(request, me, person_id)
    return settings_model(engine, person_id)


@router.patch("/people/{person_id}/settings", response_model=SettingsModel)
def patch_settings(
    request: Request, engine: EngineDep, me: MeDep, person_id: PersonId, body: SettingsPatch
) -> SettingsModel:
    """Opt in or out of suggestions and mentoring, set capacity and topics to ask or not to ask about."""
    actor = acting_on(request, me, person_id)
    if not body.model_fields_set:
        raise HTTPException(
            status_code=422, detail=f"send at least one of {', '.join(SettingsPatch.model_fields)}"
        )
    store = ProfileStore(engine.state)
    return _changed(
        engine,
        person_id,
        lambda: store.update_settings(person_id, body.model_dump(include=body.model_fields_set), actor),
    )


@router.put("/people/{person_id}/topics", response_model=SettingsModel)
def put_topic(
    request: Request, engine: EngineDep, me: MeDep, person_id: PersonId, body: TopicChange
) -> SettingsModel:
    """Confirm a topic, hide it ("not me"), add one, or take a correction back (status none)."""
    actor = acting_on(request, me, person_id)
    status = None if body.status == "none" else body.status
    store = ProfileStore(engine.state)
    return _changed(
        engine,
        person_id,
        lambda: store.set_topic(person_id, body.topic, topic_key(body.topic), status, actor),
    )


def _changed(engine: Engine, person_id: str, change: Callable[[], object]) -> SettingsModel:
    """Make the change (422 naming the field the store refused), then the settings as they are now."""
    try:
        change()
    except ProfileError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return settings_model(engine, person_id)


@router.get("/people/{person_id}/export", response_model=ExportModel)
def export(request: Request, engine: EngineDep, me: MeDep, person_id: PersonId) -> JSONResponse:
    """Everything WhoKnows shows about the person: the profile within the caller's ACL and as everyone
    sees it, their settings, the votes they cast (and counts of those on them), mentoring, the audit."""
    actor = acting_on(request, me, person_id)
    finder = finder_of(engine)
    seen = finder.profile(person_id, me.principal)
    public = finder.profile(person_id, Principal.anonymous())
    users = {person_id} if actor.role == "admin" else {person_id, me.signed_in()}
    mentoring = MentoringStore(engine.state)
    feedback = FeedbackStore(engine.state)
    body = ExportModel(
        exported_at=utc_now(),
        person_id=person_id,
        profile=person_model(seen, me.principal) if seen else None,
        public_profile=person_model(public, Principal.anonymous()) if public else None,
        settings=settings_model(engine, person_id),
        feedback_given=[
            VoteModel(query=v.query, person_id=v.person_id, helpful=v.vote > 0, voted_at=v.voted_at)
            for v in feedback.given_by(person_id)
        ],
        feedback_received=feedback.received(person_id),
        mentoring=MentoringLists(
            received=[request_model(r) for r in mentoring.received(person_id)],
            sent=[request_model(r) for r in mentoring.sent(person_id, users)],
        ),
        audit=AuditLog(engine.state).of_person(person_id, users),
    )
    headers = {"Content-Disposition": f'attachment; filename="whoknows-{_safe(person_id)}.json"'}
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


def _safe(text: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in text)[:80]
