"""Answer evaluation on a BEIR folder: citation precision, confidence and latency of offline answers, and the
calibration (on train) of the sentence weights and of the confidence threshold."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from eval.answers.scifact_rationales import Rationales, is_rationale, load_rationales
from eval.retrieval.beir import BeirDataset, BeirFormatError, corpus_id_of, load_beir
from eval.retrieval.run import _ingest_summary, dataset_engine, ingest_dataset, percentile
from index.acl import Principal
from index.answers.grounding import AnswerSettings, extractive_answer, gather_evidence, shown_sentences
from index.answers.sentences import SentenceWeights
from service.engine import Engine
from service.settings import Settings

GRID_STEP = 0.05
PRECISION_TARGETS = (0.8, 0.9)


@dataclass
class QueryRecord:
    """One question's evidence, reduced to what the metrics and the calibration need."""

    qid: str
    features: np.ndarray  # (sentences, 3): cos, kw, ctx of every scored sentence
    relevant: np.ndarray  # (sentences,) bool: the sentence's document is judged relevant
    evidence: np.ndarray  # (sentences,) bool: the sentence is labelled evidence for the claim (SciFact)
    has_evidence: bool  # the query has evidence labels at all
    shown_relevant: list[bool]  # per sentence the extractive answer quotes
    best_score: float
    confident: bool
    seconds: float


@dataclass
class Calibration:
    weights: SentenceWeights
    objective: str  # what the weights maximise: evidence@1 (sentence labels) or relevant@1 (document)
    objective_value: float
    top1_precision: float  # share of queries whose best sentence comes from a relevant document
    threshold: float  # maximises F1 of "confident" against "best sentence is relevant"
    f1: float
    precision: float
    recall: float
    targets: dict[str, dict[str, float]] = field(default_factory=dict)  # precision target -> threshold

    def as_dict(self) -> dict[str, Any]:
        return {
            "weights": {"cos": self.weights.cos, "kw": self.weights.kw, "ctx": self.weights.ctx},
            "objective": self.objective,
            "objective_value": round(self.objective_value, 4),
            "top1_precision": round(self.top1_precision, 4),
            "threshold": round(self.threshold, 4),
            "f1": round(self.f1, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "precision_targets": self.targets,
        }


@dataclass
class AnswersResult:
    dataset: str
    split: str
    queries: int
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    settings: dict[str, Any]
    calibration: Calibration | None = None
    ingest: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            **{k: round(v, 4) for k, v in self.metrics.items()},
            "latency_ms": {k: round(v, 1) for k, v in self.latency_ms.items()},
            "settings": self.settings,
            "calibration": self.calibration.as_dict() if self.calibration else None,
            "ingest": self.ingest,
        }


def collect(
    engine: Engine,
    dataset: BeirDataset,
    settings: AnswerSettings,
    limit: int | None = None,
    rationales: Rationales | None = None,
) -> list[QueryRecord]:
    """Answer every query (as anonymous, extractive) and keep each scored sentence's features."""
    retriever = engine.retriever
    principal = Principal.anonymous()
    docs = engine.store.documents_by_ids
    items = list(dataset.queries.items())[: limit or None]
    if items:  # warm: model, snapshot and SQLite pages loaded
        gather_evidence(retriever, items[0][1], principal, settings=settings)
    out: list[QueryRecord] = []
    for qid, text in items:
        started = time.perf_counter()
        evidence = gather_evidence(retriever, text, principal, settings=settings)
        extractive_answer(evidence)
        seconds = time.perf_counter() - started
        judged = dataset.qrels.get(qid, {})
        ids = docs(sorted({s.passage.doc for s in evidence.sentences}))

        labels = (rationales or {}).get(qid, {})

        def relevant(doc: int, ids: Any = ids, judged: dict[str, int] = judged) -> bool:
            return doc in ids and judged.get(corpus_id_of(ids[doc].doc_id), 0) > 0

        def evidential(doc: int, text: str, ids: Any = ids, labels: dict[str, list[str]] = labels) -> bool:
            return doc in ids and is_rationale(text, labels.get(corpus_id_of(ids[doc].doc_id), []))

        out.append(
            QueryRecord(
                qid=qid,
                features=np.array(
                    [[s.cos, s.kw, s.ctx] for s in evidence.sentences], dtype=np.float64
                ).reshape(-1, 3),
                relevant=np.array([relevant(s.passage.doc) for s in evidence.sentences], dtype=bool),
                evidence=np.array(
                    [evidential(s.passage.doc, s.text) for s in evidence.sentences], dtype=bool
                ),
                has_evidence=bool(labels),
                shown_relevant=[relevant(s.passage.doc) for s in shown_sentences(evidence)],
                best_score=evidence.best_score,
                confident=evidence.confident,
                seconds=seconds,
            )
        )
    return out


def answer_metrics(records: list[QueryRecord]) -> dict[str, float]:
    shown = [r for rec in records for r in rec.shown_relevant]
    confident = [rec for rec in records if rec.confident]
    shown_confident = [r for rec in confident for r in rec.shown_relevant]
    answered = [rec for rec in records if len(rec.relevant)]
    unsure = [bool(rec.relevant[0]) for rec in answered if not rec.confident]
    return {
        "citation_precision": float(np.mean(shown)) if shown else 0.0,
        # the best-scoring sentence (sentences are stored best first)
        "top1_precision": float(np.mean([bool(rec.relevant[0]) for rec in answered])) if answered else 0.0,
        "confident_rate": len(confident) / len(records) if records else 0.0,
        "confident_citation_precision": float(np.mean(shown_confident)) if shown_confident else 0.0,
        "not_confident_top1_precision": float(np.mean(unsure)) if unsure else 0.0,
    }


def _best(
    records: list[QueryRecord], w: np.ndarray, label: str = "relevant"
) -> tuple[np.ndarray, np.ndarray]:
    """Per query with sentences: the best score under weights `w`, and the label of that sentence."""
    scores, hits = [], []
    for rec in records:
        if len(rec.features) == 0:
            continue
        s = rec.features @ w
        j = int(np.argmax(s))  # first maximum: sentences are in reading order of equal score
        scores.append(float(s[j]))
        hits.append(bool(getattr(rec, label)[j]))
    return np.array(scores), np.array(hits, dtype=bool)


def _threshold_table(scores: np.ndarray, hits: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(threshold, precision, recall, f1) for every distinct score used as the threshold."""
    order = np.argsort(-scores, kind="stable")
    s, h = scores[order], hits[order]
    positives = max(1, int(h.sum()))
    out = []
    tp = 0
    for i in range(len(s)):
        tp += int(h[i])
        if i + 1 < len(s) and s[i + 1] == s[i]:
            continue
        precision, recall = tp / (i + 1), tp / positives
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append((float(s[i]), precision, recall, f1))
    return out


def calibrate(records: list[QueryRecord]) -> Calibration:
    """Weights by grid, then the confidence threshold under them.

    The weights maximise how often the best sentence is a labelled evidence sentence (SciFact's rationales,
    over the queries that have them), or else comes from a relevant document; ties go to the earlier grid
    point. The threshold is then set on "the best sentence's document is judged relevant".
    """
    labelled = [r for r in records if r.has_evidence]
    objective, pool = ("evidence@1", labelled) if labelled else ("relevant@1", records)
    label = "evidence" if labelled else "relevant"
    steps = round(1 / GRID_STEP)
    best_w, best_p = np.array([1.0, 0.0, 0.0]), -1.0
    for i in range(steps + 1):
        for j in range(steps + 1 - i):
            w = np.array([i, j, steps - i - j], dtype=np.float64) / steps
            _, hits = _best(pool, w, label)
            p = float(hits.mean()) if len(hits) else 0.0
            if p > best_p + 1e-12:
                best_w, best_p = w, p
    scores, hits = _best(records, best_w)
    table = _threshold_table(scores, hits)
    threshold, precision, recall, f1 = max(table, key=lambda row: (row[3], row[0]))
    targets: dict[str, dict[str, float]] = {}
    for target in PRECISION_TARGETS:
        ok = [row for row in table if row[1] >= target]
        if ok:
            row = min(ok, key=lambda r: r[0])  # the lowest threshold that still reaches the target
            targets[f"{target:.2f}"] = {
                "threshold": round(row[0], 4),
                "recall": round(row[2], 4),
                "confident_rate": round(float((scores >= row[0]).mean()), 4),
            }
    weights = SentenceWeights(*(round(float(x), 2) for x in best_w))
    top1 = float(hits.mean()) if len(hits) else 0.0
    return Calibration(weights, objective, best_p, top1, threshold, f1, precision, recall, targets)


def evaluate_answers(
    settings: Settings,
    root: Path,
    split: str = "test",
    limit: int | None = None,
    answer_settings: AnswerSettings | None = None,
    run_calibration: bool = False,
) -> AnswersResult:
    """Ingest (incrementally, the retrieval evaluation's index), answer every query, score; optionally calibrate."""
    dataset = load_beir(root, split)
    engine = dataset_engine(settings, root)
    report = ingest_dataset(engine, root)
    answer_settings = answer_settings or AnswerSettings()
    try:
        rationales: Rationales | None = load_rationales(root, split)
    except BeirFormatError:  # not SciFact, or its raw release is absent: document-level labels only
        rationales = None
    records = collect(engine, dataset, answer_settings, limit, rationales)
    calibration = calibrate(records) if run_calibration else None
    seconds = [r.seconds for r in records]
    latency = {"p50": percentile(seconds, 50) * 1000, "p95": percentile(seconds, 95) * 1000}
    described = {
        "weights": answer_settings.weights.__dict__,
        "confidence_threshold": answer_settings.confidence_threshold,
        "max_candidates": answer_settings.max_candidates,
        "max_sentences": answer_settings.max_sentences,
    }
    return AnswersResult(
        dataset.name,
        split,
        len(records),
        answer_metrics(records),
        latency,
        described,
        calibration,
        _ingest_summary(report),
    )


def with_calibration(settings: AnswerSettings, calibration: Calibration) -> AnswerSettings:
    """The answer settings a calibration proposes (to measure them before copying them into the code)."""
    return replace(settings, weights=calibration.weights, confidence_threshold=calibration.threshold)


def format_answers(result: AnswersResult) -> list[str]:
    """The human-readable summary `whoknows eval answers` prints."""
    m, lat = result.metrics, result.latency_ms
    lines = [
        f"{result.dataset} [{result.split}] offline (extractive) answers, {result.queries} queries",
        f"  citation precision           {m['citation_precision']:.4f}  (cited sentences from a relevant document)",
        f"  best-sentence precision      {m['top1_precision']:.4f}",
        f"  confident rate               {m['confident_rate']:.4f}",
        f"  precision when confident     {m['confident_citation_precision']:.4f}",
        f"  precision when not confident {m['not_confident_top1_precision']:.4f}",
        f"  latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms (retrieval, sentence scoring, composing)",
    ]
    c = result.calibration
    if c is not None:
        w = c.weights
        lines += [
            f"calibration on {result.split}:",
            f"  weights cos={w.cos:.2f} kw={w.kw:.2f} ctx={w.ctx:.2f} ({c.objective} {c.objective_value:.4f}; "
            f"best sentence from a relevant document {c.top1_precision:.4f})",
            f"  max-F1 threshold {c.threshold:.4f}: F1 {c.f1:.4f}, precision {c.precision:.4f}, recall {c.recall:.4f}",
        ]
        for target, row in c.targets.items():
            lines.append(
                f"  precision >= {target}: threshold {row['threshold']:.4f}, recall {row['recall']:.4f}, "
                f"confident rate {row['confident_rate']:.4f}"
            )
    return lines


class _ReportContext(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def data_root(self) -> Path: ...


def answers_section(ctx: _ReportContext) -> list[str]:
    """`make eval`: offline answers on scifact test (the index the retrieval section built)."""
    r = evaluate_answers(ctx.settings, ctx.data_root / "scifact_beir", "test")
    m, lat = r.metrics, r.latency_ms
    w = r.settings["weights"]
    return [
        "## Answers",
        "",
        f"### scifact_beir, split test, {r.queries} queries, offline (extractive) answers",
        "",
        "| citation precision | best-sentence precision | confident rate | precision when confident | p50 ms | p95 ms |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {m['citation_precision']:.3f} | {m['top1_precision']:.3f} | {m['confident_rate']:.3f} | "
        f"{m['confident_citation_precision']:.3f} | {lat['p50']:.0f} | {lat['p95']:.0f} |",
        "",
        f"weights cos={w['cos']} kw={w['kw']} ctx={w['ctx']}, confidence threshold "
        f"{r.settings['confidence_threshold']} (both calibrated on train; service/ANSWERS.md).",
        "Citation precision: share of quoted sentences whose abstract is judged relevant to the claim.",
        "",
    ]
