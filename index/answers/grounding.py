"""Grounded answers: evidence from the retriever within the asker's ACL, extractive answers, and checked
generative ones. Every statement carries a numbered citation; weak evidence is said to be weak."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from index.acl import Principal
from index.answers.passages import Passage, load_passages
from index.answers.prompt import check_citations
from index.answers.sentences import (
    Sentence,
    SentenceWeights,
    candidate_sentences,
    idf_weights,
    score_sentences,
    select_sentences,
)
from index.retrieval.hybrid import Filters, HybridRetriever
from index.retrieval.text import query_terms

# Sentence score = 0.35 cos(question, sentence) + 0.30 keyword overlap + 0.35 cos(question, chunk).
# Fitted on scifact train (809 claims, 505 with SciFact's evidence-sentence labels) by the grid (step 0.05)
# of `whoknows eval answers ../shared/data/scifact_beir --split train --calibrate`: the weights under which
# the best sentence is most often a labelled evidence sentence (0.454 of the labelled claims).
DEFAULT_WEIGHTS = SentenceWeights(cos=0.35, kw=0.30, ctx=0.35)

# An answer is `confident` when its best sentence scores at least this. Calibrated by the same command on
# scifact train, label "the best sentence's document is judged relevant" (true for 0.595 of the claims):
# this threshold maximises F1 (0.760: precision 0.668, recall 0.882). For comparison, precision >= 0.80
# would need 0.613 (recall 0.607, 45% of questions confident), precision >= 0.90 0.751 (recall 0.171).
CONFIDENCE_THRESHOLD = 0.5045

ANSWER_MODES = ("extractive", "generative")
# A citation whose passage has no scored sentence quotes its start, cut at a word to about this many
# characters: a sentence or two, as long as a snippet in the result list.
QUOTE_CHARS = 240


@dataclass(frozen=True)
class AnswerSettings:
    """Knobs of answering; `eval answers` measures them."""

    max_passages: int = 8  # chunks split into sentences
    chunks_per_doc: int = 3
    max_candidates: int = 48  # sentences embedded per question (latency cap)
    max_sentences: int = 3  # sentences in an extractive answer
    margin: float = 0.08  # a second sentence must score within this of the best
    duplicate_cos: float = 0.9
    generative_sources: int = 5  # passages given to a language model
    experts: int = 3
    weights: SentenceWeights = DEFAULT_WEIGHTS
    confidence_threshold: float = CONFIDENCE_THRESHOLD


@dataclass(frozen=True)
class ExpertRef:
    """A colleague suggested with an answer (from the expert finder, within the same ACL)."""

    person_id: str
    name: str
    team: str | None = None
    title: str | None = None
    score: float = 0.0
    why: str = ""


# (question, asker, k) -> the colleagues to suggest beside an answer
ColleagueLookup = Callable[[str, Principal, int], Sequence[ExpertRef]]


@dataclass(frozen=True)
class Citation:
    """Source [n] of an answer: the chunk and the words taken from it."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    url: str | None
    source: str
    kind: str
    heading: str
    page: int | None
    quote: str


@dataclass
class Evidence:
    """What the documents the asker may see offer for a question."""

    question: str
    passages: list[Passage]
    sentences: list[Sentence]  # best first
    selected: list[Sentence]  # the extractive answer, in reading order
    confident: bool

    @property
    def best_score(self) -> float:
        return self.sentences[0].score if self.sentences else 0.0


@dataclass
class Answer:
    """An answer as the API and CLI return it."""

    question: str
    answer: str
    mode: str  # extractive | generative
    confident: bool
    score: float
    citations: list[Citation]
    experts: list[ExpertRef] = field(default_factory=list)
    fallback_reason: str | None = None
    removed_citations: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def gather_evidence(
    retriever: HybridRetriever,
    question: str,
    principal: Principal,
    k: int = 5,
    settings: AnswerSettings | None = None,
    filters: Filters | None = None,
) -> Evidence:
    """Rank documents (hybrid, ACL-filtered), take passages of the first `k`, score their sentences."""
    settings = settings or AnswerSettings()
    if not question.strip():
        return Evidence(question, [], [], [], False)
    ranked = retriever.rank(question, principal, "hybrid", filters, depth=max(k, retriever.settings.depth))
    vector = retriever.embedder.embed_query(question)
    passages = load_passages(
        retriever.store, principal, ranked, vector, k, settings.max_passages, settings.chunks_per_doc
    )
    idf = idf_weights(retriever.snapshot(), retriever.analyzer, principal, query_terms(question))
    candidates = candidate_sentences(passages, idf, settings.max_candidates)
    sentences, vectors = score_sentences(retriever.embedder, vector, candidates, settings.weights)
    selected = select_sentences(
        sentences, vectors, settings.max_sentences, settings.margin, settings.duplicate_cos
    )
    confident = bool(sentences) and sentences[0].score >= settings.confidence_threshold
    return Evidence(question, passages, sentences, selected, confident)


def _citation(n: int, p: Passage, quote: str) -> Citation:
    return Citation(n, p.doc_id, p.chunk_id, p.title, p.url, p.source, p.kind, p.heading, p.page, quote)


def experts_headline(experts: Sequence[ExpertRef]) -> str:
    if not experts:
        return "No confident answer in the documents you can see."
    names = ", ".join(f"{e.name} ({e.team})" if e.team else e.name for e in experts)
    return f"No confident answer in the documents; these colleagues know this area: {names}."


def shown_sentences(evidence: Evidence) -> list[Sentence]:
    """The sentences an extractive answer quotes (also when not confident, then shown as such)."""
    return evidence.selected


def extractive_answer(evidence: Evidence, experts: Sequence[ExpertRef] = ()) -> Answer:
    """The shown sentences, each followed by [n]; n numbers the cited documents in order of first use.

    Not confident: the experts are the headline and the sentences follow as the closest passages found,
    not as an answer.
    """
    chosen = shown_sentences(evidence)
    numbers: dict[int, int] = {}
    first: dict[int, Passage] = {}
    quotes: dict[int, list[str]] = {}
    parts: list[str] = []
    for s in chosen:
        n = numbers.setdefault(s.passage.doc, len(numbers) + 1)
        first.setdefault(n, s.passage)
        quotes.setdefault(n, []).append(s.text)
        parts.append(f"{s.text} [{n}]")
    citations = [_citation(n, first[n], " … ".join(quotes[n])) for n in sorted(first)]
    if evidence.confident:
        text = " ".join(parts)
    elif parts:
        text = f"{experts_headline(experts)} The closest passages found: {' '.join(parts)}"
    elif experts:
        text = experts_headline(experts)
    else:
        text = "Nothing in the documents you can see matches this question."
    return Answer(
        question=evidence.question,
        answer=text,
        mode="extractive",
        confident=evidence.confident,
        score=round(evidence.best_score, 4),
        citations=citations,
        experts=list(experts),
    )


def generative_sources(evidence: Evidence, settings: AnswerSettings | None = None) -> list[Passage]:
    """The passages a language model is shown, numbered from 1 in this order (most similar first)."""
    settings = settings or AnswerSettings()
    seen: set[str] = set()
    out: list[Passage] = []
    for p in evidence.passages:  # overlapping chunks can repeat a whole passage: give it once
        key = " ".join(p.text.split())
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out[: settings.generative_sources]


def _best_quote(evidence: Evidence, passage: Passage) -> str:
    for s in evidence.sentences:  # best first
        if s.passage.rowid == passage.rowid:
            return s.text
    text = " ".join(passage.text.split())
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"


def source_citations(evidence: Evidence, sources: Sequence[Passage]) -> list[Citation]:
    """The sources given to a model as citations [1]..[n], each quoting its best sentence."""
    return [_citation(n, p, _best_quote(evidence, p)) for n, p in enumerate(sources, 1)]


def generative_answer(
    evidence: Evidence, sources: Sequence[Passage], reply: str, experts: Sequence[ExpertRef] = ()
) -> Answer:
    """A model's reply with its citations checked against `sources`: unknown [n] removed and reported.

    With weak evidence the experts headline goes first, as in an extractive answer.
    """
    checked = check_citations(reply, len(sources))
    warnings: list[str] = []
    if checked.removed:
        listed = ", ".join(f"[{n}]" for n in checked.removed)
        warnings.append(f"removed citations to sources that were not given: {listed}")
    if not checked.cited:
        warnings.append("the model cited no source")
    given = source_citations(evidence, sources)
    text = checked.text if evidence.confident else f"{experts_headline(experts)} {checked.text}"
    return Answer(
        question=evidence.question,
        answer=text,
        mode="generative",
        confident=evidence.confident and bool(checked.cited),
        score=round(evidence.best_score, 4),
        citations=[given[n - 1] for n in sorted(checked.cited)],
        experts=list(experts),
        removed_citations=checked.removed,
        warnings=warnings,
    )
