"""The keyword engine, set up as the reference's plain BM25 on scifact test, lands on the reference."""

from __future__ import annotations

import pytest

from eval.report import SCIFACT_REFERENCE
from eval.retrieval.beir import load_beir
from eval.retrieval.bm25_reference import plain_bm25_metrics, plain_bm25_run


def test_plain_bm25_reproduces_the_scifact_reference(shared_data, tmp_path):
    root = shared_data / "scifact_beir"
    m = plain_bm25_metrics(root, tmp_path, "test")
    ndcg, recall = SCIFACT_REFERENCE["bm25"]
    assert m["ndcg@10"] == pytest.approx(ndcg, abs=0.01), m
    assert m["recall@100"] == pytest.approx(recall, abs=0.02), m


def test_run_is_ordered_best_first_with_ties_by_id(shared_data, tmp_path):
    run = plain_bm25_run(load_beir(shared_data / "scifact_beir", "test"), tmp_path, k=20)
    assert len(run) == 300
    for ranked in run.values():
        assert len(ranked) <= 20
        keys = [(-s, d) for d, s in ranked]
        assert keys == sorted(keys)
