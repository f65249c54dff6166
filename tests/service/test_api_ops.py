"""The API's edges over real HTTP: JSON errors, size and rate limits, readiness, metrics, documents,
sources and the admin reindex job."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from service.app import create_app
from service.engine import Engine
from tests.service.conftest import Running, serve, settings_for


def test_errors_are_json_and_bad_input_is_never_a_500(open_server: Running) -> None:
    with open_server.client() as c:
        assert c.get("/nowhere").json() == {"detail": "Not Found"}
        assert c.get("/docs").status_code == 200 and "/search" in c.get("/openapi.json").json()["paths"]
        page = c.get("/")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
        assert c.get("/static/app.js").headers["x-content-type-options"] == "nosniff"
        r = c.delete("/search")
        assert r.status_code == 405 and "detail" in r.json()
        bad: list[dict[str, str | int]] = [
            {"q": "x", "k": 0},
            {"q": "x", "k": "many"},
            {"q": "x", "mode": "magic"},
            {"q": "x" * 5000},
        ]
        for params in bad:
            r = c.get("/search", params=params)
            assert r.status_code == 422 and r.json()["detail"], params
        for q in ['"unbalanced', "NEAR(a b)", "a AND OR NOT", "*", "col:umn", "\u0000\ud7ff", "😀 ü ß"]:
            r = c.get("/search", params={"q": q})
            assert r.status_code == 200, (q, r.text)
        assert c.get("/documents/" + "x" * 5000).status_code in (404, 422)
        assert c.get("/documents/%00%ff").status_code == 404


def test_request_bodies_over_the_limit_are_413(engine, index_home) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(index_home, max_body_bytes=1000)
    with serve(create_app(settings, engine=engine)) as url, httpx.Client(base_url=url) as c:
        r = c.post("/admin/reindex", content=b"x" * 5000, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "1000 bytes" in r.json()["detail"]

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"y" * 400

        r = c.post("/admin/reindex", content=chunks())
        assert r.status_code == 413
        assert c.post("/admin/reindex", content=b"{}").status_code == 401  # under the limit: on to auth


def test_rate_limit_per_caller_with_retry_after(engine, index_home, tokens) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(index_home, rate_limit_per_minute=3)
    with serve(create_app(settings, engine=engine)) as url, httpx.Client(base_url=url) as c:
        codes = [c.get("/sources").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/sources")
        assert (
            r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "rate limit" in r.json()["detail"]
        )
        # another caller has a bucket of its own; ops endpoints are never limited
        assert c.get("/sources", headers={"Authorization": f"Bearer {tokens['staff']}"}).status_code == 200
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200


def test_ready_is_503_until_an_index_is_loaded(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path / "empty")
    app = create_app(settings, engine=Engine(settings, embedder=embedder))
    with serve(app) as url, httpx.Client(base_url=url) as c:
        assert c.get("/health").json() == {"status": "ok"}
        r = c.get("/ready")
        assert r.status_code == 503 and r.json() == {"status": "not ready"}
        assert c.get("/search", params={"q": "anything"}).json()["hits"] == []
        sources = c.get("/sources").json()
        assert sources["sources"] == [] and sources["index"]["stale"] is True


def test_metrics_by_route_template_and_index_gauges(engine, index_home, tokens) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(index_home, metrics_public=True)
    with serve(create_app(settings, engine=engine)) as url, httpx.Client(base_url=url) as c:
        c.get("/search", params={"q": "postgres"})
        c.get("/documents/handbook:backups")
        c.get("/documents/handbook:oncall")
        c.get("/no/such/page")
        public = c.get("/metrics").text
        text = c.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"}).text
    # public metrics are the requests only: index sizes count restricted documents, the snapshot's age
    # tells when restricted content changed (issue 14)
    assert 'route="/search"' in public and "whoknows_index_" not in public
    assert "whoknows_last_reindex" not in public
    assert (
        'whoknows_http_requests_total{method="GET",route="/documents/{doc_id:path}",status="200"} 2.0' in text
    )
    assert 'route="/search"' in text and 'route="<unmatched>"' in text
    assert "handbook:backups" not in text  # raw paths never become labels
    assert re.search(
        r'whoknows_http_request_duration_seconds_bucket\{le="0.5",method="GET",route="/search"\}', text
    )
    counts = engine.store.counts()
    assert f"whoknows_index_documents {float(counts['documents'])}" in text
    assert f"whoknows_index_chunks {float(counts['chunks'])}" in text
    assert f"whoknows_index_vectors {float(counts['chunks'])}" in text
    assert "whoknows_index_age_seconds" in text and "whoknows_last_reindex_timestamp_seconds" in text


def test_document_text_and_metadata(open_server: Running) -> None:
    with open_server.client() as c:
        d = c.get("/documents/handbook:backups").json()
    assert d["title"] == "Postgres backups runbook" and d["source"] == "handbook"
    assert d["text"].startswith("Postgres backups run nightly") and "pg_restore" in d["text"]
    assert d["chunks"][0]["chunk_id"] == "handbook:backups#0"
    assert [p["name"] for p in d["contributors"]] == ["alice"]


def test_sources_freshness(open_server: Running) -> None:
    with open_server.client() as c:
        body = c.get("/sources").json()
    assert body["index"]["stale"] is False and body["index"]["updated_at"]
    [handbook] = body["sources"]
    assert handbook["status"] == "ok" and handbook["failures"] is None and handbook["last_success_at"]
    assert body["index"]["updated_at"] == handbook["last_success_at"]  # the caller's own sources
    assert handbook["kinds"] == {"doc": 4, "runbook": 1}


def test_admin_reindex_runs_in_the_background_and_409s_while_running(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "notes"
    docs.mkdir()
    for i in range(60):
        body = " ".join(f"Paragraph {i}.{j} about service meshes, sidecars and retries." for j in range(30))
        (docs / f"note-{i:02d}.md").write_text(f"# Mesh note {i}\n\n{body}\n")
    (docs / "lighthouse.md").write_text(
        "# Lighthouse keeping\n\nThe lighthouse lamp is serviced on Tuesdays.\n"
    )
    config = tmp_path / "sources.toml"
    config.write_text(
        '[[sources]]\nname = "notes"\ntype = "files"\npath = "notes"\nacl = { public = true }\n'
    )
    home = tmp_path / "home"
    settings = settings_for(home, reindex_config=config, trusted_proxies=["127.0.0.1"])
    app = create_app(settings, engine=Engine(settings, embedder=embedder))
    admin = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "whoknows-admins"}
    with serve(app) as url, httpx.Client(base_url=url, headers=admin, timeout=60) as c:
        assert c.get("/ready").status_code == 503
        first = c.post("/admin/reindex")
        second = c.post("/admin/reindex")
        assert first.status_code == 202, first.text
        assert second.status_code == 409 and second.json()["detail"] == "a reindex is already running"
        deadline = time.monotonic() + 300
        while c.get("/admin/reindex").json()["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        last = c.get("/admin/reindex").json()["last"]
        assert last["status"] == "ok", last
        assert c.get("/ready").status_code == 200
        hits = c.get("/search", params={"q": "when is the lighthouse lamp serviced"}).json()["hits"]
        assert hits[0]["doc_id"] == "notes:lighthouse.md"
