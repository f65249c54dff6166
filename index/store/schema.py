"""The store's schema, as numbered migrations applied in order and recorded in `meta`."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION_KEY = "schema_version"

MIGRATIONS: list[str] = [
    # 1: documents, chunks with their vectors, ACL principals, FTS, people, contributions, sync state.
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        doc_id TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        url TEXT,
        created_at TEXT,
        updated_at TEXT,
        version TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        meta_hash TEXT NOT NULL,
        acl_public INTEGER NOT NULL DEFAULT 0,
        tags TEXT NOT NULL DEFAULT '[]',
        path TEXT NOT NULL DEFAULT '[]',
        indexed_at TEXT NOT NULL
    );
    CREATE INDEX documents_source ON documents(source);
    CREATE TABLE doc_acl (
        doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        principal TEXT NOT NULL,
        PRIMARY KEY (doc, principal)
    ) WITHOUT ROWID;
    CREATE INDEX doc_acl_principal ON doc_acl(principal, doc);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id TEXT NOT NULL UNIQUE,
        doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        heading TEXT NOT NULL DEFAULT '',
        page INTEGER,
        text TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX chunks_doc ON chunks(doc);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        title, heading, body, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL UNIQUE,
        name TEXT,
        email TEXT,
        team TEXT,
        title TEXT,
        timezone TEXT,
        manager TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        mentor_opt_in INTEGER NOT NULL DEFAULT 0,
        mentor_capacity INTEGER,
        in_directory INTEGER NOT NULL DEFAULT 0,
        groups TEXT NOT NULL DEFAULT '[]',
        name_key TEXT
    );
    CREATE INDEX people_email ON people(email);
    CREATE INDEX people_name_key ON people(name_key);
    CREATE TABLE accounts (
        source TEXT NOT NULL,
        account TEXT NOT NULL,
        person INTEGER NOT NULL REFERENCES people(id),
        name TEXT,
        email TEXT,
        linked_by TEXT NOT NULL,
        PRIMARY KEY (source, account)
    );
    CREATE INDEX accounts_person ON accounts(person);
    CREATE TABLE contributions (
        id INTEGER PRIMARY KEY,
        doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        account TEXT NOT NULL,
        role TEXT NOT NULL,
        at TEXT,
        weight REAL NOT NULL DEFAULT 1.0,
        text TEXT
    );
    CREATE INDEX contributions_doc ON contributions(doc);
    CREATE INDEX contributions_account ON contributions(source, account);
    CREATE TABLE sync_state (
        source TEXT PRIMARY KEY,
        cursor TEXT,
        last_run_at TEXT,
        last_success_at TEXT,
        status TEXT,
        report TEXT
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        report TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: API tokens for `Authorization: Bearer`; only a sha256 of each secret is kept.
    """
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        groups TEXT NOT NULL DEFAULT '[]',
        scopes TEXT NOT NULL DEFAULT '[]',
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
    );
    """,
    # 3: ACLs as clauses (a reader needs one principal of each: a document's own ACL inside its source's),
    # and the name each contribution gave its person, so a name shown comes from a document one may see.
    """
    ALTER TABLE documents ADD COLUMN acl_clauses INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE doc_acl_clauses (
        doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        clause INTEGER NOT NULL,
        principal TEXT NOT NULL,
        PRIMARY KEY (doc, clause, principal)
    ) WITHOUT ROWID;
    INSERT INTO doc_acl_clauses(doc, clause, principal) SELECT doc, 0, principal FROM doc_acl;
    UPDATE documents SET acl_clauses = 0 WHERE acl_public = 1;
    DROP TABLE doc_acl;
    ALTER TABLE doc_acl_clauses RENAME TO doc_acl;
    CREATE INDEX doc_acl_principal ON doc_acl(principal, clause, doc);
    ALTER TABLE contributions ADD COLUMN name TEXT;
    """,
    # 4: keyword search moved from FTS5 into the snapshot's own inverted index (index/keyword/), whose
    # BM25 statistics count only what each caller may see; the FTS5 table is no longer written.
    """
    DROP TABLE IF EXISTS chunks_fts;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
# The oldest schema whose chunk row ids a snapshot still matches: migrations that leave `chunks` alone
# (like 2 and 3) must not force a rebuild. Snapshots made before the keyword index existed are refused
# by their format (index/snapshot/manifest.py), not by the schema.
VECTORS_COMPATIBLE_SINCE = 1


def migrate(db: sqlite3.Connection) -> int:
    """Bring the database up to SCHEMA_VERSION; returns the version it was at before."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = db.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA_VERSION_KEY,)).fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"store schema version {current} is newer than this WhoKnows ({SCHEMA_VERSION}); upgrade WhoKnows"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (SCHEMA_VERSION_KEY, str(version))
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return current
