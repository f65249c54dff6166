"""The mediawiki connector over XML exports: the real enwiki sample, and broken or hostile files."""

from __future__ import annotations

import bz2
import random
import string
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from connectors.base import Acl, Connector, ConnectorError, ConnectorFailure, Role, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.mediawiki.connector import MediaWikiConnector
from connectors.registry import CONNECTOR_TYPES, build_connector

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mediawiki_enwiki_sample_gensim"
DUMP = DATA / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
TABLES = DATA / "enwiki-table-markup.xml.bz2"
EXPORT_NS = "http://www.mediawiki.org/xml/export-0.10/"

# Counted independently with plain xml.etree (see independent_count below, which re-checks them):
# 206 pages = 106 ns-0 articles + 99 ns-0 redirects + 1 ns-4 redirect. The MANIFEST's "105 articles,
# 100 redirects" is off by one. On those 106 articles: 73 distinct user names and 14 distinct IPs.
CONTENT_PAGES = 106
NAMED_CONTRIBUTORS = 73
IP_CONTRIBUTORS = 14
NEWEST_REVISION = "2016-05-01T07:08:29Z"
PAGES_AFTER_2016_04_30 = 20


# Missing shared data fails the tests that read it (CI always has ../shared): no skip here.


def connector(path: Path, name: str = "enwiki", **options: object) -> MediaWikiConnector:
    config = SourceConfig.model_validate(
        {"name": name, "type": "mediawiki", "path": path, "acl": {"groups": ["staff"]}, **options}
    )
    return MediaWikiConnector.from_config(config, SourceContext(base_dir=path.parent))


def split(
    items: list[SourceDocument | ConnectorFailure],
) -> tuple[list[SourceDocument], list[ConnectorFailure]]:
    docs = [i for i in items if isinstance(i, SourceDocument)]
    failures = [i for i in items if isinstance(i, ConnectorFailure)]
    return docs, failures


def independent_count(path: Path) -> tuple[set[str], set[str], set[str], str]:
    """Titles, user names, IPs and newest timestamp of ns-0 non-redirect pages, with plain xml.etree."""
    titles: set[str] = set()
    users: set[str] = set()
    ips: set[str] = set()
    newest = ""
    ns = f"{{{EXPORT_NS}}}"
    with bz2.open(path) as raw:
        for _, elem in ET.iterparse(raw):
            if elem.tag != f"{ns}page":
                continue
            if elem.findtext(f"{ns}ns") == "0" and elem.find(f"{ns}redirect") is None:
                titles.add(elem.findtext(f"{ns}title") or "")
                for rev in elem.iter(f"{ns}revision"):
                    users.update(u.text for u in rev.iter(f"{ns}username") if u.text)
                    ips.update(i.text for i in rev.iter(f"{ns}ip") if i.text)
                    newest = max(newest, rev.findtext(f"{ns}timestamp") or "")
            elem.clear()
    return titles, users, ips, newest


@pytest.fixture(scope="module")
def dump_run() -> tuple[MediaWikiConnector, list[SourceDocument], list[ConnectorFailure]]:
    conn = connector(DUMP)
    docs, failures = split(list(conn.load()))
    return conn, docs, failures


def test_real_dump_yields_every_article_and_no_redirect(dump_run) -> None:
    conn, docs, failures = dump_run
    titles, users, ips, newest = independent_count(DUMP)
    assert (len(titles), len(users), len(ips), newest) == (
        CONTENT_PAGES,
        NAMED_CONTRIBUTORS,
        IP_CONTRIBUTORS,
        NEWEST_REVISION,
    )
    assert failures == []
    assert len(docs) == CONTENT_PAGES
    assert {d.title for d in docs} == titles
    assert "AccessibleComputing" not in titles  # a redirect
    assert not any(d.title.startswith("Wikipedia:") for d in docs)  # the ns-4 page
    assert len({d.doc_id for d in docs}) == CONTENT_PAGES
    assert conn.cursor == NEWEST_REVISION
    assert sorted(conn.list_ids()) == sorted(d.doc_id for d in docs)
    assert isinstance(conn, Connector)


def test_registry_builds_the_connector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CONNECTOR_TYPES, "mediawiki", MediaWikiConnector.from_config)
    config = SourceConfig(name="enwiki", type="mediawiki", path=TABLES)
    built = build_connector(config, SourceContext(base_dir=DATA))
    assert isinstance(built, MediaWikiConnector) and built.name == "enwiki"


def test_real_dump_people(dump_run) -> None:
    _, docs, _ = dump_run
    people = {c.person for d in docs for c in d.contributions}
    named = {p.account for p in people if p.name is not None}
    anonymous = {p.account for p in people if p.name is None}
    _, users, ips, _ = independent_count(DUMP)
    assert (named, anonymous) == (users, ips)
    assert (len(named), len(anonymous)) == (NAMED_CONTRIBUTORS, IP_CONTRIBUTORS)
    # pages-articles holds one revision per page, whose parent is not in the export: its contributor
    # edited the page, nobody in view created it, and the bytes they changed are unknown (weight 1).
    assert all(len(d.contributions) == 1 for d in docs)
    assert {c.role for d in docs for c in d.contributions} == {Role.EDITOR}
    anarchism = next(d for d in docs if d.title == "Anarchism")
    (contribution,) = anarchism.contributions
    assert contribution.person.account == "85.193.216.88" and contribution.person.name is None
    assert contribution.at == datetime(2016, 4, 22, 10, 19, 33, tzinfo=UTC)
    assert contribution.weight == 1.0


def test_real_dump_document_fields(dump_run) -> None:
    _, docs, _ = dump_run
    doc = next(d for d in docs if d.title == "Anarchism")
    assert doc.doc_id == "enwiki:12"
    assert doc.source == "enwiki" and doc.kind == "wiki"
    assert doc.url == "https://en.wikipedia.org/wiki/Anarchism"
    assert doc.version == "716551092"
    assert doc.created_at == doc.updated_at == datetime(2016, 4, 22, 10, 19, 33, tzinfo=UTC)
    assert doc.acl == Acl(groups=frozenset({"staff"}))
    spaced = next(d for d in docs if d.title == "Abraham Lincoln")
    assert spaced.url == "https://en.wikipedia.org/wiki/Abraham_Lincoln"


def test_real_dump_text_is_clean(dump_run) -> None:
    _, docs, _ = dump_run
    albedo = next(d for d in docs if d.title == "Albedo")
    text = albedo.text()
    for markup in ("{{", "}}", "[[", "]]", "<ref", "''", "<!--", "thumb|"):
        assert markup not in text, markup
    assert text.startswith("Albedo or reflection coefficient, derived from Latin albedo")
    assert albedo.sections[0].heading == ()
    headings = [s.heading for s in albedo.sections]
    assert ("Terrestrial albedo",) in headings
    assert ("Terrestrial albedo", "White-sky and black-sky albedo") in headings
    assert all("Albedo" not in h[:1] for h in headings[1:])  # the title is not part of the path
    assert "Fresh asphalt | 0.04" in text.splitlines()  # a wikitable, flattened
    assert "Climatology" in albedo.tags and "Radiometry" in albedo.tags
    assert not any(t.startswith("Category:") for t in albedo.tags)
    # No article keeps template, link, ref or comment markup.
    for doc in docs:
        for markup in ("{{", "[[", "<ref", "<!--"):
            assert markup not in doc.text(), (doc.title, markup)


def test_since_yields_only_newer_pages(dump_run) -> None:
    conn = connector(DUMP)
    assert list(conn.load(since=NEWEST_REVISION)) == []
    assert conn.cursor == NEWEST_REVISION
    newer, failures = split(list(conn.load(since="2016-04-30T00:00:00Z")))
    assert failures == [] and len(newer) == PAGES_AFTER_2016_04_30
    assert all(d.updated_at and d.updated_at > datetime(2016, 4, 30, tzinfo=UTC) for d in newer)


def test_tables_file_parses() -> None:
    conn = connector(TABLES, url_base="https://wiki.example/wiki/")
    docs, failures = split(list(conn.load()))
    assert failures == []
    assert sorted(d.title for d in docs) == [
        "Academy Award for Best Production Design",
        "Brahui language",
        "Constructive vote of no confidence",
        "Economy of Estonia",
        "List of Prison Break characters",
    ]
    vote = next(d for d in docs if d.title == "Constructive vote of no confidence")
    assert vote.url == "https://wiki.example/wiki/Constructive_vote_of_no_confidence"
    lines = vote.text().splitlines()
    assert (
        "Date | Opposition candidate (party) | Chancellor (party) | Yes | No | Abstention"
        " | absent/invalid | Vote successful?"
    ) in lines
    assert "27 April 1972 | Rainer Barzel (CDU) | Willy Brandt (SPD) | 247 | 10 | 3 | 236 | no" in lines
    estonia = next(d for d in docs if d.title == "Economy of Estonia")
    assert "Tallink Grupp | 937.8" in estonia.text().splitlines()
    for doc in docs:
        assert "{|" not in doc.text() and "|}" not in doc.text() and "|-" not in doc.text()


def test_folder_of_exports(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "older").mkdir(parents=True)
    (folder / TABLES.name).symlink_to(TABLES)  # a link: the shared data stays where it is
    # Wikimedia's split-dump naming (`.xml-p1p3.bz2`) counts as an export too.
    (folder / "older" / "local.xml-p1p3.bz2").write_bytes(bz2.compress(three_pages().encode()))
    (folder / "notes.txt").write_text("not an export")
    conn = connector(folder)
    docs, failures = split(list(conn.load()))
    assert failures == [] and len(docs) == 5 + 3
    assert conn.cursor == "2024-01-03T10:00:00Z"  # the newest revision in either file
    assert len(set(conn.list_ids())) == 8


# -- small hand-made exports -------------------------------------------------------------------


def page_xml(page_id: int, title: str, *revisions: str, ns: int = 0, redirect: str | None = None) -> str:
    redirect_xml = f'<redirect title="{escape(redirect)}" />' if redirect else ""
    return (
        f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
        f"    {redirect_xml}\n{''.join(revisions)}  </page>\n"
    )


def revision_xml(
    rev_id: int,
    when: str,
    who: str | None,
    text: str | None,
    *,
    parent: int | None = None,
    ip: bool = False,
    size: int | None = None,
) -> str:
    if who is None:
        contributor = '<contributor deleted="deleted" />'
    elif ip:
        contributor = f"<contributor><ip>{who}</ip></contributor>"
    else:
        contributor = f"<contributor><username>{escape(who)}</username><id>7</id></contributor>"
    parent_xml = f"<parentid>{parent}</parentid>" if parent else ""
    size_attr = f' bytes="{size}"' if size is not None else ""
    text_xml = "" if text is None else f'<text xml:space="preserve"{size_attr}>{escape(text)}</text>'
    return (
        f"    <revision>\n      <id>{rev_id}</id>{parent_xml}\n      <timestamp>{when}</timestamp>\n"
        f"      {contributor}\n      <model>wikitext</model>\n      {text_xml}\n    </revision>\n"
    )


def export_xml(
    *pages: str, base: str = "http://wiki.local/index.php?title=Main_Page", schema: str = "0.11"
) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-{schema}/" version="{schema}" xml:lang="en">\n'
        "  <siteinfo>\n    <sitename>Local</sitename>\n"
        f"    <base>{escape(base)}</base>\n"
        '    <namespaces><namespace key="0" case="first-letter" />'
        '<namespace key="6" case="first-letter">Datei</namespace>'
        '<namespace key="14" case="first-letter">Kategorie</namespace></namespaces>\n'
        "  </siteinfo>\n" + "".join(pages) + "</mediawiki>\n"
    )


def three_pages() -> str:
    return export_xml(
        page_xml(
            1, "Page One", revision_xml(11, "2024-01-01T10:00:00Z", "Alice", "First page. [[Kategorie:Eins]]")
        ),
        page_xml(
            2, "Page Two", revision_xml(21, "2024-01-02T10:00:00Z", "Bob", "Second [[Datei:x.png|thumb|pic]]")
        ),
        page_xml(3, "Page Three", revision_xml(31, "2024-01-03T10:00:00Z", "Carol", "Third page text.")),
    )


def test_small_export_local_namespaces_and_url(tmp_path: Path) -> None:
    path = tmp_path / "local.xml"
    path.write_text(three_pages(), encoding="utf-8")
    docs, failures = split(list(connector(path, name="local").load()))
    assert failures == []
    assert [d.title for d in docs] == ["Page One", "Page Two", "Page Three"]
    assert docs[0].url == "http://wiki.local/index.php?title=Page_One"
    assert docs[0].tags == ["Eins"] and docs[0].text() == "First page."
    assert docs[1].text() == "Second"  # the file link, in the wiki's own namespace name, is gone


def test_contributions_aggregate_per_person(tmp_path: Path) -> None:
    revisions = [
        revision_xml(1, "2024-01-01T00:00:00Z", "Alice", "a" * 100),
        revision_xml(2, "2024-01-02T00:00:00Z", "Bob", "a" * 150, parent=1, size=150),
        revision_xml(3, "2024-01-03T00:00:00Z", "Alice", "a" * 120, parent=2),
        revision_xml(4, "2024-01-04T00:00:00Z", "10.0.0.1", "a" * 125, parent=3, ip=True),
        revision_xml(5, "2024-01-05T00:00:00Z", None, "a" * 125 + " done", parent=4),
    ]
    path = tmp_path / "history.xml"
    path.write_text(export_xml(page_xml(9, "History", *revisions)), encoding="utf-8")
    (doc,) = split(list(connector(path).load()))[0]
    assert doc.version == "5"
    assert doc.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert doc.updated_at == datetime(2024, 1, 5, tzinfo=UTC)
    summary = [(c.person.account, c.person.name, c.role, c.weight, c.at) for c in doc.contributions]
    assert summary == [
        ("Alice", "Alice", Role.AUTHOR, 130.0, datetime(2024, 1, 3, tzinfo=UTC)),  # +100, then -30
        ("Bob", "Bob", Role.EDITOR, 50.0, datetime(2024, 1, 2, tzinfo=UTC)),
        ("10.0.0.1", None, Role.EDITOR, 5.0, datetime(2024, 1, 4, tzinfo=UTC)),
    ]  # the deleted contributor of revision 5 is nobody


def test_redirects_and_other_namespaces_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mixed.xml"
    path.write_text(
        export_xml(
            page_xml(1, "Real", revision_xml(1, "2024-01-01T00:00:00Z", "A", "Body")),
            page_xml(
                2,
                "Alias",
                revision_xml(2, "2024-01-01T00:00:00Z", "A", "#REDIRECT [[Real]]"),
                redirect="Real",
            ),
            page_xml(3, "Project:About", revision_xml(3, "2024-01-01T00:00:00Z", "A", "About"), ns=4),
            page_xml(4, "Talk:Real", revision_xml(4, "2024-01-01T00:00:00Z", "A", "Talk"), ns=1),
        ),
        encoding="utf-8",
    )
    assert [d.title for d in split(list(connector(path).load()))[0]] == ["Real"]
    wider = connector(path, namespaces=[0, 4])
    assert [d.title for d in split(list(wider.load()))[0]] == ["Real", "Project:About"]
    assert sorted(wider.list_ids()) == ["enwiki:1", "enwiki:3"]


def test_truncated_xml_keeps_earlier_pages(tmp_path: Path) -> None:
    full = three_pages()
    cut = full[: full.index("Third page")]  # ends inside page 3's <text>
    path = tmp_path / "truncated.xml"
    path.write_text(cut, encoding="utf-8")
    conn = connector(path)
    docs, failures = split(list(conn.load()))
    assert [d.title for d in docs] == ["Page One", "Page Two"]
    (failure,) = failures
    last_line = cut.count("\n") + 1
    assert f"{path}:{last_line}:" in failure.error and failure.path == str(path)
    assert "Page Three" in failure.error and "truncated" in failure.error
    assert conn.cursor is None  # not advanced past a file that broke off
    with pytest.raises(ConnectorError, match="truncated"):
        list(conn.list_ids())


def test_truncated_bz2_keeps_earlier_pages(tmp_path: Path) -> None:
    # bz2 decompresses whole blocks (100 kB at level 1): the pages sit in the first, the cut is later.
    noise = "".join(random.Random(0).choices(string.ascii_letters, k=400_000))
    data = bz2.compress(three_pages().replace("</mediawiki>", f"<!-- {noise} --></mediawiki>").encode(), 1)
    path = tmp_path / "truncated.xml.bz2"
    path.write_bytes(data[: len(data) * 3 // 4])
    docs, failures = split(list(connector(path).load()))
    assert [d.title for d in docs] == ["Page One", "Page Two", "Page Three"]
    (failure,) = failures
    assert str(path) in failure.error and "cannot read" in failure.error


def test_entity_expansion_bomb_fails_fast(tmp_path: Path) -> None:
    entities = "\n".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE mediawiki [\n<!ENTITY l0 "lol">\n' + entities + "\n]>\n"
        f'<mediawiki xmlns="{EXPORT_NS}" version="0.10"><page><title>&l9;</title><ns>0</ns><id>1</id>'
        "<revision><id>1</id><timestamp>2024-01-01T00:00:00Z</timestamp><text>&l9;</text></revision>"
        "</page></mediawiki>\n"
    )
    path = tmp_path / "bomb.xml"
    path.write_text(bomb, encoding="utf-8")
    started = time.monotonic()
    docs, failures = split(list(connector(path).load()))
    assert time.monotonic() - started < 2.0
    assert docs == []
    (failure,) = failures
    assert "DTD" in failure.error and str(path) in failure.error


def test_external_entity_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
        f'<mediawiki xmlns="{EXPORT_NS}"><page><title>&secret;</title></page></mediawiki>\n',
        encoding="utf-8",
    )
    docs, failures = split(list(connector(path).load()))
    assert docs == [] and "refused" in failures[0].error
    assert "root:" not in failures[0].error


def test_invalid_bytes_for_declared_encoding(tmp_path: Path) -> None:
    text = three_pages().replace("Third page text.", "Caf\u00e9 third page.")
    path = tmp_path / "latin1.xml"
    path.write_bytes(text.encode("latin-1"))  # declared UTF-8, written Latin-1
    docs, failures = split(list(connector(path).load()))
    assert [d.title for d in docs] == ["Page One", "Page Two"]
    (failure,) = failures
    bad_line = text[: text.index("Caf")].count("\n") + 1
    assert f"{path}:{bad_line}:" in failure.error and "not well-formed" in failure.error


def test_unknown_encoding_declaration(tmp_path: Path) -> None:
    path = tmp_path / "klingon.xml"
    path.write_bytes(three_pages().replace('encoding="UTF-8"', 'encoding="klingon"').encode())
    docs, failures = split(list(connector(path).load()))
    assert docs == [] and "encoding" in failures[0].error


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    conn = connector(path)
    docs, failures = split(list(conn.load()))
    assert docs == [] and "empty" in failures[0].error and str(path) in failures[0].error
    with pytest.raises(ConnectorError, match="empty"):
        list(conn.list_ids())


def test_not_an_export_and_old_schema(tmp_path: Path) -> None:
    rss = tmp_path / "feed.xml"
    rss.write_text("<rss><channel/></rss>", encoding="utf-8")
    old = tmp_path / "old.xml"
    old.write_text(three_pages().replace("export-0.11", "export-0.3"), encoding="utf-8")
    assert "not a MediaWiki export" in split(list(connector(rss).load()))[1][0].error
    assert "0.3 is older than 0.10" in split(list(connector(old).load()))[1][0].error


def test_page_without_text_is_a_failure_and_others_go_on(tmp_path: Path) -> None:
    path = tmp_path / "notext.xml"
    path.write_text(
        export_xml(
            page_xml(1, "Good", revision_xml(1, "2024-01-01T00:00:00Z", "A", "Body")),
            page_xml(2, "Hollow", revision_xml(2, "2024-01-01T00:00:00Z", "A", None)),
            page_xml(3, "Also good", revision_xml(3, "2024-01-02T00:00:00Z", "A", "More")),
        ),
        encoding="utf-8",
    )
    conn = connector(path)
    docs, failures = split(list(conn.load()))
    assert [d.title for d in docs] == ["Good", "Also good"]
    (failure,) = failures
    assert failure.doc_id == "enwiki:2" and "no <text>" in failure.error
    assert conn.cursor == "2024-01-02T00:00:00Z"  # a page's own problem does not hold the cursor
    assert sorted(conn.list_ids()) == ["enwiki:1", "enwiki:2", "enwiki:3"]  # it still exists


def test_config_errors(tmp_path: Path) -> None:
    context = SourceContext(base_dir=tmp_path)
    both = SourceConfig(name="w", type="mediawiki", path=DUMP, url="http://x/api.php")
    with pytest.raises(ConfigError, match="exactly one"):
        MediaWikiConnector.from_config(both, context)
    bad = SourceConfig.model_validate({"name": "w", "type": "mediawiki", "path": DUMP, "namespace": [0]})
    with pytest.raises(ConfigError, match="namespace"):
        MediaWikiConnector.from_config(bad, context)
    missing = connector(tmp_path / "nope")
    with pytest.raises(ConnectorError, match="does not exist"):
        list(missing.load())
