"""The engine: store, live vector snapshot (hot-swapped), embedder and retriever, built from settings."""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from connectors.config import SourceConfig, SourceContext
from connectors.registry import build_connector
from index.acl import Principal
from index.retrieval.hybrid import HybridRetriever, RetrievalSettings
from index.store.documents import Store
from index.store.identity import principal_for
from index.vectors.embedder import Embedder, SentenceTransformerEmbedder
from index.vectors.faiss_store import SnapshotError, SnapshotStore, VectorSnapshot
from ingest.pipeline import IngestPipeline, Progress
from ingest.vector_cache import VectorCache
from service.settings import Settings

log = logging.getLogger(__name__)


class Engine:
    """Everything a request or a command needs, opened once per process and shared by threads."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.store = Store(settings.home)
        self.snapshots = SnapshotStore(settings.home)
        self._embedder = embedder
        self._snapshot: VectorSnapshot | None = None
        self._marker: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._loading = False

    @cached_property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder(
                batch_size=self.settings.embed_batch_size, threads=self.settings.embed_threads
            )
        return self._embedder

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.snapshot, self.embedder, RetrievalSettings())

    def snapshot(self) -> VectorSnapshot | None:
        """The live snapshot. A newly published one is loaded in the background while the old serves."""
        marker = self.snapshots.current_marker()
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
    def loaded_snapshot(self) -> VectorSnapshot | None:
        """The snapshot serving now, without looking for a newer one (for /ready and /metrics)."""
        return self._snapshot

    def _load(self, marker: tuple[int, int] | None) -> None:
        try:
            snap = self.snapshots.load_current(self.embedder.model_name, self.embedder.dim)
        except SnapshotError as exc:
            log.error("keeping the previous index: %s", exc)
            snap = self._snapshot
        except Exception:  # e.g. a model mismatch: keep serving, and never leave `_loading` stuck
            log.exception("keeping the previous index: loading the new snapshot failed")
            snap = self._snapshot
        with self._lock:
            self._snapshot, self._marker, self._loading = snap, marker, False
        if snap is not None:
            log.info("serving snapshot %s (%d vectors)", snap.name, snap.index.ntotal)

    def principal(self, user: str | None, groups: list[str] | tuple[str, ...] = ()) -> Principal:
        """A signed-in user as the ACL sees them: the login, its groups and the source accounts the people
        directory links to that login (`index.store.identity.principal_for`)."""
        return principal_for(self.store.db, user, groups)

    def pipeline(self, progress: Progress | None = None) -> IngestPipeline:
        cache = VectorCache(self.settings.cache_path, self.embedder.dim)
        return IngestPipeline(self.store, self.snapshots, self.embedder, cache, progress=progress)

    def connector_for(self, config: SourceConfig):  # type: ignore[no-untyped-def]
        context = SourceContext(
            base_dir=config.path.parent if config.path else self.settings.home,
            secrets=self.settings.source_secrets,
            timeout_s=self.settings.connector_timeout_s,
        )
        return build_connector(config, context)
