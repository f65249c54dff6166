"""Confluence HTML space exports: one page file to a wiki document; the HTML-to-sections walk both modes use.

An export folder holds `<Title>_<pageId>.html` or `<pageId>.html` per page, `index.html` (the space overview:
its details table and the page tree) and `attachments/`. The overview is not a document: it holds no
prose, only the titles of the pages, which are documents themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString, PageElement, PreformattedString, Script, Stylesheet, TemplateString

from connectors._shared.text import normalise_text
from connectors.base import (
    Acl,
    Contribution,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
)

OVERVIEW = "index.html"
_PAGE_FILE = re.compile(r"(?:^|_)(\d+)\.html$")
_DATE = re.compile(r"\b([A-Z][a-z]{2,8})\.? (\d{1,2}), (\d{4})\b")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_CREATED = re.compile(r"Created by\s+(.+?)(?:\s*,\s*last modified\b|\s+on\s+[A-Z][a-z]{2,8}\.? \d|$)")
_MODIFIED_BY = re.compile(r"last modified by\s+(.+?)(?:\s+on\s+[A-Z][a-z]{2,8}\.? \d|$)")
_LICENCE_MARK = re.compile(r"\s*\((Unlicensed|Deactivated|Unknown User)\)$", re.I)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    {"address", "article", "blockquote", "caption", "dd", "div", "dl", "dt", "figcaption", "figure", "hr"}
    | {"li", "ol", "p", "section", "table", "tbody", "thead", "tfoot", "tr", "ul", "pre"}
)
_CELLS = frozenset({"td", "th"})
# Chrome and macro furniture: a table of contents repeats the headings, icons and parameters are not prose.
_DROP = ("script", "style", "noscript", "template", "svg", "img", "ac:parameter", "ri:user")
_DROP_CLASSES = frozenset(
    {"toc-macro", "confluence-information-macro-icon", "aui-icon", "expand-control-icon"}
)
_SKIPPED_STRINGS = (PreformattedString, Script, Stylesheet, TemplateString)
_WS = re.compile(r"[ \t\r\f\v]+")
_ATTACHMENT_HREF = re.compile(r"^attachments/")
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)


class PageError(ValueError):
    """An export file that is not a readable Confluence page."""


@dataclass(frozen=True, slots=True)
class PageFile:
    path: Path
    page_id: str | None  # None: the file name does not carry a page id


def page_files(folder: Path) -> list[PageFile]:
    """The page files of an export folder, sorted; the space overview is left out."""
    files = sorted(p for p in folder.glob("*.html") if p.is_file() and p.name != OVERVIEW)
    out = []
    for path in files:
        m = _PAGE_FILE.search(path.name)
        out.append(PageFile(path, m.group(1) if m else None))
    return out


def parse_export_date(text: str | None) -> datetime | None:
    """ "Jan 05, 2021" and "Sept 26, 2024" (Confluence's own spelling) as UTC midnight."""
    m = _DATE.search(text or "")
    month = _MONTHS.get(m.group(1)[:3].lower()) if m else None
    if m is None or month is None:
        return None
    try:
        return datetime(int(m.group(3)), month, int(m.group(2)), tzinfo=UTC)
    except ValueError:
        return None


def sniff_page_date(raw: bytes) -> datetime | None:
    """The page-metadata date read from the raw bytes without parsing the page (incremental runs skip
    older pages this way); None when it is not plainly there."""
    at = raw.find(b"page-metadata")
    if at < 0:
        return None
    end = raw.find(b"</div>", at)
    snippet = raw[at : end if end > 0 else at + 4000].decode("utf-8", "replace")
    tail = re.sub(r"<[^>]*>", " ", snippet).rsplit(" on ", 1)
    return parse_export_date(tail[1]) if len(tail) == 2 else None


def person(display: str) -> PersonRef:
    """The export knows people by display name only. The account is the name as shown; the name drops
    Confluence's "(Unlicensed)" mark so both spellings of one person resolve to one name."""
    shown = " ".join(display.split())
    return PersonRef(account=shown, name=_LICENCE_MARK.sub("", shown) or shown)


def parse_export_page(
    raw: bytes, page: PageFile, *, source: str, acl: Acl, url_base: str | None = None
) -> SourceDocument:
    """One exported page as a wiki document; PageError says why a file is not one."""
    name = page.path.name
    if page.page_id is None:
        raise PageError("no page id in the file name (expected '<Title>_<pageId>.html' or '<pageId>.html')")
    if not raw.strip():
        raise PageError("empty file")
    try:
        html = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PageError(f"not valid UTF-8 (byte {exc.start})") from None
    soup = BeautifulSoup(html, "lxml")
    title_el = soup.find(id="title-text")
    main = soup.find(id="main-content")
    if title_el is None and main is None:
        raise PageError("no #title-text and no #main-content: not a Confluence page export")
    trail = soup.find(id="breadcrumbs")
    crumbs = [a for a in trail.find_all("a") if isinstance(a, Tag)] if isinstance(trail, Tag) else []
    space = next((a.get_text(" ", strip=True) for a in crumbs if a.get("href") == OVERVIEW), None)
    path = tuple(a.get_text(" ", strip=True) for a in crumbs)  # the space's name first, as shown
    title = " ".join(title_el.get_text(" ").split()) if title_el is not None else ""
    if space and title.startswith(f"{space} : "):
        title = title[len(space) + 3 :]
    elif not space and " : " in title:
        title = title.split(" : ", 1)[1]  # every export title starts with "<space name> : "
    title = title or (soup.title.get_text(" ", strip=True) if soup.title else "") or name
    attachments = attachment_names(soup)
    sections = html_sections(main) if main is not None else []
    if attachments:
        sections.append(Section(text="Attachments: " + ", ".join(attachments), heading=("Attachments",)))
    if not sections:  # an empty page (a folder of children) stays findable by its title and people
        sections.append(Section(text=title))
    meta = soup.find(class_="page-metadata")
    people, created, modified = page_people(meta if isinstance(meta, Tag) else None)
    return SourceDocument(
        doc_id=f"{source}:{page.page_id}",
        source=source,
        kind="wiki",
        title=title,
        url=(url_base + quote(name)) if url_base else page.path.resolve().as_uri(),
        sections=sections,
        created_at=created,
        updated_at=modified or created,
        version=content_version(raw),
        acl=acl,
        contributions=people,
        tags=[space] if space else [],
        path=path,
    )


def page_people(meta: Tag | None) -> tuple[list[Contribution], datetime | None, datetime | None]:
    """ "Created by A on DATE" or "Created by A, last modified [by B] on DATE": (people, created, modified)."""
    if meta is None:
        return [], None, None
    text = " ".join(meta.get_text(" ").split())
    author_el, editor_el = meta.find(class_="author"), meta.find(class_="editor")
    creator = author_el.get_text(" ", strip=True) if author_el else None
    editor = editor_el.get_text(" ", strip=True) if editor_el else None
    if not creator and (m := _CREATED.search(text)):
        creator = m.group(1).strip()
    if not editor and (m := _MODIFIED_BY.search(text)):
        editor = m.group(1).strip()
    tail = text.rsplit(" on ", 1)
    when = parse_export_date(tail[1]) if len(tail) == 2 else None
    modified_form = "last modified" in text
    created, modified = (None, when) if modified_form else (when, None)
    people = []
    if creator:
        people.append(Contribution(person=person(creator), role=Role.AUTHOR, at=created or modified))
    if editor and editor != creator:
        people.append(Contribution(person=person(editor), role=Role.EDITOR, at=modified))
    return people, created, modified


def attachment_names(soup: BeautifulSoup) -> list[str]:
    """Files linked under attachments/: the shown name, with the stored file name when they differ."""
    seen: dict[str, str] = {}
    for link in soup.find_all("a", href=_ATTACHMENT_HREF):
        if not isinstance(link, Tag):
            continue
        href = str(link.get("href") or "")
        stored = unquote(href.split("?", 1)[0].rsplit("/", 1)[-1])
        shown = " ".join(link.get_text(" ").split())
        if stored and stored not in seen:
            seen[stored] = f"{shown} ({stored})" if shown and shown != stored else stored
    return list(seen.values())


def storage_soup(storage: str) -> BeautifulSoup:
    """Confluence storage format (XHTML with ac:/ri: macros) as a tree; CDATA code bodies kept as text."""
    text = _CDATA.sub(lambda m: m.group(1).replace("&", "&amp;").replace("<", "&lt;"), storage)
    return BeautifulSoup(text, "html.parser")  # keeps ac:* names; lxml would drop the CDATA bodies


def html_sections(root: Tag | BeautifulSoup) -> list[Section]:
    """Text split at h1-h6, each section with its heading path. Walked without recursion (hostile pages
    nest deep); tables read row by row with ` | ` between cells."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    parts: list[str] = []

    def flush() -> None:
        text = normalise_text("".join(parts))
        parts.clear()
        if text:
            sections.append(Section(text=text, heading=tuple(h for _, h in path)))

    stack: list[PageElement | str] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, _SKIPPED_STRINGS):
                parts.append(_WS.sub(" ", str(node)))
        elif isinstance(node, str):
            parts.append(node)
        elif isinstance(node, Tag):
            if node.name in _DROP or _DROP_CLASSES & set(node.get("class") or ()):
                continue
            level = _HEADINGS.get(node.name)
            if level is not None:
                heading = " ".join(node.get_text(" ").split())
                if heading:
                    flush()
                    while path and path[-1][0] >= level:
                        path.pop()
                    path.append((level, heading))
            elif node.name == "br":
                parts.append("\n")
            elif node.name == "pre" or node.name == "ac:plain-text-body":
                parts.append("\n" + node.get_text() + "\n")
            else:
                block = node.name in _BLOCKS
                parts.append("\n" if block else "")
                stack.append("\n" if block else " | " if node.name in _CELLS else "")
                stack.extend(reversed(node.contents))
    flush()
    return sections
