"""The engine: store, live snapshot (hot-swapped), embedder and retriever, built from settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import cached_property

from opentelemetry.trace import Tracer, TracerProvider

from connectors.config import SourceConfig, SourceContext
from connectors.registry import build_connector
from index.acl import Principal
from index.retrieval.hybrid import HybridRetriever, RetrievalSettings
from index.snapshot.snapshot import Snapshot
from index.snapshot.store import SnapshotError, SnapshotStore
from index.state.base import StateStore
from index.state.runs import RunLog
from index.store.documents import Store
from index.store.identity import principal_for
from index.vectors.embedder import Embedder
from index.vectors.factory import make_embedder
from ingest.executors.base import EmbeddingExecutor
from ingest.executors.local import LocalExecutor
from ingest.pipeline import IngestPipeline, Progress
from ingest.vector_cache import VectorCache
from service.ops.tracing import TRACER_NAME, TracedRetriever, tracer_provider_from
from service.settings import OFFLINE_ENVIRONMENT, Settings
from service.state import open_state

log = logging.getLogger(__name__)


class Engine:
    """Everything a request or a command needs, opened once per process and shared by threads."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        tracer_provider: TracerProvider | None = None,
    ):
        """`tracer_provider` traces requests and retrieval; without one, OTEL_EXPORTER_OTLP_ENDPOINT
        (settings.otel_endpoint) decides (service/ops/tracing.py)."""
        self.settings = settings
        self.tracer_provider = tracer_provider or tracer_provider_from(settings)
        self.tracer: Tracer | None = (
            self.tracer_provider.get_tracer(TRACER_NAME) if self.tracer_provider is not None else None
        )
        self.snapshots = SnapshotStore(settings.home, root=settings.snapshots_path)
        self._embedder = embedder
        self._snapshot: Snapshot | None = None
        self._marker: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._loading = False

    @cached_property
    def store(self) -> Store:
        """The home's store of record: what ingest writes (opened on first use: a replica serving a
        shared snapshot folder never opens one)."""
        return Store(self.settings.home)

    def _home(self) -> Store:
        return self.store

    @property
    def reader(self) -> Store:
        """What requests read: the live snapshot's own copy of the store (the home's store before any
        snapshot carries one)."""
        snap = self.snapshot()
        return snap.store if snap is not None and snap.store is not None else self.store

    @cached_property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = make_embedder(
                s.embed_backend, s.model_dir, batch_size=s.embed_batch_size, threads=s.embed_threads
            )
        return self._embedder

    @cached_property
    def state(self) -> StateStore:
        """Tokens, rate buckets and run reports, shared by every replica (opened on first use)."""
        return open_state(self.settings)

    @cached_property
    def retriever(self) -> HybridRetriever:
        if self.tracer is not None:
            return TracedRetriever(self._home, self.snapshot, self.embedder, RetrievalSettings(), self.tracer)
        return HybridRetriever(self._home, self.snapshot, self.embedder, RetrievalSettings())

    def snapshot(self) -> Snapshot | None:
        """The live snapshot. A newly published one is loaded in the background while the old serves."""
        try:
            marker = self.snapshots.current_marker()
        except OSError as exc:  # an unreadable snapshot folder: keep what serves, /ready says why
            log.error("cannot read the snapshot folder, keeping the previous index: %s", exc)
            return self._snapshot
        if marker == self._marker:
            return self._snapshot
        if self._snapshot is None:
            self._load(marker)
        else:
            with self._lock:
                if self._loading:
                    return self._snapshot
                self._loading = True
            threading.Thread(target=self._load, args=(marker,), daemon=True, name="snapshot-load").start()
        return self._snapshot

    @property
    def loaded_snapshot(self) -> Snapshot | None:
        """The snapshot serving now, without looking for a newer one (for /ready and /metrics)."""
        return self._snapshot

    def _load(self, marker: tuple[int, int] | None) -> None:
        try:
            snap = self.snapshots.load_current(self.embedder)
        except SnapshotError as exc:
            log.error("keeping the previous index: %s", exc)
            snap = self._snapshot
        except Exception:  # e.g. a model mismatch: keep serving, and never leave `_loading` stuck
            log.exception("keeping the previous index: loading the new snapshot failed")
            snap = self._snapshot
        with self._lock:
            self._snapshot, self._marker, self._loading = snap, marker, False
        if snap is not None:
            log.info("serving snapshot %s (%d chunks)", snap.name, snap.live_chunks)

    def principal(self, user: str | None, groups: Sequence[str] = ()) -> Principal:
        """A signed-in user as the ACL sees them: the login, its groups and the source accounts the people
        directory links to that login (`index.store.identity.principal_for`)."""
        return principal_for(self.reader.db, user, groups)

    def pipeline(
        self, progress: Progress | None = None, executor: EmbeddingExecutor | None = None
    ) -> IngestPipeline:
        """The ingest pipeline; `executor` defaults to the one `settings.executor` names."""
        cache = VectorCache(self.settings.cache_path, self.embedder.dim)
        return IngestPipeline(
            self.store,
            self.snapshots,
            self.embedder,
            cache,
            progress=progress,
            executor=executor or self.executor(),
            runs=RunLog(self.state),
        )

    def executor(self, name: str | None = None) -> EmbeddingExecutor:
        """The embedding executor `name` (default `settings.executor`); ValueError for an unknown one,
        EmbeddingError when it cannot start (Ray missing, its cluster unreachable)."""
        name = name or self.settings.executor
        build = EXECUTORS.get(name)
        if build is None:
            raise ValueError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
        return build(self.settings, lambda: self.embedder)

    def connector_for(self, config: SourceConfig):  # type: ignore[no-untyped-def]
        context = SourceContext(
            base_dir=config.path.parent if config.path else self.settings.home,
            secrets=self.settings.source_secrets,
            timeout_s=self.settings.connector_timeout_s,
        )
        return build_connector(config, context)


# Each factory gets the settings and a way to the engine's embedder (loaded on first use).
def _local_executor(settings: Settings, embedder: Callable[[], Embedder]) -> EmbeddingExecutor:
    return LocalExecutor(embedder())


def _ray_executor(settings: Settings, embedder: Callable[[], Embedder]) -> EmbeddingExecutor:
    from ingest.executors.ray_data import RayDataExecutor, check_address

    check_address(settings.ray_address)  # before the model loads: a wrong address fails at once
    model = embedder()  # the driver's copy says which model and dimension the actors must have
    return RayDataExecutor(
        model.model_name,
        model.dim,
        backend=model.backend,
        model_dir=str(settings.model_dir),
        address=settings.ray_address,
        workers=settings.ray_workers,
        batch_size=settings.ray_batch_size,
        window_documents=settings.ray_window_documents,
        embed_batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
        worker_env=OFFLINE_ENVIRONMENT,
    )


EXECUTORS: dict[str, Callable[[Settings, Callable[[], Embedder]], EmbeddingExecutor]] = {
    "local": _local_executor,
    "ray": _ray_executor,
}
