"""The ingest pipeline: load, skip the unchanged, chunk and embed the rest, prune, publish a snapshot."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from connectors.base import Connector, ConnectorError, ConnectorFailure, DirectorySource, SourceDocument
from connectors.config import SourceConfig
from index.snapshot.build import BuildReport, SnapshotBuilder
from index.snapshot.store import SnapshotError, SnapshotStore
from index.state.runs import RunLog
from index.store.documents import ChunkRow, Store, meta_hash, utc_now
from index.store.identity import DirectoryEntry, apply_directory, record_contributions
from index.vectors.embedder import Embedder
from ingest.chunking import ChunkingSettings, chunk_document
from ingest.executors.base import EmbeddingError, EmbeddingExecutor
from ingest.executors.local import LocalExecutor
from ingest.report import RunReport, SourceReport
from ingest.vector_cache import VectorCache, embed_with_cache

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (event, amount): "documents" | "chunks_embedded"


@dataclass
class _Changes:
    """Chunk rows removed and added across the run, for the next vector snapshot."""

    removed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    metadata: bool = False  # a document's ACL, source or kind changed: the snapshot's partitions must follow


@dataclass
class IngestPipeline:
    """Runs sources into the store and publishes a vector snapshot matching it.

    `executor` embeds what the cache lacks (by default the embedder, in this process); changed
    documents are written `batch_documents` at a time, by default as many as the executor asks for.
    `runs` records each run's report (in the state store) when given.
    """

    store: Store
    snapshots: SnapshotStore
    embedder: Embedder
    cache: VectorCache | None = None
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    batch_documents: int | None = None
    progress: Progress | None = None
    executor: EmbeddingExecutor | None = None
    runs: RunLog | None = None
    last_build: BuildReport | None = None  # how the last published snapshot was built

    def __post_init__(self) -> None:
        if self.executor is None:
            self.executor = LocalExecutor(self.embedder)
        ours = (self.embedder.model_name, self.embedder.backend, self.embedder.dim)
        theirs = (self.executor.model_name, self.executor.backend, self.executor.dim)
        if theirs != ours:
            raise ValueError(
                f"the {self.executor.name} executor embeds with {theirs[0]} on {theirs[1]} ({theirs[2]}-d), "
                f"the index with {ours[0]} on {ours[1]} ({ours[2]}-d)"
            )

    def run(
        self, sources: Sequence[tuple[SourceConfig, Connector]], full: bool = False, kind: str = "ingest"
    ) -> RunReport:
        """Run every source, then publish; the store commits only once the new snapshot is live.

        The whole run is one transaction with a savepoint per source: a source that fails is rolled
        back alone (keeping its documents and cursor), and a run that dies or cannot write its
        snapshot leaves both the store and the live snapshot as they were.
        """
        started = time.perf_counter()
        report = RunReport()
        started_at = utc_now()
        run_id = self._start_run(kind, started_at)
        changes = _Changes()
        cursors: dict[str, str | None] = {}
        generation_before = self.store.generation()
        db = self.store.db
        db.execute("BEGIN IMMEDIATE")
        built: str | None = None
        try:
            for config, connector in sources:
                rep, ok = self._run_source(config, connector, full, changes)
                report.sources.append(rep)
                if ok:
                    cursors[config.name] = connector.cursor
            if changes.added or changes.removed or changes.metadata:
                self.store.bump_generation()
            built = self._build(generation_before, changes)
        except (OSError, SnapshotError, sqlite3.Error, EmbeddingError) as exc:
            db.execute("ROLLBACK")
            log.error("run rolled back, the previous index keeps serving: %s", exc)
            report.error = f"nothing published: {exc}"
            cursors = {}
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            try:
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                report.error, built, cursors = f"commit failed: {exc}", None, {}
        for rep in report.sources:
            if report.error is not None:
                rep.status, rep.error = "failed", rep.error or report.error
            self._save_state(rep, cursors.get(rep.name), rep.name in cursors, started_at)
        report.snapshot = self._go_live(built, report) if built is not None else self.snapshots.current_name()
        report.generation = self.store.generation()
        report.executor = self._executor().stats()
        report.finish_status()
        report.duration_s = time.perf_counter() - started
        self._finish_run(run_id, report)
        return report

    # --- one source -----------------------------------------------------------------------------

    def _run_source(
        self, config: SourceConfig, connector: Connector, full: bool, changes: _Changes
    ) -> tuple[SourceReport, bool]:
        """One source inside a savepoint; returns its report and whether it got through."""
        started = time.perf_counter()
        rep = SourceReport(name=config.name)
        since = None if full else self._cursor(config.name)
        mine = _Changes()
        ok = False
        try:
            with self.store.transaction() as db:
                if isinstance(connector, DirectorySource):
                    entries: Iterable[DirectoryEntry | ConnectorFailure] = connector.directory_entries()
                    good = []
                    for entry in entries:
                        if isinstance(entry, ConnectorFailure):
                            rep.failures.append(_failure_dict(entry))
                        else:
                            good.append(entry)
                    rep.people = apply_directory(db, good)
                else:
                    self._load_documents(config, connector, since, rep, mine)
                    self._prune(config, connector, rep, mine)
            ok = True
        except ConnectorError as exc:
            rep.status, rep.error = "failed", str(exc)
            log.error("source %s failed: %s", config.name, exc)
        except (sqlite3.Error, EmbeddingError):
            raise  # the store or the executor failed, not this source: the whole run stops
        except Exception as exc:  # a connector bug must not stop the other sources
            rep.status, rep.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("source %s failed", config.name)
        if ok:
            changes.removed.extend(mine.removed)
            changes.added.extend(mine.added)
            changes.metadata = changes.metadata or mine.metadata
            if rep.failures and rep.status == "ok":
                rep.status = "partial"
        else:
            rep.documents_added = rep.documents_updated = rep.documents_deleted = 0
        rep.duration_s = round(time.perf_counter() - started, 3)
        return rep, ok

    def _load_documents(
        self,
        config: SourceConfig,
        connector: Connector,
        since: str | None,
        rep: SourceReport,
        changes: _Changes,
    ) -> None:
        known = self.store.document_versions(config.name)
        pending: list[SourceDocument] = []
        for item in connector.load(since):
            if isinstance(item, ConnectorFailure):
                rep.failures.append(_failure_dict(item))
                continue
            self._tick("documents", 1)
            item = within_source_acl(item, config)
            previous = known.get(item.doc_id)
            content = item.content_hash()
            if previous is not None and previous[1] == content:
                if previous[2] != meta_hash(item):
                    self._update_metadata(item, content, rep)
                    changes.metadata = True
                else:
                    rep.documents_unchanged += 1
                continue
            pending.append(item)
            if len(pending) >= (self.batch_documents or self._executor().window_documents):
                self._write_batch(pending, known, rep, changes)
                pending = []
        if pending:
            self._write_batch(pending, known, rep, changes)

    def _update_metadata(self, doc: SourceDocument, content: str, rep: SourceReport) -> None:
        """ACL, people, dates or URL changed but the text did not: no chunking, no embedding."""
        db = self.store.db
        internal = self.store.upsert_document(db, doc, content)
        record_contributions(db, internal, doc)
        rep.documents_updated += 1

    def _write_batch(
        self,
        docs: list[SourceDocument],
        known: dict[str, tuple[str, str, str]],
        rep: SourceReport,
        changes: _Changes,
    ) -> bool:
        chunked = []
        for doc in docs:
            try:
                chunks = chunk_document(doc, self.chunking)
            except Exception as exc:
                rep.failures.append({"doc_id": doc.doc_id, "error": f"chunking failed: {exc}"})
                continue
            if not chunks:
                rep.failures.append({"doc_id": doc.doc_id, "error": "document has no text to index"})
                continue
            chunked.append((doc, chunks))
        texts = [c.embed_text() for _, chunks in chunked for c in chunks]
        vectors, embedded = embed_with_cache(
            self._executor(), self.cache, texts, on_embedded=lambda n: self._tick("chunks_embedded", n)
        )
        rep.chunks_embedded += embedded
        rep.chunks_reused += len(texts) - embedded
        db = self.store.db
        offset = 0
        for doc, chunks in chunked:
            rows = [
                ChunkRow(c.chunk_id, c.n, c.heading_text, c.page, c.text, vectors[offset + i])
                for i, c in enumerate(chunks)
            ]
            offset += len(chunks)
            db.execute("SAVEPOINT doc")
            try:
                internal = self.store.upsert_document(db, doc, doc.content_hash())
                removed, added = self.store.replace_chunks(db, internal, rows)
                record_contributions(db, internal, doc)
            except Exception as exc:
                db.execute("ROLLBACK TO doc")
                db.execute("RELEASE doc")
                rep.failures.append({"doc_id": doc.doc_id, "error": f"could not store: {exc}"})
                continue
            db.execute("RELEASE doc")
            changes.removed.extend(removed)
            changes.added.extend(added)
            if doc.doc_id in known:
                rep.documents_updated += 1
            else:
                rep.documents_added += 1
        return bool(chunked)

    def _prune(
        self, config: SourceConfig, connector: Connector, rep: SourceReport, changes: _Changes
    ) -> None:
        """Delete what the source no longer lists, unless the listing failed or looks truncated."""
        held = set(self.store.document_versions(config.name))
        try:
            listed = set(connector.list_ids())
        except Exception as exc:
            rep.prune = f"skipped: listing failed: {exc}"
            rep.failures.append(
                {"doc_id": f"{config.name}:*", "error": f"listing failed, nothing pruned: {exc}"}
            )
            return
        gone = sorted(held - listed)
        if not gone:
            return
        if held and len(listed) < config.prune_min_ratio * len(held):
            rep.prune = (
                f"skipped: the source lists {len(listed)} documents, under {config.prune_min_ratio:.0%} "
                f"of the {len(held)} held (prune_min_ratio)"
            )
            log.warning("source %s: %s", config.name, rep.prune)
            return
        db = self.store.db
        for doc_id in gone:
            changes.removed.extend(self.store.delete_document(db, doc_id))
        rep.documents_deleted = len(gone)

    # --- snapshot -------------------------------------------------------------------------------

    def _build(self, generation_before: int, changes: _Changes) -> str:
        """Build (not yet publish) the snapshot matching the store: incremental from the live one when
        it is in step; with nothing changed, one that shares every file of the live one but the copy of
        the store (whose sync times this run moves)."""
        generation = self.store.generation()
        try:
            live = self.snapshots.load_current(self.embedder)
        except SnapshotError as exc:
            log.warning("rebuilding the snapshot from the store: %s", exc)
            live = None
        builder = SnapshotBuilder(self.store, self.snapshots, self.embedder)
        if live is not None and live.manifest.generation == generation:
            name = builder.build(generation, live)
        elif live is not None and live.manifest.generation == generation_before:
            removed_set = set(changes.removed)
            added = [i for i in changes.added if i not in removed_set]
            name = builder.build(generation, live, changes.removed, added)
        else:
            name = builder.build(generation)
        self.last_build = builder.last
        return name

    def _go_live(self, name: str, report: RunReport) -> str | None:
        """After the store committed: give the built snapshot its copy of the store, verify, publish.
        A failure here leaves the previous snapshot serving; the store is then ahead of it, and the
        next run, finding the live snapshot out of step, builds one in full."""
        try:
            self.snapshots.attach_store(name, self.store)
            self.snapshots.load(name, self.embedder)  # verify before going live
            self.snapshots.publish(name)
        except (OSError, SnapshotError, sqlite3.Error) as exc:
            log.error("the snapshot could not go live, the previous one keeps serving: %s", exc)
            report.error = f"committed, but the new snapshot could not go live: {exc}"
            return self.snapshots.current_name()
        return name

    # --- bookkeeping ----------------------------------------------------------------------------

    def _executor(self) -> EmbeddingExecutor:
        assert self.executor is not None  # set in __post_init__
        return self.executor

    def _tick(self, event: str, amount: int) -> None:
        if self.progress is not None:
            self.progress(event, amount)

    def _cursor(self, source: str) -> str | None:
        row = self.store.db.execute("SELECT cursor FROM sync_state WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def _save_state(self, rep: SourceReport, cursor: str | None, advance: bool, now: str) -> None:
        """Record the source's run; only a run that got through advances its cursor. The time recorded is
        the run's start (`now`): an end time would move with how long hidden documents took to index."""
        if advance:
            self.store.db.execute(
                "INSERT INTO sync_state(source, cursor, last_run_at, last_success_at, status, report) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(source) DO UPDATE SET cursor=excluded.cursor, "
                "last_run_at=excluded.last_run_at, last_success_at=excluded.last_success_at, "
                "status=excluded.status, report=excluded.report",
                (rep.name, cursor, now, now, rep.status, json.dumps(rep.as_dict())),
            )
        else:
            self.store.db.execute(
                "INSERT INTO sync_state(source, last_run_at, status, report) VALUES (?,?,?,?) "
                "ON CONFLICT(source) DO UPDATE SET last_run_at=excluded.last_run_at, status=excluded.status, "
                "report=excluded.report",
                (rep.name, now, rep.status, json.dumps(rep.as_dict())),
            )

    def _start_run(self, kind: str, started_at: str) -> int | None:
        return self.runs.start(kind, started_at) if self.runs is not None else None

    def _finish_run(self, run_id: int | None, report: RunReport) -> None:
        if self.runs is not None and run_id is not None:
            self.runs.finish(run_id, report.status, report.as_dict())


def within_source_acl(doc: SourceDocument, config: SourceConfig) -> SourceDocument:
    """The document with its ACL inside the source's: whatever a connector or a file says, a document is
    never visible to anyone the source's `acl` leaves out (it may only narrow it)."""
    acl = doc.acl.within_ceiling(config.acl)
    return doc if acl == doc.acl else doc.model_copy(update={"acl": acl})


def _failure_dict(failure: ConnectorFailure) -> dict[str, str]:
    out: dict[str, str] = {}
    if failure.doc_id:
        out["doc_id"] = failure.doc_id
    if failure.path:
        out["path"] = failure.path
    out["error"] = failure.error
    return out
