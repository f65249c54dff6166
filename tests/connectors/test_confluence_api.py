"""The confluence connector's REST mode against a local server that answers in Atlassian's documented v1
shapes (content list with `_links.next`, content search by CQL, version history, read restrictions)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from connectors._shared.http_retry import retry_after_s
from connectors.base import Acl, ConnectorError, ConnectorFailure, Role, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.confluence.api import ConfluenceClient
from connectors.confluence.connector import ConfluenceConnector
from connectors.confluence.restrictions import Restriction as R
from connectors.confluence.restrictions import effective_acl

CONTEXT = "/wiki"  # Cloud serves the API under /wiki; `_links.next` is relative to it


def user(account_id: str, name: str, email: str = "") -> dict[str, Any]:
    return {
        "type": "known",
        "accountId": account_id,
        "accountType": "atlassian",
        "email": email,
        "publicName": name,
        "displayName": name,
        "profilePicture": {
            "path": f"/wiki/aa-avatar/{account_id}",
            "width": 48,
            "height": 48,
            "isDefault": False,
        },
        "_expandable": {"operations": "", "personalSpace": ""},
        "_links": {"self": f"https://example.atlassian.net/wiki/rest/api/user?accountId={account_id}"},
    }


ANA, BEN, CLEO = (
    user("5b10a2844c20165700ede21g", "Ana Alvarez", "ana@example.com"),
    user("70121:b3", "Ben Okafor"),
    user("557058:c9", "Cleo Tran"),
)


def restrictions(users: Sequence[dict[str, Any]] = (), groups: Sequence[str] = ()) -> dict[str, Any]:
    def block(results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"results": results, "start": 0, "limit": 200, "size": len(results)}

    return {
        "read": {
            "operation": "read",
            "restrictions": {
                "user": block(list(users)),
                "group": block([{"type": "group", "name": g, "id": f"id-{g}"} for g in groups]),
            },
            "_expandable": {"content": ""},
            "_links": {
                "self": "https://example.atlassian.net/wiki/rest/api/content/1/restriction/byOperation/read"
            },
        },
        "_links": {"base": "https://example.atlassian.net/wiki", "context": "/wiki"},
    }


def ancestor(page_id: str, title: str) -> dict[str, Any]:
    return {
        "id": page_id,
        "type": "page",
        "status": "current",
        "title": title,
        "_expandable": {"restrictions": f"/rest/api/content/{page_id}/restriction/byOperation"},
        "_links": {"webui": f"/spaces/ENG/pages/{page_id}", "self": f"/rest/api/content/{page_id}"},
    }


def page(
    page_id: str,
    title: str,
    body: str,
    *,
    number: int = 1,
    when: str = "2026-01-10T09:00:00.000Z",
    by: dict[str, Any] = ANA,
    ancestors: Sequence[dict[str, Any]] = (),
    read: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": page_id,
        "type": "page",
        "status": "current",
        "title": title,
        "history": {
            "latest": True,
            "createdBy": ANA,
            "createdDate": "2025-11-01T08:30:00.000Z",
            "_expandable": {"lastUpdated": "", "previousVersion": "", "contributors": "", "nextVersion": ""},
            "_links": {"self": f"https://example.atlassian.net/wiki/rest/api/content/{page_id}/history"},
        },
        "version": {
            "by": by,
            "when": when,
            "friendlyWhen": "yesterday",
            "message": "",
            "number": number,
            "minorEdit": False,
            "_expandable": {"collaborators": "", "content": f"/rest/api/content/{page_id}"},
            "_links": {
                "self": f"https://example.atlassian.net/wiki/rest/api/content/{page_id}/version/{number}"
            },
        },
        "ancestors": list(ancestors),
        "body": {
            "storage": {"value": body, "representation": "storage", "embeddedContent": [], "_expandable": {}},
            "_expandable": {
                "editor": "",
                "view": "",
                "export_view": "",
                "styled_view": "",
                "anonymous_export_view": "",
            },
        },
        "restrictions": read or restrictions(),
        "extensions": {"position": 42},
        "_expandable": {"childTypes": "", "container": "/rest/api/space/ENG", "space": "/rest/api/space/ENG"},
        "_links": {
            "webui": f"/spaces/ENG/pages/{page_id}/{title.replace(' ', '+')}",
            "edit": f"/pages/resumedraft.action?draftId={page_id}",
            "tinyui": "/x/AbC",
            "self": f"https://example.atlassian.net/wiki/rest/api/content/{page_id}",
        },
    }


HOME, RUNBOOKS, ONCALL = (
    ancestor("101", "Engineering"),
    ancestor("102", "Runbooks"),
    ancestor("103", "On-call"),
)
LEGAL = ancestor("900", "Legal")
STORAGE = (
    '<ac:structured-macro ac:name="toc" ac:schema-version="1"><ac:parameter ac:name="maxLevel">2'
    "</ac:parameter></ac:structured-macro><p>Restart <strong>fleet-api</strong> safely.</p>"
    "<h2>Steps</h2><ol><li><p>Drain the node.</p></li><li><p>Restart.</p></li></ol>"
    '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>'
    "<ac:plain-text-body><![CDATA[kubectl rollout restart deploy/fleet-api && echo <done>]]></ac:plain-text-body>"
    "</ac:structured-macro><h3>Checks</h3><table><tbody><tr><th>Metric</th><th>Limit</th></tr><tr><td>p99</td>"
    '<td>200 ms</td></tr></tbody></table><p><ac:image><ri:attachment ri:filename="dashboard.png" /></ac:image>'
    '<ac:link><ri:attachment ri:filename="runbook.pdf" /></ac:link></p>'
)
PAGES = [
    page("101", "Engineering", "<p>Home of the engineering space.</p>"),
    page("102", "Runbooks", "<p>All runbooks.</p>", ancestors=[HOME]),
    page(
        "103",
        "On-call",
        "<p>Pager rota.</p>",
        ancestors=[HOME, RUNBOOKS],
        read=restrictions([ANA, BEN], ["sre"]),
        number=4,
        when="2026-02-01T10:00:00.000Z",
        by=CLEO,
    ),
    page(
        "104",
        "Restart fleet-api",
        STORAGE,
        ancestors=[HOME, RUNBOOKS, ONCALL],
        read=restrictions([ANA]),
        number=3,
        when="2026-02-03T12:00:00.000Z",
        by=BEN,
    ),
    page(
        "105",
        "Supplier contract",
        "<p>Terms.</p>",
        ancestors=[LEGAL],
        number=2,
        when="2026-01-20T12:00:00.000Z",
        by=BEN,
    ),
]
VERSIONS = {
    "103": [
        (4, CLEO, "2026-02-01T10:00:00.000Z"),
        (3, BEN, "2026-01-25T10:00:00.000Z"),
        (2, BEN, "2026-01-12T10:00:00.000Z"),
        (1, ANA, "2025-11-01T08:30:00.000Z"),
    ],
    "104": [
        (3, BEN, "2026-02-03T12:00:00.000Z"),
        (2, ANA, "2026-01-15T12:00:00.000Z"),
        (1, ANA, "2025-11-01T08:30:00.000Z"),
    ],
    "105": [(2, BEN, "2026-01-20T12:00:00.000Z"), (1, ANA, "2025-11-01T08:30:00.000Z")],
}
EXTRA = {"900": {**ancestor("900", "Legal"), "restrictions": restrictions(groups=["legal"])}}


@dataclass
class Behaviour:
    """What the fake site does: scripted statuses per path prefix, consumed in order, and a request log."""

    script: dict[str, list[str]] = field(default_factory=dict)  # path -> ["429", "500", "hang", "html"...]
    log: list[tuple[str, dict[str, list[str]], str | None]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=lambda: PAGES)
    page_size: int = 2
    next_link: str | None = None  # overrides `_links.next` (hostile answers)


class FakeConfluence(BaseHTTPRequestHandler):
    behaviour = Behaviour()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        b = self.behaviour
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        b.log.append((url.path, query, self.headers.get("Authorization")))
        for prefix, steps in b.script.items():
            if url.path.startswith(prefix) and steps:
                step = steps.pop(0)
                if step == "hang":
                    time.sleep(5)
                    return
                if step == "html":
                    return self._send(200, b"<html><body>Log in</body></html>", "text/html")
                return self._send(
                    int(step), b"{}", "application/json", {"Retry-After": "1"} if step == "429" else {}
                )
        path = url.path.removeprefix(CONTEXT)
        if path in ("/rest/api/content", "/rest/api/content/search"):
            return self._json(self._listing(path, query))
        parts = path.split("/")
        if len(parts) == 6 and parts[5] == "version":
            if parts[4] not in VERSIONS:  # an older server without the endpoint
                return self._send(404, b'{"statusCode": 404}', "application/json")
            versions = VERSIONS[parts[4]]
            results = [
                {
                    "by": by,
                    "when": when,
                    "friendlyWhen": "",
                    "message": "",
                    "number": n,
                    "minorEdit": False,
                    "_expandable": {"content": f"/rest/api/content/{parts[4]}"},
                    "_links": {"self": ""},
                }
                for n, by, when in versions
            ]
            return self._json(
                {"results": results, "start": 0, "limit": 200, "size": len(results), "_links": {}}
            )
        if len(parts) == 5 and parts[4] in EXTRA:
            return self._json(EXTRA[parts[4]])
        self._send(
            404, json.dumps({"statusCode": 404, "message": "No content found"}).encode(), "application/json"
        )

    def _listing(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        b = self.behaviour
        start = int(query.get("start", ["0"])[0])
        chosen = b.pages
        if path.endswith("/search"):
            cql = query["cql"][0]
            since = cql.split('lastmodified >= "')[1].split('"')[0]
            chosen = [p for p in b.pages if p["version"]["when"][:16].replace("T", " ") >= since]
        results = chosen[start : start + b.page_size]
        if "expand" not in query:
            results = [{k: p[k] for k in ("id", "type", "status", "title", "_links")} for p in results]
        links: dict[str, str] = {"base": f"http://{self.headers['Host']}{CONTEXT}", "context": CONTEXT}
        if start + b.page_size < len(chosen):
            rest = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "start")
            links["next"] = f"{path}?{rest}&start={start + b.page_size}"
        if b.next_link is not None:
            links["next"] = b.next_link
        return {
            "results": results,
            "start": start,
            "limit": b.page_size,
            "size": len(results),
            "_links": links,
        }

    def _json(self, data: Any) -> None:
        self._send(200, json.dumps(data).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    FakeConfluence.behaviour = behaviour
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeConfluence)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{CONTEXT}", behaviour
    server.shutdown()
    server.server_close()


def connector(
    url: str, timeout_s: float = 5.0, secrets: dict[str, str] | None = None, **options: Any
) -> ConfluenceConnector:
    config = SourceConfig.model_validate(
        {
            "name": "eng",
            "type": "confluence",
            "url": url,
            "space": "ENG",
            "backoff_s": 0.01,
            "acl": {"groups": ["staff"]},
            **options,
        }
    )
    context = SourceContext(
        base_dir=Path("."), timeout_s=timeout_s, secrets={k: SecretStr(v) for k, v in (secrets or {}).items()}
    )
    return ConfluenceConnector.from_config(config, context)


def docs_of(items: list[Any]) -> dict[str, SourceDocument]:
    return {i.doc_id: i for i in items if isinstance(i, SourceDocument)}


def test_full_load_pages_people_and_inherited_restrictions(site: tuple[str, Behaviour]) -> None:
    url, b = site
    source = connector(url, secrets={"eng.username": "bot@example.com", "eng.token": "s3cret-token"})
    items = list(source.load())
    docs = docs_of(items)
    assert list(docs) == ["eng:101", "eng:102", "eng:103", "eng:104", "eng:105"] and len(items) == 5
    listing = [(p, q) for p, q, _ in b.log if p.endswith("/rest/api/content")]
    assert len(listing) == 3  # 5 pages, 2 per answer, followed through _links.next
    assert (
        listing[0][1]["spaceKey"] == ["ENG"]
        and "restrictions.read.restrictions.group" in listing[0][1]["expand"][0]
    )
    expected_auth = "Basic " + base64.b64encode(b"bot@example.com:s3cret-token").decode()
    assert {auth for _, _, auth in b.log} == {expected_auth}

    home, runbooks, oncall, restart, contract = (docs[f"eng:{n}"] for n in (101, 102, 103, 104, 105))
    assert home.acl == runbooks.acl == Acl(groups=frozenset({"staff"}))  # no restriction: the source default
    # restrictions name accounts of this source (not logins), inside the source's ACL (staff)
    ana, ben = "account:eng:5b10a2844c20165700ede21g", "account:eng:70121:b3"
    assert oncall.acl.clauses() == [sorted([ana, ben, "group:sre"]), ["group:staff"]]
    # 104 names Ana itself and inherits 103's restriction, which Ana passes: Ana, if she is staff
    assert restart.acl.clauses() == [[ana], ["group:staff"]]
    assert contract.acl.clauses() == [["group:legal"], ["group:staff"]]  # ancestor 900 is not in the listing
    assert sum(1 for p, _, _ in b.log if p.endswith("/content/900")) == 1
    assert not any(p.endswith(("/content/101", "/content/102", "/content/103")) for p, _, _ in b.log)

    assert restart.title == "Restart fleet-api" and restart.kind == "wiki"
    assert restart.path == ("Engineering", "Runbooks", "On-call")
    assert restart.url == f"{url}/spaces/ENG/pages/104/Restart+fleet-api"
    assert [s.heading for s in restart.sections] == [(), ("Steps",), ("Steps", "Checks"), ("Attachments",)]
    assert restart.sections[0].text == "Restart fleet-api safely."  # the toc macro and its parameter are gone
    assert "kubectl rollout restart deploy/fleet-api && echo <done>" in restart.sections[1].text
    assert "bash" not in restart.sections[1].text
    assert "p99 | 200 ms" in restart.sections[2].text
    assert restart.sections[3].text == "Attachments: dashboard.png, runbook.pdf"
    assert restart.created_at is not None and restart.created_at.isoformat() == "2025-11-01T08:30:00+00:00"
    assert restart.updated_at is not None and restart.updated_at.isoformat() == "2026-02-03T12:00:00+00:00"
    people = [(c.person.name, c.role, c.weight) for c in oncall.contributions]
    assert people == [
        ("Ana Alvarez", Role.AUTHOR, 1.0),
        ("Cleo Tran", Role.EDITOR, 1.0),
        ("Ben Okafor", Role.EDITOR, 2.0),
    ]
    assert oncall.contributions[0].person.account == "5b10a2844c20165700ede21g"
    assert oncall.contributions[0].person.email == "ana@example.com"
    assert [c.person.name for c in home.contributions] == ["Ana Alvarez"]  # version 1: no history request
    assert not any(p.endswith("/101/version") for p, _, _ in b.log)
    assert source.cursor == "2026-02-03T12:00:00+00:00"
    assert sorted(source.list_ids()) == sorted(docs)
    assert "expand" not in b.log[-1][1]  # the listing for pruning asks for ids only


def test_incremental_load_by_cql(site: tuple[str, Behaviour]) -> None:
    url, b = site
    source = connector(url)
    items = list(source.load("2026-01-20T12:00:00+00:00"))
    assert list(docs_of(items)) == ["eng:103", "eng:104"]  # 105 changed exactly at the cursor: not again
    search = [q for p, q, _ in b.log if p.endswith("/content/search")]
    assert search[0]["cql"] == [
        'space = "ENG" AND type = page AND lastmodified >= "2026-01-19 12:00" ORDER BY lastmodified ASC'
    ]
    assert source.cursor == "2026-02-03T12:00:00+00:00"
    assert list(source.load(source.cursor)) == [] and source.cursor == "2026-02-03T12:00:00+00:00"


def test_429_with_retry_after_then_success(site: tuple[str, Behaviour]) -> None:
    url, b = site
    b.script = {f"{CONTEXT}/rest/api/content": ["429"]}
    started = time.monotonic()
    assert len(list(connector(url).list_ids())) == 5
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured, not the 0.01 s backoff
    delays: list[float] = []
    client = ConfluenceClient(url, timeout_s=2, tries=3, backoff_s=0.5, sleep=delays.append)
    b.script = {f"{CONTEXT}/rest/api/content": ["503", "429"]}
    assert client.get_json("/rest/api/content")["size"] == 2
    assert delays == [0.5, 1.0]  # the 503 backs off 0.5 s, the 429 waits its Retry-After
    client.close()


def test_500_is_a_clear_error_and_a_page_failure_is_data(
    site: tuple[str, Behaviour], caplog: pytest.LogCaptureFixture
) -> None:
    url, b = site
    b.script = {f"{CONTEXT}/rest/api/content": ["500"] * 3}
    caplog.set_level(logging.DEBUG)
    source = connector(url, max_retries=3, secrets={"eng.token": "pat-very-secret"})
    with pytest.raises(
        ConnectorError, match=r"listing pages failed: GET /rest/api/content.*: HTTP 500 after 3 tries"
    ):
        list(source.load())
    assert "pat-very-secret" not in caplog.text
    assert {auth for _, _, auth in b.log} == {"Bearer pat-very-secret"}
    # the version history of one page keeps failing: that page is a failure, the others are read
    b.script = {f"{CONTEXT}/rest/api/content/105/version": ["500"] * 3}
    items = list(source.load())
    failures = [i for i in items if isinstance(i, ConnectorFailure)]
    assert len(docs_of(items)) == 4 and len(failures) == 1
    assert failures[0].doc_id == "eng:105" and "HTTP 500 after 3 tries" in failures[0].error
    # pages changed later were read, but the cursor stays just before the failed page's change
    assert source.cursor == "2026-01-20T11:59:59.999000+00:00"
    b.script = {f"{CONTEXT}/rest/api/content": ["401"]}
    with pytest.raises(ConnectorError, match=r"HTTP 401 \(check the username/token secrets\)"):
        list(source.list_ids())


def test_a_hanging_answer_times_out(site: tuple[str, Behaviour]) -> None:
    url, b = site
    b.script = {f"{CONTEXT}/rest/api/content": ["hang", "hang"]}
    started = time.monotonic()
    with pytest.raises(ConnectorError, match=r"timed out \(0.3 s\) after 2 tries"):
        list(connector(url, timeout_s=0.3, max_retries=2).list_ids())
    assert time.monotonic() - started < 3


def test_hostile_and_odd_answers(site: tuple[str, Behaviour]) -> None:
    url, b = site
    b.script = {f"{CONTEXT}/rest/api/content": ["html"]}
    with pytest.raises(ConnectorError, match="invalid JSON"):
        list(connector(url).list_ids())
    b.next_link = "https://evil.example/rest/api/content?start=2"
    with pytest.raises(ConnectorError, match="another host"):
        list(connector(url).list_ids())
    b.next_link = None
    # a server without /version (404): creator and last editor only, and it is not asked again
    VERSIONS_BACKUP = dict(VERSIONS)
    VERSIONS.clear()
    try:
        b.log.clear()
        docs = docs_of(list(connector(url).load()))
    finally:
        VERSIONS.update(VERSIONS_BACKUP)
    assert [(c.person.name, c.role) for c in docs["eng:103"].contributions] == [
        ("Ana Alvarez", Role.AUTHOR),
        ("Cleo Tran", Role.EDITOR),
    ]
    assert sum(1 for p, _, _ in b.log if p.endswith("/version")) == 1
    # a page without a body is a failure naming it; the rest go on
    broken = {**PAGES[1], "body": {}}
    b.pages = [PAGES[0], broken]
    items = list(connector(url).load())
    assert [type(i).__name__ for i in items] == ["SourceDocument", "ConnectorFailure"]
    assert isinstance(items[1], ConnectorFailure) and "page 102: no body.storage" in items[1].error


def test_effective_acl_and_retry_after() -> None:
    default = Acl(groups=frozenset({"staff"}))
    assert effective_acl("c", default, []) == default
    # every level is a clause; one that holds another adds nothing
    assert effective_acl(
        "c", default, [R(frozenset({"a"}), frozenset({"g"})), R(frozenset(), frozenset({"g", "h"}))]
    ).clauses() == [["account:c:a", "group:g"], ["group:g", "group:h"], ["group:staff"]]
    assert effective_acl(
        "c", Acl(public=True), [R(frozenset(), frozenset({"g"})), R(frozenset(), frozenset({"g", "h"}))]
    ) == Acl(groups=frozenset({"g"}))
    two_people = effective_acl(
        "c", default, [R(frozenset({"a"}), frozenset()), R(frozenset({"b"}), frozenset())]
    )
    assert two_people.clauses() == [["account:c:a"], ["account:c:b"], ["group:staff"]]  # nobody passes all
    assert retry_after_s("3") == 3.0 and retry_after_s("soon") is None and retry_after_s(None) is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_from_config_modes(tmp_path: Path) -> None:
    context = SourceContext(base_dir=tmp_path)
    with pytest.raises(ConfigError, match="either 'path'"):
        ConfluenceConnector.from_config(
            SourceConfig(name="c", type="confluence", path=tmp_path, url="https://x.example"), context
        )
    with pytest.raises(ConfigError, match="not an http"):
        ConfluenceConnector.from_config(SourceConfig(name="c", type="confluence", url="ftp://x"), context)
    with pytest.raises(ConfigError, match="field 'page_size'"):
        ConfluenceConnector.from_config(
            SourceConfig.model_validate(
                {"name": "c", "type": "confluence", "url": "https://x.example", "page_size": 0}
            ),
            context,
        )
    source = ConfluenceConnector.from_config(
        SourceConfig.model_validate(
            {"name": "c", "type": "confluence", "url": "https://x.example/wiki/", "space_key": "OPS"}
        ),
        context,
    )
    assert source.cursor is None
