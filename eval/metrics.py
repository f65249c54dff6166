"""Retrieval metrics through ir-measures (pytrec_eval): nDCG@10, Recall@100, MRR@10, and TREC run files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import ir_measures
from ir_measures import RR, R, nDCG

Run = dict[str, list[tuple[str, float]]]  # query id -> [(corpus id, score)] best first
Qrels = Mapping[str, Mapping[str, int]]

MEASURES = {"ndcg@10": nDCG @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10}


def ranked_scores(run: Run) -> dict[str, dict[str, float]]:
    """The run as trec_eval reads it, with scores that encode our order.

    trec_eval sorts by score and breaks ties by document name, not by our order; scores that fall
    strictly with the rank make it evaluate exactly the ranking we produced (ties already broken by id).
    """
    out: dict[str, dict[str, float]] = {}
    for qid, docs in run.items():
        n = len(docs)
        out[qid] = {}
        for rank, (doc, _) in enumerate(docs):
            out[qid].setdefault(doc, float(n - rank))
    return out


def evaluate_run(qrels: Qrels, run: Run) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 over every judged query; a query missing from the run scores 0."""
    judged = {q: dict(d) for q, d in qrels.items() if any(g > 0 for g in d.values())}
    scores = ranked_scores(run)
    for qid in judged:
        scores.setdefault(qid, {})
    per_query = per_query_scores(judged, scores)
    return {name: _mean([v[name] for v in per_query.values()]) for name in MEASURES}


def per_query_scores(qrels: Qrels, scores: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """query id -> measure name -> value, for every query in `qrels`."""
    names = {m: n for n, m in MEASURES.items()}
    out: dict[str, dict[str, float]] = {q: dict.fromkeys(MEASURES, 0.0) for q in qrels}
    non_empty = {q: dict(d) for q, d in scores.items() if d and q in qrels}
    for metric in ir_measures.iter_calc(list(MEASURES.values()), dict(qrels), non_empty):
        out[metric.query_id][names[metric.measure]] = float(metric.value)
    return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def write_trec_run(path: Path, run: Run, tag: str) -> None:
    """`qid Q0 docid rank score tag` per line; the score column falls with the rank (see ranked_scores)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scores = ranked_scores(run)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for qid in sorted(scores):
            for rank, (doc, score) in enumerate(scores[qid].items(), 1):
                fh.write(f"{qid} Q0 {doc} {rank} {score:g} {tag}\n")
    tmp.replace(path)
