"""Building snapshots from the store: in full, or from the live snapshot plus what changed.

An incremental build keeps the live snapshot's slots, keyword segments (hard-linked, never rewritten)
and vectors, marks the removed chunks' slots dead, appends slots for the added chunks, writes one new
keyword segment for them and adds their vectors; only the per-slot and per-document arrays (a few
bytes a chunk) are written whole. A full build (no usable live snapshot, or a compaction: too many dead
slots or segments, or the index outgrowing its vector index type) indexes every chunk again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from index.keyword.analyzer import Analyzer
from index.keyword.segment import FILES as SEGMENT_FILES
from index.keyword.segment import ChunkTerms, SegmentWriter
from index.snapshot.manifest import FORMAT, MANIFEST_FILE, Manifest, sha256_file
from index.snapshot.snapshot import Snapshot, codes_of
from index.snapshot.store import EmbedderIdentity, SnapshotStore
from index.store.documents import Store
from index.store.schema import SCHEMA_VERSION
from index.vectors.faiss_index import (
    VectorParams,
    add_vectors,
    index_type,
    new_index,
    read_index_to_grow,
    write_index,
)

log = logging.getLogger(__name__)

ChunkRecord = tuple[int, int, str, str, str, bytes]  # row id, document, title, heading, text, vector

# Compaction: a full build once this share of the slots is dead, or the snapshot has this many segments.
MAX_DEAD_SHARE = 0.25
MAX_SEGMENTS = 12
# An approximate index trained on n vectors is retrained (full build) once the index holds 4n.
RETRAIN_GROWTH = 4.0
ARRAYS = (
    "slot_rowid.npy",
    "slot_docid.npy",
    "slot_length.npy",
    "slot_live.npy",
    "doc_id.npy",
    "doc_partition.npy",
    "doc_source.npy",
    "doc_kind.npy",
)


@dataclass
class BuildReport:
    """What a build did, for logs and benchmarks."""

    name: str
    full: bool
    slots: int
    live: int
    chunks_indexed: int
    seconds: float
    reason: str = ""
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class SnapshotBuilder:
    """Writes snapshot folders for one store; the caller verifies and publishes them."""

    store: Store
    snapshots: SnapshotStore
    embedder: EmbedderIdentity
    analyzer: Analyzer = field(default_factory=Analyzer)
    params: VectorParams = field(default_factory=VectorParams)
    last: BuildReport | None = None

    def build(
        self,
        generation: int,
        base: Snapshot | None = None,
        removed: Sequence[int] = (),
        added: Sequence[int] = (),
    ) -> str:
        """Write a new snapshot (not yet live) matching the store; returns its name."""
        started = time.perf_counter()
        name = f"{generation:08d}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        reason = self._full_reason(base, removed, added)
        tmp = self.snapshots.new_folder(name)
        try:
            if reason:
                report = self._build_full(tmp, name, generation, reason)
            else:
                assert base is not None
                report = self._build_incremental(tmp, name, generation, base, removed, added)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.snapshots.commit(tmp, name)
        report.seconds = round(time.perf_counter() - started, 3)
        self.last = report
        log.info(
            "built snapshot %s (%s) in %.1f s",
            name,
            "full: " + reason if reason else "incremental",
            report.seconds,
        )
        return name

    # --- deciding -------------------------------------------------------------------------------

    def _full_reason(self, base: Snapshot | None, removed: Sequence[int], added: Sequence[int]) -> str:
        if base is None:
            return "no live snapshot"
        slots = len(base.slot_rowid) + len(added)
        dead = (len(base.slot_rowid) - base.live_chunks) + len(removed)
        if slots and dead / slots > MAX_DEAD_SHARE:
            return f"compaction: {dead} of {slots} slots dead"
        if len(base.manifest.segments) >= MAX_SEGMENTS:
            return f"compaction: {len(base.manifest.segments)} keyword segments"
        live = base.live_chunks + len(added)
        if isinstance(base.vectors, faiss.IndexIVF):
            trained_for = base.manifest.vectors - len(added)
            if live > RETRAIN_GROWTH * max(trained_for, 1):
                return "the approximate index has outgrown its training"
        elif live >= self.params.ann_threshold:
            return f"{live} chunks: past the exact-search threshold"
        return ""

    # --- full -------------------------------------------------------------------------------------

    def _build_full(self, folder: Path, name: str, generation: int, reason: str) -> BuildReport:
        phases: dict[str, float] = {}
        t = time.perf_counter()
        writer, rowids, docids, blobs = self._index_chunks(self.store.chunk_rows(), 0)
        phases["keyword_s"] = time.perf_counter() - t
        segment = self._segment_name(generation)
        writer.write(folder / "keyword" / segment)
        t = time.perf_counter()
        dim = self.embedder.dim
        vectors = (
            np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dim)
            if blobs
            else np.zeros((0, dim), np.float32)
        )
        del blobs
        index = new_index(dim, vectors, self.params, seed=generation)
        for start in range(0, len(vectors), 50_000):
            add_vectors(index, start, vectors[start : start + 50_000])
        phases["vectors_s"] = time.perf_counter() - t
        n = len(rowids)
        self._write(
            folder,
            name,
            generation,
            index,
            slot_rowid=np.asarray(rowids, dtype=np.int64),
            slot_docid=np.asarray(docids, dtype=np.int64),
            slot_length=np.asarray(writer.lengths, dtype=np.int32),
            slot_live=np.ones(n, dtype=bool),
            segments=(segment,),
            inherited={},
        )
        return BuildReport(name, True, n, n, n, 0.0, reason, phases)

    # --- incremental --------------------------------------------------------------------------------

    def _build_incremental(
        self,
        folder: Path,
        name: str,
        generation: int,
        base: Snapshot,
        removed: Sequence[int],
        added: Sequence[int],
    ) -> BuildReport:
        live = base.slot_live.copy()
        if len(removed):
            gone = np.asarray(sorted(set(removed)), dtype=np.int64)
            where = np.searchsorted(base.slot_rowid, gone)
            where = where[where < len(base.slot_rowid)]
            hit = where[base.slot_rowid[where] == gone[: len(where)]] if len(where) else where
            live[hit] = False
        first = len(base.slot_rowid)
        writer, rowids, docids, blobs = self._index_chunks(self.store.chunk_rows(sorted(set(added))), first)
        if rowids and base.slot_rowid.size and rowids[0] <= int(base.slot_rowid[-1]):
            raise ValueError("added chunks must be newer than every chunk of the base snapshot")
        segments = tuple(base.manifest.segments)
        inherited = {rel: digest for rel, digest in base.manifest.files.items() if rel.startswith("keyword/")}
        (folder / "keyword").mkdir()
        for segment in segments:
            target = folder / "keyword" / segment
            target.mkdir()
            for file in SEGMENT_FILES:
                os.link(base.path / "keyword" / segment / file, target / file)
        if rowids:
            segment = self._segment_name(generation)
            writer.write(folder / "keyword" / segment)
            segments = (*segments, segment)
        if blobs:
            index = read_index_to_grow(base.path / "vectors.faiss")
            vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, self.embedder.dim)
            add_vectors(index, first, vectors)
        else:  # nothing to add: the vector file is shared with the base, like its segments
            index = None
            os.link(base.path / "vectors.faiss", folder / "vectors.faiss")
            inherited["vectors.faiss"] = base.manifest.files["vectors.faiss"]
        n_new = len(rowids)
        self._write(
            folder,
            name,
            generation,
            index,
            slot_rowid=np.concatenate([base.slot_rowid, np.asarray(rowids, dtype=np.int64)]),
            slot_docid=np.concatenate([base.slot_docid, np.asarray(docids, dtype=np.int64)]),
            slot_length=np.concatenate([base.slot_length, np.asarray(writer.lengths, dtype=np.int32)]),
            slot_live=np.concatenate([live, np.ones(n_new, dtype=bool)]),
            segments=segments,
            inherited=inherited,
            shared_index_type=base.manifest.index_type,
            shared_nprobe=base.manifest.nprobe,
        )
        return BuildReport(name, False, first + n_new, int(live.sum()) + n_new, n_new, 0.0)

    # --- shared ---------------------------------------------------------------------------------------

    def _index_chunks(
        self, batches: Iterator[list[ChunkRecord]], first_slot: int
    ) -> tuple[SegmentWriter, list[int], list[int], list[bytes]]:
        """Chunks (by row id) into a segment writer from slot `first_slot` on; returns the writer and
        the chunks' row ids, documents and vector blobs in slot order."""
        a = self.analyzer
        writer = SegmentWriter()
        rowids: list[int] = []
        docids: list[int] = []
        blobs: list[bytes] = []
        for batch in batches:
            for rowid, doc, title, heading, text, vector in batch:
                writer.add(
                    ChunkTerms(first_slot + len(rowids), a.terms(title), a.terms(heading), a.terms(text))
                )
                rowids.append(rowid)
                docids.append(doc)
                blobs.append(vector)
        return writer, rowids, docids, blobs

    @staticmethod
    def _segment_name(generation: int) -> str:
        return f"seg-{generation:08d}-{uuid.uuid4().hex[:6]}"

    def _write(
        self,
        folder: Path,
        name: str,
        generation: int,
        index: faiss.Index | None,
        *,
        slot_rowid: np.ndarray,
        slot_docid: np.ndarray,
        slot_length: np.ndarray,
        slot_live: np.ndarray,
        segments: tuple[str, ...],
        inherited: dict[str, str],
        shared_index_type: str = "",
        shared_nprobe: int = 0,
    ) -> None:
        docs = self.store.document_acls()
        partitions: dict[tuple[bool, tuple[tuple[str, ...], ...]], int] = {}
        doc_partition = [
            partitions.setdefault((public, clauses), len(partitions)) for _, _, _, public, clauses in docs
        ]
        sources, doc_source = codes_of([d[1] for d in docs])
        kinds, doc_kind = codes_of([d[2] for d in docs])
        arrays = {
            "slot_rowid.npy": slot_rowid,
            "slot_docid.npy": slot_docid,
            "slot_length.npy": slot_length,
            "slot_live.npy": slot_live,
            "doc_id.npy": np.asarray([d[0] for d in docs], dtype=np.int64),
            "doc_partition.npy": np.asarray(doc_partition, dtype=np.int32),
            "doc_source.npy": doc_source,
            "doc_kind.npy": doc_kind,
        }
        for file, array in arrays.items():
            np.save(folder / file, array)
        if index is not None:
            write_index(index, folder / "vectors.faiss")
        files = dict(inherited)
        for file in (*ARRAYS, "vectors.faiss"):
            if file not in files:
                files[file] = sha256_file(folder / file)
        for segment in segments:
            for file in SEGMENT_FILES:
                rel = f"keyword/{segment}/{file}"
                if rel not in files:
                    files[rel] = sha256_file(folder / rel)
        for rel in files:
            with (folder / rel).open("rb") as fh:
                os.fsync(fh.fileno())
        manifest = Manifest(
            name=name,
            format=FORMAT,
            model_name=self.embedder.model_name,
            backend=self.embedder.backend,
            dim=self.embedder.dim,
            schema_version=SCHEMA_VERSION,
            generation=generation,
            vectors=len(slot_rowid),
            live=int(np.count_nonzero(slot_live)),
            index_type=index_type(index) if index is not None else shared_index_type,
            nprobe=self.params.probes(index) if index is not None else self.params.nprobe or shared_nprobe,
            segments=segments,
            sources=tuple(sources),
            kinds=tuple(kinds),
            partitions=tuple(sorted(partitions, key=partitions.__getitem__)),
            files=files,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with (folder / MANIFEST_FILE).open("w") as fh:
            json.dump(manifest.as_json(), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
