"""Experts on the demo intranet through the real connectors and model: the people its authors expect."""

from __future__ import annotations

import json

import pytest

from connectors.registry import load_sources_config
from index.acl import Principal
from index.experts.finder import ExpertFilters, ExpertFinder
from index.experts.model import ExpertSettings
from service.engine import Engine
from service.settings import Settings
from tests.conftest import DEMO

DEMO_EXPECTATIONS = json.loads((DEMO / "expectations.json").read_text(encoding="utf-8"))
STAFF = Principal.of("tester", ["staff"])


@pytest.fixture(scope="module")
def demo_finder(tmp_path_factory, embedder) -> ExpertFinder:  # type: ignore[no-untyped-def]
    engine = Engine(Settings(home=tmp_path_factory.mktemp("demo-experts")), embedder=embedder)
    configs = load_sources_config(DEMO / "sources.toml")
    pairs = [(c, engine.connector_for(c)) for c in configs]
    report = engine.pipeline().run(pairs)
    assert report.status == "ok", report.as_dict()
    return ExpertFinder(engine.retriever, ExpertSettings())


@pytest.mark.parametrize("case", DEMO_EXPECTATIONS["experts"], ids=lambda c: c["query"])
def test_demo_intranet_names_the_expected_experts(demo_finder: ExpertFinder, case: dict) -> None:  # type: ignore[type-arg]
    found = demo_finder.rank_experts(case["query"], STAFF, k=3)
    got = [e.person_id for e in found]
    assert got and got[0] in case["expected"], got
    assert set(case["expected"]) <= set(got), got
    for e in found:
        assert e.why and e.evidence and e.last_active and e.topics
        assert all(ev.snippet and ev.date for ev in e.evidence)


def test_demo_departed_expert_only_on_request(demo_finder: ExpertFinder) -> None:
    q, departed = DEMO_EXPECTATIONS["inactive_query"], DEMO_EXPECTATIONS["inactive"]
    assert departed not in [e.person_id for e in demo_finder.rank_experts(q, STAFF, k=10)]
    listed = demo_finder.rank_experts(q, STAFF, k=3, filters=ExpertFilters(include_inactive=True))
    assert departed in [e.person_id for e in listed]
    assert not next(e for e in listed if e.person_id == departed).mentor.active
