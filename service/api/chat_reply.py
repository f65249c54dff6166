"""What a chat reply says: an answer or a list of people as Markdown with numbered sources, and the same
content structured in the reply's `whoknows` field (the documented extra of /v1/chat/completions)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from index.experts.finder import Expert

MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]<>()#+!|~]")
EXPERTS_PER_REPLY = 5
EVIDENCE_PER_PERSON = 3


class SourceRef(BaseModel):
    n: int = Field(description="the [n] marker in the text")
    doc_id: str
    title: str
    url: str | None
    source: str
    quote: str = ""


class PersonRef(BaseModel):
    person_id: str
    name: str
    team: str | None = None
    title: str | None = None
    why: str = ""
    sources: list[int] = Field(default_factory=list, description="the [n] of their evidence documents")


class WhoKnowsExtra(BaseModel):
    """The `whoknows` field of a completion (and of a stream's first and last chunks)."""

    kind: str = Field(description="answer (from the documents) or people (a 'who knows X' question)")
    confident: bool | None = Field(description="answer: whether the documents answer it; people: null")
    citations: list[SourceRef]
    experts: list[PersonRef]
    mode: str | None = Field(default=None, description="answer: extractive or generative")


def md(text: str) -> str:
    """`text` as literal Markdown: a title with `]` or `<b>` in it neither breaks a link nor becomes HTML."""
    return MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _link(url: str) -> str:
    return url.replace("<", "%3C").replace(">", "%3E")


def sources_block(citations: Sequence[SourceRef]) -> str:
    """`Sources:` then one `[n] [Title](<url>)` line per source; empty without sources."""
    if not citations:
        return ""
    lines = [
        f"[{c.n}] [{md(c.title)}](<{_link(c.url)}>)" if c.url else f"[{c.n}] {md(c.title)} ({md(c.doc_id)})"
        for c in citations
    ]
    return "\n\nSources:\n" + "\n".join(lines)


def sources_extra(mode: str, sources: list[dict[str, Any]]) -> WhoKnowsExtra:
    """The extra of a stream's first chunk: the sources the answer will cite."""
    citations = [SourceRef.model_validate(c) for c in sources]
    return WhoKnowsExtra(kind="answer", confident=None, citations=citations, experts=[], mode=mode)


def answer_extra(answer: dict[str, Any]) -> WhoKnowsExtra:
    """The extra of an answer, from the Asker's answer as a dict (its `done` event carries that)."""
    citations = [SourceRef.model_validate(c) for c in answer["citations"]]
    experts = [PersonRef.model_validate(e) for e in answer["experts"]]
    return WhoKnowsExtra(
        kind="answer",
        confident=answer["confident"],
        citations=citations,
        experts=experts,
        mode=answer["mode"],
    )


def people_reply(topic: str, experts: Sequence[Expert]) -> tuple[str, WhoKnowsExtra]:
    """'People who know about X', one numbered line each with their why and their evidence [n]."""
    numbers: dict[str, int] = {}
    citations: list[SourceRef] = []
    people: list[PersonRef] = []
    lines: list[str] = []
    for i, e in enumerate(experts[:EXPERTS_PER_REPLY], 1):
        refs: list[int] = []
        for ev in e.evidence[:EVIDENCE_PER_PERSON]:
            if ev.doc_id not in numbers:
                numbers[ev.doc_id] = len(numbers) + 1
                citations.append(
                    SourceRef(
                        n=numbers[ev.doc_id], doc_id=ev.doc_id, title=ev.title, url=ev.url, source=ev.source
                    )
                )
            refs.append(numbers[ev.doc_id])
        name = md(e.name or e.person_id)
        role = md(", ".join(x for x in (e.title, e.team) if x))
        mentor = " Mentors and has room." if e.mentor.available else ""
        cited = "".join(f"[{n}]" for n in refs)
        lines.append(f"{i}. **{name}**{f' ({role})' if role else ''}: {md(e.why)}.{mentor} {cited}".rstrip())
        people.append(
            PersonRef(person_id=e.person_id, name=name, team=e.team, title=e.title, why=e.why, sources=refs)
        )
    if lines:
        text = f"People who know about {md(topic)}:\n\n" + "\n".join(lines)
    else:
        text = f"I found nobody who worked on {md(topic)} in the documents you can see."
    extra = WhoKnowsExtra(kind="people", confident=None, citations=citations, experts=people)
    return text + sources_block(citations), extra
