"""The Ray executor: passages go through Ray Data `map_batches` on an actor pool, one model per actor.

Each actor loads the model once, when the pool starts, and embeds batch after batch; the driver (the
pipeline's process) streams the finished batches back with `iter_batches` and hands each one over as
it lands, so it is in the vector cache before the next arrives. Ray Data retries the batches of an
actor that dies on a live node; when the job cannot finish (the cluster lost, every worker gone) the
executor raises EmbeddingError and the pipeline publishes nothing, and the next run embeds only the
passages the cache still lacks. A pipeline hands over `window_documents` changed documents at a time,
so the actors (and their model) are started once per window: once per run for most reindexes, once
every few thousand documents for a full ingest, which bounds the driver's memory.

Every Ray node needs WhoKnows installed (the same version, `pip install 'whoknows[ray]'`): the actors
import it there, and refuse to start if their model is not the one the index records.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ingest.executors.base import Batch, EmbeddingError

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 3.0


class EmbedActor:
    """One Ray Data actor: loads the bundled model at start, then embeds every batch it is given.

    Its settings are class attributes of a subclass made per job (`actor_class`) rather than
    constructor arguments, which Ray would keep in the object store for restarts and warn about.
    """

    model_name: str = ""
    backend: str = "torch"
    model_dir: str = ""
    dim: int = 0
    batch_size: int = 16
    threads: int | None = None

    def __init__(self) -> None:
        import ray

        from index.vectors.factory import make_embedder

        self.embedder = make_embedder(self.backend, Path(self.model_dir), self.batch_size, self.threads)
        found = (self.embedder.model_name, self.embedder.backend, self.embedder.dim)
        if found != (self.model_name, self.backend, self.dim):
            raise RuntimeError(
                f"this Ray node's model is {found[0]} on {found[1]} ({found[2]}-d), the index expects "
                f"{self.model_name} on {self.backend} ({self.dim}-d): install the same WhoKnows on every node"
            )
        node = ray.get_runtime_context().get_node_id()
        self.worker = f"{socket.gethostname()}/{node[:12]}/{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed_passages([str(t) for t in batch["text"]])
        return {
            "position": np.asarray(batch["position"], dtype=np.int64),
            "vector": vectors,
            "worker": np.array([self.worker] * len(vectors)),
        }


def actor_class(
    model_name: str, backend: str, model_dir: str, dim: int, batch_size: int, threads: int | None
) -> type[EmbedActor]:
    """An EmbedActor with these settings baked in (cloudpickle ships a class made here by value)."""
    settings = {
        "model_name": model_name,
        "backend": backend,
        "model_dir": model_dir,
        "dim": dim,
        "batch_size": batch_size,
        "threads": threads,
    }
    return type("EmbedActor", (EmbedActor,), settings)


def check_address(address: str | None) -> None:
    """A HOST:PORT address must answer before Ray is asked (Ray itself retries for minutes)."""
    if address is None or address == "auto":
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise EmbeddingError(f"Ray address {address!r}: expected HOST:PORT of the head node, or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise EmbeddingError(f"no Ray cluster answers at {address}: {exc}") from exc


class RayDataExecutor:
    """Embeds on the Ray cluster at `address` (None: Ray's default, a local instance if none runs)."""

    name = "ray"

    def __init__(
        self,
        model_name: str,
        dim: int,
        backend: str = "torch",
        model_dir: str = "",
        address: str | None = None,
        workers: int = 2,
        batch_size: int = 64,
        window_documents: int = 2048,
        embed_batch_size: int = 16,
        threads: int | None = None,
        worker_env: Mapping[str, str] | None = None,
    ):
        try:
            import ray
        except ImportError as exc:
            raise EmbeddingError("the Ray executor needs Ray: pip install 'whoknows[ray]'") from exc
        check_address(address)
        self.model_name, self.backend, self.dim = model_name, backend, dim
        self.address = address
        self.workers, self.batch_size, self.window_documents = workers, batch_size, window_documents
        self._actor = actor_class(model_name, backend, model_dir, dim, embed_batch_size, threads)
        self.workers_seen: set[str] = set()
        self.batches = 0
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(
                    address=address,
                    runtime_env={"env_vars": dict(worker_env or {})},
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=False,
                )
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
                raise EmbeddingError(
                    f"could not join the Ray cluster at {address or 'default'}: {exc}"
                ) from exc
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)

    def embed(self, texts: Sequence[str]) -> Iterator[Batch]:
        if not texts:
            return
        import pyarrow as pa
        import ray

        # One input block per batch: a task then embeds exactly one batch and hands it back on its
        # own (blocks smaller than a batch would be bundled into one task, and come back together).
        dataset = ray.data.from_arrow(
            [
                pa.table({"position": list(range(start, end)), "text": list(texts[start:end])})
                for start, end in _slices(len(texts), self.batch_size)
            ]
        )
        # All `workers` actors start at once; the pool may shrink to one (a lost node) and go on.
        pool = ray.data.ActorPoolStrategy(min_size=1, max_size=self.workers, initial_size=self.workers)
        vectors = dataset.map_batches(
            self._actor, batch_size=self.batch_size, batch_format="numpy", compute=pool, num_cpus=1
        )
        try:
            for batch in vectors.iter_batches(batch_size=None, batch_format="numpy"):
                self.batches += 1
                self.workers_seen.update(str(w) for w in batch["worker"])
                yield [int(p) for p in batch["position"]], np.asarray(batch["vector"], dtype=np.float32)
        except Exception as exc:  # Ray wraps worker and cluster failures in many exception types
            raise EmbeddingError(f"the Ray job failed: {_first_line(exc)}") from exc

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "batches": self.batches, "workers": sorted(self.workers_seen)}

    def close(self) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()


def _slices(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0][:500]}"
