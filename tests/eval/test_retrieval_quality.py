"""Regression floor for retrieval quality: a scifact subset through the real pipeline, model and ranker."""

from __future__ import annotations

import pytest

from eval.retrieval.run import evaluate_retrieval
from service.settings import Settings
from tests.eval.subsets import write_scifact_subset

# Measured on this subset (100 test queries, their 110 relevant abstracts + 1,000 others) with the
# default settings on 2026-12-04: bm25 nDCG@10 0.850 / R@100 0.98, dense 0.847 / 0.98, hybrid 0.902 /
# 0.99. The floors sit just under the hybrid's values, so a regression of about 0.01 fails here.
HYBRID_NDCG_FLOOR = 0.89
HYBRID_RECALL_FLOOR = 0.98
LEG_EPSILON = 0.005


@pytest.mark.slow
def test_hybrid_quality_floor_and_beats_both_legs(tmp_path, shared_data):
    dataset = write_scifact_subset(shared_data / "scifact_beir", tmp_path / "scifact-subset", 100, 1000)
    settings = Settings(home=tmp_path / "home")
    results = {r.mode: r for r in evaluate_retrieval(settings, dataset, ("bm25", "dense", "hybrid"))}
    hybrid = results["hybrid"].metrics
    assert results["hybrid"].queries == 100
    assert results["hybrid"].ingest["failures"] == 0
    assert hybrid["ndcg@10"] >= HYBRID_NDCG_FLOOR, hybrid
    assert hybrid["recall@100"] >= HYBRID_RECALL_FLOOR, hybrid
    best_leg = max(results["bm25"].metrics["ndcg@10"], results["dense"].metrics["ndcg@10"])
    assert hybrid["ndcg@10"] >= best_leg - LEG_EPSILON, {m: r.metrics for m, r in results.items()}
