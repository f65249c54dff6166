"""The demo intranet through every connector, the real model and a real server: what `make run` serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.registry import load_sources_config
from index.acl import Principal
from index.retrieval.hybrid import Filters
from service.app import create_app
from service.engine import Engine
from tests.conftest import DEMO
from tests.service.conftest import serve, settings_for

EXPECT = json.loads((DEMO / "expectations.json").read_text())
HOSTILE = [
    "",
    " ",
    "x" * 10_000,
    '"unbalanced quote',
    "title:secret AND (body OR) NOT *",
    "NEAR(a b, 3) ^start -minus col:val",
    "🙂🚀 emoji only 🤖",
    "'; DROP TABLE documents; --",
    "\\x00 \x00 null byte",
    "AND OR NOT",
    "*",
    ")(",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, embedder) -> Iterator[tuple[Engine, Path]]:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("demo-home")
    engine = Engine(settings_for(home), embedder=embedder)
    configs = load_sources_config(DEMO / "sources.toml")
    report = engine.pipeline().run([(c, engine.connector_for(c)) for c in configs])
    assert report.status == "ok", report.as_dict()
    assert {s.name for s in report.sources} == {"people", "handbook", "public", "wiki", "forum", "mail"}
    yield engine, home


STAFF = Principal.of("tester", ["staff"])


def test_demo_questions_worded_differently_find_their_document(demo):
    """Top-1 for nearly every paraphrased question, top-3 for all of them."""
    engine, _ = demo
    firsts = []
    for case in EXPECT["search"]:
        # The expectations name handbook pages; the wiki, forum and mail discuss the same topics, so the
        # check is made within the handbook source (the search filter users have on the page).
        hits = engine.retriever.search(case["query"], STAFF, k=3, filters=Filters(sources=("handbook",)))
        ids = [h.doc_id for h in hits]
        assert case["doc_id"] in ids, (case["query"], ids)
        firsts.append(ids[0] == case["doc_id"])
    assert sum(firsts) >= len(firsts) - 1, f"top-1 for {sum(firsts)} of {len(firsts)}"


def test_restricted_documents_reach_only_their_groups(demo):
    engine, _ = demo
    for case in EXPECT["restricted"]:
        # the page's groups inside the handbook's: an insider holds staff too
        allowed = Principal.of("insider", [*case["groups"], "staff"])
        assert case["doc_id"] in [h.doc_id for h in engine.retriever.search(case["query"], allowed, k=3)]
        outside_the_source = Principal.of("insider", case["groups"])  # the page cannot widen the source
        for outsider in (Principal.anonymous(), STAFF, Principal.of("someone"), outside_the_source):
            for mode in ("bm25", "dense", "hybrid"):
                hits = engine.retriever.search(case["query"], outsider, k=100, mode=mode)
                assert case["doc_id"] not in [h.doc_id for h in hits]
                assert all(case["secret"] not in h.snippet for h in hits)


def test_anonymous_sees_public_pages_only(demo):
    engine, _ = demo
    for case in EXPECT["public"]:
        hits = engine.retriever.search(case["query"], Principal.anonymous(), k=10)
        assert case["doc_id"] in [h.doc_id for h in hits[:3]]
        visible = {h.doc_id for h in hits}
        assert visible <= {c["doc_id"] for c in EXPECT["public"]} | {
            d.doc_id for d in [engine.store.get_document(i) for i in visible] if d and d.acl_public
        }


def test_hostile_queries_never_fail(demo):
    engine, home = demo
    app = create_app(settings_for(home, anonymous=True), engine=engine)
    with serve(app) as url:
        import httpx

        with httpx.Client(base_url=url, timeout=60) as client:
            for q in HOSTILE:
                response = client.get("/search", params={"q": q})
                assert response.status_code in (200, 413, 422), (
                    q[:40],
                    response.status_code,
                    response.text[:200],
                )
                assert response.headers["content-type"].startswith("application/json")
            ok = client.get("/search", params={"q": "deploy freeze on fridays"})
            assert ok.status_code == 200 and ok.json()["hits"]
