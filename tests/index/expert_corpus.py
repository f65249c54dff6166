"""Builders shared by the expert tests: a small hashed bag-of-words embedder, thread documents with
people in roles, and a store built through the real ingest pipeline."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from connectors.base import Acl, Contribution, DirectoryPerson, PersonRef, Role, Section, SourceDocument
from index.retrieval.hybrid import HybridRetriever
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from index.store.identity import apply_directory
from index.vectors.embedder import Embedder
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from tests.helpers import ListConnector, source_config

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class HashEmbedder:
    """Deterministic stand-in for unit tests of ranking arithmetic: hashed bag of words, unit length."""

    model_name = "test/hash-bow"
    backend = "numpy"
    dim = 64

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[i, int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = float(np.linalg.norm(out[i]))
            if norm:
                out[i] /= norm
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]


Part = (
    tuple[str, Role] | tuple[str, Role, float] | tuple[str, Role, float, int]
)  # account, role, weight, days ago


def thread(
    native: str,
    title: str,
    text: str,
    people: Sequence[Part],
    acl: Acl | None = None,
    source: str = "forum",
    tags: Sequence[str] = (),
    kind: str = "forum",
) -> SourceDocument:
    """A document whose people hold the given roles; `days ago` dates the contribution before NOW."""
    contributions = []
    for part in people:
        account, role = part[0], part[1]
        weight = float(part[2]) if len(part) > 2 else 1.0  # type: ignore[misc]
        days = int(part[3]) if len(part) > 3 else 10  # type: ignore[misc]
        contributions.append(
            Contribution(
                person=PersonRef(account=account, name=account.replace(".", " ").title()),
                role=role,
                at=NOW - timedelta(days=days),
                weight=weight,
                text=f"{account} on {title}" if role is Role.ANSWERER else None,
            )
        )
    return SourceDocument(
        doc_id=f"{source}:{native}",
        source=source,
        kind=kind,
        title=title,
        url=f"https://intranet.example/{source}/{native}",
        sections=[Section(text=p) for p in text.split("\n\n") if p.strip()],
        created_at=NOW - timedelta(days=30),
        updated_at=NOW - timedelta(days=1),
        version=hashlib.sha256((title + text).encode()).hexdigest()[:16],
        acl=acl or Acl(public=True),
        contributions=contributions,
        tags=list(tags),
    )


def build_store(
    home: Path,
    embedder: Embedder,
    docs: Sequence[SourceDocument],
    directory: Sequence[DirectoryPerson] = (),
    cache: Path | None = None,
) -> HybridRetriever:
    """The directory, then docs through the real pipeline (one source per document source)."""
    store = Store(home)
    snapshots = SnapshotStore(home)
    vector_cache = VectorCache(cache or home / "cache.sqlite", embedder.dim)
    pipeline = IngestPipeline(store, snapshots, embedder, vector_cache)
    if directory:  # before the run, so the snapshot it publishes carries the directory
        with store.transaction() as db:
            apply_directory(db, directory)
    sources = sorted({d.source for d in docs})
    pipeline.run([(source_config(s), ListConnector(s, [d for d in docs if d.source == s])) for s in sources])
    return HybridRetriever(store, lambda: snapshots.load_current(embedder), embedder)
