"""People's own profile data in the state store, on both backends (SQLite and a real PostgreSQL): settings,
topic corrections, named experts, votes, mentoring requests with their capacity, and the audit of each.
Two store objects on one location stand for two processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from index.state.base import StateStore
from index.state.profiles.audit import Actor, AuditLog
from index.state.profiles.feedback import FeedbackStore
from index.state.profiles.mentoring import MAX_PENDING_PER_REQUESTER, MentoringError, MentoringStore
from index.state.profiles.settings import PersonSettings, ProfileError, ProfileStore
from tests.index.test_state_store import location, opened  # noqa: F401  (the fixture, both backends)
from tests.postgres_server import postgres  # noqa: F401  (the session's server)

ANA = Actor("ana@corp.example", "ana", "self")
ADMIN = Actor("root", None, "admin")
BOB = Actor("bob", "bob", "user")


@pytest.fixture
def two(location: str) -> Iterator[tuple[StateStore, StateStore]]:  # noqa: F811
    a, b = opened(location), opened(location)
    yield a, b
    a.close()
    b.close()


def test_settings_are_partial_updates_with_defaults_and_an_audit(two: tuple[StateStore, StateStore]) -> None:
    a, b = ProfileStore(two[0]), ProfileStore(two[1])
    assert b.settings("ana") == PersonSettings("ana") and b.settings("ana").is_listed
    a.update_settings(
        "ana", {"listed": False, "mentor_capacity": 2, "do_not_ask": ["Salary ", "salary"]}, ANA
    )
    seen = b.settings("ana")  # the other process sees it at once
    assert (seen.listed, seen.mentor_capacity, seen.do_not_ask, seen.mentor_opt_in) == (
        False,
        2,
        ("Salary",),
        None,
    )
    assert seen.updated_by == "ana@corp.example" and seen.updated_at
    a.update_settings("ana", {"listed": None, "ask_me_about": ["postgres", "kubernetes"]}, ADMIN)
    seen = b.settings("ana")
    assert seen.listed is None and seen.is_listed and seen.mentor_capacity == 2
    assert seen.ask_me_about == ("postgres", "kubernetes") and b.settings_of(["ana", "zed"]).keys() == {"ana"}
    entries = AuditLog(two[1]).entries(person_id="ana")
    assert [(e.actor, e.actor_role, e.action) for e in entries] == [
        ("root", "admin", "settings"),
        ("ana@corp.example", "self", "settings"),
    ]
    assert entries[0].detail["changed"] == {
        "listed": [False, None],
        "ask_me_about": [None, ["postgres", "kubernetes"]],
    }
    for bad, field in (
        ({"mentor_capacity": -1}, "mentor_capacity"),
        ({"mentor_capacity": True}, "mentor_capacity"),
        ({"listed": "no"}, "listed"),
        ({"do_not_ask": "salary"}, "do_not_ask"),
        ({"ask_me_about": ["ok", " "]}, "ask_me_about"),
        ({"colour": "blue"}, "colour"),
    ):
        with pytest.raises(ProfileError, match=field):
            a.update_settings("ana", bad, ANA)
    assert len(AuditLog(two[0]).entries(person_id="ana")) == 2  # refused changes leave no trace


def test_topic_corrections_replace_and_clear(two: tuple[StateStore, StateStore]) -> None:
    a, b = ProfileStore(two[0]), ProfileStore(two[1])
    a.set_topic("ana", "Postgres", "postgr", "confirmed", ANA)
    a.set_topic("ana", "postgres", "postgr", "hidden", ANA)  # the same topic: replaced
    a.set_topic("ana", "Kubernetes", "kubernet", "added", ANA)
    got = b.topics_of(["ana", "bob"])
    assert list(got) == ["ana"]
    assert [(c.topic, c.status) for c in got["ana"]] == [("Kubernetes", "added"), ("postgres", "hidden")]
    assert a.set_topic("ana", "postgres", "postgr", None, ANA) is None
    assert [c.topic_key for c in b.topics_of(["ana"])["ana"]] == ["kubernet"]
    statuses = [e.detail["status"] for e in AuditLog(two[1]).entries(person_id="ana")]
    assert statuses == [["hidden", None], [None, "added"], ["confirmed", "hidden"], [None, "confirmed"]]
    with pytest.raises(ProfileError, match="status"):
        a.set_topic("ana", "x", "x", "maybe", ANA)
    with pytest.raises(ProfileError, match="topic"):
        a.set_topic("ana", "  ", "", "hidden", ANA)


def test_named_experts(two: tuple[StateStore, StateStore]) -> None:
    a, b = ProfileStore(two[0]), ProfileStore(two[1])
    a.name_expert("topic", "Postgres", "postgr", "ana", ADMIN)
    a.name_expert("topic", "postgres", "postgr", "ana", ADMIN)  # again: one row, the latest spelling
    a.name_expert("source", "hr", "hr", "bob", ADMIN)
    assert [(n.kind, n.value, n.person_id) for n in b.named_experts()] == [
        ("source", "hr", "bob"),
        ("topic", "postgres", "ana"),
    ]
    assert b.unname_expert("topic", "postgr", "ana", ADMIN) and not b.unname_expert(
        "topic", "postgr", "ana", ADMIN
    )
    assert [n.person_id for n in a.named_experts()] == ["bob"]
    with pytest.raises(ProfileError, match="kind"):
        a.name_expert("team", "Data", "data", "ana", ADMIN)


def test_one_vote_per_voter_question_and_person(two: tuple[StateStore, StateStore]) -> None:
    a, b = FeedbackStore(two[0]), FeedbackStore(two[1])
    for _ in range(3):
        a.vote("bob", "Postgres backups?", "backup postgr", "ana", False, BOB)
    a.vote("cy", "postgres backups", "backup postgr", "ana", True, Actor("cy", None, "user"))
    a.vote("bob", "kubernetes", "kubernet", "ana", True, BOB)
    assert b.for_query("backup postgr") == {"ana": [-1, 1]}
    assert b.received("ana") == {"helpful": 2, "not_helpful": 1}
    assert [(v.query_key, v.vote) for v in b.given_by("bob")] in (
        [("backup postgr", -1), ("kubernet", 1)],
        [("kubernet", 1), ("backup postgr", -1)],  # same second: either order
    )
    assert a.vote("bob", "postgres backups", "backup postgr", "ana", None, BOB) is None  # withdrawn
    assert b.for_query("backup postgr") == {"ana": [1]}
    assert len(AuditLog(two[1]).entries(person_id="ana")) == 6  # every vote is recorded


def test_mentoring_requests_and_their_rules(two: tuple[StateStore, StateStore]) -> None:
    a, b = MentoringStore(two[0]), MentoringStore(two[1])
    first = a.create("ana", "bob", "bob", "postgres", "hello", BOB)
    assert first.status == "pending" and first.requester_person == "bob"
    with pytest.raises(MentoringError, match="already have an open request"):
        b.create("ana", "bob", "bob", "", "", BOB)
    others = [a.create(f"m{i}", "bob", "bob", "", "", BOB) for i in range(MAX_PENDING_PER_REQUESTER - 1)]
    with pytest.raises(MentoringError, match="waiting"):
        a.create("zed", "bob", "bob", "", "", BOB)
    b.decide(others[0].id, "withdraw", BOB, None)
    a.create("zed", "bob", "bob", "", "", BOB)  # a withdrawn request frees the slot
    accepted = b.decide(first.id, "accept", ANA, capacity=1)
    assert accepted.status == "accepted" and accepted.decided_by == "ana@corp.example" and accepted.decided_at
    assert a.accepted_counts(["ana", "m1"]) == {"ana": 1}
    cy = a.create("ana", "cy", None, "", "", Actor("cy", None, "user"))
    with pytest.raises(MentoringError, match="at capacity"):
        a.decide(cy.id, "accept", ANA, capacity=1)
    with pytest.raises(MentoringError, match="only a pending request"):
        a.decide(first.id, "decline", ANA, capacity=1)
    with pytest.raises(MentoringError, match="no mentoring request"):
        a.decide(999_999, "accept", ANA, capacity=1)
    with pytest.raises(MentoringError, match="action"):
        a.decide(cy.id, "approve", ANA, capacity=1)
    assert b.decide(first.id, "end", BOB, None).status == "ended"
    assert a.decide(cy.id, "accept", ANA, capacity=1).status == "accepted"  # the place was freed
    assert [r.id for r in b.received("ana")] == [cy.id, first.id]
    assert [r.mentor for r in b.sent("bob", [])][-1] == "ana" and [r.id for r in b.sent(None, ["cy"])] == [
        cy.id
    ]
    b.record_notification(cy.id, "the webhook answered 500")
    got = a.get(cy.id)
    assert got is not None and got.notify_error == "the webhook answered 500" and got.notified_at is None
    b.record_notification(cy.id, None)
    got = a.get(cy.id)
    assert got is not None and got.notified_at and got.notify_error is None
    history = [e.detail["status"] for e in AuditLog(two[0]).entries(person_id="ana")]
    assert history == [
        ["pending", "accepted"],
        ["accepted", "ended"],
        [None, "pending"],
        ["pending", "accepted"],
        [None, "pending"],
    ]


def test_two_processes_accepting_at_once_never_exceed_the_capacity(
    two: tuple[StateStore, StateStore],
) -> None:
    a, b = MentoringStore(two[0]), MentoringStore(two[1])
    requests = [a.create("ana", f"u{i}", None, "", "", Actor(f"u{i}", None, "user")) for i in range(6)]
    start = threading.Barrier(len(requests))
    outcomes: list[str] = []

    def accept(store: MentoringStore, request_id: int) -> None:
        start.wait()
        try:
            store.decide(request_id, "accept", ANA, capacity=2)
            outcomes.append("accepted")
        except MentoringError as exc:
            outcomes.append(str(exc))

    threads = [
        threading.Thread(target=accept, args=(a if i % 2 else b, r.id)) for i, r in enumerate(requests)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("accepted") == 2, outcomes
    assert all("at capacity" in o for o in outcomes if o != "accepted")
    assert a.accepted_counts(["ana"]) == {"ana": 2}


def test_a_person_sees_their_audit_but_not_who_voted_on_them(two: tuple[StateStore, StateStore]) -> None:
    ProfileStore(two[0]).update_settings("ana", {"listed": False}, ANA)
    ProfileStore(two[0]).set_topic("ana", "postgres", "postgr", "confirmed", ADMIN)
    FeedbackStore(two[0]).vote("bob", "postgres", "postgr", "ana", False, BOB)
    FeedbackStore(two[0]).vote("ana", "kubernetes", "kubernet", "bob", True, Actor("ana", "ana", "user"))
    MentoringStore(two[0]).create(
        "bob", "ana@corp.example", "ana", "", "", Actor("ana@corp.example", "ana", "user")
    )
    mine = AuditLog(two[1]).of_person("ana", ["ana@corp.example"])
    assert [(e.action, e.actor, e.person_id) for e in mine] == [
        ("mentoring", "ana@corp.example", "bob"),
        ("feedback", "ana", "bob"),
        ("topic", "root", "ana"),
        ("settings", "ana@corp.example", "ana"),
    ]
    assert len(AuditLog(two[1]).entries()) == 5  # an admin sees every entry, bob's vote too
    assert [e.actor for e in AuditLog(two[1]).entries(actor="bob")] == ["bob"]
    with pytest.raises(ValueError, match="role"):
        Actor("x", None, "owner")
