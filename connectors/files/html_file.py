"""HTML files for the `files` connector: visible text split at headings; title, people, dates, tags, ACL from <meta>."""

from __future__ import annotations

import codecs
import re

from bs4 import BeautifulSoup, Tag
from bs4.dammit import EncodingDetector
from bs4.element import NavigableString, PageElement, PreformattedString, Script, Stylesheet, TemplateString

from connectors._shared.text import normalise_text
from connectors.base import PersonRef, Role, Section
from connectors.files.base import FileInfo, ParsedFile
from connectors.files.text import (
    BINARY_SNIFF_BYTES,
    FileParseError,
    acl_from_mapping,
    decode_text,
    parse_date,
    person_from_string,
    split_names,
    string_list,
)

_DROP_TAGS = ("script", "style", "noscript", "nav", "footer", "aside", "form", "template", "svg", "iframe")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCK_TAGS = frozenset(
    {"address", "article", "blockquote", "caption", "dd", "details", "dialog", "div", "dl", "dt", "fieldset"}
    | {"figcaption", "figure", "hr", "li", "main", "ol", "p", "section", "summary", "table", "tbody", "tfoot"}
    | {"thead", "tr", "ul"}
)
_CELL_TAGS = frozenset({"td", "th"})
_CREATED_META = ("dcterms.created", "article:published_time", "created", "date")
_MODIFIED_META = ("dcterms.modified", "article:modified_time", "modified")
_ACL_META = {"acl-public": "public", "acl-users": "users", "acl-groups": "groups"}
_SKIPPED_STRINGS = (PreformattedString, Script, Stylesheet, TemplateString)  # comments, doctype, CDATA...
_WS = re.compile(r"\s+")
_LINE_BREAKS = re.compile(r"\s*\n\s*")
_UTF8_NAMES = frozenset({"utf-8", "utf-8-sig"})
# Browsers read these labels as windows-1252 (WHATWG Encoding); so do we.
_LATIN1_LABELS = frozenset({"iso-8859-1", "latin-1", "latin1", "ascii", "us-ascii"})


def parse_html(raw: bytes, info: FileInfo) -> ParsedFile:
    """Boilerplate (scripts, navigation, page header and footer, forms) is dropped before reading text."""
    soup = BeautifulSoup(_decode(raw), "lxml")
    meta = _meta(soup)
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    _drop_boilerplate(soup)
    first_h1 = soup.find("h1")
    root = soup.body or soup
    sections = _sections(root)
    if not sections:
        raise FileParseError("no visible text (only scripts, styles or navigation?)")
    title = page_title or (first_h1.get_text(" ", strip=True) if isinstance(first_h1, Tag) else "")
    people: list[tuple[PersonRef, Role]] = []
    for name in split_names(meta.get("author", "")):
        person = person_from_string(name)
        if person is not None:
            people.append((person, Role.AUTHOR))
    acl_fields = {field: meta[key] for key, field in _ACL_META.items() if key in meta}
    return ParsedFile(
        title=title or info.stem,
        sections=sections,
        created_at=next((d for k in _CREATED_META if (d := parse_date(meta.get(k))) is not None), None),
        updated_at=next((d for k in _MODIFIED_META if (d := parse_date(meta.get(k))) is not None), None),
        people=people,
        tags=string_list(meta.get("keywords"), "meta keywords"),
        acl=acl_from_mapping(acl_fields) if acl_fields else None,
    )


def _decode(raw: bytes) -> str:
    """The charset the page declares, else strict UTF-8; undecodable bytes are an error, not mojibake."""
    declared = EncodingDetector.find_declared_encoding(raw, is_html=True)
    try:
        codec = codecs.lookup(declared).name if declared else "utf-8"
    except LookupError:
        codec = "utf-8"  # an unknown label: browsers fall back too
    if declared and declared.lower() in _LATIN1_LABELS:
        codec = "cp1252"
    # A <meta> cannot truly declare UTF-16 (it would not be readable as ASCII): WHATWG reads it as UTF-8.
    if codec in _UTF8_NAMES or codec.startswith("utf-16"):
        return decode_text(raw)
    if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
        raise FileParseError("binary content (NUL bytes), not text")
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise FileParseError(f"is not valid {declared} as its <meta> declares (byte {exc.start})") from None
    if not text.strip():
        raise FileParseError("empty document")
    return text


def _meta(soup: BeautifulSoup) -> dict[str, str]:
    """`<meta name|property=... content=...>`, keys lower-cased, the first of each name wins."""
    values: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        if not isinstance(tag, Tag):
            continue
        key = tag.get("name") or tag.get("property")
        content = tag.get("content")
        if isinstance(key, str) and isinstance(content, str):
            values.setdefault(key.strip().lower(), content.strip())
    return values


def _drop_boilerplate(soup: BeautifulSoup) -> None:
    """One pass over the tags (a CSS select per rule costs a pass each); removal happens after it."""
    doomed = [tag for tag in soup.find_all(True) if _is_boilerplate(tag)]
    for tag in doomed:
        tag.decompose()


def _is_boilerplate(tag: Tag) -> bool:
    if tag.name in _DROP_TAGS:
        return True
    attrs = tag.attrs
    if attrs.get("role") == "navigation" or "hidden" in attrs:
        return True
    marks = (attrs.get("id"), attrs.get("class"), attrs.get("aria-label"))
    if any("breadcrumb" in " ".join(m if isinstance(m, list) else [m]).lower() for m in marks if m):
        return True
    # A page's <header> is chrome; an article's <header> holds its title and byline.
    return tag.name == "header" and tag.find_parent(["article", "main"]) is None


def _sections(root: Tag | BeautifulSoup) -> list[Section]:
    """Walk in document order without recursion (hostile pages nest thousands deep)."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, heading) of the enclosing headings
    parts: list[str] = []

    def flush() -> None:
        text = normalise_text(_LINE_BREAKS.sub("\n", "".join(parts)))
        parts.clear()
        if text:
            sections.append(Section(text=text, heading=tuple(h for _, h in path)))

    stack: list[PageElement | str] = [root]  # plain str items are separators to emit
    while stack:
        node = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, _SKIPPED_STRINGS):
                parts.append(_WS.sub(" ", str(node)))
        elif isinstance(node, str):
            parts.append(node)
        elif isinstance(node, Tag):
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
            elif node.name == "pre":
                parts.append("\n" + node.get_text() + "\n")
            else:
                separator = "\n" if node.name in _BLOCK_TAGS else " " if node.name in _CELL_TAGS else ""
                parts.append(separator)
                stack.append(separator)
                stack.extend(reversed(node.contents))
    flush()
    return sections
