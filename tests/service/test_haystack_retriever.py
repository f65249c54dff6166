"""The Haystack retriever (service/integrations/haystack.py) against the app on loopback, with tokens: the
README pipeline runs as written, Documents carry the chunk text and metadata, the caller's ACL holds; and
the retriever integrations are clients only (they import nothing of the engine)."""

from __future__ import annotations

import asyncio

import pytest
from haystack import Document, Pipeline
from haystack.utils import Secret

from service.integrations.client import WhoKnowsError
from service.integrations.haystack import WhoKnowsRetriever
from tests.conftest import REPO
from tests.service.conftest import HR_MARKERS, Running
from tests.service.integrations_readme import run_readme_example
from tests.test_layout import import_graph

QUERY = "salary bands pay review"


def test_readme_pipeline_runs(closed_server: Running, tokens: dict[str, str], monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    prompt = run_readme_example(
        "service.integrations.haystack", closed_server.url, tokens["staff"], monkeypatch, capsys
    )
    assert prompt.startswith(
        "Answer from these passages only, citing them as [n].\n[1] Postgres backups runbook: "
    )
    assert "kept for 35 days" in prompt and prompt.rstrip().endswith(
        "Question: how long are database backups kept"
    )
    assert prompt.count("\n[") == 3


def test_documents_hold_chunk_text_metadata_and_scores(
    closed_server: Running, tokens: dict[str, str]
) -> None:
    retriever = WhoKnowsRetriever(url=closed_server.url, token=Secret.from_token(tokens["staff"]), top_k=2)
    docs = retriever.run("how long are postgres backups kept")["documents"]
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    assert docs[0].id == "handbook:backups#0" and "kept for 35 days" in (docs[0].content or "")
    assert (
        docs[0].meta["doc_id"] == "handbook:backups"
        and docs[0].meta["url"] == "https://intranet.example/backups"
    )
    assert docs[0].score is not None and docs[1].score is not None and docs[0].score >= docs[1].score
    assert len(retriever.run("how long are postgres backups kept", top_k=4)["documents"]) == 4
    assert retriever.run("  ") == {"documents": []}
    again = asyncio.run(retriever.run_async("how long are postgres backups kept"))["documents"]
    assert [d.id for d in again] == [d.id for d in docs]


def test_each_token_sees_what_its_holder_may_see(closed_server: Running, tokens: dict[str, str]) -> None:
    def found(token: str) -> list[Document]:
        pipeline = Pipeline()
        pipeline.add_component(
            "retriever", WhoKnowsRetriever(closed_server.url, Secret.from_token(token), top_k=10)
        )
        return list(pipeline.run({"retriever": {"query": QUERY}})["retriever"]["documents"])

    hr, staff = found(tokens["hr"]), found(tokens["staff"])
    assert hr[0].meta["doc_id"] == "hr:salaries" and "quokkabudget" in (hr[0].content or "")
    shown = " ".join((d.content or "") + str(d.meta) for d in staff)
    assert staff and not any(m in shown for m in HR_MARKERS)


def test_serialises_with_an_environment_secret_and_refuses_clearly(
    closed_server: Running, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_API_TOKEN", tokens["hr"])
    original = WhoKnowsRetriever(url=closed_server.url, top_k=3, sources=["hr"])
    data = original.to_dict()
    assert data["init_parameters"]["token"] == {
        "type": "env_var",
        "env_vars": ["WHOKNOWS_API_TOKEN"],
        "strict": False,
    }
    restored = WhoKnowsRetriever.from_dict(data)
    assert [d.meta["doc_id"] for d in restored.run(QUERY)["documents"]] == ["hr:salaries"]
    monkeypatch.delenv("WHOKNOWS_API_TOKEN")
    with pytest.raises(WhoKnowsError, match="answered 401: authentication required"):
        restored.run(QUERY)
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        WhoKnowsRetriever(url=closed_server.url, mode="semantic")


def test_integrations_import_nothing_of_the_engine() -> None:
    graph = import_graph(REPO, ("connectors", "index", "ingest", "service", "eval"))
    for module in (
        "service.integrations.client",
        "service.integrations.llamaindex",
        "service.integrations.haystack",
    ):
        assert graph[module] <= {"service.integrations.client"}, (module, graph[module])
