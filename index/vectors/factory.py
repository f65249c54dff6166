"""Choosing the embedder's runtime, and a small cache of query vectors in front of it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.vectors.embedder import Embedder, SentenceTransformerEmbedder
from index.vectors.onnx_embedder import BACKEND as ONNX_INT8
from index.vectors.onnx_embedder import OnnxEmbedder

TORCH = "torch"
BACKENDS = (ONNX_INT8, TORCH)
# Query vectors kept: the search box, the answer and the expert panels of one page embed the same
# query, and popular queries repeat. 2,048 vectors of 384 floats are 3 MB.
QUERY_CACHE_SIZE = 2048


class QueryCache:
    """An Embedder whose `embed_query` remembers its last QUERY_CACHE_SIZE answers."""

    def __init__(self, inner: Embedder, size: int = QUERY_CACHE_SIZE):
        self.inner = inner
        self.model_name = inner.model_name
        self.backend = inner.backend
        self.dim = inner.dim
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            hit = self._vectors.get(text)
            if hit is not None:
                self._vectors.move_to_end(text)
                return hit
        vector = self.inner.embed_query(text)
        vector.setflags(write=False)
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector


def make_embedder(
    backend: str, model_dir: Path, batch_size: int = 16, threads: int | None = None
) -> Embedder:
    """The bundled model on `backend` (one of BACKENDS), with a query cache."""
    if backend == ONNX_INT8:
        return QueryCache(OnnxEmbedder(model_dir, threads=threads))
    if backend == TORCH:
        return QueryCache(SentenceTransformerEmbedder(batch_size=batch_size, threads=threads))
    raise ValueError(f"unknown embedding backend {backend!r} (one of {', '.join(BACKENDS)})")
