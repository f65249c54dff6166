"""The `files` connector on real files: Markdown, HTML, PDF, text; cursors and ids; broken and hostile input."""

from __future__ import annotations

import io
import logging
import os
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from connectors._shared.text import normalise_text
from connectors.base import (
    Acl,
    Connector,
    ConnectorError,
    ConnectorFailure,
    PersonRef,
    Role,
    SourceDocument,
)
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.files.connector import FilesConnector, glob_match
from connectors.registry import build_connector

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_ACL = Acl(groups=frozenset({"staff"}))
MB = 1024 * 1024


def connector(root: Path, name: str = "docs", **options: object) -> FilesConnector:
    config = SourceConfig.model_validate(
        {"name": name, "type": "files", "path": root, "acl": DEFAULT_ACL, **options}
    )
    built = build_connector(config, SourceContext(base_dir=root))
    assert isinstance(built, FilesConnector)
    return built


def run(
    conn: FilesConnector, since: str | None = None
) -> tuple[dict[str, SourceDocument], dict[str, ConnectorFailure]]:
    docs: dict[str, SourceDocument] = {}
    failures: dict[str, ConnectorFailure] = {}
    for item in conn.load(since):
        if isinstance(item, ConnectorFailure):
            assert item.path is not None
            failures[item.path] = item
        else:
            docs[item.doc_id] = item
    return docs, failures


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def make_pdf(pages: list[str], **info: str) -> bytes:
    """A real PDF: fpdf2 draws the pages, pypdf sets the document info (`title=`, `author=`...)."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
        else:
            pdf.rect(20, 20, 60, 40)  # drawn but no text: what a scan looks like to a text extractor
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    keys = {"title": "/Title", "author": "/Author", "created": "/CreationDate", "modified": "/ModDate"}
    writer.add_metadata({keys[k]: v for k, v in info.items()})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Secret plans."]))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_connector_satisfies_the_protocol(tmp_path: Path) -> None:
    assert isinstance(connector(tmp_path), Connector)


# --- good documents --------------------------------------------------------------------------------

MARKDOWN = """---
title: Deploying the search service
authors:
  - Ada Lovelace <ada@example.com>
  - Grace Hopper
editors: Alan Turing
owner: platform@example.com
tags: [search, ops]
created: 2024-01-05
updated: 2024-03-01T10:30:00+01:00
acl:
  public: false
  groups: [platform]
  users: [ada@example.com]
---
Read this first.

It has two paragraphs.

# Deploying

Top text.

```sh
# not a heading
make deploy
```

## Rollback
Undo   with care.
### Deep ###
Deep text.
"""


def test_markdown_front_matter_sections_people_and_acl(tmp_path: Path) -> None:
    write(tmp_path / "team" / "ops" / "deploy.md", MARKDOWN)
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    doc = docs["docs:team/ops/deploy.md"]
    assert doc.source == "docs" and doc.kind == "doc"
    assert doc.title == "Deploying the search service"
    assert doc.path == ("team", "ops")
    assert doc.url == (tmp_path / "team" / "ops" / "deploy.md").resolve().as_uri()
    assert [(s.heading, s.text) for s in doc.sections] == [
        ((), "Read this first.\n\nIt has two paragraphs."),
        (("Deploying",), "Top text.\n\n```sh\n# not a heading\nmake deploy\n```"),
        (("Deploying", "Rollback"), "Undo with care."),
        (("Deploying", "Rollback", "Deep"), "Deep text."),
    ]
    # the file's own ACL, inside the source's (staff): readers need both
    assert doc.acl == Acl(
        groups=frozenset({"platform"}),
        users=frozenset({"ada@example.com"}),
        within=(frozenset({"group:staff"}),),
    )
    assert doc.tags == ["search", "ops"]
    assert doc.created_at == datetime(2024, 1, 5, tzinfo=UTC)
    assert doc.updated_at == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    assert [(c.person, c.role) for c in doc.contributions] == [
        (PersonRef(account="ada@example.com", name="Ada Lovelace", email="ada@example.com"), Role.AUTHOR),
        (PersonRef(account="Grace Hopper", name="Grace Hopper"), Role.AUTHOR),
        (PersonRef(account="Alan Turing", name="Alan Turing"), Role.EDITOR),
        (PersonRef(account="platform@example.com", email="platform@example.com"), Role.OWNER),
    ]
    assert all(c.at == doc.updated_at and c.weight == 1.0 for c in doc.contributions)


def test_markdown_without_front_matter_uses_h1_then_stem_and_the_default_acl(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# Onboarding guide\n\nWelcome aboard.\n")
    write(tmp_path / "release_notes-2024.markdown", "Only text, no heading.\n")
    write(tmp_path / "bom.md", "\ufeff# With BOM\nBody.\n")
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    assert docs["docs:a.md"].title == "Onboarding guide"
    assert docs["docs:a.md"].acl == DEFAULT_ACL
    assert docs["docs:a.md"].contributions == []
    notes = docs["docs:release_notes-2024.markdown"]
    assert notes.title == "Release notes 2024"
    assert [(s.heading, s.text) for s in notes.sections] == [((), "Only text, no heading.")]
    assert docs["docs:bom.md"].title == "With BOM"
    # No date in the file: updated_at is the file's mtime.
    mtime = datetime.fromtimestamp((tmp_path / "a.md").stat().st_mtime, UTC)
    assert docs["docs:a.md"].updated_at == mtime


HTML = """<!DOCTYPE html>
<html><head>
  <title>Search handbook</title>
  <meta name="author" content="Ada Lovelace, Grace Hopper">
  <meta name="dcterms.created" content="2023-02-01T08:00:00Z">
  <meta property="article:modified_time" content="2024-05-06T12:00:00+02:00">
  <meta name="keywords" content="search, ranking">
  <meta name="acl-groups" content="search-team, sre">
  <meta name="acl-public" content="false">
  <style>body { color: red }</style>
  <script>var SCRIPTJUNK = 1;</script>
</head>
<body>
  <header><a href="/">HEADERJUNK home</a></header>
  <nav><ul><li>NAVJUNK one</li><li>NAVJUNK two</li></ul></nav>
  <div role="navigation">ROLEJUNK menu</div>
  <ol class="breadcrumbs"><li>CRUMBJUNK</li></ol>
  <div hidden>HIDDENJUNK</div>
  <article>
    <header><h1>The   Guide</h1></header>
    <p>Intro   paragraph
       spanning lines.</p>
    <p>Second paragraph with <b>bold</b> text.</p>
    <h2>Install</h2>
    <p>Install <code>whoknows</code>.</p>
    <h3>Linux</h3>
    <ul><li>apt</li><li>snap</li></ul>
    <h2>Usage</h2>
    <table><tr><td>query</td><td>answer</td></tr></table>
    <pre>line one
line two</pre>
    <!-- COMMENTJUNK -->
    <noscript>NOSCRIPTJUNK</noscript>
  </article>
  <aside>ASIDEJUNK</aside>
  <form><label>FORMJUNK</label><input name="q"></form>
  <footer>FOOTERJUNK</footer>
  <script>document.write("SCRIPTJUNK")</script>
</body></html>
"""


def test_html_drops_boilerplate_and_keeps_heading_paths_and_meta(tmp_path: Path) -> None:
    write(tmp_path / "handbook.html", HTML)
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    doc = docs["docs:handbook.html"]
    assert doc.title == "Search handbook"
    assert "JUNK" not in doc.text()
    assert [(s.heading, s.text) for s in doc.sections] == [
        (("The Guide",), "Intro paragraph spanning lines.\nSecond paragraph with bold text."),
        (("The Guide", "Install"), "Install whoknows."),
        (("The Guide", "Install", "Linux"), "apt\nsnap"),
        (("The Guide", "Usage"), "query answer\nline one\nline two"),
    ]
    assert [c.person.account for c in doc.contributions] == ["Ada Lovelace", "Grace Hopper"]
    assert {c.role for c in doc.contributions} == {Role.AUTHOR}
    assert doc.created_at == datetime(2023, 2, 1, 8, tzinfo=UTC)
    assert doc.updated_at == datetime(2024, 5, 6, 10, tzinfo=UTC)
    assert doc.tags == ["search", "ranking"]
    assert doc.acl == Acl(groups=frozenset({"search-team", "sre"}), within=(frozenset({"group:staff"}),))


def test_html_title_falls_back_to_h1_and_honours_a_declared_charset(tmp_path: Path) -> None:
    write(tmp_path / "page.htm", "<html><body><h1>Kaffee</h1><p>Fertig.</p></body></html>")
    latin = '<html><head><meta charset="windows-1252"></head><body><p>Café € menu</p></body></html>'
    write(tmp_path / "legacy.html", latin.encode("cp1252"))
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    assert docs["docs:page.htm"].title == "Kaffee"
    assert docs["docs:legacy.html"].text() == "Café € menu"
    assert docs["docs:legacy.html"].title == "legacy"


def test_pdf_pages_become_sections_with_metadata(tmp_path: Path) -> None:
    data = make_pdf(
        ["First page about vector search.", "Second page about BM25."],
        title="Retrieval notes",
        author="Ada Lovelace; Grace Hopper and Alan Turing",
        created="D:20230102030405Z",
        modified="D:20240607080910+02'00'",
    )
    write(tmp_path / "papers" / "notes.pdf", data)
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    doc = docs["docs:papers/notes.pdf"]
    assert doc.title == "Retrieval notes"
    assert [(s.page, s.text) for s in doc.sections] == [
        (1, "First page about vector search."),
        (2, "Second page about BM25."),
    ]
    assert [(c.person.account, c.role) for c in doc.contributions] == [
        ("Ada Lovelace", Role.AUTHOR),
        ("Grace Hopper", Role.AUTHOR),
        ("Alan Turing", Role.AUTHOR),
    ]
    assert doc.created_at == datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert doc.updated_at == datetime(2024, 6, 7, 6, 9, 10, tzinfo=UTC)
    assert doc.path == ("papers",)


def test_pdf_skips_empty_pages_and_takes_the_first_line_as_title(tmp_path: Path) -> None:
    write(tmp_path / "memo.pdf", make_pdf(["Quarterly memo\nBody of page one.", "", "Page three."]))
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    doc = docs["docs:memo.pdf"]
    assert doc.title == "Quarterly memo"
    assert [s.page for s in doc.sections] == [1, 3]
    assert doc.contributions == []


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_repairable_pdf_loads_and_pypdf_warnings_go_to_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = re.sub(rb"startxref\s+\d+", b"startxref\n999999", make_pdf(["Recovered text."]))
    write(tmp_path / "repaired.pdf", data)
    caplog.set_level(logging.DEBUG, logger="connectors.files.pdf_file")
    # What an application's root handler sees (pytest's own capture also hooks non-propagating loggers).
    at_root = _Collect()
    logging.getLogger().addHandler(at_root)
    try:
        docs, failures = run(connector(tmp_path))
    finally:
        logging.getLogger().removeHandler(at_root)
    assert failures == {}
    assert docs["docs:repaired.pdf"].text() == "Recovered text."
    assert [r.getMessage() for r in at_root.records if r.name.startswith("pypdf")] == []
    relayed = [r.getMessage() for r in caplog.records if r.name == "connectors.files.pdf_file"]
    assert any(m.startswith("repaired.pdf: pypdf: incorrect startxref") for m in relayed), relayed


def test_plain_text_title_is_a_short_first_line_else_the_stem(tmp_path: Path) -> None:
    write(tmp_path / "todo.txt", "Things to do\r\n\r\n\r\n\r\n- ship  it\x07\n")
    write(tmp_path / "long.txt", "x" * 150 + "\nsecond line\n")
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    assert docs["docs:todo.txt"].title == "Things to do"
    assert [s.text for s in docs["docs:todo.txt"].sections] == ["Things to do\n\n- ship it"]
    assert docs["docs:long.txt"].title == "long"


def test_normalise_text_collapses_spaces_and_keeps_paragraphs() -> None:
    raw = "  a\u00a0\u00a0b\t c\x00\x1b \r\n\r\n\r\n\r\nnext\u200b ﬁle\x0cpage  "
    assert normalise_text(raw) == "a b c\n\nnext file\npage"


# --- ids, versions, cursor, listing -----------------------------------------------------------------


def test_ids_and_versions_are_stable_and_versions_follow_content(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A\ntext a\n")
    write(tmp_path / "sub" / "b.txt", "text b\n")
    write(tmp_path / "c.pdf", make_pdf(["text c"]))
    conn = connector(tmp_path)
    first, _ = run(conn)
    second, _ = run(conn)
    assert list(first) == ["docs:a.md", "docs:c.pdf", "docs:sub/b.txt"]  # sorted walk, files before folders
    assert {k: d.version for k, d in first.items()} == {k: d.version for k, d in second.items()}
    assert {k: d.content_hash() for k, d in first.items()} == {k: d.content_hash() for k, d in second.items()}
    write(tmp_path / "sub" / "b.txt", "text b, edited\n")
    third, _ = run(conn)
    assert third["docs:sub/b.txt"].version != first["docs:sub/b.txt"].version
    assert third["docs:a.md"].version == first["docs:a.md"].version


def test_since_filters_on_mtime_with_two_seconds_of_slack(tmp_path: Path) -> None:
    t0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
    ages = {"old.md": timedelta(days=400), "edge-in.md": timedelta(seconds=1.5)}
    ages |= {"edge-out.md": timedelta(seconds=3), "new.md": timedelta(0)}
    for name, age in ages.items():
        path = write(tmp_path / name, f"# {name}\nbody\n")
        stamp = (t0 - age).timestamp()
        os.utime(path, (stamp, stamp))
    conn = connector(tmp_path)
    assert conn.cursor is None
    docs, _ = run(conn, since=t0.isoformat())
    assert sorted(docs) == ["docs:edge-in.md", "docs:new.md"]
    docs, _ = run(conn, since="2024-06-01T12:00:00Z")
    assert sorted(docs) == ["docs:edge-in.md", "docs:new.md"]

    before = datetime.now(UTC)
    docs, _ = run(conn)
    assert len(docs) == 4
    assert conn.cursor is not None
    cursor = datetime.fromisoformat(conn.cursor)
    assert before <= cursor <= datetime.now(UTC)
    assert run(conn, since=conn.cursor)[0] == {}
    os.utime(tmp_path / "old.md")  # touched now, after the cursor
    docs, _ = run(conn, since=conn.cursor)
    assert list(docs) == ["docs:old.md"]


def test_cursor_moves_only_when_a_load_is_exhausted_and_must_be_iso(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "a\n")
    write(tmp_path / "b.md", "b\n")
    conn = connector(tmp_path)
    items = conn.load()
    next(items)
    assert conn.cursor is None
    with pytest.raises(ConnectorError, match="not an ISO-8601"):
        list(conn.load("last tuesday"))


def test_list_ids_filters_without_reading_contents(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A\nbody\n")
    write(
        tmp_path / "Guide.PDF", b"%PDF-1.4 not really"
    )  # listed: existing ids are never pruned for being broken
    write(tmp_path / "drafts" / "wip.md", "draft\n")
    write(tmp_path / "docs" / "drafts" / "deep.md", "draft\n")
    write(tmp_path / "docs" / "keep.html", "<p>keep</p>")
    write(tmp_path / ".git" / "HEAD.md", "hidden folder\n")
    write(tmp_path / ".hidden.md", "hidden file\n")
    write(tmp_path / "image.png", b"\x89PNG")
    write(tmp_path / "report.docx", b"PK")
    write(tmp_path / "scratch.tmp.txt", "excluded by name\n")
    os.mkfifo(tmp_path / "pipe.md")  # opening it would block: neither listing nor loading may touch it
    os.symlink(tmp_path, tmp_path / "loop")  # a symlinked folder is not followed
    conn = connector(tmp_path, exclude=["drafts/*", "**/drafts/*", "*.tmp.txt"])
    ids = list(conn.list_ids())
    assert ids == ["docs:Guide.PDF", "docs:a.md", "docs:docs/keep.html"]
    docs, failures = run(conn)
    assert sorted([*docs, *(str(f.doc_id) for f in failures.values())]) == sorted(ids)
    assert list(failures) == ["Guide.PDF"]

    only_md = connector(tmp_path, include=["*.md"])
    assert list(only_md.list_ids()) == ["docs:a.md", "docs:docs/drafts/deep.md", "docs:drafts/wip.md"]


def test_glob_patterns() -> None:
    assert glob_match("a/b/c.md", "*.md")
    assert glob_match("a/README.md", "README*")
    assert glob_match("drafts/x/y.md", "drafts/*")
    assert glob_match("drafts/y.md", "**/drafts/*") and glob_match("a/drafts/y.md", "**/drafts/*")
    assert not glob_match("a/drafts.md", "drafts/*")
    assert not glob_match("a/b.MD", "*.md")


def test_url_prefix_replaces_file_urls(tmp_path: Path) -> None:
    write(tmp_path / "team space" / "a b.md", "# A\nbody\n")
    docs, _ = run(connector(tmp_path, url_prefix="https://intranet.example/files/"))
    assert docs["docs:team space/a b.md"].url == "https://intranet.example/files/team%20space/a%20b.md"


# --- bad input: one broken file costs that file only --------------------------------------------------


def _truncated_pdf() -> bytes:
    data = make_pdf(["Page one of a report.", "Page two of a report."])
    return data[: len(data) // 2]


def _corrupt_pdf() -> bytes:
    return b"%PDF-1.7\n" + random.Random(7).randbytes(4000)


BAD_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "corrupt.pdf": (_corrupt_pdf, "cannot read PDF (corrupt or truncated)"),
    "truncated.pdf": (_truncated_pdf, "cannot read PDF (corrupt or truncated)"),
    "locked.pdf": (encrypted_pdf, "encrypted PDF"),
    "empty.pdf": (lambda: b"", "empty file (0 bytes)"),
    "scan.pdf": (lambda: make_pdf(["", ""]), "no extractable text (scanned?)"),
    "not-a.pdf": (lambda: b"<html>oops</html>", "not a PDF"),
    "latin1.txt": (lambda: "café au lait".encode("latin-1"), "is not valid UTF-8 (byte 3)"),
    "latin1.md": (lambda: "# Café\n".encode("latin-1"), "is not valid UTF-8 (byte 5)"),
    "utf16.txt": (lambda: "hello".encode("utf-16"), "UTF-16"),
    "binary.md": (lambda: b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)), "binary content"),
    "empty.txt": (lambda: b"", "empty document"),
    "blank.md": (lambda: b"  \n\t\n", "empty document"),
    "front-matter-only.md": (lambda: b"---\ntitle: Nothing else\n---\n", "empty document"),
    "bad-yaml.md": (lambda: b"---\ntitle: [unclosed\n---\nbody\n", "invalid YAML front matter"),
    "python-tag.md": (lambda: b"---\nx: !!python/object/apply:os.system [id]\n---\nbody\n", "invalid YAML"),
    "bad-acl.md": (lambda: b"---\nacl: {public: maybe}\n---\nbody\n", "acl public must be true or false"),
    "acl-typo.md": (lambda: b"---\nacl: {group: [x]}\n---\nbody\n", "acl has unknown keys ['group']"),
    "scripts.html": (
        lambda: b"<html><head><script>a()</script><style>p{}</style></head><body><script>b()</script></body>",
        "no visible text",
    ),
    "bad-meta-acl.html": (
        lambda: b'<meta name="acl-public" content="sometimes"><p>text</p>',
        "acl public must be true or false",
    ),
}


def _with_good_neighbours(root: Path) -> None:
    write(root / "good.md", "# Good\nstill loads\n")
    write(root / "z" / "good.txt", "also loads\n")


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_yields_one_failure_naming_it(tmp_path: Path, name: str) -> None:
    make, phrase = BAD_FILES[name]
    _with_good_neighbours(tmp_path)
    write(tmp_path / name, make())
    docs, failures = run(connector(tmp_path))
    assert sorted(docs) == ["docs:good.md", "docs:z/good.txt"]
    assert list(failures) == [name]
    failure = failures[name]
    assert failure.source == "docs" and failure.doc_id == f"docs:{name}"
    assert name in failure.error and phrase in failure.error, failure.error


def test_all_bad_files_together_cost_nothing_else(tmp_path: Path) -> None:
    _with_good_neighbours(tmp_path)
    for name, (make, _) in BAD_FILES.items():
        write(tmp_path / "bad" / name, make())
    docs, failures = run(connector(tmp_path))
    assert sorted(docs) == ["docs:good.md", "docs:z/good.txt"]
    assert sorted(failures) == sorted(f"bad/{name}" for name in BAD_FILES)
    for name, (_, phrase) in BAD_FILES.items():
        assert phrase in failures[f"bad/{name}"].error


def test_oversized_file_is_rejected_by_size_without_being_read(tmp_path: Path) -> None:
    _with_good_neighbours(tmp_path)
    with (tmp_path / "huge.txt").open("wb") as fh:
        fh.truncate(50 * MB)  # sparse: instant to make, and all NUL, so a read would also fail, differently
    started = time.perf_counter()
    docs, failures = run(connector(tmp_path))
    assert time.perf_counter() - started < 5
    assert sorted(docs) == ["docs:good.md", "docs:z/good.txt"]
    assert failures["huge.txt"].error == "huge.txt: file is 50.0 MB, over the max_file_mb limit of 20"
    small_limit = connector(tmp_path, max_file_mb=0.00001)
    _, failures = run(small_limit)
    assert "over the max_file_mb limit of 1e-05" in failures["good.md"].error


def test_hostile_html_nesting_and_undecodable_file_names(tmp_path: Path) -> None:
    write(tmp_path / "deep.html", "<div>" * 20000 + "deep text" + "</div>" * 20000)
    write(Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.md")), "# Name in Latin-1\n")
    docs, failures = run(connector(tmp_path))
    assert docs["docs:deep.html"].text() == "deep text"
    [failure] = failures.values()
    assert failure.path == "caf\\xe9.md" and failure.doc_id is None
    assert "file name is not valid UTF-8" in failure.error
    assert list(connector(tmp_path).list_ids()) == ["docs:deep.html"]


# --- configuration -----------------------------------------------------------------------------------


def test_config_errors_name_the_source_and_the_field(tmp_path: Path) -> None:
    a_file = write(tmp_path / "file.md", "x")
    cases: list[tuple[dict[str, object], str]] = [
        ({"path": tmp_path / "missing"}, "field 'path': .*missing does not exist"),
        ({"path": a_file}, "field 'path': .*file.md is not a folder"),
        ({}, "field 'path': required"),
        ({"path": tmp_path, "max_file_size": 3}, "option 'max_file_size': Extra inputs"),
        ({"path": tmp_path, "max_file_mb": -1}, "option 'max_file_mb': Input should be greater than 0"),
        ({"path": tmp_path, "include": "*.md"}, "option 'include'"),
        ({"path": tmp_path, "include": []}, "option 'include': .*at least 1 item"),
    ]
    for fields, message in cases:
        config = SourceConfig.model_validate({"name": "wiki", "type": "files", **fields})
        with pytest.raises(ConfigError, match=f"source 'wiki': {message}"):
            build_connector(config, SourceContext(base_dir=tmp_path))


def test_relative_path_resolves_against_the_context_base_dir(tmp_path: Path) -> None:
    write(tmp_path / "corpus" / "a.txt", "hello\n")
    config = SourceConfig(name="rel", type="files", path=Path("corpus"))
    conn = FilesConnector.from_config(config, SourceContext(base_dir=tmp_path))
    assert list(conn.list_ids()) == ["rel:a.txt"]


def test_a_vanished_folder_is_an_error_of_the_whole_source(tmp_path: Path) -> None:
    root = tmp_path / "gone"
    write(root / "a.md", "a\n")
    conn = connector(root)
    (root / "a.md").unlink()
    root.rmdir()
    with pytest.raises(ConnectorError, match="cannot read folder"):
        list(conn.list_ids())
    with pytest.raises(ConnectorError, match="cannot read folder"):
        list(conn.load())
    assert conn.cursor is None


# --- real corpora (read in place, never copied) --------------------------------------------------------


def _real(folder: str) -> Path:
    path = DATA / folder
    if not path.is_dir():
        pytest.fail(f"shared data folder {path} is missing; ../shared must sit beside the project")
    return path


def test_real_pdfs_all_load() -> None:
    conn = connector(_real("pdfs_real"), name="pdfs", include=["*.pdf"])
    docs, failures = run(conn)
    assert failures == {}
    assert len(docs) == 10
    assert all(doc.sections and doc.title for doc in docs.values())
    geotopo = docs["pdfs:GeoTopo-komprimiert.pdf"]
    assert geotopo.title == "Geometrie und Topologie"
    assert [c.person.account for c in geotopo.contributions] == ["Martin Thoma"]
    pages = [s.page or 0 for s in geotopo.sections]
    assert pages == sorted(pages) and pages[-1] == 117 and len(pages) >= 110
    # A producer leftover ("10811.exe") is not taken as the title.
    assert docs["pdfs:scotus-transcript-p1.pdf"].title != "10811.exe"


def test_real_confluence_export_loads_through_the_files_connector() -> None:
    conn = connector(_real("confluence_html_export_varlab"), name="varlab")
    docs, failures = run(conn)
    assert failures == {}
    assert len(docs) >= 400
    assert sorted(conn.list_ids()) == sorted(docs)
    assert all(doc.sections and doc.title for doc in docs.values())
    page = docs["varlab:1070137397.html"]
    assert page.title == "VARLab : Powerline Testing_Module 2A & 2B"
    assert ("VARLab : Powerline Testing_Module 2A & 2B", "MODULE 2A") in {s.heading for s in page.sections}
    assert "Learning Experience" not in page.sections[0].text  # the breadcrumb trail is navigation


# --- a file's ACL narrows its source's, never widens it (issue 14, item 1) -----------------------------


def test_a_file_cannot_widen_its_sources_acl(tmp_path: Path) -> None:
    """Anyone who can write into a staff share must not be able to publish a page by saying so."""
    write(tmp_path / "open.md", "---\nacl: {public: true}\n---\nPublished by its own say-so.\n")
    write(tmp_path / "wider.md", "---\nacl: {groups: [staff, contractors]}\n---\nFor staff and more.\n")
    write(tmp_path / "user.md", "---\nacl: {users: [eve]}\n---\nFor eve, who is not staff.\n")
    write(
        tmp_path / "open.html",
        '<html><head><meta name="acl-public" content="true"></head><body><p>Open page</p></body></html>',
    )
    docs, failures = run(connector(tmp_path))
    assert failures == {}
    assert docs["docs:open.md"].acl == DEFAULT_ACL
    assert docs["docs:open.html"].acl == DEFAULT_ACL
    assert docs["docs:wider.md"].acl == DEFAULT_ACL  # staff, or contractors within staff: staff
    # a user the source does not let in is let in only if she is staff as well
    assert docs["docs:user.md"].acl == Acl(users=frozenset({"eve"}), within=(frozenset({"group:staff"}),))


def test_a_file_may_narrow_its_sources_acl(tmp_path: Path) -> None:
    write(tmp_path / "secret.md", "---\nacl: {groups: [security]}\n---\nBreak-glass steps.\n")
    docs, _ = run(connector(tmp_path))
    acl = docs["docs:secret.md"].acl
    assert acl.clauses() == [["group:security"], ["group:staff"]]
    # a public source lets each file's own ACL stand
    docs, _ = run(connector(tmp_path, acl={"public": True}))
    assert docs["docs:secret.md"].acl == Acl(groups=frozenset({"security"}))
