"""What the MCP tools return, shaped for a model to read rather than mirroring the REST API: no scores or
ranking signals, no HTML, text cut to a length a context window holds, and a hint of what to call next."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field

from index.answers.grounding import Answer
from index.experts.finder import Expert
from index.experts.profile import PersonProfile
from index.store.browse import DocumentView
from service.api.passages import Passage

# A search result's passage and a fetched document are cut at a word near these lengths: a passage is a
# chunk (about 1,000 characters), a document as long as a model can take in one tool result.
PASSAGE_CHARS = 1500
DOCUMENT_CHARS = 20_000
EVIDENCE_PER_EXPERT = 3
RECENT_DOCUMENTS = 10


def cut(text: str, limit: int) -> tuple[str, bool]:
    """`text` within `limit` characters, cut at a word; True when something was cut."""
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip() + " …", True


class SearchResult(BaseModel):
    doc_id: str = Field(description="pass to get_document for the whole text")
    title: str
    url: str | None
    source: str
    kind: str
    updated_at: str | None
    section: str
    passage: str


class SearchResults(BaseModel):
    query: str
    results: list[SearchResult]


class Cited(BaseModel):
    n: int = Field(description="the [n] marker in the answer")
    title: str
    url: str | None
    doc_id: str
    quote: str


class Colleague(BaseModel):
    person_id: str = Field(description="pass to get_person for the profile")
    name: str
    team: str | None
    why: str


class AskResult(BaseModel):
    question: str
    answer: str = Field(description="the answer, each statement followed by its source [n]")
    confident: bool = Field(description="false: the documents do not answer it; ask the colleagues listed")
    citations: list[Cited]
    colleagues: list[Colleague]


class EvidenceItem(BaseModel):
    title: str
    url: str | None
    doc_id: str
    role: str = Field(description="the person's part in it: author, answerer, editor…")
    date: str | None


class Person(BaseModel):
    person_id: str = Field(description="pass to get_person for the profile")
    name: str
    team: str | None
    title: str | None
    why: str
    topics: list[str]
    last_active: str | None
    mentor_available: bool
    evidence: list[EvidenceItem]


class WhoKnows(BaseModel):
    topic: str
    people: list[Person]


class Contribution(BaseModel):
    name: str | None
    role: str
    at: str | None


class Document(BaseModel):
    doc_id: str
    title: str
    url: str | None
    source: str
    kind: str
    updated_at: str | None
    contributors: list[Contribution]
    text: str
    truncated: bool = Field(description="true when the text was cut to max_chars")


class Profile(BaseModel):
    person_id: str
    name: str | None
    team: str | None
    title: str | None
    timezone: str | None
    mentor_available: bool
    last_active: str | None
    topics: list[str]
    ask_me_about: list[str]
    recent_documents: list[EvidenceItem]


M = TypeVar("M", bound=BaseModel)


def shaped(model: type[M], source: object, **computed: Any) -> M:
    """`model` from the attributes of `source` it shares by name, plus the `computed` fields."""
    fields = {name: getattr(source, name) for name in model.model_fields if hasattr(source, name)}
    return model.model_validate({**fields, **computed})


def search_results(query: str, passages: list[Passage]) -> SearchResults:
    results = [
        shaped(SearchResult, p, section=p.heading, passage=cut(p.text, PASSAGE_CHARS)[0]) for p in passages
    ]
    return SearchResults(query=query, results=results)


def ask_result(answer: Answer) -> AskResult:
    return shaped(
        AskResult,
        answer,
        citations=[shaped(Cited, c) for c in answer.citations],
        colleagues=[shaped(Colleague, e) for e in answer.experts],
    )


def who_knows_result(topic: str, experts: list[Expert]) -> WhoKnows:
    people = [
        shaped(
            Person,
            e,
            name=e.name or e.person_id,
            mentor_available=e.mentor.available,
            evidence=[shaped(EvidenceItem, v) for v in e.evidence[:EVIDENCE_PER_EXPERT]],
        )
        for e in experts
    ]
    return WhoKnows(topic=topic, people=people)


def document_result(view: DocumentView, max_chars: int) -> Document:
    text, truncated = cut(view.text, max_chars)
    contributors = [shaped(Contribution, c) for c in view.contributors]
    return shaped(Document, view.document, contributors=contributors, text=text, truncated=truncated)


def profile_result(p: PersonProfile) -> Profile:
    return shaped(
        Profile,
        p,
        mentor_available=p.mentor.available,
        topics=[topic for topic, _ in p.topics],
        recent_documents=[shaped(EvidenceItem, a) for a in p.documents[:RECENT_DOCUMENTS]],
    )
