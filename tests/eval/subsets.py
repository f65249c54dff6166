"""Deterministic BEIR subsets of the shared scifact data, written at test time into a temporary folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from eval.retrieval.beir import iter_corpus, load_beir


def write_scifact_subset(src: Path, out: Path, queries: int, others: int, split: str = "test") -> Path:
    """The first `queries` judged queries (by numeric id), their relevant abstracts, and `others` more
    abstracts picked by a hash of their id; written as a BEIR folder with a header line in the qrels."""
    full = load_beir(src, split)
    chosen = sorted(full.queries, key=lambda q: (int(q) if q.isdigit() else 0, q))[:queries]
    relevant = {d for q in chosen for d in full.qrels[q]}
    corpus = list(iter_corpus(src / "corpus.jsonl"))
    pool = sorted((e.doc_id for e in corpus if e.doc_id not in relevant), key=_hash)
    keep = relevant | set(pool[:others])
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for e in corpus:
            if e.doc_id in keep:
                fh.write(json.dumps({"_id": e.doc_id, "title": e.title, "text": e.text}) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q in chosen:
            fh.write(json.dumps({"_id": q, "text": full.queries[q]}) + "\n")
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q in chosen:
            for d, grade in sorted(full.qrels[q].items()):
                fh.write(f"{q}\t{d}\t{grade}\n")
    return out


def _hash(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode()).hexdigest()
