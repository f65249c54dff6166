"""Fusing the keyword and dense rankings: reciprocal rank, or a convex combination of scores
normalised per query, with weights that can follow each leg's confidence on the query at hand."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class DocResult:
    """One document in a ranking, with the chunk that earned it its place."""

    doc: int
    score: float
    chunk: int


@dataclass(frozen=True)
class Leg:
    """One leg's ranking (best first, on its own score scale) and its share of the fusion.

    `pool` is how many documents the leg was asked for. `absent_score` is the score every document
    the leg did not return truly has, when the leg knows it (BM25: 0 for a document matching no
    term); a leg that returned fewer than `pool` documents is then scored as if padded with it, so a
    single strong keyword match stands out instead of being normalised away.
    """

    ranking: Sequence[DocResult]
    weight: float
    pool: int = 0
    absent_score: float | None = None

    def distribution(self) -> list[float]:
        """The scores the normalisation is computed over: the ranking's, padded when that is known."""
        values = [r.score for r in self.ranking]
        if self.absent_score is not None and len(values) < self.pool:
            values += [self.absent_score] * (self.pool - len(values))
        return values

    def floor(self) -> float:
        """The raw score given to a document this leg did not return."""
        if self.absent_score is not None and len(self.ranking) < self.pool:
            return self.absent_score
        return min((r.score for r in self.ranking), default=0.0)


def _chunk_of_best_leg(legs: Sequence[Leg]) -> dict[int, int]:
    """The chunk shown for a document: the one from the leg that ranked it highest (first leg on ties)."""
    best: dict[int, tuple[int, int]] = {}
    for leg in legs:
        for rank, r in enumerate(leg.ranking):
            if r.doc not in best or rank < best[r.doc][0]:
                best[r.doc] = (rank, r.chunk)
    return {doc: chunk for doc, (_, chunk) in best.items()}


def _ranked(scores: dict[int, float], legs: Sequence[Leg]) -> list[DocResult]:
    chunk_of = _chunk_of_best_leg(legs)
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [DocResult(doc, score, chunk_of[doc]) for doc, score in ordered]


def fuse_rrf(legs: Sequence[Leg], rrf_k: float = 60.0) -> list[DocResult]:
    """Weighted reciprocal-rank fusion: the sum of weight / (rrf_k + rank)."""
    scores: dict[int, float] = {}
    for leg in legs:
        for rank, r in enumerate(leg.ranking):
            scores[r.doc] = scores.get(r.doc, 0.0) + leg.weight / (rrf_k + rank + 1)
    return _ranked(scores, legs)


Scaler = Callable[[float], float]


def zscore_scaler(values: Sequence[float]) -> Scaler:
    """v -> (v - mean) / standard deviation of `values`; everything 0 when they are flat."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / n) if n else 0.0
    return (lambda v: (v - mean) / sd) if sd > 0 else (lambda v: 0.0)


def minmax_scaler(values: Sequence[float]) -> Scaler:
    """v -> (v - min) / (max - min) of `values`; everything 1 when they are flat."""
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    return (lambda v: (v - lo) / (hi - lo)) if hi > lo else (lambda v: 1.0)


NORMALISERS: dict[str, Callable[[Sequence[float]], Scaler]] = {
    "zscore": zscore_scaler,
    "minmax": minmax_scaler,
}


def confidence(leg: Leg) -> float:
    """How far the leg's best document stands out from the rest of its pool, in standard deviations."""
    values = leg.distribution()
    if not leg.ranking or len(values) < 2:
        return 0.0
    return max(0.0, zscore_scaler(values)(leg.ranking[0].score))


def adaptive_weights(legs: Sequence[Leg]) -> list[float]:
    """Each leg's share scaled by its confidence on this query, renormalised to sum to 1.

    A leg whose top result does not stand out (a dense leg facing an exact code, a keyword leg facing
    a paraphrase) cedes weight to the other; when neither is confident the shares stay as set.
    """
    raw = [leg.weight * confidence(leg) for leg in legs]
    total = sum(raw)
    if total <= 0:
        return [leg.weight for leg in legs]
    return [r / total for r in raw]


def fuse_convex(legs: Sequence[Leg], normaliser: str = "zscore", adaptive: bool = False) -> list[DocResult]:
    """Weighted sum of per-leg normalised scores; a document a leg did not return gets the leg's floor."""
    weights = adaptive_weights(legs) if adaptive else [leg.weight for leg in legs]
    scaled: list[tuple[float, dict[int, float], float]] = []
    for leg, weight in zip(legs, weights, strict=True):
        scale = NORMALISERS[normaliser](leg.distribution())
        scaled.append((weight, {r.doc: scale(r.score) for r in leg.ranking}, scale(leg.floor())))
    docs = {doc for _, by_doc, _ in scaled for doc in by_doc}
    scores = {doc: sum(w * by_doc.get(doc, floor) for w, by_doc, floor in scaled) for doc in docs}
    return _ranked(scores, legs)
