"""Fusion arithmetic: RRF, normalised convex combination, padding of the keyword leg, adaptive shares."""

from __future__ import annotations

import pytest

from index.retrieval.fusion import (
    DocResult,
    Leg,
    adaptive_weights,
    confidence,
    fuse_convex,
    fuse_rrf,
    zscore_scaler,
)
from index.retrieval.hybrid import ChunkScore, RetrievalSettings, best_per_doc


def ranking(*pairs: tuple[int, float]) -> list[DocResult]:
    return [DocResult(doc, score, chunk=doc * 10) for doc, score in pairs]


def test_rrf_sums_weighted_reciprocal_ranks_and_breaks_ties_by_id():
    a = Leg(ranking((1, 9.0), (2, 8.0)), 0.5)
    b = Leg(ranking((2, 0.9), (1, 0.8)), 0.5)
    fused = fuse_rrf([a, b], rrf_k=60)
    assert [r.doc for r in fused] == [1, 2]  # equal sums: the lower id first
    assert fused[0].score == pytest.approx(0.5 / 61 + 0.5 / 62)
    heavier = fuse_rrf([Leg(a.ranking, 0.3), Leg(b.ranking, 0.7)], rrf_k=60)
    assert [r.doc for r in heavier] == [2, 1]


def test_convex_zscore_combines_scales_and_gives_absent_documents_the_floor():
    keyword = Leg(ranking((1, 30.0), (2, 10.0), (3, 5.0)), 0.5, pool=3)
    dense = Leg(ranking((4, 0.9), (2, 0.8), (5, 0.1)), 0.5, pool=3)
    fused = fuse_convex([keyword, dense], "zscore")
    by_doc = {r.doc: r.score for r in fused}
    kz, dz = zscore_scaler([30.0, 10.0, 5.0]), zscore_scaler([0.9, 0.8, 0.1])
    assert by_doc[2] == pytest.approx(0.5 * kz(10.0) + 0.5 * dz(0.8))
    assert by_doc[1] == pytest.approx(0.5 * kz(30.0) + 0.5 * dz(0.1))  # not in dense: dense floor
    assert [r.doc for r in fused][:3] == [2, 1, 4]  # in both legs beats top of one leg
    assert {r.doc: r.chunk for r in fused}[4] == 40


def test_short_keyword_leg_is_padded_so_a_lone_exact_match_stands_out():
    lone = Leg(ranking((7, 12.0)), 0.5, pool=100, absent_score=0.0)
    assert confidence(lone) > 9  # one match among 100: about sqrt(99) deviations above the rest
    flat_dense = Leg(ranking(*[(i, 0.50 - i * 0.0001) for i in range(1, 101)]), 0.5, pool=100)
    fused = fuse_convex([lone, flat_dense], "zscore", adaptive=True)
    assert fused[0].doc == 7
    unpadded = Leg(ranking((7, 12.0)), 0.5, pool=100)
    assert confidence(unpadded) == 0.0


def test_adaptive_shares_follow_confidence_and_fall_back_to_the_set_shares():
    peaked = Leg(ranking((1, 10.0), *[(i, 1.0) for i in range(2, 50)]), 0.5, pool=49)
    flat = Leg(ranking(*[(i, 1.0 - i * 0.001) for i in range(1, 50)]), 0.5, pool=49)
    w_peaked, w_flat = adaptive_weights([peaked, flat])
    assert w_peaked > 0.75 and w_peaked + w_flat == pytest.approx(1.0)
    empty = Leg([], 0.3, pool=10)
    assert adaptive_weights([empty, Leg([], 0.7, pool=10)]) == [0.3, 0.7]


def test_best_per_doc_max_or_sum_of_top_chunks():
    chunks = [ChunkScore(1, 1, 5.0), ChunkScore(2, 1, 4.0), ChunkScore(3, 2, 6.0), ChunkScore(4, 1, 1.0)]
    assert [(r.doc, r.score, r.chunk) for r in best_per_doc(chunks)] == [(2, 6.0, 3), (1, 5.0, 1)]
    summed = best_per_doc(chunks, sum_weight=0.5)
    assert [(r.doc, r.score) for r in summed] == [(1, 7.5), (2, 6.0)]


def test_settings_reject_unknown_fusion_and_bad_share():
    with pytest.raises(ValueError, match="unknown fusion"):
        RetrievalSettings(fusion="borda")
    with pytest.raises(ValueError, match="keyword_weight"):
        RetrievalSettings(keyword_weight=1.5)
