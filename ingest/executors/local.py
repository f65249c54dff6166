"""The default executor: the pipeline's own embedder, in this process, no cluster needed."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from index.vectors.embedder import Embedder
from ingest.executors.base import Batch


class LocalExecutor:
    """Embeds in slices of `batch_size` passages (each slice is cached before the next starts)."""

    name = "local"

    def __init__(self, embedder: Embedder, batch_size: int = 256, window_documents: int = 64):
        self.embedder = embedder
        self.model_name = embedder.model_name
        self.backend = embedder.backend
        self.dim = embedder.dim
        self.batch_size = batch_size
        self.window_documents = window_documents
        self.batches = 0

    def embed(self, texts: Sequence[str]) -> Iterator[Batch]:
        for start in range(0, len(texts), self.batch_size):
            positions = list(range(start, min(start + self.batch_size, len(texts))))
            vectors = self.embedder.embed_passages([texts[i] for i in positions])
            self.batches += 1
            yield positions, vectors

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "batches": self.batches,
            "workers": [f"{socket.gethostname()}:{os.getpid()}"],
        }

    def close(self) -> None:
        return None
