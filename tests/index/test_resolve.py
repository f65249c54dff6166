"""Ranked ids are read back through the ACL check (issue 14, item 6): a reindex that tightens a document's
ACL and commits between ranking and reading must not let search, answers, experts or the LangChain
retriever show it. The interleaving is made deterministic: the real reindex runs right after ranking."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Acl
from index.acl import Principal
from index.answers.grounding import gather_evidence
from index.experts.finder import ExpertFinder
from index.retrieval.fusion import DocResult
from index.retrieval.hybrid import HybridRetriever
from index.retrieval.langchain_retriever import WhoKnowsRetriever
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from ingest.pipeline import IngestPipeline
from tests.helpers import ListConnector, make_doc, source_config

PAYROLL = make_doc(
    "hb",
    "payroll",
    "Payroll calendar",
    "Salaries are paid on the 25th; payroll corrections close on the 18th of each month.",
    authors=["paula"],
)
OTHERS = [
    make_doc(
        "hb", "vpn", "VPN access", "Connect to the VPN with your hardware key before 9am.", authors=["vic"]
    ),
    make_doc("hb", "lunch", "Canteen", "The canteen serves lunch from noon until two.", authors=["cam"]),
]
QUERY = "when are salaries paid and when do payroll corrections close"
ANYONE = Principal.anonymous()


class RacingRetriever(HybridRetriever):
    """The real retriever; `after_rank` runs once, between ranking and everything that reads after it."""

    after_rank: Callable[[], None] | None = None

    def rank(self, *args: Any, **kwargs: Any) -> list[DocResult]:
        ranked = super().rank(*args, **kwargs)
        hook, self.after_rank = self.after_rank, None
        if hook is not None:
            hook()
        return ranked


@pytest.fixture
def racing(tmp_path: Path, embedder: Any) -> RacingRetriever:
    store, snapshots = Store(tmp_path), SnapshotStore(tmp_path)
    pipeline = IngestPipeline(store, snapshots, embedder)
    connector = ListConnector("hb", [PAYROLL, *OTHERS])
    pipeline.run([(source_config("hb"), connector)])
    retriever = RacingRetriever(store, lambda: snapshots.load_current(embedder), embedder)

    def tighten() -> None:  # payroll becomes hr-only: a metadata-only reindex, committed
        hr_only = PAYROLL.model_copy(update={"acl": Acl(groups=frozenset({"hr"}))})
        connector.docs = [hr_only, *OTHERS]
        report = pipeline.run([(source_config("hb"), connector)])
        assert report.sources[0].documents_updated == 1

    retriever.tighten = tighten  # type: ignore[attr-defined]
    return retriever


def race(retriever: RacingRetriever) -> None:
    retriever.after_rank = retriever.tighten  # type: ignore[attr-defined]


def test_search_drops_what_was_hidden_after_ranking(racing: RacingRetriever) -> None:
    assert "hb:payroll" in [h.doc_id for h in racing.search(QUERY, ANYONE)]  # before: public
    race(racing)
    hits = racing.search(QUERY, ANYONE, k=10)
    assert "hb:payroll" not in [h.doc_id for h in hits] and all("25th" not in h.snippet for h in hits)
    assert "hb:payroll" in [h.doc_id for h in racing.search(QUERY, Principal.of("hana", ["hr"]))]


def test_the_langchain_retriever_drops_it(racing: RacingRetriever) -> None:
    race(racing)
    docs = WhoKnowsRetriever(retriever=racing, k=5).invoke(QUERY)
    assert docs and "hb:payroll" not in [d.metadata["doc_id"] for d in docs]
    assert all("25th" not in d.page_content for d in docs)


def test_answers_draw_no_passage_from_it(racing: RacingRetriever) -> None:
    race(racing)
    evidence = gather_evidence(racing, QUERY, ANYONE, k=3)
    assert "hb:payroll" not in [p.doc_id for p in evidence.passages]
    assert all("25th" not in s.text for s in evidence.sentences)


def test_experts_show_no_evidence_from_it(racing: RacingRetriever) -> None:
    race(racing)
    found = ExpertFinder(racing).rank_experts(QUERY, ANYONE, now=datetime(2026, 2, 1, tzinfo=UTC))
    assert "hb:payroll" not in str(found) and "hb:paula" not in [e.person_id for e in found]


def test_resolve_reads_only_what_the_caller_may_see_now(racing: RacingRetriever) -> None:
    from index.retrieval.resolve import resolve_ranked, visible_documents

    ranked = racing.rank(QUERY, ANYONE)
    assert "hb:payroll" in [c.document.doc_id for _, c in resolve_ranked(racing.store, ANYONE, ranked)]
    racing.tighten()  # type: ignore[attr-defined]
    assert "hb:payroll" not in [c.document.doc_id for _, c in resolve_ranked(racing.store, ANYONE, ranked)]
    ids = [r.doc for r in ranked]
    assert len(visible_documents(racing.store, Principal.of("x", ["hr"]), ids)) == len(ids)
    assert len(visible_documents(racing.store, ANYONE, ids)) == len(ids) - 1
