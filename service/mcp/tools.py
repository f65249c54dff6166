"""What the MCP tools return, shaped for a model to read rather than mirroring the REST API: no scores or
ranking signals, no HTML, text cut to a length a context window holds, and a hint of what to call next."""

from __future__ import annotations

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


def search_results(query: str, passages: list[Passage]) -> SearchResults:
    results = [
        SearchResult(
            doc_id=p.doc_id,
            title=p.title,
            url=p.url,
            source=p.source,
            kind=p.kind,
            updated_at=p.updated_at,
            section=p.heading,
            passage=cut(p.text, PASSAGE_CHARS)[0],
        )
        for p in passages
    ]
    return SearchResults(query=query, results=results)


def ask_result(answer: Answer) -> AskResult:
    return AskResult(
        question=answer.question,
        answer=answer.answer,
        confident=answer.confident,
        citations=[
            Cited(n=c.n, title=c.title, url=c.url, doc_id=c.doc_id, quote=c.quote) for c in answer.citations
        ],
        colleagues=[
            Colleague(person_id=e.person_id, name=e.name, team=e.team, why=e.why) for e in answer.experts
        ],
    )


def who_knows_result(topic: str, experts: list[Expert]) -> WhoKnows:
    people = [
        Person(
            person_id=e.person_id,
            name=e.name or e.person_id,
            team=e.team,
            title=e.title,
            why=e.why,
            topics=e.topics,
            last_active=e.last_active,
            mentor_available=e.mentor.available,
            evidence=[
                EvidenceItem(title=v.title, url=v.url, doc_id=v.doc_id, role=v.role, date=v.date)
                for v in e.evidence[:EVIDENCE_PER_EXPERT]
            ],
        )
        for e in experts
    ]
    return WhoKnows(topic=topic, people=people)


def document_result(view: DocumentView, max_chars: int) -> Document:
    d = view.document
    text, truncated = cut(view.text, max_chars)
    return Document(
        doc_id=d.doc_id,
        title=d.title,
        url=d.url,
        source=d.source,
        kind=d.kind,
        updated_at=d.updated_at,
        contributors=[Contribution(name=c.name, role=c.role, at=c.at) for c in view.contributors],
        text=text,
        truncated=truncated,
    )


def profile_result(p: PersonProfile) -> Profile:
    return Profile(
        person_id=p.person_id,
        name=p.name,
        team=p.team,
        title=p.title,
        timezone=p.timezone,
        mentor_available=p.mentor.available,
        last_active=p.last_active,
        topics=[topic for topic, _ in p.topics],
        ask_me_about=p.ask_me_about,
        recent_documents=[
            EvidenceItem(title=a.title, url=a.url, doc_id=a.doc_id, role=a.role, date=a.date)
            for a in p.documents[:RECENT_DOCUMENTS]
        ],
    )
