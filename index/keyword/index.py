"""BM25 over the segments of a snapshot, with every statistic taken over what the caller may see.

    score(c) = sum over query terms t of  idf(t) x tf(t, c) (k1 + 1) / (tf(t, c) + k1 (1 - b + b |c| / avgdl))
    tf(t, c) = 2 x count in the title + count in the heading + count in the body   (the field weights)
    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

N, df and avgdl count only the chunks the caller may see: N and the summed lengths come from exact
per-ACL-partition counters, df from the postings themselves filtered by the caller's mask. So a score
never depends on a document the caller may not open (Büttcher & Clarke, 2005, showed how global
statistics leak hidden content in multi-user search). The statistics are integers and every float is
computed in the same order from them, so the same visible corpus gives bit-identical scores however
many hidden documents sit beside it. Filters (sources, kinds) narrow the candidates, not the statistics.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.keyword.segment import Segment

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class FieldWeights:
    """How much a term counts in each field of a chunk (FTS5's bm25() column weights before)."""

    title: float = 2.0
    heading: float = 1.0
    body: float = 1.0

    def vector(self) -> np.ndarray:
        return np.asarray([self.title, self.heading, self.body], dtype=np.float32)


@dataclass(frozen=True)
class VisibleStats:
    """The corpus statistics of what one caller may see: chunks and their total length (in terms)."""

    chunks: int
    total_length: int

    @property
    def avgdl(self) -> float:
        return self.total_length / self.chunks if self.chunks else 0.0


def idf(visible_chunks: int, df: int) -> float:
    return float(np.log1p((visible_chunks - df + 0.5) / (df + 0.5)))


class KeywordIndex:
    """The segments of one snapshot, read-only and safe to search from many threads at once."""

    def __init__(self, segments: Sequence[Segment], lengths: np.ndarray):
        self.segments = list(segments)
        self.lengths = lengths  # terms per slot (title + heading + body)
        self._scratch = threading.local()

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(slots, tf) of `term` over every segment; a slot lives in exactly one segment."""
        parts = [p for p in (s.postings_of(term) for s in self.segments) if p is not None]
        if not parts:
            return np.zeros(0, dtype=np.int32), np.zeros((0, 3), dtype=np.uint8)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def doc_freqs(self, terms: Sequence[str], stat_mask: np.ndarray) -> dict[str, int]:
        """How many chunks the caller may see hold each term."""
        return {t: int(np.count_nonzero(stat_mask[self.postings(t)[0]])) for t in terms}

    def search(
        self,
        terms: Sequence[str],
        stat_mask: np.ndarray,
        stats: VisibleStats,
        limit: int,
        candidate_mask: np.ndarray | None = None,
        weights: FieldWeights | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `limit` best chunk slots for `terms` (OR) and their scores, best first, ties by slot.

        `stat_mask` marks the slots the caller may see (the statistics' universe); `candidate_mask`
        (default: the same) the slots that may be returned, e.g. narrowed by a source filter.
        """
        if not terms or stats.chunks == 0 or limit <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        candidate_mask = stat_mask if candidate_mask is None else candidate_mask
        w = (weights or FieldWeights()).vector()
        scratch = self._scratch_array(len(stat_mask))
        touched: list[np.ndarray] = []
        norm = K1 * (1.0 - B)
        per_length = K1 * B / stats.avgdl if stats.avgdl > 0 else 0.0
        for term in terms:
            slots, tf = self.postings(term)
            if not len(slots):
                continue
            visible = stat_mask[slots]
            df = int(np.count_nonzero(visible))
            if df == 0:
                continue
            weight = idf(stats.chunks, df)
            keep = candidate_mask[slots]
            slots = slots[keep]
            if not len(slots):
                continue
            f = tf[keep].astype(np.float32) @ w
            f = f.astype(np.float64)
            dl = self.lengths[slots].astype(np.float64)
            scratch[slots] += weight * f * (K1 + 1.0) / (f + norm + per_length * dl)
            touched.append(slots)
        if not touched:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        candidates = np.unique(np.concatenate(touched)).astype(np.int64)
        scores = scratch[candidates].copy()
        scratch[candidates] = 0.0
        if len(candidates) > limit:
            # the limit-th best score, then everything at least that good, then exact order with ties by slot
            cut = np.partition(-scores, limit - 1)[limit - 1]
            keep = -scores <= cut
            candidates, scores = candidates[keep], scores[keep]
        order = np.lexsort((candidates, -scores))[:limit]
        return candidates[order], scores[order]

    def _scratch_array(self, size: int) -> np.ndarray:
        """A per-thread array of zeros, one score per slot, returned to zeros after every search."""
        scratch: np.ndarray | None = getattr(self._scratch, "array", None)
        if scratch is None or len(scratch) != size:
            scratch = np.zeros(size, dtype=np.float64)
            self._scratch.array = scratch
        return scratch
