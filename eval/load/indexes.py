"""The indexes the search load test serves: the demo intranet, and SciFact copied into a >=100k-chunk index."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from connectors.base import Acl, ConnectorFailure, DocId, Section, SourceDocument, content_version
from connectors.config import SourceConfig
from connectors.registry import load_sources_config
from eval.retrieval.beir import iter_corpus
from service.engine import Engine
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared" / "data").resolve()
SCIFACT = SHARED / "scifact_beir"
COPIES = 10


class ScifactCopy:
    """SciFact as source `scifact-NN`: same titles and text as the eval connector (so the same embedding
    cache keys), a doc id and ACL of its own per copy."""

    def __init__(self, n: int):
        self.n = n
        self.name = f"scifact-{n:02d}"
        kinds = ("public", "staff", "team")
        self.acl = {
            "public": Acl(public=True),
            "staff": Acl(public=False, groups=frozenset({"staff"})),
            "team": Acl(public=False, groups=frozenset({f"team-{n:02d}"})),
        }[kinds[n % 3]]
        self._cursor: str | None = None

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        stamp = datetime(2025, 1, 1 + self.n, tzinfo=UTC)
        for entry in iter_corpus(SCIFACT / "corpus.jsonl"):
            text = entry.text if entry.text.strip() else entry.title
            if not text.strip():
                continue
            yield SourceDocument(
                doc_id=f"{self.name}:{entry.doc_id}",
                source=self.name,
                kind="abstract",
                title=entry.title,
                sections=[Section(text=text)],
                updated_at=stamp,
                version=content_version(text.encode()),
                acl=self.acl,
            )
        self._cursor = stamp.isoformat()

    def list_ids(self) -> Iterator[DocId]:
        for entry in iter_corpus(SCIFACT / "corpus.jsonl"):
            yield f"{self.name}:{entry.doc_id}"

    @property
    def cursor(self) -> str | None:
        return self._cursor


class SwapSource:
    """One small document whose text changes on every run: each run publishes a new snapshot."""

    name = "bench-swap"

    def __init__(self, round_: int):
        self.round = round_

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        text = f"Load test marker round {self.round}: the lighthouse lamp was serviced at {time.time():.3f}."
        yield SourceDocument(
            doc_id=f"{self.name}:marker",
            source=self.name,
            kind="note",
            title="Load test marker",
            sections=[Section(text=text)],
            version=content_version(text.encode()),
            acl=Acl(public=True),
        )

    def list_ids(self) -> Iterator[DocId]:
        yield f"{self.name}:marker"

    @property
    def cursor(self) -> str | None:
        return None


def _config(name: str) -> SourceConfig:
    # a public ceiling: each copy keeps its own ACL (public, staff or one team)
    return SourceConfig.model_validate({"name": name, "type": "bench", "acl": {"public": True}})


def publish_marker(engine: Engine) -> str:
    """Ingest a new SwapSource round; the name of the snapshot that publishes."""
    report = engine.pipeline().run([(_config(SwapSource.name), SwapSource(int(time.time())))])  # type: ignore[list-item]
    return str(report.snapshot)


def build_demo(work: Path) -> Path:
    """The demo intranet (demo/sources.toml) ingested into `<work>/demo`; unchanged files are skipped."""
    home = work / "demo"
    engine = Engine(Settings(home=home))
    configs = load_sources_config(REPO / "demo" / "sources.toml")
    report = engine.pipeline().run([(c, engine.connector_for(c)) for c in configs])
    print(f"demo index: {engine.store.counts()} ({report.status}, {report.duration_s:.1f} s)", flush=True)
    return home


def build_synthetic(work: Path, copies: int = COPIES) -> Path:
    """SciFact x `copies` into `<work>/synthetic` (built once; a marker file records what was built)."""
    home = work / "synthetic"
    marker = home / "built.json"
    if marker.exists() and json.loads(marker.read_text()).get("copies") == copies:
        return home
    settings = Settings(home=home)
    seed = next(
        iter(sorted((REPO / ".whoknows" / "eval").glob("scifact_beir-*/cache/embeddings.sqlite"))), None
    )
    if seed is not None and not settings.cache_path.exists():
        settings.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(seed) as source, sqlite3.connect(settings.cache_path) as target:
            source.backup(target)  # consistent even while the eval run writes it (WAL)
        print(f"seeded the embedding cache from {seed}", flush=True)
    engine = Engine(settings)
    started = time.perf_counter()
    for n in range(copies):  # one run per copy: the first embeds, the rest reuse the cache
        report = engine.pipeline().run([(_config(f"scifact-{n:02d}"), ScifactCopy(n))])  # type: ignore[list-item]
        s = report.sources[0]
        print(
            f"  scifact-{n:02d}: +{s.documents_added} documents, {s.chunks_embedded} chunks embedded, "
            f"{s.chunks_reused} reused ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    counts = engine.store.counts()
    marker.write_text(json.dumps({"copies": copies, **counts}))
    print(f"synthetic index: {counts}", flush=True)
    return home
