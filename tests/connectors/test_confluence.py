"""Confluence: the real HTML space export, and the REST API served in its documented shapes on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from bs4 import BeautifulSoup

from connectors.base import ConnectorError, ConnectorFailure, Role, SourceDocument
from connectors.config import SourceConfig, SourceContext
from connectors.confluence.connector import ConfluenceConnector


def export_connector(path: Path) -> ConfluenceConnector:
    config = SourceConfig.model_validate({"name": "conf", "type": "confluence", "path": path})
    return ConfluenceConnector.from_config(config, SourceContext(base_dir=path))


def test_real_space_export(shared_data):
    folder = shared_data / "confluence_html_export_varlab"
    items = list(export_connector(folder).load())
    docs = [i for i in items if isinstance(i, SourceDocument)]
    assert len(docs) == len(items) == 405
    creators, editors = set(), set()  # independent count straight from the HTML
    for f in folder.glob("*.html"):
        meta = BeautifulSoup(f.read_bytes(), "lxml").select_one(".page-metadata")
        if meta is not None:
            creators |= {a.get_text(" ", strip=True) for a in meta.select(".author")}
            editors |= {a.get_text(" ", strip=True) for a in meta.select(".editor")}
    assert (len(creators), len(editors)) == (74, 37)
    assert {c.person.account for d in docs for c in d.contributions if c.role is Role.AUTHOR} == creators
    assert {c.person.account for d in docs for c in d.contributions if c.role is Role.EDITOR} <= editors
    assert sum(1 for d in docs if d.path) == 405
    page = next(d for d in docs if d.doc_id == "conf:1100578817")
    assert page.path[-1] == "XTP7.02 - Climate Change" and not page.title.startswith("VARLab :")
    assert any("1115193348.docx" in s.text for s in page.sections)
    assert set(export_connector(folder).list_ids()) == {d.doc_id for d in docs}


def test_export_bad_pages(tmp_path):
    (tmp_path / "Good_1234567.html").write_text(
        '<html><div id="title-text">S : Good</div><div class="page-metadata">Created by Ana Alvarez, '
        'last modified by <span class="editor">Ben Okafor</span> on Jan 05, 2021</div>'
        '<div id="main-content"><h2>Setup</h2><p>Install it.</p></div></html>'
    )
    (tmp_path / "Nothing_2345678.html").write_text("<html><body>no export here</body></html>")
    (tmp_path / "Latin_3456789.html").write_bytes(b"<html>\xe9\xff</html>")
    (tmp_path / "Empty_4567890.html").write_bytes(b"")
    items = list(export_connector(tmp_path).load())
    (doc,) = [i for i in items if isinstance(i, SourceDocument)]
    assert doc.sections[0].heading == ("Setup",) and doc.updated_at and doc.updated_at.year == 2021
    assert [c.person.account for c in doc.contributions] == ["Ana Alvarez", "Ben Okafor"]
    errors = sorted(i.error for i in items if isinstance(i, ConnectorFailure))
    assert len(errors) == 3 and any("Latin_3456789.html: not valid UTF-8" in e for e in errors)


PAGES = [
    {
        "id": str(100 + i),
        "type": "page",
        "title": f"Runbook {i}",
        "body": {"storage": {"value": f"<h2>Steps</h2><p>Restart service {i} with systemctl.</p>"}},
        "version": {
            "number": 3,
            "when": "2026-02-01T10:00:00.000Z",
            "by": {"accountId": "u2", "displayName": "Ben Okafor"},
        },
        "history": {
            "createdBy": {"accountId": "u1", "displayName": "Ana Alvarez"},
            "createdDate": "2025-11-01T09:00:00.000Z",
        },
        "ancestors": [{"id": "1", "title": "Operations"}],
        "restrictions": {
            "read": {
                "restrictions": {
                    "user": {"results": []},
                    "group": {"results": [{"name": "sre"}] if i == 2 else []},
                }
            }
        },
        "_links": {"webui": f"/spaces/OPS/pages/{100 + i}"},
    }
    for i in range(3)
]


class Api(BaseHTTPRequestHandler):
    script: ClassVar[list[str]] = []  # behaviours consumed in order: "429", "500", "hang"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.script:
            step = self.script.pop(0)
            if step == "hang":
                time.sleep(3)
                return
            self.send_response(int(step))
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path.endswith("/version"):
            body: dict[str, object] = {
                "results": [
                    {
                        "number": 3,
                        "when": "2026-02-01T10:00:00Z",
                        "by": {"accountId": "u2", "displayName": "Ben Okafor"},
                    }
                ]
            }
        elif url.path in ("/rest/api/content", "/rest/api/content/search"):
            start = int(query.get("start", ["0"])[0])
            results = PAGES[start : start + 2]
            links = (
                {"next": f"/rest/api/content?type=page&limit=2&start={start + 2}"}
                if start + 2 < len(PAGES)
                else {}
            )
            body = {"results": results, "start": start, "limit": 2, "size": len(results), "_links": links}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Api.script = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def api_connector(url: str, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    config = SourceConfig.model_validate(
        {
            "name": "ops",
            "type": "confluence",
            "url": url,
            "space": "OPS",
            "backoff_s": 0.01,
            "max_retries": 3,
            "acl": {"groups": ["staff"]},
        }
    )
    return ConfluenceConnector.from_config(config, SourceContext(base_dir=Path("."), timeout_s=timeout_s))


def test_api_pages_pagination_people_and_restrictions(api):
    docs = list(api_connector(api).load())
    assert [d.doc_id for d in docs] == ["ops:100", "ops:101", "ops:102"]
    assert all(isinstance(d, SourceDocument) for d in docs)
    first = docs[0]
    assert isinstance(first, SourceDocument)
    assert [(c.person.name, c.role) for c in first.contributions] == [
        ("Ana Alvarez", Role.AUTHOR),
        ("Ben Okafor", Role.EDITOR),
    ]
    assert first.sections[0].heading == ("Steps",) and first.path == ("Operations",)
    assert first.acl.groups == {"staff"}
    restricted = docs[2]
    assert (
        isinstance(restricted, SourceDocument)
        and restricted.acl.groups == {"sre"}
        and not restricted.acl.public
    )


def test_api_retries_429_then_fails_clearly_on_500s_and_timeouts(api):
    Api.script = ["429"]
    assert len(list(api_connector(api).list_ids())) == 3
    Api.script = ["500", "500", "500"]
    with pytest.raises(ConnectorError, match="HTTP 500 after 3 tries"):
        list(api_connector(api).list_ids())
    Api.script = ["hang", "hang", "hang"]
    started = time.monotonic()
    with pytest.raises(ConnectorError, match="timed out"):
        list(api_connector(api, timeout_s=0.3).list_ids())
    assert time.monotonic() - started < 3
