"""What the API tells callers beyond the documents they may see (issue 14, items 2 to 5): error bodies,
anonymous callers and the directory, names and ids from hidden documents, timing and counters. Real
pipeline, model, SQLite and FAISS; the app over HTTP on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import (
    Acl,
    ConnectorFailure,
    Contribution,
    DirectoryPerson,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
)
from connectors.config import SourceConfig
from service.app import create_app
from service.engine import Engine
from service.settings import Settings
from tests.helpers import ListConnector, ListDirectory, source_config
from tests.service.conftest import proxy_headers, serve, settings_for

LEGAL = Acl(groups=frozenset({"legal"}))
AT = datetime(2026, 1, 10, tzinfo=UTC)


def doc(source: str, native: str, title: str, text: str, people: list[PersonRef], acl: Acl) -> SourceDocument:
    return SourceDocument(
        doc_id=f"{source}:{native}",
        source=source,
        kind="doc",
        title=title,
        sections=[Section(text=text)],
        updated_at=AT,
        version=content_version(text.encode()),
        acl=acl,
        contributions=[Contribution(person=p, role=Role.AUTHOR, at=AT) for p in people],
    )


JANE_PRIVATE = PersonRef(account="jane@falcon.example", name="Jane Doe (Falcon M&A)")
JANE = PersonRef(account="jane@falcon.example", name="Jane Doe")
MAIL = [
    # seen first, in a document only legal may read: it must not name Jane anywhere else
    doc(
        "mail",
        "deal",
        "Deal room",
        "Falcon acquisition term sheet and escrow figures.",
        [JANE_PRIVATE],
        LEGAL,
    ),
    doc(
        "mail",
        "offsite",
        "Team offsite",
        "The kayak offsite is on the lake in June.",
        [JANE],
        Acl(public=True),
    ),
]
WIKI = [  # a lone "Alex", hidden, seen before the public forum's Alex: no "alex.2" may give it away
    doc(
        "wiki",
        "audit",
        "Audit notes",
        "Kayak rental audit figures.",
        [PersonRef(account="alex", name="Alex")],
        LEGAL,
    ),
]
FORUM = [
    doc(
        "forum",
        "7",
        "Kayak tips",
        "Kayak paddles should match your height.",
        [PersonRef(account="ak", name="Alex")],
        Acl(public=True),
    ),
    doc(
        "forum",
        "8",
        "Chloe on kayaks",
        "Kayak safety: wear a vest.",
        [PersonRef(account="chloe", name="Chloe")],
        Acl(public=True),
    ),
    doc(
        "forum",
        "9",
        "Dora on kayaks",
        "Kayak storage rules for the boathouse.",
        [PersonRef(account="dora", name="Dora")],
        LEGAL,
    ),
]
DIRECTORY = [
    DirectoryPerson(
        person_id="chloe.martin",
        name="Chloe Martin",
        team="Platform",
        title="Database lead",
        timezone="Europe/Paris",
        mentor_opt_in=True,
        mentor_capacity=2,
        accounts=(("forum", "chloe"),),
    ),
    DirectoryPerson(person_id="dora.diaz", name="Dora Diaz", team="Legal", accounts=(("forum", "dora"),)),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[tuple[str, Engine]]:
    home = tmp_path_factory.mktemp("disclosure")
    settings = settings_for(home, trusted_proxies=["127.0.0.1"])
    engine = Engine(settings, embedder=embedder)
    broken = ConnectorFailure(
        source="forum", doc_id="forum:10", error="forum:10: secret-folder/10.json: bad JSON"
    )
    pairs = [
        (
            SourceConfig.model_validate({"name": "people", "type": "people"}),
            ListDirectory("people", DIRECTORY),
        ),
        (source_config("mail"), ListConnector("mail", MAIL)),
        (source_config("wiki"), ListConnector("wiki", WIKI)),
        (source_config("forum"), ListConnector("forum", [*FORUM, broken])),
    ]
    report = engine.pipeline().run(pairs)  # type: ignore[arg-type]
    assert report.status == "partial", report.as_dict()  # the broken forum file
    with serve(create_app(settings, engine=engine)) as url:
        yield url, engine


ADMIN = proxy_headers("root", "whoknows-admins")
STAFF = proxy_headers("sam", "staff")


def test_anonymous_is_off_unless_turned_on(tmp_path: Path, embedder: Any) -> None:
    """Item 3: the default is safe for an intranet: no identity, no answer."""
    assert Settings().anonymous is False
    settings = Settings(home=tmp_path, rate_limit_per_minute=0)
    with (
        serve(create_app(settings, engine=Engine(settings, embedder=embedder))) as url,
        httpx.Client(base_url=url) as c,
    ):
        for path in ("/search?q=kayak", "/sources", "/experts?q=kayak", "/people/chloe.martin"):
            assert c.get(path).status_code == 401, path
        assert c.get("/health").status_code == 200


def test_anonymous_callers_see_people_only_through_their_public_work(served: tuple[str, Engine]) -> None:
    """Item 3: no directory facts; someone whose work is all hidden does not exist for them."""
    url, _ = served
    with httpx.Client(base_url=url, timeout=60) as c:
        chloe = c.get("/people/chloe.martin").json()
        assert chloe["counts"] == {"author": 1}
        assert (chloe["team"], chloe["title"], chloe["timezone"], chloe["mentor"]) == (None, None, None, None)
        assert chloe["name"] == "Chloe"  # as her public work names her; the directory's name is a fact
        assert c.get("/people/dora.diaz").status_code == 404  # directory only, and legal work only
        experts = c.get("/experts", params={"q": "kayak safety vest"}).json()["experts"]
        assert experts and all(e["team"] is None and e["mentor"] is None for e in experts)
        assert "Platform" not in str(experts) and "Europe/Paris" not in str(experts)
        assert c.get("/experts", params={"q": "kayak", "mentors_only": True}).json()["experts"] == []
        assert c.get("/experts", params={"q": "kayak", "team": "Platform"}).json()["experts"] == []
        # signed in, the directory is there
        staff = c.get("/people/chloe.martin", headers=STAFF).json()
        assert staff["team"] == "Platform" and staff["mentor"]["available"] is True
        assert staff["name"] == "Chloe Martin"


def test_names_and_ids_come_from_what_the_caller_may_see(served: tuple[str, Engine]) -> None:
    """Item 4: a hidden document seen first names nobody, and an id suffix tells of no namesake."""
    url, engine = served
    with httpx.Client(base_url=url, timeout=60) as c:
        offsite = c.get("/documents/mail:offsite").json()
        [jane] = offsite["contributors"]
        assert jane == {
            "person_id": "mail:jane@falcon.example",
            "name": "Jane Doe",
            "role": "author",
            "at": jane["at"],
        }
        bodies = [
            c.get("/experts", params={"q": q, "k": 20}).text
            for q in ("kayak offsite on the lake", "kayak paddles height", "kayak")
        ]
        bodies.append(c.get("/people/mail:jane@falcon.example").text)
        bodies.append(c.post("/ask", json={"question": "when is the kayak offsite"}).text)
        for body in bodies:
            assert "M&A" not in body and "Falcon M" not in body
            assert ".2" not in body and "wiki:" not in body
        assert "forum:ak" in bodies[1]
        assert c.get("/people/wiki:alex").status_code == 404  # known only from a legal document
        legal = c.get("/documents/mail:deal", headers=proxy_headers("lea", "legal")).json()
        assert legal["contributors"][0]["name"] == "Jane Doe (Falcon M&A)"  # legal sees the deal room
    # the ids stored at ingest still carry the hidden names: the operator's view, never shown
    stored = {r[0] for r in engine.store.db.execute("SELECT person_id FROM people")}
    assert {"jane.doe.falcon.m.a", "alex.2"} <= stored


def test_no_timing_and_no_hidden_counts(served: tuple[str, Engine]) -> None:
    """Item 5: no took_ms; failure counts (which may be hidden documents) for admins only; freshness is
    the caller's sources' last sync, which is when the run started."""
    url, engine = served
    with httpx.Client(base_url=url, timeout=60) as c:
        for r in (
            c.get("/search", params={"q": "kayak"}),
            c.get("/experts", params={"q": "kayak"}),
            c.post("/ask", json={"question": "kayak storage"}),
        ):
            assert r.status_code == 200 and "took_ms" not in r.json(), r.url
        anonymous = c.get("/sources").json()
        admin = c.get("/sources", headers=ADMIN).json()
    forum = {s["source"]: s for s in anonymous["sources"]}["forum"]
    assert forum["failures"] is None and forum["status"] == "ok" and forum["documents"] == 2
    assert "wiki" not in {s["source"] for s in anonymous["sources"]}
    admin_forum = {s["source"]: s for s in admin["sources"]}["forum"]
    assert admin_forum["failures"] == 1 and admin_forum["status"] == "partial"
    ((started,),) = engine.state.query("SELECT started_at FROM runs ORDER BY id DESC LIMIT 1")
    assert forum["last_success_at"] == started and anonymous["index"]["updated_at"] == started


def test_error_bodies_carry_no_exception_text(tmp_path: Path, embedder: Any) -> None:
    """Item 2: a broken index, a broken sources file and a failed run answer without the exception's
    text, which names data paths; the log keeps it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "snapshots").write_text("not a folder")  # every look for CURRENT fails with an OSError
    sources = tmp_path / "secret-config" / "sources.toml"
    sources.parent.mkdir()
    sources.write_text("[[sources]]\nname = 'x'\ntype = 'nonsense'\n")
    settings = settings_for(home, trusted_proxies=["127.0.0.1"], reindex_config=sources)
    with (
        serve(create_app(settings, engine=Engine(settings, embedder=embedder))) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        ready = c.get("/ready")
        assert ready.status_code == 503 and str(home) not in ready.text and "Errno" not in ready.text
        start = c.post("/admin/reindex", headers=ADMIN)
        assert start.status_code == 503 and "secret-config" not in start.text and "nonsense" not in start.text


def test_a_reindex_report_shows_counts_not_exception_text(tmp_path: Path, embedder: Any) -> None:
    folder = tmp_path / "private-share"
    folder.mkdir()
    (folder / "ok.md").write_text("# Fine\n\nA readable page.\n")
    (folder / "bad.md").write_text("---\nacl: {public: maybe}\n---\nbody\n")
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f"[[sources]]\nname = 'share'\ntype = 'files'\npath = '{folder}'\nacl = {{ public = true }}\n"
    )
    settings = settings_for(tmp_path / "home", trusted_proxies=["127.0.0.1"], reindex_config=sources)
    with (
        serve(create_app(settings, engine=Engine(settings, embedder=embedder))) as url,
        httpx.Client(base_url=url, timeout=60, headers=ADMIN) as c,
    ):
        assert c.post("/admin/reindex").status_code == 202
        deadline = time.monotonic() + 300
        while c.get("/admin/reindex").json()["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        body = c.get("/admin/reindex").text
        last = c.get("/admin/reindex").json()["last"]
    assert last["status"] == "partial" and last["sources"][0]["failures"] == 1
    assert "bad.md" not in body and "private-share" not in body and "maybe" not in body
