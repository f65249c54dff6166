"""The expert evaluation numbers are the ranker's own when nobody has corrected or voted on anything:
the protocol on real Stack Exchange dumps, scored with and without the corrections step (an empty
state store), gives the same ranking for every test question and the same metrics."""

from __future__ import annotations

import pytest

from eval.experts.run import asker_principal, experts_ranker, prepare
from index.experts.corrections import Corrections
from index.experts.finder import ExpertFinder
from index.experts.model import ExpertSettings
from index.state.connect import connect_state_store
from service.engine import Engine
from service.settings import Settings


@pytest.mark.parametrize("site", ["stackexchange_conlang_meta_2020", "stackexchange_coffee_2015"])
def test_the_evaluation_is_unchanged_without_corrections_or_feedback(tmp_path, shared_data, embedder, site):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "home")
    engine = Engine(settings.model_copy(update={"home": tmp_path / "index"}), embedder=embedder)
    prepared = prepare(settings, shared_data / site, engine=engine)
    state = connect_state_store(None, tmp_path / "state.db")
    plain = ExpertFinder(prepared.engine.retriever, ExpertSettings())
    corrected = ExpertFinder(prepared.engine.retriever, ExpertSettings(), corrections=Corrections(state))
    without, with_step = experts_ranker(plain, prepared.split), experts_ranker(corrected, prepared.split)
    assert len(prepared.questions) >= 12
    for q in prepared.questions:
        assert with_step(q) == without(q), q.qid
        a = plain.rank_people(q.text, asker_principal(q), now=prepared.split)
        b = corrected.rank_people(q.text, asker_principal(q), now=prepared.split)
        assert [(s, r.person_id) for s, r in b.people] == [
            (s, r.person_id) for s, r in a.people
        ]  # scores too
    assert prepared.score(with_step) == prepared.score(without)
    state.close()
