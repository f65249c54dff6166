"""The executor contract: embed passages batch by batch, handing each batch back as soon as it is done.

Only embedding spreads: connectors, hashing, chunking, pruning and publishing stay in the pipeline's
process. The caller stores every batch in the vector cache as it arrives, so a run that dies (a killed
worker, a lost cluster) has lost no batch that came back, and the next run embeds only the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

# One finished batch: positions in the texts handed over, and their vectors in that order.
Batch = tuple[list[int], np.ndarray]


class EmbeddingError(Exception):
    """The executor could not embed (its cluster is unreachable or failed); the run publishes nothing."""


class EmbeddingExecutor(Protocol):
    """Embeds passages with the model whose `model_name`, `backend` (runtime) and `dim` the index records."""

    name: str
    model_name: str
    backend: str
    dim: int
    # How many changed documents the pipeline gathers before handing their passages over: small for
    # a local executor (low memory), large for a cluster (each hand-over starts a job).
    window_documents: int

    def embed(self, texts: Sequence[str]) -> Iterator[Batch]:
        """Yield every text's vector exactly once, batch by batch, in any order; raise EmbeddingError."""
        ...

    def stats(self) -> dict[str, Any]:
        """What it did so far, for the run report: its name, batches, and the workers that embedded."""
        ...

    def close(self) -> None: ...
