"""The corrections step after the ranker's score: nothing recorded changes nothing; the bound on votes;
topic matching; what each correction does to the order; named experts per topic and per source; and
the profile as the person corrected it, within the viewer's ACL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from connectors.base import Acl, DirectoryPerson, Role
from index.acl import Principal
from index.experts.corrections import Corrections, CorrectionSettings, covers, topic_key, topic_terms
from index.experts.finder import ExpertFilters, ExpertFinder
from index.experts.model import ExpertSettings
from index.state.connect import connect_state_store
from index.state.profiles.audit import Actor
from index.state.profiles.feedback import FeedbackStore
from index.state.profiles.mentoring import MentoringStore
from index.state.profiles.settings import ProfileStore
from tests.index.expert_corpus import NOW, HashEmbedder, build_store, thread

A, AA = Role.ANSWERER, Role.ACCEPTED_ANSWERER
ADMIN = Actor("root", None, "admin")
HR = Acl(public=False, groups=frozenset({"hr"}))
KAFKA = "Kafka consumer lag grows when partitions rebalance; tune the consumer group session timeout."
PG = "Postgres replication lag grows when the standby falls behind; check the WAL sender."


def docs():  # type: ignore[no-untyped-def]
    return [
        thread("k1", "Kafka consumer lag", KAFKA, [("zoe", A, 3), ("zoe", AA), ("max", A)], tags=["kafka"]),
        thread("k2", "Kafka partitions", KAFKA + " Partitions.", [("max", A), ("ivy", A)], tags=["kafka"]),
        thread("k3", "Kafka rebalancing", KAFKA + " Rebalance.", [("ivy", A), ("zoe", A)], tags=["kafka"]),
        thread("p1", "Postgres replication lag", PG, [("max", A, 2), ("ivy", A)], tags=["postgres"]),
        thread("p2", "Postgres standby", PG + " Standby.", [("max", A), ("ann", A)], tags=["postgres"]),
        thread("w1", "Kafka runbook", "Runbook: " + KAFKA, [("ann", Role.AUTHOR)], source="wiki", kind="wiki", tags=["kafka"]),
        thread("w2", "Kafka runbook on-call", "Runbook on-call.", [("ann", Role.AUTHOR)], source="wiki", kind="wiki", tags=["kafka"]),
        thread("w3", "Kafka runbook upgrades", "Runbook upgrades.", [("max", Role.AUTHOR)], source="wiki", kind="wiki", tags=["kafka"]),
        thread("h1", "Kafka salary review", KAFKA + " quokkabudget.", [("zoe", Role.AUTHOR)], acl=HR, source="hr", tags=["payroll"]),
    ]  # fmt: skip


def directory() -> list[DirectoryPerson]:
    return [
        DirectoryPerson(person_id=p, name=p.title() + " Smith", accounts=(("forum", p), ("wiki", p), ("hr", p)), mentor_opt_in=p != "ann", mentor_capacity=2)
        for p in ("zoe", "max", "ivy", "ann", "bo")
    ]  # fmt: skip


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    retriever = build_store(tmp_path / "index", HashEmbedder(), docs(), directory())
    state = connect_state_store(None, tmp_path / "state.db")
    yield retriever, state
    state.close()


def finders(world, **settings):  # type: ignore[no-untyped-def]
    retriever, state = world
    plain = ExpertFinder(retriever, ExpertSettings(**settings))
    return plain, ExpertFinder(retriever, ExpertSettings(**settings), corrections=Corrections(state))


def ranked(
    finder: ExpertFinder, q: str, principal: Principal | None = None, **filters: bool
) -> list[tuple[str, float]]:
    found = finder.rank_experts(q, principal or Principal(), k=20, filters=ExpertFilters(**filters), now=NOW)
    return [(e.person_id, e.score) for e in found]


def ids(pairs: list[tuple[str, float]]) -> list[str]:
    return [p for p, _ in pairs]


QUESTIONS = ["kafka consumer lag", "postgres replication", "kafka partitions rebalance", "standby", "payroll"]


@pytest.mark.parametrize("scorer", ["learned", "formula"])
def test_nothing_recorded_changes_nothing(world, scorer: str) -> None:  # type: ignore[no-untyped-def]
    plain, corrected = finders(world, scorer=scorer)
    for q in QUESTIONS:
        for principal in (Principal(), Principal.of("max"), Principal.of("hr.person", ["hr"])):
            a = plain.rank_people(q, principal, now=NOW)
            b = corrected.rank_people(q, principal, now=NOW)
            assert [(s, r) for s, r in b.people] == [(s, r) for s, r in a.people], q
            for mentors in (True, False):
                assert ranked(corrected, q, principal, mentors_only=mentors) == ranked(
                    plain, q, principal, mentors_only=mentors
                )
        explained = corrected.rank_experts(q, Principal(), now=NOW)
        assert all(e.signals["correction"] == 1.0 and e.labels == [] for e in explained)
        assert [e.why for e in explained] == [e.why for e in plain.rank_experts(q, Principal(), now=NOW)]
        assert (
            corrected.profile("zoe", Principal(), NOW).topics == plain.profile("zoe", Principal(), NOW).topics
        )  # type: ignore[union-attr]


def test_the_bound_on_votes() -> None:
    s = CorrectionSettings()
    assert s.feedback_factor([]) == 1.0
    assert s.feedback_factor([-1]) == pytest.approx(math.exp(-s.vote_weight))
    assert s.feedback_factor([-50]) == s.feedback_factor([-1])  # one voter is one vote, whatever it says
    assert s.feedback_factor([1, -1]) == 1.0
    assert s.feedback_factor([-1] * 100) == pytest.approx(math.exp(-s.feedback_cap))
    assert s.feedback_factor([1] * 100) == pytest.approx(math.exp(s.feedback_cap))
    assert 1.15 < math.exp(s.vote_weight) < 1.2 and math.exp(s.feedback_cap) == pytest.approx(2.0, abs=0.02)
    for bad in (
        {"confirm_boost": 0.5},
        {"vote_weight": -1},
        {"vote_weight": 1, "feedback_cap": 0.5},
        {"named_source_share": 0},
        {"named_source_depth": 0},
    ):
        with pytest.raises(ValueError):
            CorrectionSettings(**bad)  # type: ignore[arg-type]


def test_topics_match_by_their_terms() -> None:
    assert topic_key("Postgres  Replication") == topic_key("replication postgres") == "postgr replic"
    assert covers(topic_key("postgres"), topic_terms("who can restore Postgres backups?"))
    assert covers(topic_key("Café"), topic_terms("the cafe menu"))  # folded
    assert not covers(topic_key("postgres replication"), topic_terms("postgres backups"))
    assert not covers(topic_key(""), topic_terms("anything"))
    assert topic_key("the") == "the"  # only stop words: kept, not dropped to nothing
    assert topic_terms("?!") == frozenset()


def test_each_correction_does_what_it_says(world) -> None:  # type: ignore[no-untyped-def]
    retriever, state = world
    _, f = finders(world)
    profiles, votes = ProfileStore(state), FeedbackStore(state)
    q = "kafka consumer lag"
    base = ranked(f, q)
    base_pg = ranked(f, "postgres replication")
    assert len(base) >= 3
    top, second = ids(base)[0], ids(base)[1]
    profiles.update_settings(top, {"listed": False}, ADMIN)
    assert top not in ids(ranked(f, q)) and top not in ids(ranked(f, "postgres replication"))
    profiles.update_settings(top, {"listed": None}, ADMIN)
    profiles.set_topic(second, "Kafka", topic_key("Kafka"), "hidden", ADMIN)
    assert second not in ids(ranked(f, q))
    assert ranked(f, "postgres replication") == base_pg  # another topic: as before
    profiles.set_topic(second, "Kafka", topic_key("Kafka"), None, ADMIN)
    last = ids(base)[-1]
    profiles.set_topic(last, "kafka lag", topic_key("kafka lag"), "confirmed", ADMIN)
    boosted = dict(ranked(f, q))
    assert boosted[last] == pytest.approx(dict(base)[last] * 1.5, rel=1e-6)
    profiles.update_settings(second, {"do_not_ask": ["consumer lag"]}, ADMIN)
    assert second not in ids(ranked(f, q)) and second in ids(ranked(f, "kafka partitions"))
    votes.vote("u1", q, topic_key(q), top, False, Actor("u1", None, "user"))
    assert dict(ranked(f, q))[top] == pytest.approx(dict(base)[top] * math.exp(-0.17), rel=1e-6)


def test_busy_mentors_rank_after_those_with_room(world) -> None:  # type: ignore[no-untyped-def]
    retriever, state = world
    _, f = finders(world)
    q = "kafka consumer lag"
    top = next(p for p in ids(ranked(f, q)) if p != "ann")  # the best who mentors
    mentoring = MentoringStore(state)
    for user in ("u1", "u2"):
        r = mentoring.create(top, user, None, "", "", Actor(user, None, "user"))
        mentoring.decide(r.id, "accept", Actor(top, top, "self"), capacity=2)
    found = f.rank_experts(q, Principal(), k=20, now=NOW)
    assert (
        found[-1].person_id == top
        and found[-1].mentor.busy
        and "busy: at mentoring capacity" in found[-1].labels
    )
    assert [e.mentor.busy for e in found].count(True) == 1
    mentors = ids(ranked(f, q, mentors_only=True))
    assert mentors[-1] == top and "ann" not in mentors  # ann does not mentor
    assert ids(ranked(f, f"{top.title()} Smith"))[0] == top  # their name finds them first, busy or not


def test_named_experts_per_topic_and_per_source(world) -> None:  # type: ignore[no-untyped-def]
    retriever, state = world
    _, f = finders(world)
    profiles = ProfileStore(state)
    profiles.name_expert("topic", "Postgres", topic_key("Postgres"), "bo", ADMIN)  # bo has no work at all
    found = f.rank_experts("postgres replication", Principal(), k=20, now=NOW)
    assert found[0].person_id == "bo" and found[0].why == "named expert for topic Postgres"
    assert found[0].evidence == [] and found[0].labels == ["named expert for topic Postgres"]
    assert "bo" not in ids(ranked(f, "kafka consumer lag"))
    assert "bo" not in ids(ranked(f, "postgres replication", Principal.of("bo")))  # never to themselves
    profiles.update_settings("bo", {"listed": False}, ADMIN)
    assert "bo" not in ids(ranked(f, "postgres replication"))  # the person's own opt-out wins
    profiles.name_expert("source", "wiki", "wiki", "ivy", ADMIN)
    wiki = f.rank_experts("kafka runbook", Principal(), k=20, now=NOW)
    assert wiki[0].person_id == "ivy" and "named expert for source wiki" in wiki[0].labels
    assert ids(ranked(f, "postgres standby"))[0] != "ivy"  # forum questions: not the wiki's expert
    assert f.profile("ivy", Principal(), NOW).named_expert_for == ["source wiki"]  # type: ignore[union-attr]


def test_the_profile_as_the_person_corrected_it(world) -> None:  # type: ignore[no-untyped-def]
    retriever, state = world
    _, f = finders(world)
    profiles = ProfileStore(state)
    before = f.profile("zoe", Principal(), NOW)
    assert (
        before is not None
        and "kafka" in [t for t, _ in before.topics]
        and before.topic_status["kafka"] == "inferred"
    )
    profiles.set_topic("zoe", "kafka", topic_key("kafka"), "confirmed", ADMIN)
    profiles.set_topic("zoe", "payroll", topic_key("payroll"), "added", ADMIN)
    profiles.set_topic("zoe", "Rust", topic_key("Rust"), "added", ADMIN)
    profiles.update_settings("zoe", {"mentor_capacity": 5, "do_not_ask": ["rust"]}, ADMIN)
    outside = f.profile("zoe", Principal(), NOW)
    inside = f.profile("zoe", Principal.of("hr.person", ["hr"]), NOW)
    assert outside is not None and inside is not None
    assert outside.topic_status == {
        **outside.topic_status,
        "kafka": "confirmed",
        "payroll": "self-declared",
        "Rust": "self-declared",
    }
    assert inside.topic_status["payroll"] == "confirmed"  # backed by the HR document she may see
    assert "quokkabudget" not in str(outside) and "h1" not in str(outside)
    assert "Rust" not in outside.ask_me_about and outside.do_not_ask == ["rust"]
    assert outside.mentor.capacity == 5 and outside.mentor.opt_in
    profiles.set_topic("zoe", "kafka", topic_key("kafka"), "hidden", ADMIN)
    hidden = f.profile("zoe", Principal(), NOW)
    assert (
        hidden is not None
        and "kafka" not in [t for t, _ in hidden.topics]
        and "kafka" not in hidden.ask_me_about
    )
    assert [d.doc_id for d in hidden.documents] == [d.doc_id for d in before.documents]  # her work stays


def test_named_sources_are_shown_only_to_those_who_see_them(world) -> None:  # type: ignore[no-untyped-def]
    retriever, state = world
    _, f = finders(world)
    ProfileStore(state).name_expert("source", "hr", "hr", "zoe", ADMIN)  # every hr document is restricted
    assert f.profile("zoe", Principal(), NOW).named_expert_for == []  # type: ignore[union-attr]
    inside = f.profile("zoe", Principal.of("hr.person", ["hr"]), NOW)
    assert inside is not None and inside.named_expert_for == ["source hr"]
    for q in ("kafka salary review", "payroll"):
        assert "named expert for source hr" not in str(f.rank_experts(q, Principal(), k=20, now=NOW))
