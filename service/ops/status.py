"""Index status, shared by `whoknows status`, /sources and /metrics."""

from __future__ import annotations

from typing import Any

from index.snapshot.manifest import Manifest
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from service.settings import Settings


def index_status(settings: Settings) -> dict[str, Any]:
    store = Store(settings.home)
    snapshots = SnapshotStore(settings.home, root=settings.snapshots_path)
    snap: dict[str, Any] | None = None
    try:
        current = snapshots.current_name()
        if current is not None:  # the manifest says what serves; `serve` and `reindex` verify the files
            m = Manifest.read(snapshots.root / current)
            snap = {
                "name": m.name,
                "vectors": m.live,
                "model": m.model_name,
                "backend": m.backend,
                "index_type": m.index_type,
                "created_at": m.created_at,
            }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        snap = {"name": None, "error": str(exc), "vectors": 0}
    docs = store.source_counts()
    states = {
        r[0]: {"last_run_at": r[1], "last_success_at": r[2], "status": r[3]}
        for r in store.db.execute("SELECT source, last_run_at, last_success_at, status FROM sync_state")
    }
    sources = [
        {
            "source": name,
            "documents": docs.get(name, 0),
            **states.get(name, {"last_run_at": None, "last_success_at": None, "status": None}),
        }
        for name in sorted(set(docs) | set(states))
    ]
    return {"home": str(settings.home), "counts": store.counts(), "snapshot": snap, "sources": sources}
