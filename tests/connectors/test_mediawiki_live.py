"""The mediawiki connector over the Action API: a real MediaWiki on loopback, and scripted bad servers."""

from __future__ import annotations

import bz2
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from pydantic import SecretStr

from connectors.base import ConnectorError, ConnectorFailure, Role, SourceDocument
from connectors.config import SourceConfig, SourceContext
from connectors.mediawiki.api import USER_AGENT, format_timestamp, parse_timestamp
from connectors.mediawiki.connector import MediaWikiConnector
from tests.mediawiki_server import SAMPLE_DUMP, MediaWikiServer, mediawiki_server_fixture  # noqa: F401

EXPORT_NS = "{http://www.mediawiki.org/xml/export-0.10/}"


def make_connector(
    url: str, *, secrets: dict[str, SecretStr] | None = None, timeout_s: float = 30.0, **options: Any
):
    config = SourceConfig.model_validate({"name": "wiki", "type": "mediawiki", "url": url, **options})
    context = SourceContext(base_dir=Path("."), secrets=secrets or {}, timeout_s=timeout_s)
    return MediaWikiConnector.from_config(config, context)


def split(
    items: list[SourceDocument | ConnectorFailure],
) -> tuple[list[SourceDocument], list[ConnectorFailure]]:
    return (
        [i for i in items if isinstance(i, SourceDocument)],
        [i for i in items if isinstance(i, ConnectorFailure)],
    )


def dump_articles() -> dict[str, set[str]]:
    """Title -> contributor names of the dump's ns-0 non-redirect pages, read with plain xml.etree."""
    articles: dict[str, set[str]] = {}
    with bz2.open(SAMPLE_DUMP) as raw:
        for _, elem in ET.iterparse(raw):
            if elem.tag == f"{EXPORT_NS}page":
                if elem.findtext(f"{EXPORT_NS}ns") == "0" and elem.find(f"{EXPORT_NS}redirect") is None:
                    names = {
                        n.text for n in elem.iter() if n.tag in (f"{EXPORT_NS}username", f"{EXPORT_NS}ip")
                    }
                    articles[elem.findtext(f"{EXPORT_NS}title") or ""] = {n for n in names if n}
                elem.clear()
    return articles


# -- a real MediaWiki --------------------------------------------------------------------------


@pytest.mark.slow
def test_live_full_load_then_incremental_edit_and_delete(mediawiki_server: MediaWikiServer) -> None:
    server = mediawiki_server
    conn = make_connector(server.api_url, secrets=server.secrets("wiki"))
    docs, failures = split(list(conn.load()))
    articles = dump_articles()
    assert failures == []
    assert len(articles) == 106
    assert {d.title for d in docs} == set(articles) | {"Main Page"}  # redirects and the ns-4 page left out
    assert len(docs) == 107
    first_cursor = conn.cursor
    assert first_cursor is not None and first_cursor.endswith("Z")
    by_title = {d.title: d for d in docs}
    for title, names in articles.items():
        doc = by_title[title]
        assert doc.kind == "wiki" and doc.sections and doc.version.isdigit()
        # Imported revisions keep their users under the `imported>` prefix; the name drops it.
        accounts = {c.person.name or c.person.account for c in doc.contributions}
        assert accounts == names, title
    albedo = by_title["Albedo"]
    assert albedo.url == server.api_url.replace("api.php", "index.php/Albedo")
    assert "{{" not in albedo.text() and "[[" not in albedo.text() and "Climatology" in albedo.tags
    ids_before = set(conn.list_ids())
    assert ids_before == {d.doc_id for d in docs}

    with server.admin_session() as admin:
        edited = admin.edit(
            "Albedo", "Albedo is WHOKNOWS-MARKER light.\n== Measured ==\nBy [[satellite|satellites]]."
        )
        deleted_id = admin.page_id("Abacus")
        admin.delete("Abacus")

    changed, failures = split(list(conn.load(since=first_cursor)))
    assert failures == []
    # Changes are re-read from `overlap_s` (2 s) before the cursor, so a page last touched that close to
    # the first load (Main Page, when the wiki was installed just before) may come again; the 105
    # untouched imported pages must not.
    reread_from = format_timestamp(parse_timestamp(first_cursor) - timedelta(seconds=2))
    same_second = {d.title for d in docs if d.updated_at and format_timestamp(d.updated_at) >= reread_from}
    assert same_second <= {"Main Page"}
    assert [d.title for d in changed if d.title not in same_second] == ["Albedo"]
    (doc,) = [d for d in changed if d.title == "Albedo"]
    assert doc.doc_id == albedo.doc_id and doc.version == str(edited["newrevid"])
    assert doc.sections[0].text == "Albedo is WHOKNOWS-MARKER light."
    assert doc.sections[1].heading == ("Measured",) and doc.sections[1].text == "By satellites."
    admin_part = next(c for c in doc.contributions if c.person.account == "Admin")
    assert admin_part.role == Role.EDITOR and admin_part.weight > 1
    assert doc.updated_at is not None and doc.created_at is not None and doc.updated_at > doc.created_at
    assert conn.cursor is not None and conn.cursor >= first_cursor

    ids_after = set(conn.list_ids())
    assert f"wiki:{deleted_id}" in ids_before and f"wiki:{deleted_id}" not in ids_after
    assert ids_after == ids_before - {f"wiki:{deleted_id}"}


@pytest.mark.slow
def test_live_private_wiki_refuses_anonymous_reads(mediawiki_server: MediaWikiServer) -> None:
    conn = make_connector(mediawiki_server.api_url)
    with pytest.raises(ConnectorError, match="readapidenied"):
        list(conn.load())
    with pytest.raises(ConnectorError, match="readapidenied"):
        list(conn.list_ids())


@pytest.mark.slow
def test_live_wrong_bot_password(mediawiki_server: MediaWikiServer) -> None:
    wrong = {"wiki.username": SecretStr(mediawiki_server.bot_user), "wiki.password": SecretStr("0" * 32)}
    conn = make_connector(mediawiki_server.api_url, secrets=wrong)
    with pytest.raises(ConnectorError, match="login with the configured bot password failed") as caught:
        list(conn.list_ids())
    assert "0" * 32 not in str(caught.value)


# -- scripted servers speaking the API's JSON ----------------------------------------------------

Reply = tuple[int, dict[str, str], Any]
Responder = Callable[[dict[str, str], int], Reply]


class FakeWiki:
    """A loopback HTTP server; `responder(params, n)` answers the n-th request (0-based)."""

    def __init__(self, responder: Responder) -> None:
        self.requests: list[dict[str, str]] = []
        self.user_agents: list[str] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = dict(parse_qsl(urlsplit(self.path).query))
                self._answer(params)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                self._answer(dict(parse_qsl(self.rfile.read(length).decode())))

            def _answer(self, params: dict[str, str]) -> None:
                fake.requests.append(params)
                fake.user_agents.append(self.headers.get("user-agent", ""))
                status, headers, body = responder(params, len(fake.requests) - 1)
                if body is HANG:
                    fake.release.wait(30)
                    return
                html = isinstance(body, bytes)
                data = body if html else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if html else "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/w/api.php"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


HANG = object()
SITEINFO = {
    "batchcomplete": True,
    "curtimestamp": "2024-05-01T12:00:00Z",
    "query": {
        "general": {
            "mainpage": "Main Page",
            "server": "//wiki.test",
            "articlepath": "/wiki/$1",
            "sitename": "Test",
        },
        "namespaces": {
            "0": {"id": 0, "case": "first-letter", "name": "", "content": True},
            "6": {"id": 6, "case": "first-letter", "name": "Datei", "canonical": "File"},
            "14": {"id": 14, "case": "first-letter", "name": "Kategorie", "canonical": "Category"},
        },
        "namespacealiases": [{"id": 6, "alias": "Bild"}],
    },
}
ALLPAGES_LIST = {"batchcomplete": True, "limits": {"allpages": 500}, "query": {"allpages": [
    {"pageid": 1, "ns": 0, "title": "Page One"},
    {"pageid": 2, "ns": 0, "title": "Page Two"},
]}}  # fmt: skip


def page_json(page_id: int, title: str, rev_id: int, text: str) -> dict[str, Any]:
    return {
        "pageid": page_id,
        "ns": 0,
        "title": title,
        "contentmodel": "wikitext",
        "lastrevid": rev_id,
        "length": len(text),
        "revisions": [
            {
                "revid": rev_id,
                "parentid": rev_id - 1,
                "user": "Bob",
                "timestamp": "2024-04-02T00:00:00Z",
                "size": len(text),
                "comment": "edit",
                "slots": {
                    "main": {"contentmodel": "wikitext", "contentformat": "text/x-wiki", "content": text}
                },
            }
        ],
    }


def history_json(page_id: int, rev_id: int) -> dict[str, Any]:
    return {"batchcomplete": True, "query": {"pages": [{"pageid": page_id, "ns": 0, "title": "x", "revisions": [
        {"revid": rev_id - 1, "parentid": 0, "user": "Alice", "timestamp": "2024-04-01T00:00:00Z", "size": 10},
        {"revid": rev_id, "parentid": rev_id - 1, "user": "Bob", "timestamp": "2024-04-02T00:00:00Z", "size": 14},
    ]}]}}  # fmt: skip


def wiki_responder(history_fails_for: int | None = None) -> Responder:
    """A small wiki: two pages, served in two generator batches, with histories."""

    def answer(params: dict[str, str], _: int) -> Reply:
        if params.get("meta") == "siteinfo":
            return 200, {}, SITEINFO
        if params.get("generator") == "allpages":
            if "gapcontinue" not in params:
                return (
                    200,
                    {},
                    {
                        "batchcomplete": True,
                        "continue": {"gapcontinue": "Page_Two", "continue": "gapcontinue||"},
                        "query": {
                            "pages": [page_json(1, "Page One", 11, "One [[Kategorie:Alpha]] [[Bild:x.png]]")]
                        },
                    },
                )
            return 200, {}, {"batchcomplete": True, "query": {"pages": [page_json(2, "Page Two", 21, "Two")]}}
        if params.get("prop") == "revisions" and "rvdir" in params:
            page_id = int(params["pageids"])
            if page_id == history_fails_for:
                return 500, {}, {"error": "boom"}
            return 200, {}, history_json(page_id, 11 if page_id == 1 else 21)
        if params.get("list") == "allpages":
            return 200, {}, ALLPAGES_LIST
        if params.get("list") == "recentchanges":
            return 200, {}, RECENT_CHANGES
        if "pageids" in params:
            pages = [page_json(1, "Page One", 12, "One, edited")] + [
                {"pageid": int(p), "missing": True} for p in params["pageids"].split("|") if p != "1"
            ]
            return 200, {}, {"batchcomplete": True, "query": {"pages": pages}}
        return 200, {}, {"error": {"code": "badvalue", "info": f"unexpected {params}"}}

    return answer


RECENT_CHANGES = {"batchcomplete": True, "query": {"recentchanges": [
    {"type": "edit", "ns": 0, "title": "Page One", "pageid": 1, "revid": 12, "old_revid": 11, "rcid": 5,
     "user": "Bob", "oldlen": 14, "newlen": 11, "timestamp": "2024-05-02T10:00:00Z"},
    {"type": "log", "ns": 0, "title": "Page Two", "pageid": 0, "revid": 0, "old_revid": 0, "rcid": 6,
     "user": "Admin", "oldlen": 0, "newlen": 0, "timestamp": "2024-05-02T10:01:00Z", "logid": 3,
     "logtype": "delete", "logaction": "delete", "logparams": {}},
    {"type": "edit", "ns": 1, "title": "Talk:Page One", "pageid": 7, "revid": 13, "old_revid": 0, "rcid": 7,
     "user": "Bob", "oldlen": 0, "newlen": 5, "timestamp": "2024-05-02T10:02:00Z"},
    {"type": "log", "ns": 2, "title": "User:Bob/Draft", "pageid": 8, "revid": 0, "old_revid": 0, "rcid": 8,
     "user": "Bob", "oldlen": 0, "newlen": 0, "timestamp": "2024-05-02T10:03:00Z", "logid": 4,
     "logtype": "move", "logaction": "move", "logparams": {"target_ns": 0, "target_title": "Draft"}},
]}}  # fmt: skip


@pytest.fixture
def fake_wiki() -> Iterator[Callable[[Responder], FakeWiki]]:
    servers: list[FakeWiki] = []

    def start(responder: Responder) -> FakeWiki:
        servers.append(FakeWiki(responder))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_api_full_load_maps_pages_and_people(fake_wiki) -> None:
    wiki = fake_wiki(wiki_responder())
    conn = make_connector(wiki.url)
    docs, failures = split(list(conn.load()))
    assert failures == []
    assert [d.title for d in docs] == ["Page One", "Page Two"]  # across two continued batches
    one = docs[0]
    assert one.doc_id == "wiki:1" and one.version == "11"
    assert one.url == "http://wiki.test/wiki/Page_One"  # protocol-relative server, the API's scheme
    assert one.text() == "One" and one.tags == ["Alpha"]  # local namespace names and aliases known
    people = [(c.person.account, c.role, c.weight) for c in one.contributions]
    assert people == [("Alice", Role.AUTHOR, 10.0), ("Bob", Role.EDITOR, 4.0)]
    assert conn.cursor == "2024-05-01T12:00:00Z"  # the wiki's clock at the run's start
    assert all(r["maxlag"] == "5" and r["format"] == "json" for r in wiki.requests)
    assert set(wiki.user_agents) == {USER_AGENT}


def test_api_incremental_fetches_changed_pages_only(fake_wiki) -> None:
    wiki = fake_wiki(wiki_responder())
    conn = make_connector(wiki.url, overlap_s=60)
    docs, failures = split(list(conn.load(since="2024-05-02T09:00:00Z")))
    assert failures == []
    assert [(d.title, d.version) for d in docs] == [("Page One", "12")]
    (changes,) = [r for r in wiki.requests if r.get("list") == "recentchanges"]
    assert changes["rcstart"] == "2024-05-02T08:59:00Z" and changes["rcdir"] == "newer"
    (fetch,) = [r for r in wiki.requests if "pageids" in r and "rvdir" not in r]
    # Page One was edited, Draft moved into ns 0; the talk page and the deleted page are not fetched.
    assert fetch["pageids"] == "1|8"
    assert conn.cursor == "2024-05-02T09:00:00Z"  # the wiki clock (SITEINFO) is older: keep since


def test_api_one_page_failing_is_a_failure_not_the_run(fake_wiki) -> None:
    wiki = fake_wiki(wiki_responder(history_fails_for=2))
    conn = make_connector(wiki.url, max_retries=2, backoff_s=0.01)
    docs, failures = split(list(conn.load()))
    assert [d.title for d in docs] == ["Page One"]
    (failure,) = failures
    assert failure.doc_id == "wiki:2" and "giving up after 2 tries: HTTP 500" in failure.error
    assert conn.cursor is None  # not advanced: the failed page must be read again


def test_429_then_success_honours_retry_after(fake_wiki) -> None:
    def answer(params: dict[str, str], n: int) -> Reply:
        if n == 0:
            return 429, {"Retry-After": "1"}, {"error": {"code": "ratelimited", "info": "slow down"}}
        return 200, {}, ALLPAGES_LIST

    wiki = fake_wiki(answer)
    started = time.monotonic()
    ids = list(make_connector(wiki.url).list_ids())
    elapsed = time.monotonic() - started
    assert ids == ["wiki:1", "wiki:2"]
    assert len(wiki.requests) == 2
    assert 1.0 <= elapsed < 5.0  # waited what Retry-After asked, not the default backoff


def test_500_every_time_is_a_clear_error(fake_wiki) -> None:
    wiki = fake_wiki(lambda params, n: (500, {}, {"error": "Internal Server Error"}))
    conn = make_connector(wiki.url, max_retries=3, backoff_s=0.01)
    with pytest.raises(ConnectorError, match=r"list=allpages: giving up after 3 tries: HTTP 500"):
        list(conn.list_ids())
    assert len(wiki.requests) == 3
    with pytest.raises(ConnectorError, match="giving up after 3 tries: HTTP 500"):
        list(conn.load())


def test_maxlag_error_is_retried(fake_wiki) -> None:
    lagged = {
        "error": {"code": "maxlag", "info": "Waiting for 10.64.48.35: 6 seconds lagged.", "host": "10.64.48.35",
                  "lag": 6, "type": "db"},
        "servedby": "mw1403",
    }  # fmt: skip

    def answer(params: dict[str, str], n: int) -> Reply:
        if n < 2:
            return 200, {"Retry-After": "6", "X-Database-Lag": "6"}, lagged
        return 200, {}, ALLPAGES_LIST

    wiki = fake_wiki(answer)
    started = time.monotonic()
    ids = list(make_connector(wiki.url, max_wait_s=0.2).list_ids())  # Retry-After 6, capped
    assert ids == ["wiki:1", "wiki:2"] and len(wiki.requests) == 3
    assert 0.4 <= time.monotonic() - started < 3.0


def test_other_api_errors_are_not_retried(fake_wiki) -> None:
    wiki = fake_wiki(
        lambda params, n: (200, {}, {"error": {"code": "badvalue", "info": "Unrecognized value"}})
    )
    with pytest.raises(ConnectorError, match="API error badvalue"):
        list(make_connector(wiki.url).list_ids())
    assert len(wiki.requests) == 1


@pytest.mark.timeout(15)
def test_hanging_server_times_out(fake_wiki) -> None:
    wiki = fake_wiki(lambda params, n: (200, {}, HANG))
    conn = make_connector(wiki.url, timeout_s=0.5, max_retries=1)
    started = time.monotonic()
    with pytest.raises(ConnectorError, match=r"timed out after 0.5s"):
        list(conn.list_ids())
    assert time.monotonic() - started < 2.0
    retrying = make_connector(wiki.url, timeout_s=0.5, max_retries=2, backoff_s=0.01)
    started = time.monotonic()
    with pytest.raises(ConnectorError, match=r"giving up after 2 tries: timed out"):
        list(retrying.load())
    assert time.monotonic() - started < 3.0


def test_html_instead_of_api_is_a_clear_error(fake_wiki) -> None:
    wiki = fake_wiki(lambda params, n: (200, {}, b"<html><body>Main Page</body></html>"))
    with pytest.raises(ConnectorError, match=r"not a MediaWiki API answer \(text/html\)"):
        list(make_connector(wiki.url).list_ids())
