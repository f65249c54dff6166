"""The SQLite store of record: documents, chunks (text and vectors), ACLs, people, contributions, sync state."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from connectors.base import SourceDocument
from index.store.schema import migrate

DB_FILENAME = "whoknows.db"
# Ids bound per `IN (...)` query. SQLite builds before 3.32 allow 999 host parameters per statement
# (SQLITE_MAX_VARIABLE_NUMBER); 500 leaves room for a query's other parameters (ACL principals, filters).
SQLITE_BATCH = 500


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


@dataclass(frozen=True)
class StoredDocument:
    """What the store knows of a document, without its text."""

    id: int
    doc_id: str
    source: str
    kind: str
    title: str
    url: str | None
    created_at: str | None
    updated_at: str | None
    version: str
    content_hash: str
    meta_hash: str
    acl_public: bool
    tags: list[str]
    path: list[str]


@dataclass(frozen=True)
class ChunkRow:
    """A chunk ready to store: its text, heading and page, and its vector."""

    chunk_id: str
    n: int
    heading: str
    page: int | None
    text: str
    vector: np.ndarray


DOC_COLUMNS = (
    "id, doc_id, source, kind, title, url, created_at, updated_at, version, content_hash, meta_hash, "
    "acl_public, tags, path"
)


def _document(row: sqlite3.Row | tuple) -> StoredDocument:
    return StoredDocument(
        id=row[0],
        doc_id=row[1],
        source=row[2],
        kind=row[3],
        title=row[4],
        url=row[5],
        created_at=row[6],
        updated_at=row[7],
        version=row[8],
        content_hash=row[9],
        meta_hash=row[10],
        acl_public=bool(row[11]),
        tags=json.loads(row[12]),
        path=json.loads(row[13]),
    )


def meta_hash(doc: SourceDocument) -> str:
    """Hash of what can change without re-embedding: ACL, URL, dates, tags, path, people."""
    import hashlib

    # Clauses beyond the first join the hash only when there are any: hashes of one-clause ACLs (every
    # document stored before clauses existed) stay as they were, so nothing is rewritten for nothing.
    acl: list[object] = [doc.acl.public, doc.acl.principals()]
    if doc.acl.within:
        acl.append(doc.acl.clauses()[1:])
    payload = {
        "acl": acl,
        "url": doc.url,
        "kind": doc.kind,
        "created": iso(doc.created_at),
        "updated": iso(doc.updated_at),
        "tags": doc.tags,
        "path": list(doc.path),
        "people": [c.model_dump(mode="json") for c in doc.contributions],
        "version": doc.version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class Store:
    """One SQLite database in WAL mode. Writers use `transaction()`; readers get a connection per thread."""

    def __init__(self, home: Path, readonly: bool = False, path: Path | None = None, immutable: bool = False):
        """The store of `home` (`<home>/whoknows.db`), or the database file `path`. `immutable`: a
        snapshot's copy, which nobody writes: read without locks (safe on a shared, read-only volume)."""
        self.home = home
        self.path = path or home / DB_FILENAME
        self.readonly = readonly or immutable
        self.immutable = immutable
        if not self.readonly:
            home.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(f"no WhoKnows store at {self.path}; run `whoknows ingest` first")
        self._local = threading.local()
        if not self.readonly:
            migrate(self.db)

    @classmethod
    def snapshot_copy(cls, path: Path) -> Store:
        """A snapshot's own copy of the store (see `copy_into`), read-only and lock-free."""
        return cls(path.parent, path=path, immutable=True)

    def copy_into(self, target: Path) -> None:
        """A consistent copy of the committed store in `target`, for a snapshot: in rollback-journal mode
        (a snapshot is never written, so readers need no WAL files), without the API tokens and run
        history that older versions kept here (those live in the state store; `secure_delete` so their
        bytes do not survive in free pages)."""
        source = sqlite3.connect(self.path, timeout=30)
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            copy.execute("PRAGMA secure_delete=ON")
            tables = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in ("api_tokens", "runs"):
                if table in tables:
                    copy.execute(f"DELETE FROM {table}")
        finally:
            copy.close()
            source.close()
        with target.open("rb") as fh:
            os.fsync(fh.fileno())

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared across threads)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.immutable:
                conn = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True, isolation_level=None)
            elif self.readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
            if not self.immutable:
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (a savepoint when nested): readers see the previous state until commit."""
        db = self.db
        if db.in_transaction:  # nested: a savepoint inside the caller's transaction
            name = f"sp{id(db) % 10_000}_{self._depth()}"
            db.execute(f"SAVEPOINT {name}")
            self._local.depth = self._depth() + 1
            try:
                yield db
            except BaseException:
                db.execute(f"ROLLBACK TO {name}")
                db.execute(f"RELEASE {name}")
                raise
            finally:
                self._local.depth = self._depth() - 1
            db.execute(f"RELEASE {name}")
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _depth(self) -> int:
        return int(getattr(self._local, "depth", 0))

    # --- meta -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """Bumped by every committed change to chunks; a vector snapshot records the one it matches."""
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> int:
        value = self.generation() + 1
        self.set_meta("generation", str(value))
        return value

    # --- documents ------------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> StoredDocument | None:
        row = self.db.execute(f"SELECT {DOC_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return _document(row) if row else None

    def documents_by_ids(self, ids: Sequence[int]) -> dict[int, StoredDocument]:
        out: dict[int, StoredDocument] = {}
        for start in range(0, len(ids), SQLITE_BATCH):
            batch = list(ids[start : start + SQLITE_BATCH])
            marks = ",".join("?" * len(batch))
            for row in self.db.execute(f"SELECT {DOC_COLUMNS} FROM documents WHERE id IN ({marks})", batch):
                doc = _document(row)
                out[doc.id] = doc
        return out

    def document_versions(self, source: str) -> dict[str, tuple[str, str, str]]:
        """doc_id -> (version, content_hash, meta_hash) for one source."""
        rows = self.db.execute(
            "SELECT doc_id, version, content_hash, meta_hash FROM documents WHERE source = ?", (source,)
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def upsert_document(self, db: sqlite3.Connection, doc: SourceDocument, content_hash: str) -> int:
        """Insert or update the document row and its ACL; returns the internal id."""
        values = (
            doc.source,
            doc.kind,
            doc.title,
            doc.url,
            iso(doc.created_at),
            iso(doc.updated_at),
            doc.version,
            content_hash,
            meta_hash(doc),
            int(doc.acl.public),
            json.dumps(doc.tags),
            json.dumps(list(doc.path)),
            utc_now(),
        )
        row = db.execute("SELECT id FROM documents WHERE doc_id = ?", (doc.doc_id,)).fetchone()
        if row:
            internal = int(row[0])
            db.execute(
                "UPDATE documents SET source=?, kind=?, title=?, url=?, created_at=?, updated_at=?, version=?, "
                "content_hash=?, meta_hash=?, acl_public=?, tags=?, path=?, indexed_at=? WHERE id=?",
                (*values, internal),
            )
        else:
            cur = db.execute(
                "INSERT INTO documents(source, kind, title, url, created_at, updated_at, version, content_hash, "
                "meta_hash, acl_public, tags, path, indexed_at, doc_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*values, doc.doc_id),
            )
            internal = int(cur.lastrowid or 0)
        clauses = doc.acl.clauses()
        db.execute("UPDATE documents SET acl_clauses = ? WHERE id = ?", (len(clauses), internal))
        db.execute("DELETE FROM doc_acl WHERE doc = ?", (internal,))
        db.executemany(
            "INSERT INTO doc_acl(doc, clause, principal) VALUES (?, ?, ?)",
            [(internal, n, p) for n, clause in enumerate(clauses) for p in clause],
        )
        return internal

    def chunk_ids_of(self, db: sqlite3.Connection, internal_doc: int) -> list[int]:
        return [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc = ? ORDER BY n", (internal_doc,))]

    def replace_chunks(
        self, db: sqlite3.Connection, internal_doc: int, chunks: Sequence[ChunkRow]
    ) -> tuple[list[int], list[int]]:
        """Swap a document's chunks; returns (removed row ids, added row ids) for the vector snapshot."""
        removed = self.chunk_ids_of(db, internal_doc)
        self._delete_chunk_rows(db, removed)
        added: list[int] = []
        for c in chunks:
            cur = db.execute(
                "INSERT INTO chunks(chunk_id, doc, n, heading, page, text, vector) VALUES (?,?,?,?,?,?,?)",
                (
                    c.chunk_id,
                    internal_doc,
                    c.n,
                    c.heading,
                    c.page,
                    c.text,
                    c.vector.astype(np.float32).tobytes(),
                ),
            )
            added.append(int(cur.lastrowid or 0))
        return removed, added

    def _delete_chunk_rows(self, db: sqlite3.Connection, rowids: Sequence[int]) -> None:
        for start in range(0, len(rowids), SQLITE_BATCH):
            batch = list(rowids[start : start + SQLITE_BATCH])
            marks = ",".join("?" * len(batch))
            db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", batch)

    def delete_document(self, db: sqlite3.Connection, doc_id: str) -> list[int]:
        """Remove a document everywhere (chunks, ACL, contributions); returns removed chunk row ids."""
        row = db.execute("SELECT id FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if not row:
            return []
        removed = self.chunk_ids_of(db, int(row[0]))
        self._delete_chunk_rows(db, removed)
        db.execute("DELETE FROM documents WHERE id = ?", (int(row[0]),))
        return removed

    # --- vectors --------------------------------------------------------------------------------

    def vectors(self, rowids: Sequence[int], dim: int) -> np.ndarray:
        out = np.zeros((len(rowids), dim), dtype=np.float32)
        position = {r: i for i, r in enumerate(rowids)}
        for start in range(0, len(rowids), SQLITE_BATCH):
            batch = list(rowids[start : start + SQLITE_BATCH])
            marks = ",".join("?" * len(batch))
            for rowid, blob in self.db.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", batch):
                out[position[rowid]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def all_chunk_rowids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM chunks ORDER BY id")]

    # --- what a snapshot is built from ------------------------------------------------------------

    def document_acls(self) -> list[tuple[int, str, str, bool, tuple[tuple[str, ...], ...]]]:
        """Every document as (internal id, source, kind, public, ACL clauses), by internal id. A reader
        needs one principal of each clause (index/acl.py)."""
        clauses: dict[int, dict[int, list[str]]] = {}
        for doc, clause, principal in self.db.execute(
            "SELECT doc, clause, principal FROM doc_acl ORDER BY doc, clause, principal"
        ):
            clauses.setdefault(int(doc), {}).setdefault(int(clause), []).append(str(principal))
        out = []
        for r in self.db.execute("SELECT id, source, kind, acl_public FROM documents ORDER BY id"):
            of_doc = clauses.get(int(r[0]), {})
            out.append(
                (int(r[0]), str(r[1]), str(r[2]), bool(r[3]), tuple(tuple(of_doc[c]) for c in sorted(of_doc)))
            )
        return out

    def chunk_rows(
        self, rowids: Sequence[int] | None = None, batch: int = 5_000
    ) -> Iterator[list[tuple[int, int, str, str, str, bytes]]]:
        """Chunks as (row id, document, title, heading, text, vector blob), by row id, in batches;
        all of them, or those of `rowids`."""
        select = (
            "SELECT c.id, c.doc, d.title, c.heading, c.text, c.vector FROM chunks c "
            "JOIN documents d ON d.id = c.doc"
        )
        if rowids is None:
            last = -1
            while True:
                rows = self.db.execute(
                    f"{select} WHERE c.id > ? ORDER BY c.id LIMIT ?", (last, batch)
                ).fetchall()
                if not rows:
                    return
                last = int(rows[-1][0])
                yield [tuple(r) for r in rows]  # type: ignore[misc]
        wanted = sorted(set(rowids))
        for start in range(0, len(wanted), SQLITE_BATCH):
            part = wanted[start : start + SQLITE_BATCH]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(f"{select} WHERE c.id IN ({marks}) ORDER BY c.id", part).fetchall()
            yield [tuple(r) for r in rows]  # type: ignore[misc]

    # --- counts ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        db = self.db
        return {
            "documents": db.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
            "chunks": db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0],
            "people": db.execute("SELECT COUNT(*) FROM people").fetchone()[0],
            "contributions": db.execute("SELECT COUNT(*) FROM contributions").fetchone()[0],
        }

    def source_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT source, COUNT(*) FROM documents GROUP BY source ORDER BY source")
        return {r[0]: r[1] for r in rows}
