"""FAISS vector snapshots: built beside the live one, verified, and published by an atomic pointer swap."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from index.store.schema import SCHEMA_VERSION, VECTORS_COMPATIBLE_SINCE
from index.vectors.embedder import ModelMismatchError

log = logging.getLogger(__name__)

VECTORS_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
INDEX_TYPE = "IDMap2,Flat,IP"


class SnapshotError(Exception):
    """A snapshot that is missing, damaged, or built for another model or schema."""


@dataclass(frozen=True)
class Manifest:
    """What built a snapshot and what it holds; checked before a snapshot is served."""

    name: str
    model_name: str
    dim: int
    schema_version: int
    generation: int
    vectors: int
    index_type: str
    sha256: str
    created_at: str


class VectorSnapshot:
    """A loaded, verified, read-only FAISS index with its manifest. Row ids are chunk row ids."""

    def __init__(self, path: Path, manifest: Manifest, index: faiss.Index):
        self.path = path
        self.manifest = manifest
        self.index = index

    @property
    def name(self) -> str:
        return self.manifest.name

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of the k nearest vectors by inner product; fewer if the index is small."""
        k = min(k, self.index.ntotal)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotStore:
    """The `snapshots/` folder: one sub-folder per snapshot and a CURRENT file naming the live one."""

    def __init__(self, home: Path, keep: int = 3):
        self.root = home / "snapshots"
        self.keep = keep

    def current_name(self) -> str | None:
        try:
            return (self.root / CURRENT_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def current_marker(self) -> tuple[int, int] | None:
        """A cheap fingerprint of CURRENT (inode, mtime) to notice a publish without reading it."""
        try:
            st = (self.root / CURRENT_FILE).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def load(self, name: str, model_name: str | None = None, dim: int | None = None) -> VectorSnapshot:
        """Load and verify one snapshot: manifest, checksum, vector count, schema, model."""
        path = self.root / name
        try:
            raw = json.loads((path / MANIFEST_FILE).read_text())
            manifest = Manifest(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise SnapshotError(f"snapshot {path}: unreadable manifest: {exc}") from exc
        if model_name is not None and (manifest.model_name != model_name or manifest.dim != dim):
            raise ModelMismatchError(
                f"index at {path} was built with {manifest.model_name} ({manifest.dim}-d) but the query "
                f"model is {model_name} ({dim}-d); rebuild the index with `whoknows reindex --full`"
            )
        if not VECTORS_COMPATIBLE_SINCE <= manifest.schema_version <= SCHEMA_VERSION:
            raise SnapshotError(
                f"snapshot {path}: schema version {manifest.schema_version}, expected {SCHEMA_VERSION}"
            )
        vectors_path = path / VECTORS_FILE
        if not vectors_path.exists() or _sha256(vectors_path) != manifest.sha256:
            raise SnapshotError(f"snapshot {path}: {VECTORS_FILE} is missing or fails its checksum")
        index = faiss.read_index(str(vectors_path))
        if index.ntotal != manifest.vectors or index.d != manifest.dim:
            raise SnapshotError(
                f"snapshot {path}: holds {index.ntotal} vectors of {index.d}-d, manifest says "
                f"{manifest.vectors} of {manifest.dim}-d"
            )
        return VectorSnapshot(path, manifest, index)

    def load_current(self, model_name: str | None = None, dim: int | None = None) -> VectorSnapshot | None:
        """The live snapshot; if it fails verification, the newest older one that passes."""
        current = self.current_name()
        if current is None:
            return None
        candidates = [current] + [n for n in reversed(self.names()) if n != current and n < current]
        for name in candidates:
            try:
                return self.load(name, model_name, dim)
            except SnapshotError as exc:
                log.error("refusing snapshot %s: %s", name, exc)
        raise SnapshotError(f"no valid snapshot in {self.root} (CURRENT names {current})")

    def build(
        self,
        *,
        model_name: str,
        dim: int,
        generation: int,
        base: VectorSnapshot | None,
        remove_ids: Sequence[int],
        add_ids: Sequence[int],
        add_vectors: np.ndarray,
    ) -> str:
        """Write a new snapshot folder (not yet live): `base` minus `remove_ids` plus the added vectors."""
        self.root.mkdir(parents=True, exist_ok=True)
        if base is not None:
            index = faiss.clone_index(base.index)
        else:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if len(remove_ids):
            index.remove_ids(np.asarray(sorted(set(remove_ids)), dtype=np.int64))  # type: ignore[arg-type]
        if len(add_ids):
            index.add_with_ids(
                np.ascontiguousarray(add_vectors, dtype=np.float32), np.asarray(add_ids, dtype=np.int64)
            )
        stamp = datetime.now(UTC)
        name = f"{generation:08d}-{stamp.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = self.root / f".tmp-{name}"
        tmp.mkdir()
        vectors_path = tmp / VECTORS_FILE
        faiss.write_index(index, str(vectors_path))
        with vectors_path.open("rb") as fh:
            os.fsync(fh.fileno())
        manifest = Manifest(
            name=name,
            model_name=model_name,
            dim=dim,
            schema_version=SCHEMA_VERSION,
            generation=generation,
            vectors=int(index.ntotal),
            index_type=INDEX_TYPE,
            sha256=_sha256(vectors_path),
            created_at=stamp.isoformat(timespec="seconds"),
        )
        with (tmp / MANIFEST_FILE).open("w") as fh:
            json.dump(asdict(manifest), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, self.root / name)
        _fsync_dir(self.root)
        return name

    def publish(self, name: str) -> None:
        """Make `name` live: readers switch on their next request; none ever sees a partial index."""
        pointer = self.root / f".{CURRENT_FILE}.{uuid.uuid4().hex[:6]}"
        with pointer.open("w") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer, self.root / CURRENT_FILE)
        _fsync_dir(self.root)
        self._prune(name)

    def _prune(self, live: str) -> None:
        """Keep the live snapshot and a few before it; drop leftovers of crashed builds."""
        for leftover in self.root.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        older = [n for n in self.names() if n != live]
        for name in older[: max(0, len(older) - (self.keep - 1))]:
            shutil.rmtree(self.root / name, ignore_errors=True)
