"""A loaded snapshot: the chunk slots, the documents' ACL partitions, the vector index and the keyword
index, and the per-caller masks that keep every search inside what the caller may see.

Slots: every chunk the snapshot indexes has a slot (its FAISS id and keyword-posting id). Slots are
ordered by chunk row id and only grow between compactions; a removed chunk's slot is dead.
Partitions: documents fall into few distinct ACLs (a public flag and a set of principals); each
document points at its partition, and the counters per partition (live chunks and their total
length) give a caller's BM25 statistics exactly by summing the partitions they may see.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index.acl import Principal
from index.keyword.index import KeywordIndex, VisibleStats
from index.keyword.segment import Segment
from index.snapshot.manifest import STORE_FILE, Manifest
from index.store.documents import Store
from index.vectors.faiss_index import SlotSelector, read_index

# Masks kept per (caller, filters): a search that repeats its caller reuses them. Each holds two
# slot masks and a bitmap (about 2 MB at a million chunks).
MASK_CACHE_SIZE = 16


@dataclass(frozen=True)
class Partition:
    """One distinct ACL: public, or readable by whoever holds a principal of each clause (the rule of
    index/acl.py: a document's own ACL inside its source's)."""

    public: bool
    clauses: tuple[tuple[str, ...], ...]

    def admits(self, caller: frozenset[str]) -> bool:
        if self.public:
            return True
        return bool(self.clauses) and all(not caller.isdisjoint(clause) for clause in self.clauses)


@dataclass(frozen=True)
class Filters:
    """Restrict results to some sources or kinds; empty means all."""

    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallerView:
    """What one caller (with one set of filters) may see in this snapshot."""

    stat_mask: np.ndarray  # slots the caller may see: the universe of the BM25 statistics
    candidate_mask: np.ndarray  # of those, the slots the filters admit
    stats: VisibleStats
    selector: SlotSelector  # candidate_mask for FAISS

    @property
    def empty(self) -> bool:
        return self.selector.count == 0


class Snapshot:
    """A verified, read-only snapshot; safe to search from many threads."""

    def __init__(self, path: Path, manifest: Manifest):
        self.path = path
        self.manifest = manifest
        self.slot_rowid = np.load(path / "slot_rowid.npy")
        self.slot_docid = np.load(path / "slot_docid.npy")
        self.slot_length = np.load(path / "slot_length.npy")
        self.slot_live = np.load(path / "slot_live.npy")
        self.doc_id = np.load(path / "doc_id.npy")
        self.doc_partition = np.load(path / "doc_partition.npy")
        self.doc_source = np.load(path / "doc_source.npy")
        self.doc_kind = np.load(path / "doc_kind.npy")
        self.sources: list[str] = list(manifest.sources)
        self.kinds: list[str] = list(manifest.kinds)
        self.partitions = [Partition(bool(p[0]), tuple(tuple(c) for c in p[1])) for p in manifest.partitions]
        n = len(self.slot_rowid)
        if not (len(self.slot_docid) == len(self.slot_length) == len(self.slot_live) == n):
            raise ValueError(f"snapshot {path}: slot arrays differ in length")
        # each live slot's document position (dead slots may point at documents since removed)
        position = np.searchsorted(self.doc_id, self.slot_docid)
        position = np.minimum(position, max(len(self.doc_id) - 1, 0))
        found = self.doc_id[position] == self.slot_docid if len(self.doc_id) else np.zeros(n, dtype=bool)
        if np.any(self.slot_live & ~found):
            raise ValueError(f"snapshot {path}: a live chunk belongs to no document")
        self.slot_doc = np.where(found, position, 0).astype(np.int64)
        live_partition = self.doc_partition[self.slot_doc[self.slot_live]]
        parts = len(self.partitions)
        self.partition_chunks = np.bincount(live_partition, minlength=parts).astype(np.int64)
        self.partition_length = np.bincount(
            live_partition, weights=self.slot_length[self.slot_live].astype(np.float64), minlength=parts
        ).astype(np.int64)
        self.keyword = KeywordIndex(
            [Segment(path / "keyword" / name) for name in manifest.segments], self.slot_length
        )
        self.vectors: faiss.Index = read_index(path / "vectors.faiss")
        # the snapshot's own copy of the store: what it answers from (None: made before copies existed)
        self.store: Store | None = (
            Store.snapshot_copy(path / STORE_FILE)
            if manifest.store_bytes and (path / STORE_FILE).exists()
            else None
        )
        self._views: OrderedDict[tuple[tuple[str, ...], Filters], CallerView] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def live_chunks(self) -> int:
        return int(np.count_nonzero(self.slot_live))

    def rowids(self, slots: np.ndarray) -> np.ndarray:
        return self.slot_rowid[slots]

    def docs_of(self, slots: np.ndarray) -> np.ndarray:
        """The internal document id of each slot."""
        return self.slot_docid[slots]

    def view(self, principal: Principal, filters: Filters | None = None) -> CallerView:
        """The caller's masks and statistics, cached per (principals, filters)."""
        filters = filters or Filters()
        key = (tuple(principal.principals()), filters)
        with self._lock:
            cached = self._views.get(key)
            if cached is not None:
                self._views.move_to_end(key)
                return cached
        view = self._make_view(frozenset(key[0]), filters)
        with self._lock:
            self._views[key] = view
            while len(self._views) > MASK_CACHE_SIZE:
                self._views.popitem(last=False)
        return view

    def _make_view(self, caller: frozenset[str], filters: Filters) -> CallerView:
        admitted = np.asarray([p.admits(caller) for p in self.partitions], dtype=bool)
        if len(self.doc_partition):
            stat_mask = self.slot_live & admitted[self.doc_partition][self.slot_doc]
        else:
            stat_mask = np.zeros(len(self.slot_live), dtype=bool)
        candidate = stat_mask
        doc_ok = self._filter_docs(filters)
        if doc_ok is not None:
            candidate = stat_mask & doc_ok[self.slot_doc]
        stats = VisibleStats(
            chunks=int(self.partition_chunks[admitted].sum()),
            total_length=int(self.partition_length[admitted].sum()),
        )
        return CallerView(stat_mask, candidate, stats, SlotSelector(candidate))

    def _filter_docs(self, filters: Filters) -> np.ndarray | None:
        ok: np.ndarray | None = None
        for values, names, codes in (
            (filters.sources, self.sources, self.doc_source),
            (filters.kinds, self.kinds, self.doc_kind),
        ):
            if not values:
                continue
            wanted = [i for i, name in enumerate(names) if name in set(values)]
            match = np.isin(codes, np.asarray(wanted, dtype=codes.dtype))
            ok = match if ok is None else ok & match
        return ok


def codes_of(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct names (sorted) and each value's code, for the documents' source and kind arrays."""
    names = sorted(set(values))
    code = {name: i for i, name in enumerate(names)}
    return names, np.asarray([code[v] for v in values], dtype=np.int32)
