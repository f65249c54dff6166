"""Statistics over what the caller may see: for random corpora, ACLs and callers, search (every mode,
with and without filters), answers and the LangChain retriever give exactly, scores included, what they
give on a store holding only the documents that caller may see."""

from __future__ import annotations

import random
from dataclasses import asdict

from index.acl import Principal, can_see
from index.answers.grounding import extractive_answer, gather_evidence
from index.retrieval.hybrid import MODES, Filters
from index.retrieval.langchain_retriever import WhoKnowsRetriever
from tests.index.expert_corpus import build_store
from tests.index.test_experts import PRINCIPALS, QUERIES, random_corpus

SEEDS = 3
FILTERS = [Filters(), Filters(sources=("wiki",)), Filters(kinds=("forum",))]


def responses(retriever, principal: Principal) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out: dict[str, object] = {}
    for query in QUERIES:
        for mode in MODES:
            for flt in FILTERS:
                hits = retriever.search(query, principal, k=20, mode=mode, filters=flt)
                out[f"search {mode} {flt} {query}"] = [asdict(h) for h in hits]
        evidence = gather_evidence(retriever, query, principal, k=5)
        out[f"answer {query}"] = asdict(extractive_answer(evidence))
        chain = WhoKnowsRetriever(retriever=retriever, principal=principal, k=5)
        out[f"langchain {query}"] = [(d.page_content, d.metadata) for d in chain.invoke(query)]
    return out


def test_every_score_equals_the_one_on_the_visible_store_alone(tmp_path, embedder):
    cache = tmp_path / "vectors.sqlite"
    compared = 0
    for seed in range(SEEDS):
        docs = random_corpus(random.Random(seed), 16)
        full = build_store(tmp_path / f"full{seed}", embedder, docs, cache=cache)
        for n, principal in enumerate(PRINCIPALS):
            visible = [d for d in docs if can_see(principal, d.acl.public, d.acl.principals())]
            alone = build_store(tmp_path / f"alone{seed}-{n}", embedder, visible, cache=cache)
            got, want = responses(full, principal), responses(alone, principal)
            assert got.keys() == want.keys()
            for key in got:
                assert got[key] == want[key], (seed, principal, key)
            compared += len(got)
    assert compared == SEEDS * len(PRINCIPALS) * len(QUERIES) * (len(MODES) * len(FILTERS) + 2)


def test_hidden_documents_used_to_move_bm25_scores(tmp_path, embedder):
    """The check above can fail: with whole-corpus statistics the same visible document scores
    differently beside hidden ones (what FTS5's bm25() did). Shown with the engine's own pieces."""
    import numpy as np

    from index.keyword.index import VisibleStats

    docs = random_corpus(random.Random(0), 16)
    full = build_store(tmp_path / "full", embedder, docs, cache=tmp_path / "v.sqlite")
    snap = full.snapshot()
    assert snap is not None
    anonymous = snap.view(Principal.anonymous())
    everything = VisibleStats(int(snap.partition_chunks.sum()), int(snap.partition_length.sum()))
    terms = full.analyzer.query_terms(["postgres", "backups"])
    own = snap.keyword.search(terms, anonymous.stat_mask, anonymous.stats, 10)
    leaky = snap.keyword.search(terms, np.asarray(snap.slot_live), everything, 10, anonymous.candidate_mask)
    assert len(own[0]) and set(own[0]) == set(leaky[0])
    assert not np.allclose(own[1], leaky[1])  # same documents, other scores: the statistics leaked
