"""Extractive evidence: passages split into sentences, each scored against the question, duplicates dropped."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.acl import Principal
from index.answers.passages import Passage
from index.keyword.analyzer import Analyzer
from index.keyword.index import idf
from index.retrieval.text import light_stem
from index.snapshot.snapshot import Snapshot
from index.vectors.embedder import Embedder

# Words after which a period does not end a sentence.
ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "al",
        "fig",
        "figs",
        "eq",
        "approx",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "no",
        "nos",
        "st",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "corp",
        "resp",
        "ca",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)
_END = re.compile(r"[.!?][\"'’”)\]]*\s+")
_BULLET = re.compile(r"^\s*(?:[-*•+]|#{1,6}|\d{1,3}[.)]|>)\s+")
MIN_WORDS = 3
MAX_SENTENCE_CHARS = 600


@dataclass(frozen=True)
class SentenceWeights:
    """How the three signals combine into a sentence's score. Set by `eval answers --calibrate`."""

    cos: float  # cosine of the question to the sentence (all-MiniLM-L6-v2)
    kw: float  # IDF-weighted share of the question's terms that the sentence contains
    ctx: float  # cosine of the question to the sentence's chunk (its stored vector)

    def combine(self, cos: float, kw: float, ctx: float) -> float:
        return self.cos * cos + self.kw * kw + self.ctx * ctx


@dataclass(frozen=True)
class Candidate:
    """A sentence of a passage, before it is embedded."""

    passage: Passage
    index: int  # position of the sentence in its section (`passage.context`)
    text: str
    kw: float


@dataclass(frozen=True)
class Sentence:
    """A scored sentence. Higher `score` is better."""

    passage: Passage
    index: int
    text: str
    cos: float
    kw: float
    ctx: float
    score: float

    @property
    def order_key(self) -> tuple[int, int, int, int]:
        """Reading order: by document, then section, then position."""
        return (self.passage.doc_rank, self.passage.run, self.index, self.passage.rowid)


_HEADING = re.compile(r"^\s*#{1,6}\s")
_TABLE_RULE = re.compile(r"^[\s|:+-]*$")
_EMPHASIS = re.compile(r"\*\*|__|`")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


@dataclass(frozen=True)
class Span:
    """A sentence: where it sits in the text, and its words cleaned of markup."""

    start: int
    end: int
    text: str


def _clean(text: str) -> str:
    text = _LINK.sub(r"\1", _EMPHASIS.sub("", text))
    return " ".join(_BULLET.sub("", text.strip()).split())


def _cells(line: str) -> list[str]:
    return [_clean(c) for c in line.strip().strip("|").split("|")]


def _lines(text: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _blocks(text: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """Paragraphs (hard-wrapped lines joined), list items, and tables; headings are left out."""
    blocks: list[tuple[str, list[tuple[int, int]]]] = []
    for start, end in _lines(text):
        line = text[start:end]
        if not line.strip() or _HEADING.match(line):
            blocks.append(("break", []))
            continue
        kind = "table" if line.lstrip().startswith("|") else "text"
        last = blocks[-1] if blocks else ("break", [])
        if last[0] == kind and (kind == "table" or not _BULLET.match(line)):
            last[1].append((start, end))
        else:
            blocks.append((kind, [(start, end)]))
    return [b for b in blocks if b[0] != "break"]


def _table_rows(text: str, lines: list[tuple[int, int]]) -> list[Span]:
    """Each data row as one sentence, "header: value; ...", so a row carries its column names."""
    rows = [(a, b) for a, b in lines if not _TABLE_RULE.match(text[a:b])]
    if len(rows) < 2:
        return [Span(a, b, "; ".join(c for c in _cells(text[a:b]) if c)) for a, b in rows]
    header = _cells(text[rows[0][0] : rows[0][1]])
    out = []
    for a, b in rows[1:]:
        cells = _cells(text[a:b])
        pairs = [f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=False) if c]
        out.append(Span(a, b, "; ".join(pairs)))
    return out


def _sentences_in(text: str, start: int, end: int) -> list[Span]:
    out: list[Span] = []
    begin = start
    for m in _END.finditer(text, start, end):
        stop = m.end()
        if stop >= end:
            break
        following = text[stop]
        words = text[begin : m.start()].split()
        last = words[-1].lower().rstrip(".").lstrip("(*`") if words else ""
        if not (following.isupper() or following.isdigit() or following in "\"'“([*`"):
            continue
        if last in ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        out.append(Span(begin, m.start() + 1, _clean(text[begin : m.start() + 1])))
        begin = stop
    out.append(Span(begin, end, _clean(text[begin:end])))
    return out


def split_sentences(text: str) -> list[Span]:
    """Sentences with their offsets: wrapped lines joined, list items and table rows kept apart,
    headings and fragments of fewer than MIN_WORDS words dropped."""
    spans: list[Span] = []
    for kind, lines in _blocks(text):
        if kind == "table":
            spans.extend(_table_rows(text, lines))
        else:
            spans.extend(_sentences_in(text, lines[0][0], lines[-1][1]))
    return [
        Span(s.start, s.end, s.text[:MAX_SENTENCE_CHARS]) for s in spans if len(s.text.split()) >= MIN_WORDS
    ]


def stems_of(text: str) -> set[str]:
    return {light_stem(w) for w in _WORD.findall(text.lower())}


def idf_weights(
    snapshot: Snapshot | None, analyzer: Analyzer, principal: Principal, terms: Sequence[str]
) -> dict[str, float]:
    """BM25's IDF of each query term over the chunks `principal` may see (as the keyword leg counts
    them): a hidden document never changes how much a word weighs in the caller's answer."""
    if snapshot is None:
        return dict.fromkeys(terms, 0.0)
    view = snapshot.view(principal)
    stems = {term: analyzer.query_terms([term]) for term in terms}
    counts = snapshot.keyword.doc_freqs(sorted({t for ts in stems.values() for t in ts}), view.stat_mask)
    out: dict[str, float] = {}
    for term, parts in stems.items():
        # a word the analyzer splits ("e-mail") weighs as its rarest part; one with no part weighs 0
        out[term] = max((idf(view.stats.chunks, counts[p]) for p in parts), default=0.0)
    return out


def keyword_overlap(sentence_stems: set[str], idf: dict[str, float]) -> float:
    """IDF-weighted share of the query terms present in the sentence (0..1)."""
    total = sum(idf.values())
    if total <= 0:
        return 0.0
    return sum(w for term, w in idf.items() if light_stem(term) in sentence_stems) / total


def candidate_sentences(passages: Sequence[Passage], idf: dict[str, float], cap: int) -> list[Candidate]:
    """Distinct whole sentences touching the passages (read in their merged section, so a sentence the
    chunker cut is whole), at most `cap`: when there are more, those of the most similar passages with
    the most query terms are kept."""
    seen: set[str] = set()
    split: dict[int, list[Span]] = {}
    out: list[Candidate] = []
    for p in passages:
        spans = split.get(p.run)
        if spans is None:
            spans = split[p.run] = split_sentences(p.context)
        for i, span in enumerate(spans):
            if span.end <= p.start or span.start >= p.end:
                continue
            key = " ".join(span.text.lower().split())
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(p, i, span.text, keyword_overlap(stems_of(span.text), idf)))
    if len(out) <= cap:
        return out
    ranked = sorted(
        range(len(out)), key=lambda j: (-(out[j].passage.similarity + out[j].kw), out[j].passage.rowid, j)
    )
    keep = sorted(ranked[:cap])
    return [out[j] for j in keep]


def score_sentences(
    embedder: Embedder,
    question_vector: np.ndarray,
    candidates: Sequence[Candidate],
    weights: SentenceWeights,
) -> tuple[list[Sentence], np.ndarray]:
    """Sentences best first (ties by reading order) and their unit vectors, in the same order."""
    if not candidates:
        return [], np.zeros((0, question_vector.shape[0]), dtype=np.float32)
    vectors = embedder.embed_passages([c.text for c in candidates])
    cosines = vectors @ np.asarray(question_vector, dtype=np.float32)
    sentences = [
        Sentence(
            passage=c.passage,
            index=c.index,
            text=c.text,
            cos=float(cos),
            kw=c.kw,
            ctx=c.passage.similarity,
            score=weights.combine(float(cos), c.kw, c.passage.similarity),
        )
        for c, cos in zip(candidates, cosines, strict=True)
    ]
    order = sorted(range(len(sentences)), key=lambda j: (-sentences[j].score, sentences[j].order_key))
    return [sentences[j] for j in order], vectors[order]


def select_sentences(
    sentences: Sequence[Sentence],
    vectors: np.ndarray,
    max_sentences: int,
    margin: float,
    duplicate_cos: float,
) -> list[Sentence]:
    """The best sentence and up to `max_sentences - 1` others scoring within `margin` of it, minus
    near-duplicates (cosine above `duplicate_cos` to one already kept), in reading order."""
    if not sentences:
        return []
    best = sentences[0].score
    kept: list[int] = []
    for j, s in enumerate(sentences):
        if len(kept) >= max_sentences or s.score < best - margin:
            break
        if any(float(vectors[j] @ vectors[i]) > duplicate_cos for i in kept):
            continue
        kept.append(j)
    return sorted((sentences[j] for j in kept), key=lambda s: s.order_key)
