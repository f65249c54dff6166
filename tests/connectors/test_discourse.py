"""The discourse connector: the real Delving Bitcoin archive, and the live API mode against a local server
that serves recorded real API answers (Perceval's captures) and misbehaves on demand."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from connectors._shared.http_retry import retry_after_s
from connectors.base import Acl, ConnectorError, ConnectorFailure, Role, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.discourse.connector import DiscourseConnector
from connectors.discourse.options import DiscourseOptions
from connectors.discourse.posts import parse_post

ARCHIVE = "discourse_delving_bitcoin"
RECORDED = Path("forum_mail_format_fixtures_perceval") / "tests" / "data" / "discourse"


def split(
    items: list[SourceDocument | ConnectorFailure],
) -> tuple[list[SourceDocument], list[ConnectorFailure]]:
    docs = [i for i in items if isinstance(i, SourceDocument)]
    return docs, [i for i in items if isinstance(i, ConnectorFailure)]


def archive_connector(folder: Path, **options: Any) -> DiscourseConnector:
    return DiscourseConnector("db", DiscourseOptions(**options), Acl(public=True), folder=folder)


# --- archive mode --------------------------------------------------------------------------------


def plain_archive_counts(folder: Path) -> dict[str, int]:
    """Counted straight from the files: one copy per post id (the archive saves some posts twice)."""
    files = [p for p in folder.rglob("*.json") if not p.name.startswith(".")]
    posts: dict[int, dict[str, Any]] = {}
    for path in files:
        post = json.loads(path.read_bytes())
        if post["id"] not in posts or post["updated_at"] >= posts[post["id"]]["updated_at"]:
            posts[post["id"]] = post
    shown = [
        p
        for p in posts.values()
        if p["post_type"] == 1 and not p["hidden"] and not p["deleted_at"] and not p["user_deleted"]
    ]
    firsts: dict[int, dict[str, Any]] = {}
    for p in shown:
        if p["topic_id"] not in firsts or p["post_number"] < firsts[p["topic_id"]]["post_number"]:
            firsts[p["topic_id"]] = p
    people = [p for p in shown if p["user_id"] >= 0]
    return {
        "files": len(files),
        "posts": len(posts),
        "topics": len({p["topic_id"] for p in posts.values()}),
        "users": len({p["username"] for p in posts.values()}),
        "documents": len({p["topic_id"] for p in shown}),
        "sections": sum(1 for p in shown if p["raw"].strip()),
        "people": len({p["username"] for p in people}),
        "author": sum(1 for p in firsts.values() if p["user_id"] >= 0),
        "answerer": sum(1 for p in people if firsts[p["topic_id"]] is not p),
    }


def test_archive_counts_match_a_plain_json_count(shared_data: Path) -> None:
    folder = shared_data / ARCHIVE / "archive"
    started = time.perf_counter()
    source = archive_connector(folder, url_base="https://delvingbitcoin.org")
    docs, failures = split(list(source.load()))
    assert time.perf_counter() - started < 30
    assert failures == []
    expected = {
        "files": 4725,
        "posts": 4661,  # 63 posts are saved more than once (renamed topics, sync-conflict copies)
        "topics": 635,
        "users": 460,
        "documents": 628,  # 7 topics hold only posts their authors deleted
        "sections": 4606,
        "people": 457,  # visible posts' authors, less the forum's `system` account
        "author": 626,  # 2 topics were opened by `system`
        "answerer": 3978,
    }
    assert plain_archive_counts(folder) == expected
    roles = Counter(c.role.value for d in docs for c in d.contributions)
    assert len(docs) == expected["documents"]
    assert sum(len(d.sections) for d in docs) == expected["sections"]
    assert len({c.person.account for d in docs for c in d.contributions}) == expected["people"]
    assert roles == Counter(author=expected["author"], answerer=expected["answerer"])  # no solved plugin
    assert sorted(source.list_ids()) == sorted(d.doc_id for d in docs)
    assert source.cursor == "2026-08-22T05:53:21.745000+00:00"
    assert split(list(source.load(source.cursor)))[0] == []


def test_an_archived_topic(shared_data: Path) -> None:
    folder = shared_data / ARCHIVE / "archive"
    docs, _ = split(list(archive_connector(folder, url_base="https://delvingbitcoin.org/").load()))
    doc = next(d for d in docs if d.doc_id == "db:397")
    # post 1 is saved twice, once under an older title: the newest copy wins
    assert doc.title == "64 bit arithmetic soft fork"
    assert doc.url == "https://delvingbitcoin.org/t/64-bit-arithmetic-soft-fork/397"
    assert doc.kind == "forum" and doc.path == ("category 7",) and doc.tags == ["category 7"]
    headings = [s.heading[0] for s in doc.sections]
    assert headings[:3] == ["Chris_Stewart_5 #1", "moonsettler #2", "halseth #3"]
    assert len(headings) == len(set(headings))
    assert doc.created_at == datetime(2024, 1, 10, 15, 36, 12, 716000, tzinfo=UTC)
    author = doc.contributions[0]
    assert (author.role, author.person.account, author.person.name) == (
        Role.AUTHOR,
        "Chris_Stewart_5",
        "Chris Stewart",
    )
    assert all(c.role is Role.ANSWERER for c in doc.contributions[1:])
    quoting = next(
        c for c in doc.contributions if c.person.account == "Chris_Stewart_5" and c.role is Role.ANSWERER
    )
    assert quoting.text is not None and not quoting.text.startswith(">")  # quoted lines are not their words
    assert doc.updated_at is not None and doc.updated_at >= max(c.at for c in doc.contributions if c.at)


def test_reactions_weigh_replies() -> None:
    post = parse_post(
        {
            "id": 5,
            "topic_id": 1,
            "post_number": 2,
            "username": "ann",
            "raw": '[quote="bob, post:1, topic:1"]\nhis words\n[/quote]\nmy words',
            "reactions": [{"id": "+1", "count": 3}, {"id": "-1", "count": 2}, {"id": "heart", "count": 1}],
            "actions_summary": [{"id": 2, "count": 2}],
            "accepted_answer": True,
        }
    )
    assert (post.likes, post.accepted, post.own_text) == (4, True, "my words")
    assert "his words" in post.text


def archive_copy(shared_data: Path, tmp_path: Path, topic_ids: set[int]) -> Path:
    """A small archive: the real post files of a few topics."""
    source = shared_data / ARCHIVE / "archive" / "posts"
    target = tmp_path / "posts"
    for path in sorted(source.rglob("*.json")):
        if json.loads(path.read_bytes())["topic_id"] in topic_ids:
            (target / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / path.parent.name / path.name)
    return target


def test_archive_bad_files_are_failures_and_the_rest_is_kept(shared_data: Path, tmp_path: Path) -> None:
    folder = archive_copy(shared_data, tmp_path, {7, 397})
    good_files = len(list(folder.rglob("*.json")))
    month = folder / "2030-01-January"
    month.mkdir()
    post = json.loads(next(folder.rglob("0000001057-*.json")).read_bytes())
    (month / "1-invalid.json").write_text('{"id": 1, "topic_id": 397, "raw": "cut', "utf-8")
    (month / "2-no-username.json").write_text(json.dumps({**post, "id": 99001, "username": None}), "utf-8")
    latin = {
        "id": 99002,
        "topic_id": 397,
        "post_number": 999,
        "username": "ann",
        "raw": "Caf\u00e9 na\u00efve",
    }
    (month / "3-latin1.json").write_bytes(json.dumps(latin, ensure_ascii=False).encode("latin-1"))
    (month / "4-list.json").write_text("[1, 2]", "utf-8")
    (month / "5-huge.json").write_text(json.dumps({**post, "id": 99003, "raw": "x" * 2_000_000}), "utf-8")
    no_raw = {
        **post,
        "id": 99004,
        "post_number": 1000,
        "raw": None,
        "cooked": "<p>From <em>cooked</em> HTML</p>",
    }
    (month / "6-cooked.json").write_text(json.dumps(no_raw), "utf-8")
    source = archive_connector(folder, max_file_mb=1)
    docs, failures = split(list(source.load()))
    assert sorted(d.doc_id for d in docs) == ["db:397", "db:7"]
    errors = sorted(f.error for f in failures)
    assert errors == [
        "2030-01-January/1-invalid.json: unreadable: Unterminated string starting at: line 1 column 35 (char 34)",
        "2030-01-January/2-no-username.json: missing username",
        "2030-01-January/3-latin1.json: unreadable: not UTF-8 JSON (byte 81)",
        "2030-01-January/4-list.json: a post is a JSON object, got list",
        "2030-01-January/5-huge.json: file over max_file_mb (1 MB)",
    ]
    assert all(f.path and Path(f.path).is_file() for f in failures)
    topic = next(d for d in docs if d.doc_id == "db:397")
    assert topic.sections[-1] == topic.sections[-1].model_copy(update={"text": "From cooked HTML"})
    # 57 real files hold 54 posts (3 saved twice), one deleted by its author; plus the cooked-only one
    assert (good_files, sum(len(d.sections) for d in docs)) == (57, 53 + 1)
    assert source.cursor is None  # an unreadable file holds the cursor
    with pytest.raises(ConnectorError, match="4 post files name no topic"):
        list(source.list_ids())


# --- API mode: a local server with recorded answers ----------------------------------------------

Route = Callable[[str, dict[str, list[str]]], tuple[int, dict[str, str], bytes]]


class FakeForum:
    """Serves recorded Discourse answers on 127.0.0.1. `override[path]` replaces an answer; every request
    (path, query, headers) is logged."""

    def __init__(self, recorded: Path, chunk_size: int = 5) -> None:
        self.recorded = recorded
        self.chunk_size = chunk_size
        self.override: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.release = threading.Event()
        self.topics = {tid: self._topic(tid) for tid in (1148, 1149, 1150)}
        # the categories the recorded listing (1, 14) and topics (111) name, all open unless a test says
        self.categories: dict[int, dict[str, Any]] = {
            cid: {"id": cid, "name": f"Category {cid}", "slug": f"c{cid}", "read_restricted": False}
            for cid in (1, 14, 111)
        }
        forum = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                forum.requests.append((parts.path, query, dict(self.headers)))
                route = forum.override.get(parts.path, forum.answer)
                status, headers, body = route(parts.path, query)
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a hanging answer is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _topic(self, topic_id: int) -> dict[str, Any]:
        topic = json.loads((self.recorded / f"discourse_topic_{topic_id}.json").read_bytes())
        # Perceval's captures replaced post_stream.stream by post numbers; a real forum lists post ids
        topic["post_stream"]["stream"] = [p["id"] for p in topic["post_stream"]["posts"]]
        return topic

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        if path == "/site.json":  # the categories the key can see, without their permissions
            return 200, {}, json.dumps({"categories": list(self.categories.values())}).encode()
        if path.startswith("/c/") and path.endswith("/show.json"):  # permissions are shown to admins only
            category = self.categories.get(int(path.split("/")[2]))
            return (200, {}, json.dumps({"category": category}).encode()) if category else (404, {}, b"{}")
        if path == "/latest.json":
            page = int(query.get("page", ["0"])[0])
            names = ["discourse_topics.json", "discourse_topics_pinned.json"]
            name = names[page] if page < len(names) else "discourse_topics_empty.json"
            return 200, {}, (self.recorded / name).read_bytes()
        for topic_id, topic in self.topics.items():
            posts = topic["post_stream"]["posts"]
            if path == f"/t/{topic_id}.json":  # the first chunk of posts, as Discourse answers
                chunk = {**topic, "post_stream": {**topic["post_stream"], "posts": posts[: self.chunk_size]}}
                return 200, {}, json.dumps(chunk).encode()
            if path == f"/t/{topic_id}/posts.json":
                wanted = {int(i) for i in query.get("post_ids[]", [])}
                found = [p for p in posts if p["id"] in wanted]
                return 200, {}, json.dumps({"post_stream": {"posts": found}, "id": topic_id}).encode()
        return 404, {}, b'{"errors": ["not found"]}'

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forum(shared_data: Path) -> Iterator[FakeForum]:
    server = FakeForum(shared_data / RECORDED)
    yield server
    server.close()


def api_connector(
    forum: FakeForum, timeout_s: float = 5.0, secrets: dict[str, SecretStr] | None = None, **options: Any
) -> DiscourseConnector:
    config = SourceConfig.model_validate(
        {
            "name": "df",
            "type": "discourse",
            "url": forum.url,
            "posts_per_request": 4,
            "backoff_s": 0.01,
            **options,
        }
    )
    context = SourceContext(base_dir=Path("."), timeout_s=timeout_s, secrets=secrets or {})
    return DiscourseConnector.from_config(config, context)


def test_api_reads_every_topic_with_all_its_posts(forum: FakeForum) -> None:
    source = api_connector(forum)
    docs, failures = split(list(source.load()))
    assert failures == []
    assert sorted(d.doc_id for d in docs) == ["df:1148", "df:1149", "df:1150"]
    big = next(d for d in docs if d.doc_id == "df:1148")
    recorded = forum.topics[1148]["post_stream"]["posts"]
    assert len(big.sections) == len(recorded) == 20
    assert [s.heading[0] for s in big.sections[:2]] == ["gorhill #1", "gorhill #2"]
    assert big.title == "[Support] uBlock Origin"
    assert big.url == f"{forum.url}/t/support-ublock-origin/1148"
    assert big.sections[1].text.startswith(
        "Example of how to un-break a site using the dynamic filtering pane"
    )
    assert big.contributions[0].role is Role.AUTHOR and big.contributions[0].weight == 6.0  # 6 likes
    assert {c.person.account for c in big.contributions} == {p["username"] for p in recorded}
    # 15 posts beyond the first chunk of 5, asked 4 at a time
    more = [q["post_ids[]"] for path, q, _ in forum.requests if path == "/t/1148/posts.json"]
    assert [len(ids) for ids in more] == [4, 4, 4, 3]
    assert forum.paths().count("/latest.json") == 3  # two pages, then the empty one
    assert source.cursor == "2016-05-26T15:01:10.809000+00:00"
    assert sorted(source.list_ids()) == ["df:1148", "df:1149", "df:1150"]


def test_api_incremental_load(forum: FakeForum) -> None:
    source = api_connector(forum)
    docs, _ = split(list(source.load("2016-05-25T01:00:00+00:00")))
    # 1148 was bumped after the cursor; 1150 is pinned and had a post after it; 1149 is older
    assert sorted(d.doc_id for d in docs) == ["df:1148", "df:1150"]
    assert forum.paths().count("/latest.json") == 2  # page 1 held nothing newer: no need for page 2
    docs, _ = split(list(source.load(source.cursor)))
    assert docs == []


def test_api_server_error_fails_one_topic_and_the_run_goes_on(forum: FakeForum) -> None:
    forum.override["/t/1149.json"] = lambda path, query: (500, {}, b"oops")
    source = api_connector(forum, max_retries=2)
    docs, failures = split(list(source.load()))
    assert sorted(d.doc_id for d in docs) == ["df:1148", "df:1150"]
    assert [(f.doc_id, f.error) for f in failures] == [
        ("df:1149", "GET /t/1149.json: HTTP 500 (gave up after 3 attempts)")
    ]
    assert forum.paths().count("/t/1149.json") == 3
    assert source.cursor == "2016-05-25T00:06:10.908000+00:00"  # just before the topic that failed


def test_api_429_waits_for_retry_after(forum: FakeForum) -> None:
    calls: list[float] = []

    def limited(path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return 429, {"Retry-After": "1"}, b'{"errors": ["slow down"]}'
        return forum.answer(path, query)

    forum.override["/t/1150.json"] = limited
    docs, failures = split(list(api_connector(forum).load()))
    assert failures == [] and "df:1150" in {d.doc_id for d in docs}
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.95


def test_api_hanging_server_times_out(forum: FakeForum) -> None:
    def hang(path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        forum.release.wait(10)
        return 500, {}, b""

    forum.override["/t/1148.json"] = hang
    started = time.perf_counter()
    docs, failures = split(list(api_connector(forum, timeout_s=0.3, max_retries=1).load()))
    assert time.perf_counter() - started < 3
    assert sorted(d.doc_id for d in docs) == ["df:1149", "df:1150"]
    assert [f.error for f in failures] == [
        "GET /t/1148.json: timed out after 0.3 s (gave up after 2 attempts)"
    ]


def test_api_listing_failure_fails_the_source(forum: FakeForum) -> None:
    forum.override["/latest.json"] = lambda path, query: (503, {}, b"")
    source = api_connector(forum, max_retries=0)
    with pytest.raises(ConnectorError, match=r"listing topics failed: GET /latest\.json: HTTP 503"):
        list(source.load())
    with pytest.raises(ConnectorError, match="listing topics failed"):
        list(source.list_ids())


def test_api_bad_answers(forum: FakeForum) -> None:
    topic = forum.topics[1149]
    no_username = json.loads(json.dumps(topic))
    no_username["post_stream"]["posts"][1]["username"] = None
    forum.override["/t/1148.json"] = lambda path, query: (200, {}, b'{"post_stream": {"posts": [')
    forum.override["/t/1149.json"] = lambda path, query: (200, {}, json.dumps(no_username).encode())
    latin = json.dumps({"title": "Caf\u00e9", "id": 1150}, ensure_ascii=False).encode("latin-1")
    forum.override["/t/1150.json"] = lambda path, query: (200, {"Content-Type": "application/json"}, latin)
    docs, failures = split(list(api_connector(forum).load()))
    errors = {f.doc_id: f.error for f in failures}
    assert errors["df:1148"].startswith("GET /t/1148.json: invalid JSON")
    assert errors["df:1149"] == "post 19133: missing username"
    assert errors["df:1150"] == "GET /t/1150.json: the answer is not UTF-8 JSON (byte 14)"
    assert [(d.doc_id, len(d.sections)) for d in docs] == [("df:1149", 1)]  # the good post stays


def test_api_credentials_are_sent_and_never_shown(forum: FakeForum, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    forum.override["/t/1149.json"] = lambda path, query: (502, {}, b"")
    secrets = {"df.api_key": SecretStr("s3cret-key"), "df.api_username": SecretStr("bot")}
    _, failures = split(list(api_connector(forum, secrets=secrets, max_retries=1).load()))
    assert {h.get("Api-Key") for _, _, h in forum.requests} == {"s3cret-key"}
    assert {h.get("Api-Username") for _, _, h in forum.requests} == {"bot"}
    assert failures and "s3cret" not in caplog.text and all("s3cret" not in f.error for f in failures)


def test_api_redirects_are_not_followed(forum: FakeForum) -> None:
    forum.override["/t/1149.json"] = lambda path, query: (
        302,
        {"Location": "http://elsewhere.invalid/t/1149"},
        b"",
    )
    _, failures = split(list(api_connector(forum, secrets={"df.api_key": SecretStr("k")}).load()))
    assert [f.error for f in failures] == [
        "GET /t/1149.json: HTTP 302 redirect to http://elsewhere.invalid/t/1149; give the final address as url"
    ]


def test_config_errors(tmp_path: Path) -> None:
    context = SourceContext(base_dir=tmp_path)
    both = SourceConfig.model_validate(
        {"name": "d", "type": "discourse", "path": str(tmp_path), "url": "http://x"}
    )
    with pytest.raises(ConfigError, match="either 'path'"):
        DiscourseConnector.from_config(both, context)
    bad = SourceConfig.model_validate({"name": "d", "type": "discourse", "url": "ftp://x"})
    with pytest.raises(ConfigError, match="not an http"):
        DiscourseConnector.from_config(bad, context)
    unknown = SourceConfig.model_validate({"name": "d", "type": "discourse", "url": "http://x", "retries": 3})
    with pytest.raises(ConfigError, match="retries"):
        DiscourseConnector.from_config(unknown, context)


def test_retry_after_forms() -> None:
    assert retry_after_s("2") == 2.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now


@pytest.mark.slow  # embeds a few hundred chunks with the real model
def test_archive_through_the_pipeline_and_the_real_model(
    shared_data: Path, tmp_path: Path, embedder: Any
) -> None:
    from index.acl import Principal
    from index.retrieval.hybrid import HybridRetriever
    from index.snapshot.store import SnapshotStore
    from index.store.documents import Store
    from ingest.pipeline import IngestPipeline

    folder = archive_copy(shared_data, tmp_path / "in", {7, 397})
    store, snapshots = Store(tmp_path), SnapshotStore(tmp_path)
    config = SourceConfig.model_validate({"name": "db", "type": "discourse", "acl": {"public": True}})
    report = IngestPipeline(store, snapshots, embedder).run([(config, archive_connector(folder))]).sources[0]
    assert (report.documents_added, report.failures, report.status) == (2, [], "ok")
    retriever = HybridRetriever(store, lambda: snapshots.load_current(embedder), embedder)
    hits = retriever.search("64-bit arithmetic opcodes for covenants", Principal.anonymous(), k=1)
    assert hits[0].doc_id == "db:397"


def test_api_restricted_categories_are_group_acls_or_skipped(forum: FakeForum) -> None:
    """A key that reads restricted categories must not give their topics the source's ACL (issue 14)."""
    staff = {"groups": ["forum-users"]}
    # 111 (every recorded topic) is restricted; an admin key sees its group permissions
    forum.categories[111] = {
        **forum.categories[111],
        "read_restricted": True,
        "group_permissions": [
            {"permission_type": 1, "group_name": "moderators"},
            {"permission_type": 3, "group_name": "sre"},
        ],
    }
    docs, failures = split(list(api_connector(forum, acl=staff).load()))
    assert failures == [] and len(docs) == 3
    assert {tuple(map(tuple, d.acl.clauses())) for d in docs} == {
        (("group:moderators", "group:sre"), ("group:forum-users",))
    }
    # without the permission view (not an admin key) nobody can tell its readers: its topics are skipped
    del forum.categories[111]["group_permissions"]
    docs, failures = split(list(api_connector(forum, acl=staff).load()))
    assert docs == [] and failures == []
    # a topic the listing puts in a restricted category is not listed, so a moved topic gets pruned
    forum.categories[14] = {**forum.categories[14], "read_restricted": True}
    assert list(api_connector(forum, acl=staff).list_ids()) == ["df:1148"]
    # the source's own mapping wins, and needs no permission view
    asked = forum.paths().count("/c/111/show.json")
    source = api_connector(forum, acl=staff, restricted_categories={111: ["legal"], 14: ["legal"]})
    docs, _ = split(list(source.load()))
    assert len(docs) == 3 and all(d.acl.clauses() == [["group:legal"], ["group:forum-users"]] for d in docs)
    assert forum.paths().count("/c/111/show.json") == asked
    # "everyone" may read it: the source's ACL
    forum.categories[111]["group_permissions"] = [{"permission_type": 1, "group_name": "everyone"}]
    docs, _ = split(list(api_connector(forum, acl=staff).load()))
    assert {d.acl for d in docs} == {Acl(groups=frozenset({"forum-users"}))}


def test_api_category_listing_failure_fails_the_source(forum: FakeForum) -> None:
    forum.override["/site.json"] = lambda path, query: (503, {}, b"")
    with pytest.raises(ConnectorError, match="listing categories failed"):
        list(api_connector(forum, max_retries=0).load())


def test_archive_restricted_categories_come_from_the_config(shared_data: Path) -> None:
    folder = shared_data / "discourse_delving_bitcoin"
    source = archive_connector(folder, restricted_categories={7: ["core-devs"]})
    docs = [d for d in source.load() if isinstance(d, SourceDocument)]
    seven = [d for d in docs if d.path == ("category 7",)]
    assert seven and all(d.acl == Acl(groups=frozenset({"core-devs"})) for d in seven)
    assert all(d.acl == Acl(public=True) for d in docs if d.path != ("category 7",))
