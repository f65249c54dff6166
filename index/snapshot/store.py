"""The `snapshots/` folder: one immutable folder per snapshot, a CURRENT file naming the live one, and
the atomic swap of that pointer. Readers switch on their next request; none ever sees a partial index."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from index.snapshot.manifest import FORMAT, MANIFEST_FILE, STORE_FILE, Manifest, sha256_file
from index.snapshot.snapshot import Snapshot
from index.store.documents import Store
from index.store.schema import SCHEMA_VERSION, VECTORS_COMPATIBLE_SINCE
from index.vectors.embedder import ModelMismatchError

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
# Snapshots kept beside the live one, so an operator can roll back by rewriting CURRENT.
KEEP_SNAPSHOTS = 3


class SnapshotError(Exception):
    """A snapshot that is missing, damaged, or built for another model or schema."""


class EmbedderIdentity(Protocol):
    """What a snapshot's vectors must match: the model, its runtime and the dimension."""

    model_name: str
    backend: str
    dim: int


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotStore:
    """The `snapshots/` folder of a home."""

    def __init__(self, home: Path, keep: int = KEEP_SNAPSHOTS, root: Path | None = None):
        self.root = root or home / "snapshots"
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

    def new_folder(self, name: str) -> Path:
        """A hidden folder to build snapshot `name` in; `commit` makes it visible under its name."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{name}"
        tmp.mkdir()
        return tmp

    def commit(self, tmp: Path, name: str) -> None:
        os.rename(tmp, self.root / name)
        fsync_dir(self.root)

    def attach_store(self, name: str, store: Store) -> None:
        """Give snapshot `name` (built, not yet live) a copy of the committed store, so that it holds
        everything a replica needs to answer; its manifest records the copy's size."""
        path = self.root / name
        store.copy_into(path / STORE_FILE)
        manifest = replace(Manifest.read(path), store_bytes=(path / STORE_FILE).stat().st_size)
        tmp = path / f".{MANIFEST_FILE}.tmp"
        with tmp.open("w") as fh:
            json.dump(manifest.as_json(), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path / MANIFEST_FILE)
        fsync_dir(path)

    def load(self, name: str, embedder: EmbedderIdentity | None = None) -> Snapshot:
        """Load and verify one snapshot: manifest, format, schema, model, every file's checksum."""
        path = self.root / name
        try:
            manifest = Manifest.read(path)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise SnapshotError(f"snapshot {path}: unreadable manifest: {exc}") from exc
        if manifest.format != FORMAT:
            raise SnapshotError(f"snapshot {path}: format {manifest.format}, this WhoKnows reads {FORMAT}")
        if embedder is not None and (manifest.model_name, manifest.backend, manifest.dim) != (
            embedder.model_name,
            embedder.backend,
            embedder.dim,
        ):
            raise ModelMismatchError(
                f"index at {path} was built with {manifest.model_name} on {manifest.backend} "
                f"({manifest.dim}-d) but the query model is {embedder.model_name} on {embedder.backend} "
                f"({embedder.dim}-d); set WHOKNOWS_EMBED_BACKEND={manifest.backend} or rebuild the index "
                "with `whoknows reindex --full`"
            )
        if not VECTORS_COMPATIBLE_SINCE <= manifest.schema_version <= SCHEMA_VERSION:
            raise SnapshotError(
                f"snapshot {path}: schema version {manifest.schema_version}, expected {SCHEMA_VERSION}"
            )
        for relative, digest in manifest.files.items():
            file = path / relative
            if not file.exists() or sha256_file(file) != digest:
                raise SnapshotError(f"snapshot {path}: {relative} is missing or fails its checksum")
        try:
            snapshot = Snapshot(path, manifest)
        except (OSError, ValueError, RuntimeError) as exc:
            raise SnapshotError(f"snapshot {path}: cannot be read: {exc}") from exc
        if snapshot.vectors.ntotal != manifest.vectors or snapshot.vectors.d != manifest.dim:
            raise SnapshotError(
                f"snapshot {path}: holds {snapshot.vectors.ntotal} vectors of {snapshot.vectors.d}-d, "
                f"manifest says {manifest.vectors} of {manifest.dim}-d"
            )
        if snapshot.live_chunks != manifest.live or len(snapshot.slot_rowid) != manifest.vectors:
            raise SnapshotError(f"snapshot {path}: slot counts differ from its manifest")
        if snapshot.store is not None:
            copy = path / STORE_FILE
            if (
                copy.stat().st_size != manifest.store_bytes
                or snapshot.store.generation() != manifest.generation
            ):
                raise SnapshotError(
                    f"snapshot {path}: {STORE_FILE} is not the store this snapshot was built from"
                )
        return snapshot

    def load_current(self, embedder: EmbedderIdentity | None = None) -> Snapshot | None:
        """The live snapshot; if it fails verification, the newest older one that passes."""
        current = self.current_name()
        if current is None:
            return None
        candidates = [current] + [n for n in reversed(self.names()) if n != current and n < current]
        for name in candidates:
            try:
                return self.load(name, embedder)
            except SnapshotError as exc:
                log.error("refusing snapshot %s: %s", name, exc)
        raise SnapshotError(f"no valid snapshot in {self.root} (CURRENT names {current})")

    def publish(self, name: str) -> None:
        """Make `name` live: readers switch on their next request; none ever sees a partial index."""
        pointer = self.root / f".{CURRENT_FILE}.{uuid.uuid4().hex[:6]}"
        with pointer.open("w") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer, self.root / CURRENT_FILE)
        fsync_dir(self.root)
        self._prune(name)

    def _prune(self, live: str) -> None:
        """Keep the live snapshot and a few before it; drop leftovers of crashed builds."""
        for leftover in self.root.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        older = [n for n in self.names() if n != live]
        for name in older[: max(0, len(older) - (self.keep - 1))]:
            shutil.rmtree(self.root / name, ignore_errors=True)
