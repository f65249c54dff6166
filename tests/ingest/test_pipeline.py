"""The pipeline through the real model, SQLite and FAISS: incremental, pruning, ACL, snapshots."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from connectors.base import Acl, ConnectorFailure
from index.acl import Principal
from index.retrieval.hybrid import HybridRetriever
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from index.vectors.embedder import ModelMismatchError
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from tests.helpers import CountingEmbedder, ListConnector, make_doc, source_config

DOCS = [
    (
        "backups",
        "Database backups",
        "Postgres snapshots are retained for 35 days in cold storage.\n\n"
        "Restores use pg_restore with the clean flag.",
    ),
    ("oncall", "On-call rota", "The platform team rotates pager duty weekly. Escalate after 15 minutes."),
    ("expenses", "Travel expenses", "Hotel costs up to 180 euros per night are reimbursed with receipts."),
    ("k8s", "Cluster upgrades", "Kubernetes node pools are upgraded one zone at a time with surge capacity."),
]
SECRET = ("salaries", "Salary bands 2026", "Band L4 pays between 71,000 and 84,000 euros a year.")


def build(tmp_path: Path, embedder, docs):  # type: ignore[no-untyped-def]
    counting = CountingEmbedder(embedder)
    store = Store(tmp_path)
    snapshots = SnapshotStore(tmp_path)
    pipeline = IngestPipeline(
        store, snapshots, counting, VectorCache(tmp_path / "cache.sqlite", counting.dim)
    )
    connector = ListConnector("hb", docs)
    return counting, store, snapshots, pipeline, connector


def retriever(store: Store, snapshots: SnapshotStore, embedder) -> HybridRetriever:  # type: ignore[no-untyped-def]
    return HybridRetriever(store, lambda: snapshots.load_current(embedder), embedder)


def test_second_ingest_embeds_nothing_and_edit_reembeds_only_that_document(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    counting, store, snaps, pipeline, connector = build(tmp_path, embedder, docs)
    first = pipeline.run([(source_config("hb"), connector)])
    assert first.sources[0].documents_added == 4
    assert first.sources[0].chunks_embedded == counting.passages > 0
    embedded_first = counting.passages

    second = pipeline.run([(source_config("hb"), connector)])
    assert second.sources[0].chunks_embedded == 0
    assert second.sources[0].documents_unchanged == 4
    assert counting.passages == embedded_first
    # nothing changed: the new snapshot shares every index file with the first (hard links); only its
    # copy of the store is new (the run moved the sources' sync times)
    assert second.snapshot != first.snapshot
    one, two = snaps.root / str(first.snapshot), snaps.root / str(second.snapshot)
    for file in ("vectors.faiss", *(str(p.relative_to(one)) for p in (one / "keyword").rglob("*.npy"))):
        assert (one / file).stat().st_ino == (two / file).stat().st_ino, file
    assert (two / "store.db").stat().st_ino != (one / "store.db").stat().st_ino

    connector.docs[2] = make_doc(
        "hb", "expenses", "Travel expenses", "Hotel costs up to 210 euros per night."
    )
    third = pipeline.run([(source_config("hb"), connector)])
    assert third.sources[0].documents_updated == 1
    assert third.sources[0].chunks_embedded == 1 == counting.passages - embedded_first
    hits = retriever(store, snaps, embedder).search("hotel reimbursement limit", Principal.anonymous(), k=1)
    assert hits[0].doc_id == "hb:expenses" and "210" in hits[0].snippet


def test_deleted_document_leaves_every_leg(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    _, store, snaps, pipeline, connector = build(tmp_path, embedder, docs)
    pipeline.run([(source_config("hb"), connector)])
    r = retriever(store, snaps, embedder)
    for mode in ("bm25", "dense", "hybrid"):
        assert "hb:k8s" in [
            h.doc_id for h in r.search("kubernetes node pool upgrade", Principal(), mode=mode)
        ]
    connector.docs = [d for d in connector.docs if d.doc_id != "hb:k8s"]
    report = pipeline.run([(source_config("hb"), connector)])
    assert report.sources[0].documents_deleted == 1
    for mode in ("bm25", "dense", "hybrid"):
        ids = [h.doc_id for h in r.search("kubernetes node pool upgrade", Principal(), mode=mode, k=10)]
        assert "hb:k8s" not in ids, mode
    snap = snaps.load_current()
    assert snap is not None and snap.live_chunks == store.counts()["chunks"]


def test_restricted_document_reaches_only_its_group(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    docs.append(
        make_doc("hb", SECRET[0], SECRET[1], SECRET[2], acl=Acl(public=False, groups=frozenset({"hr"})))
    )
    _, store, snaps, pipeline, connector = build(tmp_path, embedder, docs)
    pipeline.run([(source_config("hb"), connector)])
    r = retriever(store, snaps, embedder)
    query = "how much does an L4 earn"
    for mode in ("bm25", "dense", "hybrid"):
        hr = [h.doc_id for h in r.search(query, Principal.of("hana", ["hr"]), mode=mode)]
        assert "hb:salaries" in hr
        for outsider in (Principal.anonymous(), Principal.of("bob", ["staff"]), Principal.of("eve")):
            found = r.search(query, outsider, mode=mode, k=100)
            assert "hb:salaries" not in [h.doc_id for h in found]
            assert all("84,000" not in h.snippet for h in found)
    named = [h.doc_id for h in r.search(query, Principal.of("hana"), k=100)]
    assert "hb:salaries" not in named  # a user is not a group


def test_a_user_level_acl_admits_that_user_only(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    docs.append(
        make_doc("hb", SECRET[0], SECRET[1], SECRET[2], acl=Acl(public=False, users=frozenset({"hana"})))
    )
    _, store, snaps, pipeline, connector = build(tmp_path, embedder, docs)
    pipeline.run([(source_config("hb"), connector)])
    r = retriever(store, snaps, embedder)
    query = "how much does an L4 earn"
    for mode in ("bm25", "dense", "hybrid"):
        assert "hb:salaries" in [h.doc_id for h in r.search(query, Principal.of("hana"), mode=mode)]
        assert "hb:salaries" in [h.doc_id for h in r.search(query, Principal.of("hana", ["x"]), mode=mode)]
        for outsider in (Principal.anonymous(), Principal.of("bob"), Principal.of("bob", ["hana"])):
            found = r.search(query, outsider, mode=mode, k=100)
            assert "hb:salaries" not in [h.doc_id for h in found], (mode, outsider)


def test_an_acl_change_on_unchanged_text_applies_without_embedding(tmp_path, embedder):
    public = make_doc("hb", SECRET[0], SECRET[1], SECRET[2], acl=Acl(public=True))
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS] + [public]
    counting, store, snaps, pipeline, connector = build(tmp_path, embedder, docs)
    pipeline.run([(source_config("hb"), connector)])
    r = retriever(store, snaps, embedder)
    query = "how much does an L4 earn"
    assert "hb:salaries" in [h.doc_id for h in r.search(query, Principal.anonymous())]
    embedded = counting.passages

    tightened = public.model_copy(update={"acl": Acl(public=False, groups=frozenset({"hr"}))})
    connector.docs = [d for d in connector.docs if d.doc_id != public.doc_id] + [tightened]
    report = pipeline.run([(source_config("hb"), connector)])
    assert report.sources[0].documents_updated == 1
    assert report.sources[0].chunks_embedded == 0 and counting.passages == embedded
    for mode in ("bm25", "dense", "hybrid"):
        assert "hb:salaries" not in [
            h.doc_id for h in r.search(query, Principal.anonymous(), mode=mode, k=100)
        ]
        assert "hb:salaries" in [h.doc_id for h in r.search(query, Principal.of("hana", ["hr"]), mode=mode)]


def test_failed_listing_prunes_nothing_and_failures_keep_the_rest(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    _, store, _, pipeline, connector = build(tmp_path, embedder, docs)
    pipeline.run([(source_config("hb"), connector)])
    broken = ListConnector(
        "hb", [docs[0], ConnectorFailure(source="hb", path="x.pdf", error="x.pdf: corrupt")], list_fails=True
    )
    report = pipeline.run([(source_config("hb"), broken)])
    rep = report.sources[0]
    assert rep.prune.startswith("skipped") and rep.documents_deleted == 0
    assert {"path": "x.pdf", "error": "x.pdf: corrupt"} in rep.failures
    assert store.counts()["documents"] == 4
    assert report.status == "partial"


def test_short_listing_is_not_trusted(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    _, store, _, pipeline, connector = build(tmp_path, embedder, docs)
    pipeline.run([(source_config("hb"), connector)])
    connector.docs = connector.docs[:1]
    rep = pipeline.run([(source_config("hb", prune_min_ratio=0.5), connector)]).sources[0]
    assert rep.prune.startswith("skipped") and store.counts()["documents"] == 4


def test_index_refuses_another_model(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    _, _, snaps, pipeline, connector = build(tmp_path, embedder, docs)
    pipeline.run([(source_config("hb"), connector)])
    with pytest.raises(ModelMismatchError, match="built with sentence-transformers/all-MiniLM-L6-v2"):
        snaps.load_current(SimpleNamespace(model_name="other/model", backend=embedder.backend, dim=768))


def test_damaged_snapshot_is_refused_and_previous_serves(tmp_path, embedder):
    docs = [make_doc("hb", n, t, x) for n, t, x in DOCS]
    _, _store, snaps, pipeline, connector = build(tmp_path, embedder, docs)
    first = pipeline.run([(source_config("hb"), connector)]).snapshot
    connector.docs = connector.docs[:3]
    second = pipeline.run([(source_config("hb"), connector)]).snapshot
    assert first != second and snaps.current_name() == second
    # a file of the second snapshot's own (unchanged segments and vectors are shared with the first)
    (snaps.root / str(second) / "slot_live.npy").write_bytes(b"garbage")
    live = snaps.load_current()
    assert live is not None and live.name == first


def test_the_sources_acl_is_a_ceiling_for_every_connector(tmp_path, embedder):
    """Whatever a connector says, the pipeline keeps each document inside its source's ACL: public in a
    staff source is staff; hr in a staff source needs hr and staff (issue 14, item 1)."""
    staff = {"public": False, "groups": ["staff"]}
    widened = make_doc("hb", "open", "Open letter", "Quarterly numbers: revenue grew 12 percent.")
    narrowed = make_doc(
        "hb", SECRET[0], SECRET[1], SECRET[2], acl=Acl(public=False, groups=frozenset({"hr"}))
    )
    _, store, snaps, pipeline, connector = build(tmp_path, embedder, [widened, narrowed])
    pipeline.run([(source_config("hb", acl=staff), connector)])
    r = retriever(store, snaps, embedder)
    for mode in ("bm25", "dense", "hybrid"):
        anonymous = [
            h.doc_id for h in r.search("revenue quarterly numbers", Principal.anonymous(), mode=mode)
        ]
        assert "hb:open" not in anonymous
        assert "hb:open" in [h.doc_id for h in r.search("revenue quarterly", Principal.of("bob", ["staff"]))]
        query = "how much does an L4 earn"
        for outsider in (Principal.of("hana", ["hr"]), Principal.of("bob", ["staff"])):
            assert "hb:salaries" not in [h.doc_id for h in r.search(query, outsider, mode=mode, k=100)]
        both = Principal.of("hana", ["hr", "staff"])
        assert "hb:salaries" in [h.doc_id for h in r.search(query, both, mode=mode)]
    assert store.get_document("hb:open").acl_public is False  # type: ignore[union-attr]


def test_a_store_from_before_acl_clauses_keeps_every_documents_access(tmp_path, embedder):
    """Migration 3 moves each ACL into clause 0; nothing becomes visible or hidden by it."""
    import sqlite3

    from index.store.schema import MIGRATIONS

    db = sqlite3.connect(tmp_path / "whoknows.db", isolation_level=None)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for version, script in enumerate(MIGRATIONS[:2], 1):
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
    for n, (doc_id, public, principals) in enumerate(
        [("a:pub", 1, []), ("a:hr", 0, ["group:hr"]), ("a:nobody", 0, []), ("a:ann", 0, ["user:ann"])], 1
    ):
        db.execute(
            "INSERT INTO documents(id, doc_id, source, kind, title, version, content_hash, meta_hash, "
            "acl_public, indexed_at) VALUES (?, ?, 'a', 'doc', ?, 'v', 'c', 'm', ?, '2026-01-01')",
            (n, doc_id, doc_id, public),
        )
        db.executemany("INSERT INTO doc_acl(doc, principal) VALUES (?, ?)", [(n, p) for p in principals])
    db.close()
    store = Store(tmp_path)
    from index.acl import visible_sql

    def visible(principal: Principal) -> list[str]:
        acl, params = visible_sql(principal)
        rows = store.db.execute(f"SELECT d.doc_id FROM documents d WHERE {acl} ORDER BY d.doc_id", params)
        return [r[0] for r in rows]

    assert visible(Principal.anonymous()) == ["a:pub"]
    assert visible(Principal.of("bob", ["hr"])) == ["a:hr", "a:pub"]
    assert visible(Principal.of("ann")) == ["a:ann", "a:pub"]
