"""The vector cache: passages embedded once per model, kept on disk, reused by every later run."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from index.store.documents import SQLITE_BATCH
from ingest.executors.base import EmbeddingError, EmbeddingExecutor


def text_key(model_name: str, text: str, backend: str = "torch") -> str:
    """Cache key of a passage under one model and runtime (torch keys are those of before runtimes)."""
    space = model_name if backend == "torch" else f"{model_name}\x00{backend}"
    return hashlib.sha256(f"{space}\x00{text}".encode()).hexdigest()


class VectorCache:
    """Vectors by (model, text) in their own SQLite file, committed as they are computed.

    A crashed or killed run loses no embedding work, and a passage that reappears (an unchanged
    chunk of an edited document, a restored file) is never embedded twice.
    """

    def __init__(self, path: Path, dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), SQLITE_BATCH):
            batch = list(keys[start : start + SQLITE_BATCH])
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", batch)
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self.dim,):
                    found[key] = vector
        return found

    def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors(key, vector) VALUES (?, ?)",
            [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items],
        )
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def embed_with_cache(
    executor: EmbeddingExecutor,
    cache: VectorCache | None,
    texts: Sequence[str],
    on_embedded: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts`, embedding only those the cache lacks; each batch the executor hands back is
    cached before the next is awaited. Returns (vectors, number embedded)."""
    keys = [text_key(executor.model_name, t, executor.backend) for t in texts]
    known = cache.get_many(keys) if cache is not None else {}
    first: dict[str, int] = {}  # each distinct passage the cache lacks, at its first position
    for i, key in enumerate(keys):
        if key not in known:
            first.setdefault(key, i)
    missing = list(first.items())
    computed: dict[str, np.ndarray] = {}
    for positions, vectors in executor.embed([texts[i] for _, i in missing]):
        if vectors.shape != (len(positions), executor.dim):
            raise EmbeddingError(
                f"{executor.name} executor returned vectors of shape {vectors.shape} for {len(positions)} "
                f"passages; expected {executor.dim} dimensions"
            )
        pairs = [(missing[p][0], vectors[j]) for j, p in enumerate(positions)]
        if cache is not None:
            cache.put_many(pairs)
        computed.update(pairs)
        if on_embedded is not None:
            on_embedded(len(pairs))
    lost = [k for k, _ in missing if k not in computed]
    if lost:
        raise EmbeddingError(f"{executor.name} executor returned no vector for {len(lost)} passages")
    out = np.zeros((len(texts), executor.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = known[key] if key in known else computed[key]
    return out, len(missing)
