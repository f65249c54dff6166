"""The dense leg's FAISS index: exact inner product while that is cheap, IVF with 8-bit codes past a size.

FAISS ids are chunk slots (positions that only grow; a removed chunk's slot is dead until the next
compaction), so the caller's ACL is a bitmap over slots handed to FAISS as an `IDSelectorBitmap`:
the search itself skips what the caller may not see, and its cost does not depend on how much hidden
material lies near the query (the over-fetch loop before did). The approximate index's candidates are
re-scored with the exact vectors the store keeps, so a dense score is always the true cosine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

FLAT = "Flat,IP"
IVF_SQ8 = "IVF,SQ8,IP"
# Exact search over this many vectors takes ~10-16 ms on a 2-core machine (100k: ~8 ms); past it the
# IVF index answers in a few ms at a measured recall@10 >= 0.95 (eval/bench.py --only scale).
ANN_THRESHOLD = 200_000
# IVF lists: about 4 sqrt(n) (FAISS's guideline is 4-16 sqrt(n)); trained on up to 64 vectors a list.
IVF_LISTS_PER_SQRT = 4
IVF_TRAIN_PER_LIST = 64
# Lists probed per query: a tenth of them. Measured on the million-chunk index (eval/load/scale.py),
# recall@10 against exact search is bounded by the lists probed, not by the 8-bit codes (re-scoring
# gains under 0.01): 48 of 4,000 lists gave 0.78, 192 gave 0.90, 384 gave 0.95.
IVF_PROBE_SHARE = 0.1
IVF_MIN_PROBES = 16
# The approximate candidates re-scored with the exact vectors: the ones asked for, and at least this many.
RESCORE_MIN = 100


@dataclass(frozen=True)
class VectorParams:
    """How the vector index of a snapshot is built; recorded in its manifest. `nprobe` 0: a share of
    the lists (IVF_PROBE_SHARE)."""

    ann_threshold: int = ANN_THRESHOLD
    nprobe: int = 0

    def probes(self, index: faiss.Index) -> int:
        """Lists an IVF index probes per query (0 for an exact index, which has none)."""
        if not isinstance(index, faiss.IndexIVF):
            return self.nprobe
        if self.nprobe:
            return min(self.nprobe, index.nlist)
        return min(index.nlist, max(IVF_MIN_PROBES, math.ceil(IVF_PROBE_SHARE * index.nlist)))


def new_index(dim: int, vectors: np.ndarray, params: VectorParams, seed: int = 0) -> faiss.Index:
    """An empty index for `vectors`: Flat under the threshold, else IVF-SQ8 trained on a random sample."""
    total = len(vectors)
    if total < params.ann_threshold:
        return faiss.IndexFlatIP(dim)
    lists = max(16, int(IVF_LISTS_PER_SQRT * math.sqrt(total)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    size = min(total, lists * IVF_TRAIN_PER_LIST)
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False))
    index.train(np.ascontiguousarray(vectors[chosen], dtype=np.float32))
    return index


def index_type(index: faiss.Index) -> str:
    return IVF_SQ8 if isinstance(index, faiss.IndexIVF) else FLAT


def add_vectors(index: faiss.Index, first_slot: int, vectors: np.ndarray) -> None:
    """Append vectors for slots first_slot, first_slot + 1, ...; a flat index's positions are its slots."""
    if not len(vectors):
        return
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if isinstance(index, faiss.IndexIVF):
        index.add_with_ids(vectors, np.arange(first_slot, first_slot + len(vectors), dtype=np.int64))
        return
    if index.ntotal != first_slot:
        raise ValueError(f"flat index holds {index.ntotal} vectors, the next slot is {first_slot}")
    index.add(vectors)


class SlotSelector:
    """A slot mask as FAISS's bitmap selector (the bitmap must outlive the search: it is kept here)."""

    def __init__(self, mask: np.ndarray):
        self.bitmap = np.packbits(mask.astype(bool), bitorder="little")
        self.count = int(np.count_nonzero(mask))
        self.selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(self.bitmap))


def search(
    index: faiss.Index, query: np.ndarray, k: int, selector: SlotSelector, nprobe: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, slots) of the k nearest selected vectors, best first; fewer when fewer are selected."""
    k = min(k, selector.count)
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    q = np.asarray(query, dtype=np.float32).reshape(1, -1)
    params = faiss.SearchParametersIVF() if isinstance(index, faiss.IndexIVF) else faiss.SearchParameters()
    params.sel = selector.selector
    if isinstance(params, faiss.SearchParametersIVF):
        params.nprobe = nprobe
    scores, slots = index.search(q, k, params=params)
    keep = slots[0] >= 0
    return scores[0][keep], slots[0][keep]


def read_index(path: Path) -> faiss.Index:
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)


def read_index_to_grow(path: Path) -> faiss.Index:
    """A snapshot's vectors read whole into memory, to add to: the served copy is memory-mapped (IVF
    lists on disk), which FAISS can neither clone nor grow."""
    return faiss.read_index(str(path))


def write_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))
