"""The LlamaIndex retriever (service/integrations/llamaindex.py) against the app on loopback, with tokens:
the README example runs as written, nodes carry the chunk text and metadata, the caller's ACL holds."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import QueryBundle

from service.integrations.client import WhoKnowsError
from service.integrations.llamaindex import WhoKnowsRetriever
from tests.service.conftest import HR_MARKERS, Running, free_port
from tests.service.integrations_readme import run_readme_example

QUERY = "salary bands pay review"


def test_readme_example_runs(closed_server: Running, tokens: dict[str, str], monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    out = run_readme_example(
        "service.integrations.llamaindex", closed_server.url, tokens["staff"], monkeypatch, capsys
    )
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0].startswith(
        "Postgres backups runbook https://intranet.example/backups "
    )


def test_nodes_hold_chunk_text_metadata_and_scores(closed_server: Running, tokens: dict[str, str]) -> None:
    retriever = WhoKnowsRetriever(url=closed_server.url, token=tokens["staff"], k=3)
    assert isinstance(retriever, BaseRetriever)
    hits = retriever.retrieve("how long are postgres backups kept")
    first = hits[0].node
    assert first.node_id == "handbook:backups#0" and first.ref_doc_id == "handbook:backups"
    # the whole chunk (the runbook's first paragraph), not a snippet
    assert first.get_content() == "Postgres backups run nightly with pg_basebackup and are kept for 35 days."
    assert first.metadata["title"] == "Postgres backups runbook" and first.metadata["source"] == "handbook"
    assert set(first.metadata) == {
        "doc_id",
        "chunk_id",
        "title",
        "url",
        "source",
        "kind",
        "heading",
        "page",
        "updated_at",
    }
    scores = [h.score for h in hits]
    assert len(hits) == 3 and scores == sorted(scores, reverse=True)
    assert retriever.retrieve("   ") == []
    again = asyncio.run(retriever.aretrieve(QueryBundle("how long are postgres backups kept")))
    assert [h.node.node_id for h in again] == [h.node.node_id for h in hits]


def test_each_token_sees_what_its_holder_may_see(closed_server: Running, tokens: dict[str, str]) -> None:
    hr = WhoKnowsRetriever(url=closed_server.url, token=tokens["hr"], k=10).retrieve(QUERY)
    staff = WhoKnowsRetriever(url=closed_server.url, token=tokens["staff"], k=10).retrieve(QUERY)
    assert hr[0].node.metadata["doc_id"] == "hr:salaries" and "quokkabudget" in hr[0].node.get_content()
    shown = " ".join(h.node.get_content() + str(h.node.metadata) for h in staff)
    assert staff and not any(m in shown for m in HR_MARKERS)
    only_hr = WhoKnowsRetriever(url=closed_server.url, token=tokens["hr"], k=10, sources=["hr"]).retrieve(
        QUERY
    )
    assert [h.node.metadata["doc_id"] for h in only_hr] == ["hr:salaries"]


def test_refusals_and_bad_settings_are_clear_errors(closed_server: Running) -> None:
    with pytest.raises(WhoKnowsError, match="answered 401: authentication required"):
        WhoKnowsRetriever(url=closed_server.url).retrieve(QUERY)
    with pytest.raises(WhoKnowsError, match="answered 401: invalid or revoked token"):
        WhoKnowsRetriever(url=closed_server.url, token="wk_000000000000_" + "x" * 43).retrieve(QUERY)
    with pytest.raises(WhoKnowsError, match=r"could not reach WhoKnows at http://127\.0\.0\.1:"):
        WhoKnowsRetriever(url=f"http://127.0.0.1:{free_port()}", timeout_s=2).retrieve(QUERY)
    with pytest.raises(ValueError, match="unknown retrieval mode 'magic'"):
        WhoKnowsRetriever(url=closed_server.url, mode="magic")
