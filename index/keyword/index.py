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

from index.keyword.segment import Segment, term_hash

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class FieldWeights:
    """How much a term counts in each field of a chunk (FTS5's bm25() column weights before)."""

    title: float = 2.0
    heading: float = 1.0
    body: float = 1.0


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
        # Per-search scratch arrays (a score and a position per slot, ~12 MB at a million chunks), reused:
        # up to WORKSPACES are kept between searches (the retriever bounds how many run at once).
        self._free: list[_Workspace] = []
        self._free_lock = threading.Lock()

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(slots, tf) of `term` over every segment; a slot lives in exactly one segment."""
        parts = self._parts(term)
        if not parts:
            return np.zeros(0, dtype=np.int32), np.zeros((0, 3), dtype=np.uint8)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _parts(self, term: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The postings of `term` segment by segment, each part ascending by slot."""
        hashed = term_hash(term)
        return [p for p in (s.postings_of(term, hashed) for s in self.segments) if p is not None]

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

        Exact, with MaxScore pruning (Turtle & Flood, 1995): a term adds less than idf x (k1 + 1) to any
        chunk, so the terms are scored rarest first, and once the bound of the terms left (the common
        ones, with the longest postings) is below the `limit`-th best score so far, no chunk they alone
        match can enter the results: they are only looked up for the chunks still in the running. The
        final scores are then summed term by term in the query's order, so they are bit-identical to
        scoring every posting (what the non-interference test compares), whichever terms were pruned.
        """
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if not terms or stats.chunks == 0 or limit <= 0:
            return empty
        candidate_mask = stat_mask if candidate_mask is None else candidate_mask
        scorer = _Scorer(weights or FieldWeights(), stats, self.lengths)
        listed = self._term_postings(terms, stat_mask, candidate_mask, stats.chunks)
        if not listed:
            return empty
        workspace = self._take(len(stat_mask))
        try:
            return self._pruned(listed, scorer, workspace, limit)
        finally:
            with self._free_lock:
                if len(self._free) < WORKSPACES:
                    self._free.append(workspace)

    def _pruned(
        self, listed: list[_TermPostings], scorer: _Scorer, workspace: _Workspace, limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """search()'s work once the terms are known: leaves the workspace as it found it."""
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        scratch = workspace.scores
        by_bound = sorted(listed, key=lambda t: (-t.bound, t.position))
        touched: list[np.ndarray] = []
        total = rest = sum(t.bound for t in by_bound)
        theta = 0.0
        checks = 0
        try:
            for i, term in enumerate(by_bound):
                # no partial score exceeds the bounds of the terms scored so far: check only when the
                # terms left could be outweighed, before a long postings list, a few times a query
                if (
                    i
                    and rest < total - rest
                    and len(term.raw_slots) > PRUNE_CHECK_POSTINGS
                    and checks < PRUNE_CHECKS
                ):
                    checks += 1
                    theta = self._kth_score(scratch, touched, limit, scorer.positive)
                    if rest < theta * (1.0 - PRUNE_MARGIN):
                        break
                slots, tf = term.admitted()
                if len(slots):
                    scratch[slots] += scorer.contribution(term.weight, slots, tf)
                    touched.append(slots)
                rest -= term.bound
            else:
                rest = 0.0
            if not touched:
                return empty
            candidates = self._touched(scratch, touched, scorer.positive)
            partial = scratch[candidates]
            if len(candidates) > limit:
                theta = max(theta, float(-np.partition(-partial, limit - 1)[limit - 1]))
                alive = partial + rest >= theta * (1.0 - PRUNE_MARGIN)
                candidates = candidates[alive]
        finally:
            for slots in touched:
                scratch[slots] = 0.0
        scores = np.zeros(len(candidates), dtype=np.float64)
        where = workspace.where
        where[candidates] = np.arange(len(candidates), dtype=np.int32)
        try:
            for term in sorted(listed, key=lambda t: t.position):  # the query's order: exact sums
                hit, slots, tf = term.lookup(candidates, where)
                if len(hit):
                    scores[hit] += scorer.contribution(term.weight, slots, tf)
        finally:
            where[candidates] = -1
        if len(candidates) > limit:
            # the limit-th best score, then everything at least that good, then exact order with ties by slot
            cut = np.partition(-scores, limit - 1)[limit - 1]
            keep = -scores <= cut
            candidates, scores = candidates[keep], scores[keep]
        order = np.lexsort((candidates, -scores))[:limit]
        return candidates[order], scores[order]

    def _term_postings(
        self, terms: Sequence[str], stat_mask: np.ndarray, candidate_mask: np.ndarray, visible_chunks: int
    ) -> list[_TermPostings]:
        """Each query term the caller may see somewhere, with its weight from the visible df."""
        out = []
        for position, term in enumerate(terms):
            parts = self._parts(term)
            if not parts:
                continue
            slots = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
            visible = stat_mask[slots]
            df = int(np.count_nonzero(visible))
            if df == 0:
                continue
            # the postings the caller may get back: a filter (sources, kinds) narrows them further
            keep = visible if candidate_mask is stat_mask else candidate_mask[slots]
            out.append(_TermPostings(position, idf(visible_chunks, df), parts, slots, keep))
        return out

    @staticmethod
    def _kth_score(scratch: np.ndarray, touched: list[np.ndarray], k: int, positive: bool) -> float:
        """The k-th best partial score so far (0 while fewer than k chunks are scored)."""
        if sum(len(t) for t in touched) < k:
            return 0.0
        scores = scratch[KeywordIndex._touched(scratch, touched, positive)]
        if len(scores) < k:
            return 0.0
        return float(-np.partition(-scores, k - 1)[k - 1])

    @staticmethod
    def _touched(scratch: np.ndarray, touched: list[np.ndarray], positive: bool) -> np.ndarray:
        """The distinct slots scored, ascending. With every field weight positive each posting adds a
        positive score, so past a few percent of the slots a scan for non-zeros beats sorting them."""
        total = sum(len(t) for t in touched)
        if positive and total * 32 > len(scratch):
            return np.flatnonzero(scratch)
        return np.unique(np.concatenate(touched)).astype(np.int64)

    def _take(self, size: int) -> _Workspace:
        with self._free_lock:
            while self._free:
                workspace = self._free.pop()
                if len(workspace.scores) == size:
                    return workspace
        return _Workspace(size)


# Scratch arrays kept for the next searches; more searches at once allocate their own.
WORKSPACES = 4
# Terms with postings longer than this are worth a pruning check before they are scored.
PRUNE_CHECK_POSTINGS = 2_000
# At most this many checks a query: each finds the limit-th best partial score (a pass over the scores).
PRUNE_CHECKS = 3
# Partial sums and final sums add the same terms in different orders: bounds keep this relative slack.
PRUNE_MARGIN = 1e-9
# A binary search per candidate costs about this many postings read in a pass.
SEARCH_COST = 16


class _Workspace:
    """One search's scratch: a score per slot (zeros between searches) and a candidate's position per
    slot (-1 between searches)."""

    def __init__(self, size: int):
        self.scores = np.zeros(size, dtype=np.float64)
        self.where = np.full(size, -1, dtype=np.int32)


class _Scorer:
    """One term's BM25 contribution to chunks, the same float operations whichever chunks are asked."""

    def __init__(self, weights: FieldWeights, stats: VisibleStats, lengths: np.ndarray):
        self.w = (float(weights.title), float(weights.heading), float(weights.body))
        self.positive = all(x > 0 for x in self.w)
        self.norm = K1 * (1.0 - B)
        self.per_length = K1 * B / stats.avgdl if stats.avgdl > 0 else 0.0
        self.lengths = lengths

    def contribution(self, weight: float, slots: np.ndarray, tf: np.ndarray) -> np.ndarray:
        f = tf[:, 0] * self.w[0] + tf[:, 1] * self.w[1] + tf[:, 2] * self.w[2]
        dl = self.lengths[slots].astype(np.float64)
        result: np.ndarray = weight * f * (K1 + 1.0) / (f + self.norm + self.per_length * dl)
        return result


class _TermPostings:
    """One query term's postings (segment by segment) and its weight for this caller."""

    def __init__(
        self,
        position: int,
        weight: float,
        parts: list[tuple[np.ndarray, np.ndarray]],
        slots: np.ndarray,
        keep: np.ndarray,
    ):
        self.position = position
        self.weight = weight
        self.bound = weight * (K1 + 1.0)  # no chunk gets more from this term
        self.parts = parts
        self.raw_slots = slots
        self.keep = keep  # which postings the caller may get back

    def admitted(self) -> tuple[np.ndarray, np.ndarray]:
        """(slots, tf) of the postings the caller may get back."""
        tf = self.parts[0][1] if len(self.parts) == 1 else np.concatenate([p[1] for p in self.parts])
        if len(self.keep) and self.keep.all():
            return self.raw_slots, tf
        return self.raw_slots[self.keep], tf[self.keep]

    def lookup(self, candidates: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of `candidates` (ascending slots; `where` maps each to its position, every other slot to
        -1), the positions holding this term, their slots and tf: a binary search per candidate in a
        long postings list, a pass over a short one (or when the candidates are many)."""
        hits, slots, tfs = [], [], []
        for part_slots, part_tf in self.parts:
            if not len(part_slots):
                continue
            if len(candidates) * SEARCH_COST > len(part_slots):
                position = where[part_slots]
                held = np.flatnonzero(position >= 0)
                if len(held):
                    hits.append(position[held].astype(np.int64))
                    slots.append(np.asarray(part_slots[held], dtype=np.int64))
                    tfs.append(np.asarray(part_tf[held]))
                continue
            at = np.searchsorted(part_slots, candidates)
            found = np.flatnonzero(at < len(part_slots))
            found = found[part_slots[at[found]] == candidates[found]]
            if len(found):
                hits.append(found)
                slots.append(candidates[found])
                tfs.append(np.asarray(part_tf[at[found]]))
        if not hits:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=np.uint8)
        if len(hits) == 1:
            return hits[0], slots[0], tfs[0]
        return np.concatenate(hits), np.concatenate(slots), np.concatenate(tfs)
