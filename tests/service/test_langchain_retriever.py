"""WhoKnowsRetriever (index/retrieval/langchain_retriever.py) on the service test index, ACL-filtered; the
LANGCHAIN.md snippets run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from index.acl import Principal
from index.retrieval.langchain_retriever import WhoKnowsRetriever
from tests.service.conftest import HR_MARKERS
from tests.service.openai_stub import openai_stub

DOC = Path(__file__).resolve().parents[2] / "service" / "LANGCHAIN.md"
README = DOC.parents[1] / "README.md"


def test_documents_carry_chunk_text_and_metadata(engine) -> None:  # type: ignore[no-untyped-def]
    retriever = WhoKnowsRetriever(retriever=engine.retriever, principal=Principal.of("bob", ["staff"]), k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("how long are postgres backups kept")
    assert 1 <= len(docs) <= 3 and all(isinstance(d, Document) for d in docs)
    first = docs[0]
    assert first.metadata["doc_id"] == "handbook:backups" and "35 days" in first.page_content
    assert set(first.metadata) >= {"doc_id", "chunk_id", "title", "url", "source", "kind", "score"}
    assert first.metadata["chunk_id"].startswith("handbook:backups#")
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    assert retriever.invoke("   ") == []


def test_permission_aware(engine) -> None:  # type: ignore[no-untyped-def]
    query = "salary bands quokkabudget parental leave"
    outsider = WhoKnowsRetriever(retriever=engine.retriever, principal=Principal.of("bob", ["staff"]), k=20)
    insider = WhoKnowsRetriever(retriever=engine.retriever, principal=Principal.of("hana", ["hr"]), k=20)
    seen = " ".join(d.page_content + str(d.metadata) for d in outsider.invoke(query))
    assert not any(m in seen for m in HR_MARKERS)
    assert "hr:salaries" in [d.metadata["doc_id"] for d in insider.invoke(query)]
    with pytest.raises(ValueError):
        WhoKnowsRetriever(retriever=engine.retriever, mode="magic")


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_langchain_md_snippets_run(index_home, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    retrieve, chain = snippets()
    assert f"```python\n{retrieve}```" in README.read_text(encoding="utf-8")  # the README's copy runs too
    with openai_stub() as stub:
        monkeypatch.setenv("WHOKNOWS_HOME", str(index_home))
        monkeypatch.setenv("WHOKNOWS_LLM_BASE_URL", stub.url)
        monkeypatch.setenv("WHOKNOWS_LLM_MODEL", "good")
        namespace: dict[str, object] = {}
        exec(compile(retrieve, "LANGCHAIN.md#retrieve", "exec"), namespace)
        out = capsys.readouterr().out
        assert (
            "Postgres backups runbook" in out.splitlines()[0]
        )  # ana.alvarez in staff sees the runbook first
        exec(compile(chain, "LANGCHAIN.md#chain", "exec"), namespace)
        answer = capsys.readouterr().out
        assert "35 days [1]" in answer
        prompt = stub.requests[-1]["messages"][-1]["content"]
        assert "[1] Postgres backups runbook" in prompt


def test_one_retriever_serves_many_callers(engine) -> None:  # type: ignore[no-untyped-def]
    """The principal comes with each call (a keyword, or the chain's config), so one chain can serve
    every user; without one the retriever's own (anonymous unless given) applies (issue 14, item 6)."""
    from langchain_core.runnables import RunnableLambda

    query = "salary bands quokkabudget parental leave"
    shared = WhoKnowsRetriever(retriever=engine.retriever, k=20)
    hana, bob = Principal.of("hana", ["hr"]), Principal.of("bob", ["staff"])
    assert "hr:salaries" in [d.metadata["doc_id"] for d in shared.invoke(query, principal=hana)]
    assert "hr:salaries" not in [d.metadata["doc_id"] for d in shared.invoke(query, principal=bob)]
    assert all(d.metadata["source"] != "hr" for d in shared.invoke(query))  # no caller: anonymous
    chain = RunnableLambda(lambda q: q) | shared
    as_hana = chain.invoke(query, config={"configurable": {"principal": hana}})
    as_bob = chain.invoke(query, config={"configurable": {"principal": bob}})
    assert "hr:salaries" in [d.metadata["doc_id"] for d in as_hana]
    assert not any(m in " ".join(d.page_content for d in as_bob) for m in HR_MARKERS)
    import asyncio

    async_hana = asyncio.run(chain.ainvoke(query, config={"configurable": {"principal": hana}}))
    assert [d.metadata["doc_id"] for d in async_hana] == [d.metadata["doc_id"] for d in as_hana]
    with pytest.raises(TypeError, match="Principal"):
        shared.invoke(query, principal="hana")
