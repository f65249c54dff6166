"""The keyword engine's MaxScore pruning returns exactly what scoring every posting returns: the same
chunks, in the same order, with bit-identical scores, over several segments, masks and filters."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import index.keyword.index as keyword_index
from index.keyword.index import K1, B, FieldWeights, KeywordIndex, VisibleStats, idf
from index.keyword.segment import ChunkTerms, Segment, SegmentWriter

VOCABULARY = [f"t{i}" for i in range(60)]


def corpus(rng: np.random.Generator, chunks: int) -> list[ChunkTerms]:
    """Zipf-like term draws: a few terms in most chunks (long postings), most in few."""
    p = 1.0 / np.arange(1, len(VOCABULARY) + 1) ** 1.1
    p /= p.sum()
    out = []
    for slot in range(chunks):
        fields = [rng.choice(VOCABULARY, size=int(rng.integers(0, n)), p=p).tolist() for n in (4, 3, 40)]
        out.append(ChunkTerms(slot, *fields))
    return out


def build(tmp_path: Path, chunks: list[ChunkTerms], segments: int) -> KeywordIndex:
    """Consecutive slot ranges in separate segments, as incremental builds make them."""
    bounds = np.linspace(0, len(chunks), segments + 1).astype(int)
    written = []
    for n, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        writer = SegmentWriter()
        writer.add_all(chunks[lo:hi])
        writer.write(tmp_path / f"seg{n}")
        written.append(Segment(tmp_path / f"seg{n}"))
    lengths = np.asarray([c.length for c in chunks], dtype=np.int32)
    return KeywordIndex(written, lengths)


def reference(
    chunks: list[ChunkTerms],
    terms: list[str],
    stat_mask: np.ndarray,
    candidate_mask: np.ndarray,
    limit: int,
    w: tuple[float, float, float],
) -> list[tuple[int, float]]:
    """BM25 the slow way: every chunk, every term, in the query's order."""
    visible = [c for c in chunks if stat_mask[c.slot]]
    n = len(visible)
    avgdl = sum(c.length for c in visible) / n
    df = {t: sum(1 for c in visible if t in c.title or t in c.heading or t in c.body) for t in terms}
    scores: dict[int, float] = {}
    for t in terms:
        if df[t] == 0:
            continue
        weight = idf(n, df[t])
        for c in chunks:
            if not candidate_mask[c.slot]:
                continue
            counts = (c.title.count(t), c.heading.count(t), c.body.count(t))
            if not any(counts):
                continue
            f = np.float64(counts[0]) * w[0] + np.float64(counts[1]) * w[1] + np.float64(counts[2]) * w[2]
            norm = K1 * (1.0 - B)
            per_length = K1 * B / avgdl
            dl = np.float64(c.length)
            scores[c.slot] = scores.get(c.slot, 0.0) + weight * f * (K1 + 1.0) / (f + norm + per_length * dl)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


@pytest.mark.parametrize("seed", range(8))
def test_pruned_search_equals_scoring_every_posting(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if seed % 2:  # check the bound before every term, not only before a few long postings
        monkeypatch.setattr(keyword_index, "PRUNE_CHECK_POSTINGS", 0)
        monkeypatch.setattr(keyword_index, "PRUNE_CHECKS", 100)
        # look candidates up by binary search only (seed 1, 5) or by a pass only (3, 7)
        monkeypatch.setattr(keyword_index, "SEARCH_COST", 0 if seed % 4 == 1 else 10**9)
    rng = np.random.default_rng(seed)
    chunks = corpus(rng, 3_000)
    index = build(tmp_path, chunks, segments=1 + seed % 3)
    lengths = np.asarray([c.length for c in chunks])
    for trial in range(12):
        stat_mask = rng.random(len(chunks)) < rng.uniform(0.2, 1.0)
        candidate_mask = stat_mask & (rng.random(len(chunks)) < 0.7) if trial % 2 else stat_mask
        stats = VisibleStats(int(stat_mask.sum()), int(lengths[stat_mask].sum()))
        # a rare term or two beside common ones: the case pruning is for
        terms = list(
            dict.fromkeys([*rng.choice(VOCABULARY, size=int(rng.integers(1, 7))).tolist(), "t0", "t1"])
        )
        limit = int(rng.choice([1, 5, 20, 400]))
        weights = FieldWeights() if trial % 3 else FieldWeights(0.0, 1.0, 1.5)
        slots, scores = index.search(terms, stat_mask, stats, limit, candidate_mask, weights)
        expected = reference(
            chunks, terms, stat_mask, candidate_mask, limit, (weights.title, weights.heading, weights.body)
        )
        assert list(zip(slots.tolist(), scores.tolist(), strict=True)) == expected  # bit for bit


def test_pruning_skips_the_common_terms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query of rare terms and one in nearly every chunk: the common term is only looked up for the
    chunks the rare ones found, never scored over its whole postings."""
    chunks = [
        ChunkTerms(s, [], [], ["common"] * (1 + s % 3) + (["rare"] * 3 if s % 500 == 0 else []))
        for s in range(20_000)
    ]
    index = build(tmp_path, chunks, segments=2)
    scored: list[int] = []
    admitted = keyword_index._TermPostings.admitted

    def counting(self: keyword_index._TermPostings) -> tuple[np.ndarray, np.ndarray]:
        scored.append(self.position)
        return admitted(self)

    monkeypatch.setattr(keyword_index._TermPostings, "admitted", counting)
    mask = np.ones(len(chunks), dtype=bool)
    stats = VisibleStats(len(chunks), sum(c.length for c in chunks))
    slots, scores = index.search(["common", "rare"], mask, stats, 10, mask)
    assert scored == [1]  # "rare" only
    assert len(slots) == 10 and all(s % 500 == 0 for s in slots.tolist())  # the chunks with both terms
    expected = reference(chunks, ["common", "rare"], mask, mask, 10, (2.0, 1.0, 1.0))
    assert list(zip(slots.tolist(), scores.tolist(), strict=True)) == expected
