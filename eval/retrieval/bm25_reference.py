"""The keyword leg's scorer as a plain BM25 (whole documents, one field, no stemming): is the leg right?"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from eval.metrics import Run, evaluate_run
from eval.retrieval.beir import BeirDataset, iter_corpus, load_beir
from index.retrieval.text import fts_match, query_terms

# The product's FTS5 table stems with porter and weights titles 2:1 over chunks of 1,000 characters.
# The reference figures index each abstract whole with an unstemmed BM25; FTS5 configured that way
# shows whether the scorer itself is right before those choices move it.
PLAIN_TOKENIZER = "unicode61 remove_diacritics 2"


def plain_bm25_run(dataset: BeirDataset, k: int = 100) -> Run:
    db = sqlite3.connect(":memory:")
    try:
        db.execute(
            f"CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, body, tokenize = '{PLAIN_TOKENIZER}')"
        )
        db.executemany(
            "INSERT INTO docs(doc_id, body) VALUES (?, ?)",
            ((c.doc_id, f"{c.title} {c.text}") for c in iter_corpus(dataset.root / "corpus.jsonl")),
        )
        run: Run = {}
        for qid in sorted(dataset.queries):
            match = fts_match(query_terms(dataset.queries[qid]))
            rows = (
                db.execute(
                    "SELECT doc_id, -bm25(docs) AS s FROM docs WHERE docs MATCH ? ORDER BY s DESC, doc_id LIMIT ?",
                    (match, k),
                ).fetchall()
                if match
                else []
            )
            run[qid] = [(str(d), float(s)) for d, s in rows]
        return run
    finally:
        db.close()


def plain_bm25_metrics(root: Path, split: str = "test") -> dict[str, float]:
    dataset = load_beir(root, split)
    return evaluate_run(dataset.qrels, plain_bm25_run(dataset))
