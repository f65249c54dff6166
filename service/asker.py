"""Answering a question: evidence from the index, then a language model when one is configured, falling
back to the extractive answer whenever the model is down, slow or failing. Shared by /ask and `whoknows ask`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from index.acl import Principal
from index.answers.grounding import (
    Answer,
    AnswerSettings,
    Citation,
    ColleagueLookup,
    Evidence,
    ExpertRef,
    experts_headline,
    extractive_answer,
    gather_evidence,
    generative_answer,
    generative_sources,
    source_citations,
)
from index.answers.prompt import StreamingCitationFilter, build_messages
from index.experts.finder import Expert
from index.retrieval.hybrid import HybridRetriever
from service.engine import Engine
from service.finder import corrected_finder
from service.llm import ChatClient, LLMConfig, LLMUnavailable
from service.settings import Settings

log = logging.getLogger(__name__)


def _ref(found: Expert, principal: Principal) -> ExpertRef:
    """A colleague beside an answer; an anonymous asker sees no directory facts (team, title)."""
    anonymous = principal.is_anonymous
    return ExpertRef(
        person_id=found.person_id,
        name=found.name or found.person_id,
        team=None if anonymous else found.team,
        title=None if anonymous else found.title,
        score=round(found.score, 6),
        why=found.why,
    )


def expert_finder(engine: Engine) -> ColleagueLookup:
    """The colleagues suggested with an answer: the expert ranker, within the asker's ACL."""
    ranker = corrected_finder(engine)

    def find(question: str, principal: Principal, k: int) -> list[ExpertRef]:
        return [_ref(found, principal) for found in ranker.rank_experts(question, principal, k=k)]

    return find


@dataclass(frozen=True)
class StreamEvent:
    event: str  # sources | delta | done | error
    data: dict[str, Any]

    def encode(self) -> bytes:
        """One Server-Sent Event."""
        return f"event: {self.event}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n".encode()


@dataclass
class Prepared:
    evidence: Evidence
    experts: list[ExpertRef]
    warnings: list[str] = field(default_factory=list)


def answer_dict(answer: Answer) -> dict[str, Any]:
    return asdict(answer)


def _citations(citations: Sequence[Citation]) -> list[dict[str, Any]]:
    return [asdict(c) for c in citations]


class Asker:
    """Evidence within the asker's ACL, then an extractive or a generative answer, with experts."""

    def __init__(
        self,
        retriever: HybridRetriever,
        llm: ChatClient | None = None,
        experts: ColleagueLookup | None = None,
        settings: AnswerSettings | None = None,
    ):
        self.retriever = retriever
        self.llm = llm
        self.experts = experts
        self.settings = settings or AnswerSettings()

    def prepare(self, question: str, principal: Principal, k: int) -> Prepared:
        """The CPU part (retrieval, sentence scoring, expert ranking); run it off the event loop."""
        evidence = gather_evidence(self.retriever, question, principal, k, self.settings)
        warnings: list[str] = []
        experts: list[ExpertRef] = []
        if self.experts is not None and question.strip():
            try:
                experts = list(self.experts(question, principal, self.settings.experts))
            except Exception:  # the answer stands without its people suggestions
                log.exception("expert finder failed for an answer")
                warnings.append("the expert finder failed; no colleagues suggested")
        return Prepared(evidence, experts, warnings)

    def _extractive(self, prepared: Prepared, reason: str | None) -> Answer:
        answer = extractive_answer(prepared.evidence, prepared.experts)
        return replace(answer, fallback_reason=reason, warnings=[*prepared.warnings, *answer.warnings])

    def _needs_no_model(self, prepared: Prepared) -> str | None:
        """Why the model is not asked (None: ask it). Without passages there is nothing to ground on."""
        if self.llm is None:
            return "none"
        if not prepared.evidence.passages:
            return "no passages the asker may see match the question"
        return None

    async def answer(self, question: str, principal: Principal, k: int = 5) -> Answer:
        prepared = await asyncio.to_thread(self.prepare, question, principal, k)
        return await self.complete(prepared)

    async def complete(self, prepared: Prepared) -> Answer:
        skip = self._needs_no_model(prepared)
        if skip is not None or self.llm is None:
            return self._extractive(prepared, None if skip == "none" else skip)
        sources = generative_sources(prepared.evidence, self.settings)
        try:
            reply = await self.llm.complete(build_messages(prepared.evidence.question, sources))
        except LLMUnavailable as exc:
            log.warning("answering extractively: %s", exc.reason)
            return self._extractive(prepared, exc.reason)
        answer = generative_answer(prepared.evidence, sources, reply, prepared.experts)
        return replace(answer, warnings=[*prepared.warnings, *answer.warnings])

    async def stream(self, question: str, principal: Principal, k: int = 5) -> AsyncIterator[StreamEvent]:
        """`sources`, then `delta` events (checked text), then `done` with the final answer.

        `done` is authoritative: after a fallback mid-stream it carries the extractive answer, which
        replaces the deltas shown so far.
        """
        try:
            prepared = await asyncio.to_thread(self.prepare, question, principal, k)
        except Exception:
            log.exception("answer stream failed")
            yield StreamEvent("error", {"detail": "the answer could not be prepared"})
            return
        skip = self._needs_no_model(prepared)
        if skip is not None or self.llm is None:
            answer = self._extractive(prepared, None if skip == "none" else skip)
            yield StreamEvent("sources", {"mode": "extractive", "sources": _citations(answer.citations)})
            yield StreamEvent("delta", {"text": answer.answer})
            yield StreamEvent("done", answer_dict(answer))
            return
        evidence = prepared.evidence
        sources = generative_sources(evidence, self.settings)
        given = source_citations(evidence, sources)
        yield StreamEvent("sources", {"mode": "generative", "sources": _citations(given)})
        if not evidence.confident:
            yield StreamEvent("delta", {"text": experts_headline(prepared.experts) + " "})
        checker = StreamingCitationFilter(len(sources))
        parts: list[str] = []
        try:
            async for delta in self.llm.stream(build_messages(evidence.question, sources)):
                parts.append(delta)
                safe = checker.feed(delta)
                if safe:
                    yield StreamEvent("delta", {"text": safe})
        except LLMUnavailable as exc:
            log.warning("answering extractively: %s", exc.reason)
            yield StreamEvent("done", answer_dict(self._extractive(prepared, exc.reason)))
            return
        tail = checker.flush()
        if tail:
            yield StreamEvent("delta", {"text": tail})
        answer = generative_answer(evidence, sources, "".join(parts), prepared.experts)
        yield StreamEvent(
            "done", answer_dict(replace(answer, warnings=[*prepared.warnings, *answer.warnings]))
        )


def build_asker(engine: Engine, settings: Settings | None = None) -> Asker:
    """An Asker over the engine's retriever, with the configured model (if any) and the expert finder.

    `settings` (default: the engine's) say which model to use.
    """
    config = LLMConfig.from_settings(settings or engine.settings)
    return Asker(engine.retriever, ChatClient(config) if config else None, expert_finder(engine))
