"""Expert finding on a Stack Exchange dump, by the protocol of ../shared/data/README.md.

1. The split is the 70th percentile of question dates.
2. Indexed: the threads asked before the split, as the site stood at the split (answers, comments,
   votes and acceptances after it left out), through the real ingest pipeline into a home of their own.
3. Test questions: asked at or after the split, with an answer by a candidate (a person with an
   indexed answer). 4. Query: title and body; the asker is the caller, so the ranker leaves them out.
5. Relevant: the question's answerers among the candidates, grade 2 the accepted one, 1 the others.
6. MAP, MRR, P@1, nDCG@10 over the test questions, beside popularity and BM25 thread voting.

Every system's ranking is restricted to the candidates and completed with the candidates it did not
rank, in person-id order (tied at zero, ties broken by id), so the three are scored on the same footing.

`whole_threads=True` indexes the pre-split threads whole, later answers included: the variant the
README's reference figures were measured on (it lets post-split activity in; see eval/EXPERTS.md).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import ir_measures
import numpy as np
from ir_measures import AP as MAP
from ir_measures import RR, P, nDCG

from connectors._shared.html_text import html_to_text
from connectors.base import Acl, DocId, SourceDocument
from connectors.config import SourceConfig
from connectors.stackexchange.connector import thread_documents
from connectors.stackexchange.dump import Dump, read_dump
from eval.metrics import ranked_scores
from eval.retrieval.run import percentile
from index.acl import Principal
from index.experts.finder import ExpertFinder, topic_of
from index.experts.model import ExpertSettings
from index.retrieval.hybrid import HybridRetriever
from index.vectors.embedder import Embedder
from ingest.report import RunReport
from service.engine import Engine
from service.settings import Settings

SOURCE = "stackexchange"
SPLIT_QUANTILE = 0.7
MEASURES = {"map": MAP, "mrr": RR, "p@1": P @ 1, "ndcg@10": nDCG @ 10}
BM25_DEPTH = 100


@dataclass(frozen=True)
class TestQuestion:
    qid: str
    text: str
    asker: str | None  # the asker's account on the source
    relevant: dict[str, int]  # person id -> grade


@dataclass
class ExpertsEvalResult:
    dataset: str
    variant: str
    split: str
    questions: int
    candidates: int
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    latency_ms: dict[str, float]
    ingest: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "variant": self.variant,
            "split": self.split,
            "questions": self.questions,
            "candidates": self.candidates,
        }
        out.update({k: round(v, 4) for k, v in self.metrics.items()})
        out["baselines"] = {n: {k: round(v, 4) for k, v in m.items()} for n, m in self.baselines.items()}
        out["latency_ms"] = {k: round(v, 1) for k, v in self.latency_ms.items()}
        out["ingest"] = self.ingest
        return out


class SplitThreads:
    """The dump's pre-split threads as a connector, so they go through the real ingest pipeline."""

    def __init__(self, dump: Dump, split: datetime, whole_threads: bool):
        self.name = SOURCE
        self._docs = _threads(dump, split, whole_threads)
        self._cursor: str | None = None

    def load(self, since: str | None = None) -> Iterator[SourceDocument]:
        yield from self._docs
        self._cursor = "done"

    def list_ids(self) -> Iterator[DocId]:
        for doc in self._docs:
            yield doc.doc_id

    @property
    def cursor(self) -> str | None:
        return self._cursor


def _threads(dump: Dump, split: datetime, whole_threads: bool) -> list[SourceDocument]:
    public = Acl(public=True)
    if whole_threads:
        before_split = [q.id for q in dump.questions.values() if q.created_at < split]
        return list(thread_documents(dump, SOURCE, public, question_ids=before_split))
    return list(thread_documents(dump, SOURCE, public, before=split))


def split_date(dump: Dump) -> datetime:
    """The 70th percentile of question dates (the date at that rank in the sorted list)."""
    dates = sorted(q.created_at for q in dump.questions.values())
    if not dates:
        raise ValueError(f"{dump.folder}: no questions")
    return dates[int(SPLIT_QUANTILE * len(dates))]


def dataset_home(home: Path, folder: Path, whole_threads: bool) -> Path:
    absolute = folder.resolve()
    digest = hashlib.sha256(str(absolute).encode()).hexdigest()[:8]
    variant = "whole" if whole_threads else "strict"
    return home / "eval" / f"experts-{absolute.name}-{variant}-{digest}"


def account_people(engine: Engine) -> dict[str, str]:
    """account on the source -> person id."""
    rows = engine.store.db.execute(
        "SELECT a.account, p.person_id FROM accounts a JOIN people p ON p.id = a.person WHERE a.source = ?",
        (SOURCE,),
    )
    return {r[0]: r[1] for r in rows}


def answer_counts(engine: Engine) -> Counter[str]:
    """Indexed answers per person id (the popularity baseline, and who is a candidate)."""
    rows = engine.store.db.execute(
        "SELECT p.person_id, COUNT(*) FROM contributions c "
        "JOIN accounts a ON a.source = c.source AND a.account = c.account JOIN people p ON p.id = a.person "
        "WHERE c.role = 'answerer' GROUP BY p.person_id"
    )
    return Counter({r[0]: int(r[1]) for r in rows})


def test_questions(
    dump: Dump, split: datetime, people: dict[str, str], candidates: set[str]
) -> list[TestQuestion]:
    out = []
    for q in sorted(dump.questions.values(), key=lambda q: q.id):
        if q.created_at < split:
            continue
        relevant: dict[str, int] = {}
        for a in dump.answers_to(q.id):
            person = people.get(str(a.owner_user_id)) if a.owner_user_id is not None else None
            if person in candidates:
                grade = 2 if a.id == q.accepted_answer_id else 1
                relevant[person] = max(relevant.get(person, 0), grade)
        if relevant:
            text = f"{q.title}\n\n{html_to_text(q.body_html)}".strip()
            asker = str(q.owner_user_id) if q.owner_user_id is not None else None
            out.append(TestQuestion(str(q.id), text, asker, relevant))
    return out


def complete(ranking: list[str], candidates: set[str], asker: str | None) -> list[str]:
    """The ranking restricted to candidates, then the candidates it left out in person-id order."""
    seen: set[str] = set()
    out = []
    for person in ranking:
        if person in candidates and person != asker and person not in seen:
            seen.add(person)
            out.append(person)
    return out + sorted(candidates - seen - {asker} if asker else candidates - seen)


def score_runs(questions: list[TestQuestion], runs: dict[str, list[str]]) -> dict[str, float]:
    """Mean of each measure over every test question (a question with an empty run scores 0)."""
    qrels = {q.qid: dict(q.relevant) for q in questions}
    scores = ranked_scores({qid: [(p, 0.0) for p in people] for qid, people in runs.items()})
    names = {m: n for n, m in MEASURES.items()}
    totals = dict.fromkeys(MEASURES, 0.0)
    present = {q: s for q, s in scores.items() if s and q in qrels}
    for metric in ir_measures.iter_calc(list(MEASURES.values()), qrels, present):
        totals[names[metric.measure]] += float(metric.value)
    return {name: value / len(questions) if questions else 0.0 for name, value in totals.items()}


def ingest_summary(report: RunReport) -> dict[str, Any]:
    s = report.sources[0] if report.sources else None
    return {
        "documents_added": s.documents_added if s else 0,
        "documents_unchanged": s.documents_unchanged if s else 0,
        "chunks_embedded": s.chunks_embedded if s else 0,
        "duration_s": round(report.duration_s, 1),
    }


Ranker = Callable[[TestQuestion], list[str]]


@dataclass
class Prepared:
    """A dump indexed by the protocol, with its test questions: what every system is scored on."""

    dataset: str
    variant: str
    split: datetime
    engine: Engine
    questions: list[TestQuestion]
    counts: Counter[str]  # indexed answers per candidate
    people: dict[str, str]  # account -> person id
    report: RunReport

    @property
    def candidates(self) -> set[str]:
        return set(self.counts)

    def score(self, rank: Ranker) -> dict[str, float]:
        candidates = self.candidates
        runs = {q.qid: complete(rank(q), candidates, self.people.get(q.asker or "")) for q in self.questions}
        return score_runs(self.questions, runs)


def prepare(
    settings: Settings, folder: Path, whole_threads: bool = False, engine: Engine | None = None
) -> Prepared:
    """Index the dump's pre-split threads into its own home (unchanged threads are skipped, cached
    vectors reused) and derive the test questions."""
    dump = read_dump(folder)
    split = split_date(dump)
    home = dataset_home(settings.home, folder, whole_threads)
    engine = engine or Engine(settings.model_copy(update={"home": home}))
    config = SourceConfig.model_validate({"name": SOURCE, "type": "stackexchange", "acl": {"public": True}})
    report = engine.pipeline().run([(config, SplitThreads(dump, split, whole_threads))])
    counts = answer_counts(engine)
    people = account_people(engine)
    return Prepared(
        dataset=folder.resolve().name,
        variant="whole-threads" if whole_threads else "strict",
        split=split,
        engine=engine,
        questions=test_questions(dump, split, people, set(counts)),
        counts=counts,
        people=people,
        report=report,
    )


def evaluate_experts(
    settings: Settings,
    folder: Path,
    whole_threads: bool = False,
    expert_settings: ExpertSettings | None = None,
    engine: Engine | None = None,
) -> ExpertsEvalResult:
    """The product's ranker and both baselines on one dump, with the /experts path's latency."""
    prepared = prepare(settings, folder, whole_threads, engine)
    finder = ExpertFinder(prepared.engine.retriever, expert_settings or ExpertSettings())
    rankers = systems(prepared, finder)
    return ExpertsEvalResult(
        dataset=prepared.dataset,
        variant=prepared.variant,
        split=prepared.split.date().isoformat(),
        questions=len(prepared.questions),
        candidates=len(prepared.candidates),
        metrics=prepared.score(rankers["experts"]),
        baselines={n: prepared.score(rankers[n]) for n in ("popularity", "bm25_vote")},
        latency_ms=experts_latency(finder, prepared.questions, prepared.split),
        ingest=ingest_summary(prepared.report),
    )


def experts_ranker(finder: ExpertFinder, now: datetime) -> Ranker:
    def experts(q: TestQuestion) -> list[str]:
        ranking = finder.rank_people(q.text, asker_principal(q), now=now)
        return [row.person_id for _, row in ranking.people]

    return experts


def systems(prepared: Prepared, finder: ExpertFinder) -> dict[str, Ranker]:
    """The product's ranker and the two baselines, each a function of a test question."""
    counts = prepared.counts
    popular = sorted(counts, key=lambda p: (-counts[p], p))
    retriever = prepared.engine.retriever
    answerers_of: dict[int, list[str]] = {}
    for doc, person in prepared.engine.store.db.execute(
        "SELECT c.doc, p.person_id FROM contributions c JOIN accounts a ON a.source = c.source "
        "AND a.account = c.account JOIN people p ON p.id = a.person WHERE c.role = 'answerer' ORDER BY c.id"
    ):
        answerers_of.setdefault(int(doc), []).append(person)

    def popularity(q: TestQuestion) -> list[str]:
        return popular

    def bm25_vote(q: TestQuestion) -> list[str]:
        votes: dict[str, float] = defaultdict(float)
        for r in retriever.rank(q.text, Principal.anonymous(), mode="bm25", depth=BM25_DEPTH):
            for person in answerers_of.get(r.doc, []):
                votes[person] += r.score
        return sorted(votes, key=lambda p: (-votes[p], p))

    return {
        "experts": experts_ranker(finder, prepared.split),
        "popularity": popularity,
        "bm25_vote": bm25_vote,
    }


def asker_principal(q: TestQuestion) -> Principal:
    """The asker as the caller (the documents are public). A login is not the forum's account of the same
    spelling unless a directory says so, so `complete` is what leaves the asker out of a run."""
    return Principal.of(q.asker) if q.asker else Principal.anonymous()


class PrecomputedQueries:
    """The real embedder with each evaluation query embedded ahead: timing a ranker with it measures
    everything after the query embedding (retrieval, scoring, explanation)."""

    def __init__(self, embedder: Embedder, texts: list[str]):
        self._embedder = embedder
        self.model_name, self.backend, self.dim = embedder.model_name, embedder.backend, embedder.dim
        self._vectors = {t: embedder.embed_query(t) for t in texts}

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._vectors.get(text)
        return vector if vector is not None else self._embedder.embed_query(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed_passages(texts)


def _timed(finder: ExpertFinder, questions: list[TestQuestion], now: datetime) -> list[float]:
    finder.rank_experts(questions[0].text, asker_principal(questions[0]), now=now)  # warm
    took = []
    for q in questions:
        started = time.perf_counter()
        finder.rank_experts(q.text, asker_principal(q), k=10, now=now)
        took.append((time.perf_counter() - started) * 1000)
    return took


def experts_latency(finder: ExpertFinder, questions: list[TestQuestion], now: datetime) -> dict[str, float]:
    """Warm latency of the /experts path (rank, explain the top 10) per evaluation query: whole, and
    after the query embedding (the same path with the queries embedded ahead)."""
    if not questions:
        return {"p50": 0.0, "p95": 0.0, "after_embedding_p50": 0.0, "after_embedding_p95": 0.0}
    whole = _timed(finder, questions, now)
    r = finder.retriever
    embedded = PrecomputedQueries(r.embedder, [topic_of(q.text) for q in questions])
    ahead = HybridRetriever(r.store, r.snapshot, embedded, r.settings)
    after = _timed(ExpertFinder(ahead, finder.settings, ranker=finder.ranker), questions, now)
    return {
        "p50": percentile(whole, 50),
        "p95": percentile(whole, 95),
        "after_embedding_p50": percentile(after, 50),
        "after_embedding_p95": percentile(after, 95),
    }


def ablation(prepared: Prepared, base: ExpertSettings) -> dict[str, dict[str, float]]:
    """Every ablation's scores on one prepared dump (of the formula: the fitted ranker's parts are
    chosen by `python -m eval.experts.train`)."""
    out = {}
    for name, variant in ablations(base).items():
        finder = ExpertFinder(prepared.engine.retriever, variant)
        out[name] = prepared.score(experts_ranker(finder, prepared.split))
    return out


def ablations(base: ExpertSettings) -> dict[str, ExpertSettings]:
    """What each component of the formula gives: the full formula with one part taken out or swapped."""
    base = replace(base, scorer="formula")
    return {
        "full formula": base,
        "Model 2 voting (no normalisation, no prior)": replace(base, normalise=False, prior_weight=0.0),
        "normalised voting, no prior": replace(base, prior_weight=0.0),
        "prior without recency": replace(base, long_term_share=1.0),
        "prior without long-term share": replace(base, long_term_share=0.0),
        "quality factor 0.25 (votes, kB)": replace(base, quality_weight=0.25),
        "no evidence decay": replace(base, evidence_half_life_days=1e9),
        "equal role weights": replace(base, role_weights=tuple((r, 1.0) for r, _ in base.role_weights)),
        "topic weight 1": replace(base, topic_weight=1.0),
        "no accepted-answer bonus": replace(
            base,
            role_weights=tuple((r, 0.0 if r == "accepted_answerer" else w) for r, w in base.role_weights),
        ),
        "score-scaled relevance": replace(base, relevance="score"),
        "bm25 retrieval": replace(base, retrieval_mode="bm25"),
        "dense retrieval": replace(base, retrieval_mode="dense"),
    }
