"""One immutable segment of the keyword index: the postings of a batch of chunks, term-major.

A segment is a folder of numpy arrays, memory-mapped when read:

    term_hash.npy   uint64, sorted: the 8-byte blake2b of each term (row i is the i-th hash)
    terms.bin       the terms' UTF-8, concatenated in row order; terms_offsets.npy (int64) delimits them,
                    so a hash match is confirmed on the term itself
    indptr.npy      int64: row i's postings are postings[indptr[i]:indptr[i + 1]]
    slots.npy       int32: the chunk slot of each posting, ascending within a row
    tf.npy          uint8 (postings, 3): the term's count in the title, the heading and the body (capped
                    at 255: past that, BM25's saturation makes more no different)

Segments are written once and never changed; a snapshot lists the segments it uses, so a new snapshot
shares (hard-links) every segment of the one before and adds one for the chunks that changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIELDS = ("title", "heading", "body")
MAX_TF = 255
FILES = ("term_hash.npy", "terms.bin", "terms_offsets.npy", "indptr.npy", "slots.npy", "tf.npy")


def term_hash(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class ChunkTerms:
    """One chunk to index: its slot and the terms of its title, heading and body, in order."""

    slot: int
    title: list[str]
    heading: list[str]
    body: list[str]

    @property
    def length(self) -> int:
        return len(self.title) + len(self.heading) + len(self.body)


class SegmentWriter:
    """Collects chunks (batch by batch, to bound memory) and writes one segment folder."""

    BATCH = 20_000  # chunks counted together before their postings are kept

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (term ids, slots, tf)
        self._pending: list[ChunkTerms] = []
        self.slots: list[int] = []
        self.lengths: list[int] = []

    def add(self, chunk: ChunkTerms) -> None:
        self._pending.append(chunk)
        self.slots.append(chunk.slot)
        self.lengths.append(chunk.length)
        if len(self._pending) >= self.BATCH:
            self._flush()

    def add_all(self, chunks: Iterable[ChunkTerms]) -> None:
        for chunk in chunks:
            self.add(chunk)

    def _flush(self) -> None:
        if not self._pending:
            return
        vocab = self._vocab
        ids: list[int] = []
        slots: list[int] = []
        fields: list[int] = []
        for chunk in self._pending:
            for field, terms in enumerate((chunk.title, chunk.heading, chunk.body)):
                ids.extend([vocab.setdefault(t, len(vocab)) for t in terms])
                slots.extend([chunk.slot] * len(terms))
                fields.extend([field] * len(terms))
        self._pending = []
        if not ids:
            return
        key = (np.asarray(ids, dtype=np.int64) << 32) | np.asarray(slots, dtype=np.int64)
        unique, inverse = np.unique(key, return_inverse=True)
        field_of = np.asarray(fields, dtype=np.int64)
        n_fields = len(FIELDS)
        tf = np.bincount(inverse * n_fields + field_of, minlength=len(unique) * n_fields).reshape(
            -1, n_fields
        )
        self._parts.append(
            (
                (unique >> 32).astype(np.int32),
                (unique & 0xFFFFFFFF).astype(np.int32),
                np.minimum(tf, MAX_TF).astype(np.uint8),
            )
        )

    def write(self, folder: Path) -> int:
        """Write the segment; returns its number of postings."""
        self._flush()
        folder.mkdir(parents=True)
        terms = list(self._vocab)
        if self._parts:
            term_ids = np.concatenate([p[0] for p in self._parts])
            slots = np.concatenate([p[1] for p in self._parts])
            tf = np.concatenate([p[2] for p in self._parts])
        else:
            term_ids = np.zeros(0, dtype=np.int32)
            slots = np.zeros(0, dtype=np.int32)
            tf = np.zeros((0, len(FIELDS)), dtype=np.uint8)
        hashes = np.asarray([term_hash(t) for t in terms], dtype=np.uint64)
        row_of_term = np.empty(len(terms), dtype=np.int64)
        by_hash = np.argsort(hashes, kind="stable")
        row_of_term[by_hash] = np.arange(len(terms))
        rows = row_of_term[term_ids] if len(term_ids) else np.zeros(0, dtype=np.int64)
        order = np.lexsort((slots, rows))  # by row, then slot
        rows, slots, tf = rows[order], slots[order], tf[order]
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(terms)), out=indptr[1:])
        encoded = [terms[i].encode("utf-8") for i in by_hash]
        offsets = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        np.save(folder / "term_hash.npy", hashes[by_hash])
        (folder / "terms.bin").write_bytes(b"".join(encoded))
        np.save(folder / "terms_offsets.npy", offsets)
        np.save(folder / "indptr.npy", indptr)
        np.save(folder / "slots.npy", slots.astype(np.int32))
        np.save(folder / "tf.npy", tf)
        for name in FILES:
            with (folder / name).open("rb") as fh:
                os.fsync(fh.fileno())
        return len(slots)


class Segment:
    """A written segment, memory-mapped: term lookup and postings."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.name = folder.name
        # Memory-mapped, held as plain ndarrays over the mapping: indexing a np.memmap goes through
        # Python-level hooks on every slice, which cost more than the lookups themselves.
        self.hashes = _mapped(folder / "term_hash.npy")
        self.offsets = _mapped(folder / "terms_offsets.npy")
        self.terms_blob = (
            np.asarray(np.memmap(folder / "terms.bin", dtype=np.uint8, mode="r"))
            if self.offsets[-1]
            else None
        )
        self.indptr = _mapped(folder / "indptr.npy")
        self.slots = _mapped(folder / "slots.npy")
        self.tf = _mapped(folder / "tf.npy")
        if len(self.indptr) != len(self.hashes) + 1 or len(self.slots) != len(self.tf):
            raise ValueError(f"keyword segment {folder} is inconsistent")

    @property
    def postings(self) -> int:
        return len(self.slots)

    def row(self, term: str, hashed: int | None = None) -> int | None:
        h = np.uint64(term_hash(term) if hashed is None else hashed)
        i = int(np.searchsorted(self.hashes, h))
        if i >= len(self.hashes) or self.hashes[i] != h or self.terms_blob is None:
            return None
        stored = bytes(self.terms_blob[int(self.offsets[i]) : int(self.offsets[i + 1])])
        return i if stored == term.encode("utf-8") else None

    def postings_of(self, term: str, hashed: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(slots, tf) of `term` (its term_hash may be given), or None when the segment does not hold it."""
        i = self.row(term, hashed)
        if i is None:
            return None
        start, end = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.slots[start:end], self.tf[start:end]


def _mapped(path: Path) -> np.ndarray:
    return np.asarray(np.load(path, mmap_mode="r"))
