"""People in charge of their own profile, over real HTTP with the real model: opting out, "not me",
confirming, feedback within its bound, bounded mentoring with a real webhook receiver, named experts,
the audit, the export, and who may do what (anonymous, another user, the person, an admin)."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from index.experts.corrections import CorrectionSettings
from service.notify import SIGNATURE_HEADER, signature
from tests.postgres_server import postgres  # noqa: F401  (the session's server)
from tests.service.conftest import proxy_headers
from tests.service.profile_corpus import (  # noqa: F401  (fixtures)
    HIDDEN_MARKERS,
    WEBHOOK_SECRET,
    Served,
    profile_home_fixture,
    profile_server,
    served_fixture,
)
from tests.service.test_mcp import run, seen

BOUND = CorrectionSettings()
ALICE = proxy_headers("alice", "staff")
FRANK = proxy_headers("frank", "staff")
DAVE = proxy_headers("dave", "staff")
ERIN = proxy_headers("erin", "staff")
HR_VIEWER = proxy_headers("hana", "hr")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def experts(
    c: httpx.Client, q: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    r = c.get("/experts", params={"q": q, "k": 10, **params}, headers=headers or FRANK)
    assert r.status_code == 200, r.text
    return list(r.json()["experts"])


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [e["person_id"] for e in found]


def by_id(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["person_id"]: e for e in found}


def test_opting_out_removes_the_person_from_every_question_at_once(served: Served) -> None:
    with served.running.client() as c:
        assert ids(experts(c, "postgres backups"))[0] == "alice"
        r = c.patch("/people/alice/settings", json={"listed": False}, headers=ALICE)
        assert r.status_code == 200 and r.json()["listed"] is False and r.json()["chosen"]["listed"] is False
        for q in ("postgres backups", "kubernetes", "terraform"):
            assert "alice" not in ids(experts(c, q)), q
        assert c.get("/people/alice", headers=FRANK).status_code == 200  # the profile stays
        hits = c.get("/search", params={"q": "postgres backups runbook"}).json()["hits"]
        assert "wiki:pg-backups" in [h["doc_id"] for h in hits]  # and so do the documents they wrote
        assert (
            c.patch("/people/alice/settings", json={"listed": None}, headers=ALICE).json()["listed"] is True
        )
        assert ids(experts(c, "postgres backups"))[0] == "alice"


def test_not_me_hides_a_topic_for_that_topic_only(served: Served) -> None:
    with served.running.client() as c:
        r = c.put("/people/alice/topics", json={"topic": "Postgres", "status": "hidden"}, headers=ALICE)
        assert r.status_code == 200 and r.json()["topics"][0]["status"] == "hidden"
        for q in ("postgres backups", "who knows about postgres replication?"):
            assert "alice" not in ids(experts(c, q)), q
        assert ids(experts(c, "kubernetes ingress"))[0] == "alice"  # her other topic is untouched
        profile = c.get("/people/alice", headers=FRANK).json()
        topics = [t["topic"] for t in profile["topics"]]
        assert (
            "postgres" not in topics and "kubernetes" in topics and "postgres" not in profile["ask_me_about"]
        )
        hits = c.get("/search", params={"q": "postgres backups"}).json()["hits"]
        assert "wiki:pg-backups" in [h["doc_id"] for h in hits]  # never from the documents she wrote
        c.put("/people/alice/topics", json={"topic": "postgres", "status": "none"}, headers=ALICE)
        assert ids(experts(c, "postgres backups"))[0] == "alice"


def test_confirming_a_topic_ranks_the_person_higher_for_it(served: Served) -> None:
    with served.running.client() as c:
        before = experts(c, "terraform")
        elsewhere = by_id(experts(c, "kubernetes"))["erin"]["score"]
        assert ids(before).index("erin") > ids(before).index("dave")
        r = c.put("/people/erin/topics", json={"topic": "terraform", "status": "confirmed"}, headers=ERIN)
        assert r.status_code == 200
        after = experts(c, "terraform")
        assert ids(after).index("erin") < ids(after).index("dave")
        erin = by_id(after)["erin"]
        assert erin["score"] == pytest.approx(by_id(before)["erin"]["score"] * BOUND.confirm_boost, rel=1e-6)
        assert "confirmed by them: terraform" in erin["labels"] and erin["signals"]["correction"] == 1.5
        assert by_id(experts(c, "kubernetes"))["erin"]["score"] == pytest.approx(elsewhere)  # as before
        topics = {t["topic"]: t["status"] for t in c.get("/people/erin", headers=FRANK).json()["topics"]}
        assert topics["terraform"] == "confirmed"


def test_one_users_not_helpful_moves_the_ranking_within_the_bound(served: Served) -> None:
    q = "terraform"
    with served.running.client() as c:
        before = experts(c, q, headers=ERIN)
        elsewhere = by_id(experts(c, "kubernetes", headers=ERIN))["dave"]["score"]
        dave = by_id(before)["dave"]["score"]
        assert ids(before)[:2] == ["alice", "dave"]
        vote = {"query": q, "person_id": "dave", "helpful": False}
        for _ in range(3):  # voting again replaces the vote, never adds to it
            assert c.post("/experts/feedback", json=vote, headers=FRANK).status_code == 200
        after = experts(c, q, headers=ERIN)
        moved = by_id(after)["dave"]["score"] / dave
        assert moved == pytest.approx(math.exp(-BOUND.vote_weight), rel=1e-6)
        assert ids(after).index("dave") > 1  # it moved the ranking
        # the same question asked another way shares the vote; another question is untouched
        again = by_id(experts(c, "who knows about Terraform?", headers=ERIN))["dave"]["score"]
        assert again == pytest.approx(by_id(after)["dave"]["score"])
        assert c.get("/experts/feedback", params={"q": q}, headers=FRANK).json()["votes"] == {"dave": False}
        assert by_id(experts(c, "kubernetes", headers=ERIN))["dave"]["score"] == pytest.approx(elsewhere)
        # many voters together stop at the cap
        for user in ("u1", "u2", "u3", "u4", "u5", "u6"):
            assert (
                c.post("/experts/feedback", json=vote, headers=proxy_headers(user, "staff")).status_code
                == 200
            )
        capped = by_id(experts(c, q, headers=ERIN))["dave"]["score"] / dave
        assert capped == pytest.approx(math.exp(-BOUND.feedback_cap), rel=1e-6)
        # taking the votes back restores the ranker's order
        for headers in (FRANK, *(proxy_headers(u, "staff") for u in ("u1", "u2", "u3", "u4", "u5", "u6"))):
            c.post("/experts/feedback", json={**vote, "helpful": None}, headers=headers)
        restored = experts(c, q, headers=ERIN)
        assert ids(restored) == ids(before)
        assert [e["score"] for e in restored] == pytest.approx([e["score"] for e in before])


def test_feedback_input_is_checked(served: Served) -> None:
    with served.running.client() as c:
        good = {"query": "terraform", "person_id": "dave", "helpful": True}
        assert c.post("/experts/feedback", json=good).status_code == 401  # anonymous
        mine = c.post("/experts/feedback", json={**good, "person_id": "frank"}, headers=FRANK)
        assert mine.status_code == 403 and "yourself" in mine.json()["detail"]
        assert (
            c.post("/experts/feedback", json={**good, "person_id": "nobody"}, headers=FRANK).status_code
            == 404
        )
        for bad, field in (
            ({**good, "helpful": "yes"}, "helpful"),
            ({**good, "extra": 1}, "extra"),
            ({"query": "terraform", "person_id": "dave"}, "helpful"),
            ({**good, "query": ""}, "query"),
        ):
            r = c.post("/experts/feedback", json=bad, headers=FRANK)
            assert r.status_code == 422 and field in r.text, (bad, r.text)
        r = c.post("/experts/feedback", json={**good, "query": "?!"}, headers=FRANK)
        assert r.status_code == 422 and "query" in r.json()["detail"]
        r = c.post("/experts/feedback", json={**good, "query": "x" * 5000}, headers=FRANK)
        assert r.status_code == 422 and "query" in r.json()["detail"]


def test_mentoring_is_bounded_and_busy_mentors_rank_after_those_with_room(served: Served) -> None:
    hook = served.hook
    with served.running.client() as c:
        asked = c.post(
            "/people/dave/mentoring-requests", json={"topic": "terraform", "message": "Hi!"}, headers=FRANK
        )
        assert asked.status_code == 201, asked.text
        request = asked.json()
        assert request["status"] == "pending" and request["notified"] is True
        headers, body, raw = hook.received[-1]
        assert headers["x-whoknows-event"] == "mentoring.requested"
        assert headers[SIGNATURE_HEADER.lower()] == signature(WEBHOOK_SECRET, raw)
        assert body["mentor"] == {"person_id": "dave", "name": "Dave Dias", "email": "dave@corp.example"}
        assert body["requester"]["user"] == "frank" and body["requester"]["person_id"] == "frank"
        assert body["request"]["topic"] == "terraform" and body["request"]["message"] == "Hi!"
        second = c.post("/people/dave/mentoring-requests", json={"topic": "terraform"}, headers=ERIN).json()
        again = c.post("/people/dave/mentoring-requests", json={}, headers=FRANK)
        assert again.status_code == 409 and "already" in again.json()["detail"]
        # pending requests take no place: dave still has room
        assert by_id(experts(c, "terraform"))["dave"]["mentor"]["busy"] is False
        inbox = c.get("/mentoring/requests", headers=DAVE).json()
        assert [r["id"] for r in inbox["received"]] == [second["id"], request["id"]]
        accepted = c.post(f"/mentoring/requests/{request['id']}/accept", headers=DAVE)
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        assert hook.received[-1][0]["x-whoknows-event"] == "mentoring.accepted"
        # capacity 1 is now full: busy, listed after everyone with room, never hidden
        found = experts(c, "terraform")
        dave = by_id(found)["dave"]
        assert dave["mentor"] == {
            "opt_in": True, "capacity": 1, "active": True, "accepted": 1, "available": False, "busy": True
        }  # fmt: skip
        assert ids(found)[-1] == "dave" and "busy: at mentoring capacity" in dave["labels"]
        assert ids(experts(c, "terraform", mentors_only="true")) == ["erin", "dave"]
        assert ids(experts(c, "Dave Dias"))[0] == "dave"  # a direct search of the name finds them first
        full = c.post(f"/mentoring/requests/{second['id']}/accept", headers=DAVE)
        assert full.status_code == 409 and "capacity" in full.json()["detail"]
        busy = c.post("/people/dave/mentoring-requests", json={}, headers=proxy_headers("u9", "staff"))
        assert busy.status_code == 409 and "busy" in busy.json()["detail"]
        assert c.get("/people/dave", headers=FRANK).json()["mentor"]["busy"] is True
        # ending the mentorship frees the place
        assert c.post(f"/mentoring/requests/{request['id']}/end", headers=FRANK).json()["status"] == "ended"
        assert by_id(experts(c, "terraform"))["dave"]["mentor"]["busy"] is False
        assert (
            c.post(f"/mentoring/requests/{second['id']}/withdraw", headers=ERIN).json()["status"]
            == "withdrawn"
        )
        assert [e for _, e, _ in hook.received][-1]["event"] == "mentoring.withdrawn"


def test_mentoring_follows_the_persons_choice_over_the_directory(served: Served) -> None:
    with served.running.client() as c:
        no = c.post("/people/bruno/mentoring-requests", json={}, headers=FRANK)
        assert no.status_code == 409 and "does not take" in no.json()["detail"]  # the directory's default
        assert "bruno" not in ids(experts(c, "postgres", mentors_only="true"))
        r = c.patch(
            "/people/bruno/settings",
            json={"mentor_opt_in": True, "mentor_capacity": 1, "ask_me_about": ["postgres vacuum"], "do_not_ask": ["replication"]},
            headers=proxy_headers("bruno", "staff"),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        settings = r.json()
        assert settings["directory"] == {"mentor_opt_in": False, "mentor_capacity": None}
        assert settings["mentor"]["opt_in"] is True and settings["mentor"]["capacity"] == 1
        assert "bruno" in ids(experts(c, "postgres", mentors_only="true"))
        assert "bruno" not in ids(experts(c, "postgres replication"))  # not to be asked about
        profile = c.get("/people/bruno", headers=FRANK).json()
        assert profile["ask_me_about"] == ["postgres vacuum"] and profile["do_not_ask"] == ["replication"]
        refused = c.post("/people/bruno/mentoring-requests", json={"topic": "Replication lag"}, headers=FRANK)
        assert refused.status_code == 409 and "not to be asked about replication" in refused.json()["detail"]
        assert (
            c.post("/people/bruno/mentoring-requests", json={"topic": "vacuum"}, headers=FRANK).status_code
            == 201
        )
        # dave opts out although the directory opts him in
        c.patch("/people/dave/settings", json={"mentor_opt_in": False}, headers=DAVE)
        assert "dave" not in ids(experts(c, "terraform", mentors_only="true"))
        assert c.post("/people/dave/mentoring-requests", json={}, headers=FRANK).status_code == 409


def test_a_failing_webhook_never_loses_the_request(profile_home, tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    with profile_server(profile_home, tmp_path, embedder) as s, s.running.client() as c:
        s.hook.status = 500
        r = c.post("/people/erin/mentoring-requests", json={"topic": "terraform"}, headers=FRANK)
        assert r.status_code == 201 and r.json()["notified"] is False and "500" in r.json()["notify_error"]
        assert c.get("/mentoring/requests", headers=ERIN).json()["received"][0]["id"] == r.json()["id"]
    unreachable = {
        "mentoring_webhook_url": "http://127.0.0.1:9/nothing-listens-here",
        "mentoring_webhook_timeout_s": 2,
    }
    (tmp_path / "b").mkdir()
    with profile_server(profile_home, tmp_path / "b", embedder, **unreachable) as s, s.running.client() as c:
        r = c.post("/people/erin/mentoring-requests", json={}, headers=FRANK)
        assert (
            r.status_code == 201 and r.json()["notified"] is False and "reached" in r.json()["notify_error"]
        )


def test_admins_name_experts_per_topic(served: Served) -> None:
    admin = bearer(served.tokens["admin"])
    with served.running.client() as c:
        assert ids(experts(c, "postgres backups"))[0] == "alice"
        body = {"kind": "topic", "value": "Postgres", "person_id": "carmen"}
        assert c.put("/admin/named-experts", json=body, headers=admin).status_code == 200
        found = experts(c, "postgres backups")
        assert ids(found)[0] == "carmen" and "named expert for topic Postgres" in found[0]["labels"]
        assert ids(experts(c, "kubernetes"))[0] == "alice"  # only for that topic
        assert c.get("/people/carmen", headers=FRANK).json()["named_expert_for"] == ["topic Postgres"]
        assert (
            c.put("/admin/named-experts", json={**body, "person_id": "nobody"}, headers=admin).status_code
            == 404
        )
        assert c.put("/admin/named-experts", json={**body, "kind": "team"}, headers=admin).status_code == 422
        gone = c.delete(
            "/admin/named-experts",
            params={"kind": "topic", "value": "postgres", "person_id": "carmen"},
            headers=admin,
        )
        assert gone.status_code == 204 and ids(experts(c, "postgres backups"))[0] == "alice"


def test_corrections_never_reveal_hidden_documents(served: Served) -> None:
    with served.running.client() as c:
        c.put("/people/alice/topics", json={"topic": "compensation", "status": "added"}, headers=ALICE)
        outside = c.get("/people/alice", headers=FRANK).json()
        status = {t["topic"]: t["status"] for t in outside["topics"]}
        assert status["compensation"] == "self-declared"  # the HR document that backs it is hidden
        inside = c.get("/people/alice", headers=HR_VIEWER).json()
        assert {t["topic"]: t["status"] for t in inside["topics"]}["compensation"] == "confirmed"
        export = c.get("/people/alice/export", headers=ALICE)
        assert export.status_code == 200
        assert export.headers["content-disposition"] == 'attachment; filename="whoknows-alice.json"'
        texts = [
            c.get("/people/alice", headers=FRANK).text,
            export.text,  # alice herself is not in the hr group: not even her own hidden work
            c.get("/experts", params={"q": "compensation salary bands"}, headers=FRANK).text,
            c.get("/experts", params={"q": "Alice Archer"}, headers=FRANK).text,
        ]
        for text in texts:
            for marker in HIDDEN_MARKERS:
                assert marker not in text.replace("compensation salary bands", ""), marker


def test_the_export_and_the_audit(served: Served) -> None:
    admin = bearer(served.tokens["admin"])
    with served.running.client() as c:
        c.patch("/people/alice/settings", json={"mentor_opt_in": True, "mentor_capacity": 2}, headers=ALICE)
        c.put("/people/alice/topics", json={"topic": "kubernetes", "status": "confirmed"}, headers=admin)
        c.post(
            "/experts/feedback",
            json={"query": "terraform", "person_id": "dave", "helpful": True},
            headers=ALICE,
        )
        c.post(
            "/experts/feedback",
            json={"query": "postgres", "person_id": "alice", "helpful": False},
            headers=FRANK,
        )
        c.post("/people/erin/mentoring-requests", json={"topic": "terraform"}, headers=ALICE)
        r = c.get("/people/alice/export", headers=bearer(served.tokens["alice"]))  # a token by e-mail
        assert r.status_code == 200, r.text
        data = r.json()
    assert data["person_id"] == "alice" and data["profile"]["person_id"] == "alice"
    assert data["public_profile"]["documents"] and data["settings"]["chosen"]["mentor_capacity"] == 2
    assert [(v["query"], v["person_id"], v["helpful"]) for v in data["feedback_given"]] == [
        ("terraform", "dave", True)
    ]
    assert data["feedback_received"] == {"helpful": 0, "not_helpful": 1}  # counted, without who or what
    assert [r["mentor"] for r in data["mentoring"]["sent"]] == ["erin"]
    audit = {(e["action"], e["actor"], e["actor_role"], e["person_id"]) for e in data["audit"]}
    assert ("settings", "alice", "self", "alice") in audit
    assert ("topic", "root", "admin", "alice") in audit  # an admin's change, with who made it
    assert ("feedback", "alice", "user", "dave") in audit  # what she did herself
    assert not any(e["actor"] == "frank" for e in data["audit"])  # who voted on her stays theirs
    assert all(e["at"] for e in data["audit"])
    with served.running.client() as c:
        log = c.get("/admin/audit", params={"person_id": "alice"}, headers=admin).json()
        assert {e["actor"] for e in log} == {"alice", "root", "frank"}
        changed = next(e for e in log if e["action"] == "settings")["detail"]["changed"]
        assert changed == {"mentor_opt_in": [None, True], "mentor_capacity": [None, 2]}


# --- who may do what ----------------------------------------------------------------------------

ROLES = ("anonymous", "another user", "the person", "admin")


def role_headers(served: Served, role: str) -> dict[str, str]:
    return {
        "anonymous": {},
        "another user": FRANK,
        "the person": ALICE,
        "admin": bearer(served.tokens["admin"]),
    }[role]


# (method, path, body, expected status per role)
ALICE_PROFILE = [
    ("GET", "/people/alice/settings", None, (401, 403, 200, 200)),
    ("PATCH", "/people/alice/settings", {"listed": False}, (401, 403, 200, 200)),
    ("PUT", "/people/alice/topics", {"topic": "postgres", "status": "hidden"}, (401, 403, 200, 200)),
    ("GET", "/people/alice/export", None, (401, 403, 200, 200)),
    ("GET", "/mentoring/requests", None, (401, 200, 200, 200)),
    (
        "POST",
        "/experts/feedback",
        {"query": "terraform", "person_id": "erin", "helpful": True},
        (401, 200, 200, 200),
    ),
    (
        "PUT",
        "/admin/named-experts",
        {"kind": "topic", "value": "postgres", "person_id": "alice"},
        (401, 403, 403, 200),
    ),
    ("GET", "/admin/named-experts", None, (401, 403, 403, 200)),
    ("GET", "/admin/audit", None, (401, 403, 403, 200)),
]


@pytest.mark.parametrize("role", ROLES)
def test_only_the_person_or_an_admin_changes_a_profile(served: Served, role: str) -> None:
    headers = role_headers(served, role)
    with served.running.client() as c:
        for method, path, body, expected in ALICE_PROFILE:
            r = c.request(method, path, json=body, headers=headers)
            assert r.status_code == expected[ROLES.index(role)], (role, method, path, r.status_code, r.text)
            if r.status_code == 401:
                assert r.headers["www-authenticate"].startswith("Bearer")
        listed = c.get("/people/alice/settings", headers=ALICE).json()["listed"]
        assert listed is (role not in ("the person", "admin"))  # a refused change changed nothing
        audit = c.get(
            "/admin/audit", params={"person_id": "alice"}, headers=bearer(served.tokens["admin"])
        ).json()
        refused = role in ("anonymous", "another user")
        assert bool([e for e in audit if e["action"] in ("settings", "topic")]) is not refused
        me = c.get("/me", headers=headers)
        if role != "anonymous" or me.status_code == 200:  # anonymous may lose the experts scope (issue 14)
            assert me.json()["person_id"] == {"the person": "alice", "another user": "frank"}.get(role)
            assert me.json()["admin"] is (role == "admin") and (me.json()["user"] is None) is (
                role == "anonymous"
            )


@pytest.mark.parametrize("role", ROLES)
def test_only_the_mentor_or_an_admin_answers_a_request(served: Served, role: str) -> None:
    with served.running.client() as c:
        request = c.post("/people/erin/mentoring-requests", json={}, headers=DAVE).json()
        headers = {**role_headers(served, role)}
        if role == "the person":
            headers = ERIN  # here the person is the mentor
        r = c.post(f"/mentoring/requests/{request['id']}/accept", headers=headers)
        expected = {"anonymous": 401, "another user": 404, "the person": 200, "admin": 200}[role]
        assert r.status_code == expected, (role, r.text)
        requester = c.post(f"/mentoring/requests/{request['id']}/decline", headers=DAVE)
        assert requester.status_code == 403  # the requester may not decline: that is the mentor's
        assert c.post("/mentoring/requests/999999/accept", headers=ERIN).status_code == 404


def test_admin_rights_come_from_the_admin_scope_or_group(served: Served) -> None:
    with served.running.client() as c:
        by_group = c.patch(
            "/people/alice/settings",
            json={"listed": True},
            headers=proxy_headers("ops.lead", "whoknows-admins"),
        )
        assert by_group.status_code == 200
        no_experts_scope = c.patch(
            "/people/alice/settings",
            json={"listed": True},
            headers=bearer(served.tokens["admin_without_experts"]),
        )
        assert no_experts_scope.status_code == 403  # a profile route needs the experts scope as well
        assert c.get("/people/nobody/settings", headers=bearer(served.tokens["admin"])).status_code == 404
        assert c.get("/people/nobody/settings", headers=FRANK).status_code == 403  # the same as for anyone


def test_bad_settings_are_refused_naming_the_field(served: Served) -> None:
    with served.running.client() as c:
        for body, field in (
            ({"mentor_capacity": -1}, "mentor_capacity"),
            ({"mentor_capacity": 1000}, "mentor_capacity"),
            ({"mentor_capacity": "2"}, "mentor_capacity"),
            ({"listed": "no"}, "listed"),
            ({"ask_me_about": "postgres"}, "ask_me_about"),
            ({"ask_me_about": ["ok", ""]}, "ask_me_about"),
            ({"do_not_ask": ["x" * 81]}, "do_not_ask"),
            ({"do_not_ask": ["bad\x00topic"]}, "do_not_ask"),
            ({"do_not_ask": [f"t{i}" for i in range(21)]}, "do_not_ask"),
            ({"colour": "blue"}, "colour"),
            ({}, "listed"),
        ):
            r = c.patch("/people/alice/settings", json=body, headers=ALICE)
            assert r.status_code == 422 and field in r.text, (body, r.text)
        for body, field in (
            ({"topic": "postgres", "status": "maybe"}, "status"),
            ({"topic": "   ", "status": "hidden"}, "topic"),
            ({"topic": "...", "status": "hidden"}, "topic"),
            ({"status": "hidden"}, "topic"),
        ):
            r = c.put("/people/alice/topics", json=body, headers=ALICE)
            assert r.status_code == 422 and field in r.text, (body, r.text)
        r = c.post("/people/dave/mentoring-requests", json={"message": "x" * 3000}, headers=FRANK)
        assert r.status_code == 422 and "message" in r.text
        assert c.post("/people/frank/mentoring-requests", json={}, headers=FRANK).status_code == 409
        assert c.post("/people/nobody/mentoring-requests", json={}, headers=FRANK).status_code == 404
        assert c.post("/mentoring/requests/1/approve", headers=DAVE).status_code == 422


def test_every_surface_follows_the_persons_choice(served: Served) -> None:
    """MCP's who_knows and the colleagues named with an answer use the same corrected finder."""
    frank = served.tokens["frank"]

    def who_knows(topic: str) -> str:
        return seen(
            run(served.running.url, frank, lambda client: client.call_tool("who_knows", {"topic": topic}))
        )

    with served.running.client() as c:
        assert '"alice"' in who_knows("postgres backups")
        c.patch("/people/alice/settings", json={"listed": False}, headers=ALICE)
        assert '"alice"' not in who_knows("postgres backups") and '"bruno"' in who_knows("postgres backups")
        answer = c.post("/ask", json={"question": "how long are postgres backups kept?"}, headers=FRANK)
        assert answer.status_code == 200
        assert "alice" not in [e["person_id"] for e in answer.json()["experts"]]


@pytest.mark.slow
def test_a_change_on_one_replica_counts_at_once_on_another(profile_home, tmp_path, embedder, request) -> None:  # type: ignore[no-untyped-def]
    """Two servers on one PostgreSQL state store: what the person sets through one, the other ranks by."""
    import psycopg

    server = request.getfixturevalue("postgres")

    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE profiles_replicas")
    shared = {"database_url": server.url("profiles_replicas")}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        profile_server(profile_home, tmp_path / "a", embedder, **shared) as one,
        profile_server(profile_home, tmp_path / "b", embedder, **shared) as other,
        one.running.client() as a,
        other.running.client() as b,
    ):
        assert one.engine.state.backend == other.engine.state.backend == "postgresql"
        assert ids(experts(b, "postgres backups"))[0] == "alice"
        assert a.patch("/people/alice/settings", json={"listed": False}, headers=ALICE).status_code == 200
        assert "alice" not in ids(experts(b, "postgres backups"))
        request = b.post("/people/dave/mentoring-requests", json={}, headers=FRANK).json()
        assert a.post(f"/mentoring/requests/{request['id']}/accept", headers=DAVE).status_code == 200
        assert by_id(experts(b, "terraform"))["dave"]["mentor"]["busy"] is True


def test_with_anonymous_access_off_every_profile_route_wants_an_identity(
    profile_home, tmp_path, embedder
) -> None:  # type: ignore[no-untyped-def]
    with (
        profile_server(profile_home, tmp_path, embedder, anonymous=False, trusted_proxies=[]) as s,
        s.running.client() as c,
    ):
        routes = {(m, path) for m, path, _, _ in ALICE_PROFILE} | {
            ("GET", "/me"),
            ("POST", "/people/dave/mentoring-requests"),
            ("POST", "/mentoring/requests/1/accept"),
            ("GET", "/experts/feedback?q=terraform"),
            ("DELETE", "/admin/named-experts?kind=topic&value=x&person_id=alice"),
        }
        for method, path in sorted(routes):
            r = c.request(method, path, json={}, headers=ALICE)  # proxy headers from an untrusted peer
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), (method, path)
        assert c.get("/me", headers=bearer(s.tokens["alice"])).json()["person_id"] == "alice"
