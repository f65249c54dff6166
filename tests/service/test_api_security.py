"""Identity and permissions over real HTTP: 401/403, spoofed proxy headers, tokens, and one matrix of
every endpoint x several callers proving no restricted title, text or count reaches an outsider."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import SourceDocument
from index.acl import Principal, can_see
from service.security.tokens import TokenStore
from tests.service.conftest import (
    HR_MARKERS,
    SECURITY_MARKERS,
    STAFF_MARKERS,
    Running,
    corpus,
    proxy_headers,
)

QUERIES = ["salary bands quokkabudget", "postgres backups failover", "parental leave", "pentest findings"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def paths(server: Running) -> set[str]:
    with server.client() as c:
        return set(c.get("/openapi.json").json()["paths"])


# Every endpoint that reads the index; the app must serve each one (a missing one is a failure here).
GUARDED = [
    ("GET", "/search?q=postgres", "/search"),
    ("GET", "/sources", "/sources"),
    ("GET", "/documents/handbook:backups", "/documents/{doc_id}"),
    ("GET", "/experts?q=pg", "/experts"),
    ("GET", "/people/alice", "/people/{person_id}"),
    ("POST", "/ask", "/ask"),
    ("POST", "/ask/stream", "/ask/stream"),
    ("POST", "/admin/reindex", "/admin/reindex"),
    ("GET", "/metrics", "/metrics"),
]


def test_the_app_serves_every_guarded_endpoint(closed_server: Running) -> None:
    assert {template for _, _, template in GUARDED} <= paths(closed_server)


def test_no_identity_is_401_everywhere_when_anonymous_is_off(closed_server: Running, tokens) -> None:  # type: ignore[no-untyped-def]
    with closed_server.client() as c:
        for method, path, _ in GUARDED:
            r = c.request(method, path, json={"question": "postgres"} if method == "POST" else None)
            assert r.status_code == 401, (path, r.status_code, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert r.json()["detail"]
        # a token that is malformed, unknown, or a valid id with the wrong secret
        good = tokens["staff"]
        for bad in ("nonsense", "wk_000000000000_" + "x" * 43, good[:-4] + "AAAA", good + " extra"):
            r = c.get("/search", params={"q": "postgres"}, headers=bearer(bad))
            assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"], bad
        r = c.get("/search", params={"q": "postgres"}, headers={"Authorization": "Basic Ym9iOmJvYg=="})
        assert r.status_code == 401
        assert c.get("/search", params={"q": "postgres"}, headers=bearer(good)).status_code == 200
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200


def test_wrong_scope_is_403(closed_server: Running, tokens) -> None:  # type: ignore[no-untyped-def]
    limited = bearer(tokens["hr_search_only"])
    with closed_server.client() as c:
        assert c.get("/search", params={"q": "salary"}, headers=limited).status_code == 200
        assert c.post("/admin/reindex", headers=limited).status_code == 403
        assert c.get("/metrics", headers=limited).status_code == 403
        if "/experts" in paths(closed_server):
            assert c.get("/experts", params={"q": "salary"}, headers=limited).status_code == 403
        if "/ask" in paths(closed_server):
            assert c.post("/ask", json={"question": "salary"}, headers=limited).status_code == 403
        admin = bearer(tokens["admin"])
        assert c.get("/metrics", headers=admin).status_code == 200
        r = c.post("/admin/reindex", headers=admin)
        assert r.status_code == 503 and "sources file" in r.json()["detail"]  # none configured here


def test_anonymous_is_refused_admin_with_401(open_server: Running) -> None:
    with open_server.client() as c:
        r = c.post("/admin/reindex")
        assert r.status_code == 401 and "www-authenticate" in r.headers
        assert c.get("/metrics").status_code == 401
        staff = c.post("/admin/reindex", headers=proxy_headers("bob", "staff"))
        assert staff.status_code == 403


def test_revoked_token_stops_at_once(closed_server: Running, engine) -> None:  # type: ignore[no-untyped-def]
    store = TokenStore(engine.state)
    token, secret = store.create("temp", ["staff"], ["search"])
    with closed_server.client() as c:
        assert c.get("/sources", headers=bearer(secret)).status_code == 200
        assert store.revoke(token.id)
        assert c.get("/sources", headers=bearer(secret)).status_code == 401
    used = {t.id: t for t in store.list()}[token.id]
    assert used.last_used_at is not None and used.revoked_at is not None


def test_spoofed_proxy_headers_from_a_non_proxy_address_are_ignored(open_server: Running) -> None:
    """open_server trusts 127.0.0.1 only; the same headers sent from 127.0.0.2 must count for nothing."""
    headers = {**proxy_headers("hana", "hr"), "X-Forwarded-For": "127.0.0.1"}
    spoofer = httpx.Client(base_url=open_server.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with spoofer, open_server.client() as proxy:
        r = spoofer.get("/search", params={"q": "salary bands quokkabudget", "k": 50}, headers=headers)
        assert r.status_code == 200
        assert "hr:salaries" not in r.text and "quokkabudget" not in r.text.replace(
            "salary bands quokkabudget", ""
        )
        assert spoofer.get("/documents/hr:salaries", headers=headers).status_code == 404
        assert (
            spoofer.post(
                "/admin/reindex", headers={**headers, "X-Forwarded-Groups": "whoknows-admins"}
            ).status_code
            == 401
        )
        # control: the trusted proxy address is believed
        r = proxy.get("/search", params={"q": "salary bands quokkabudget"}, headers=headers)
        assert "hr:salaries" in r.text
        # an empty or oversized user name is not an identity
        for user in ("", "x" * 300):
            r = proxy.get(
                "/search",
                params={"q": "salary bands"},
                headers={"X-Forwarded-User": user, "X-Forwarded-Groups": "hr"},
            )
            assert r.status_code == 200 and "hr:salaries" not in r.text


# --- the matrix ---------------------------------------------------------------------------------

CALLERS = {
    # name: (headers, groups the caller holds, present in the open server?)
    "anonymous": ({}, set()),
    "engineer-via-proxy": (proxy_headers("carol", "engineering"), set()),
    "staff-via-proxy": (proxy_headers("bob", "staff"), {"staff"}),
    "staff-token": ("staff", {"staff"}),
    "hr-token-search-only": ("hr_search_only", {"hr"}),
    "hr-via-proxy": (proxy_headers("hana", "hr"), {"hr"}),
}


def _headers(spec, tokens) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(tokens[spec]) if isinstance(spec, str) else spec


def _all_docs() -> list[SourceDocument]:
    return [d for docs in corpus().values() for d in docs]


def _requests(engine) -> list[tuple[str, str, dict | None]]:  # type: ignore[no-untyped-def]
    out: list[tuple[str, str, dict | None]] = [("GET", "/sources", None)]
    for q in QUERIES:
        for mode in ("hybrid", "bm25", "dense"):
            out.append(("GET", f"/search?q={q}&k=100&mode={mode}", None))
        out.append(("GET", f"/experts?q={q}&k=20", None))
        out.append(("GET", f"/experts?q={q}&k=20&mentors_only=true", None))
        out.append(("POST", "/ask", {"question": q, "k": 10}))
    for d in _all_docs():
        out.append(("GET", f"/documents/{d.doc_id}", None))
    for (person_id,) in engine.store.db.execute("SELECT person_id FROM people ORDER BY person_id"):
        out.append(("GET", f"/people/{person_id}", None))
    return out


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_endpoint_honours_acls(caller: str, open_server: Running, engine, tokens) -> None:  # type: ignore[no-untyped-def]
    spec, groups = CALLERS[caller]
    headers = _headers(spec, tokens)
    principal = Principal.of("someone", sorted(groups))
    forbidden = [
        m
        for g, markers in (("hr", HR_MARKERS), ("staff", STAFF_MARKERS), ("security", SECURITY_MARKERS))
        if g not in groups
        for m in markers
    ]
    allowed_scopes_only_search = caller == "hr-token-search-only"
    with open_server.client() as c:
        for method, path, body in _requests(engine):
            r = c.request(method, path, headers=headers, json=body)
            assert r.status_code < 500, (caller, path, r.status_code, r.text[:300])
            if allowed_scopes_only_search and path.startswith(("/experts", "/ask", "/people")):
                assert r.status_code == 403, (caller, path)
                continue
            text = r.text
            for q in QUERIES:  # responses may echo the query itself
                text = text.replace(q, "")
            for marker in forbidden:
                assert marker not in text, (caller, path, marker)
        # documents: visible ones are served, hidden ones look exactly like missing ones
        missing = c.get("/documents/handbook:no-such-doc", headers=headers)
        assert missing.status_code == 404
        for d in _all_docs():
            r = c.get(f"/documents/{d.doc_id}", headers=headers)
            if can_see(principal, d.acl.public, d.acl.principals()):
                assert r.status_code == 200 and r.json()["title"] == d.title
            else:
                assert (r.status_code, r.json()) == (missing.status_code, missing.json()), d.doc_id
        # counts: per source, exactly the visible documents; sources with nothing visible are not named
        sources = {s["source"]: s["documents"] for s in c.get("/sources", headers=headers).json()["sources"]}
        expected: dict[str, int] = {}
        for d in _all_docs():
            if can_see(principal, d.acl.public, d.acl.principals()):
                expected[d.source] = expected.get(d.source, 0) + 1
        assert sources == expected, caller
