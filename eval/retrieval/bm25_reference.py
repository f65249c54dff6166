"""The keyword leg's scorer as a plain BM25 (whole documents, one field, no stemming): is the leg right?"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.metrics import Run, evaluate_run
from eval.retrieval.beir import BeirDataset, iter_corpus, load_beir
from index.keyword.analyzer import Analyzer
from index.keyword.index import FieldWeights, KeywordIndex, VisibleStats
from index.keyword.segment import ChunkTerms, Segment, SegmentWriter
from index.retrieval.text import query_terms

# The product stems with porter and weights titles 2:1 over chunks of 1,000 characters. The reference
# figures index each abstract whole with an unstemmed BM25; the product's engine configured that way
# (one field, no stemming) shows whether the scorer itself is right before those choices move it.
BODY_ONLY = FieldWeights(title=0.0, heading=0.0, body=1.0)


def plain_bm25_run(dataset: BeirDataset, folder: Path, k: int = 100) -> Run:
    """Every query of `dataset` against its corpus indexed whole, unstemmed, in a segment in `folder`."""
    analyzer = Analyzer(stem=False)
    writer = SegmentWriter()
    doc_ids: list[str] = []
    for slot, c in enumerate(iter_corpus(dataset.root / "corpus.jsonl")):
        writer.add(ChunkTerms(slot, [], [], analyzer.terms(f"{c.title} {c.text}")))
        doc_ids.append(c.doc_id)
    writer.write(folder / "plain-bm25")
    lengths = np.asarray(writer.lengths, dtype=np.int32)
    index = KeywordIndex([Segment(folder / "plain-bm25")], lengths)
    everything = np.ones(len(doc_ids), dtype=bool)
    stats = VisibleStats(len(doc_ids), int(lengths.sum()))
    run: Run = {}
    for qid in sorted(dataset.queries):
        terms = analyzer.query_terms(query_terms(dataset.queries[qid]))
        slots, scores = index.search(terms, everything, stats, k, weights=BODY_ONLY)
        ranked = sorted(
            ((doc_ids[s], float(x)) for s, x in zip(slots, scores, strict=True)), key=lambda r: (-r[1], r[0])
        )
        run[qid] = ranked
    return run


def plain_bm25_metrics(root: Path, folder: Path, split: str = "test") -> dict[str, float]:
    dataset = load_beir(root, split)
    return evaluate_run(dataset.qrels, plain_bm25_run(dataset, folder))
