"""Streaming reader for MediaWiki XML exports (schema 0.10 and later, plain or .bz2), DTD-free."""

from __future__ import annotations

import bz2
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from connectors.base import to_utc
from connectors.mediawiki.wikitext import WikiPage, WikiRevision

_ROOT_TAG = re.compile(r"^\{http://www\.mediawiki\.org/xml/export-(\d+)\.(\d+)/\}mediawiki$")
_MIN_SCHEMA = (0, 10)


class ExportError(Exception):
    """An export file that cannot be read on: names the file and the line where reading stopped."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class SiteInfo:
    """The export's `<siteinfo>`: the wiki's name, its main page URL and namespace names."""

    sitename: str | None = None
    base: str | None = None
    namespaces: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PageProblem:
    """A page in a wanted namespace that cannot become a document (no id, no text...)."""

    reason: str
    line: int
    page_id: int | None = None
    title: str | None = None


@dataclass
class _PageState:
    title: str | None = None
    ns: int | None = None
    page_id: int | None = None
    redirect: bool = False
    revisions: list[WikiRevision] = field(default_factory=list)
    latest_key: tuple[datetime, int] | None = None
    text: str | None = None
    text_problem: str | None = "the page has no <revision>"
    model: str = "wikitext"
    problem: str | None = None


def iter_export(
    path: Path, namespaces: frozenset[int] | None = None, *, with_text: bool = True
) -> Iterator[SiteInfo | WikiPage | PageProblem]:
    """Yield the siteinfo, then each non-redirect page in `namespaces` (all when None), as parsed.

    Memory stays flat: each revision is reduced to its metadata as soon as it ends, only the
    latest text is kept. A broken file raises ExportError after every complete page before the
    break was yielded. DTDs are refused, so no entity expansion or external fetch can happen.
    """
    opener = bz2.open if path.name.endswith(".bz2") else open
    try:
        with opener(path, "rb") as raw:
            yield from _parse(path, raw, namespaces, with_text)
    except ExportError:
        raise
    except (OSError, EOFError) as exc:  # bz2 corruption, truncated stream, unreadable file
        raise ExportError(path, f"cannot read file: {exc}") from exc


def _parse(
    path: Path, raw: IO[bytes], namespaces: frozenset[int] | None, with_text: bool
) -> Iterator[SiteInfo | WikiPage | PageProblem]:
    parser = DefusedET.DefusedXMLParser(
        target=TreeBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )

    def line() -> int:
        expat = getattr(parser, "parser", None)  # gone once the parser is closed
        return int(expat.CurrentLineNumber) if expat is not None else 0

    ns = ""
    root: Element | None = None
    page: _PageState | None = None
    page_line = depth = 0
    try:
        for event, elem in DefusedET.iterparse(raw, events=("start", "end"), parser=parser):
            if root is None:
                ns = _check_root(path, elem.tag)
                root = elem
            if event == "start":
                depth += 1
                if depth == 2 and elem.tag == f"{ns}page":
                    page, page_line = _PageState(), line()
                continue
            depth -= 1
            tag = elem.tag[len(ns) :] if elem.tag.startswith(ns) else elem.tag
            if depth == 1 and tag == "siteinfo":
                yield _siteinfo(elem, ns)
                root.clear()
            elif page is None:
                continue
            elif depth == 2:  # a direct child of <page>
                _page_field(page, tag, elem, ns, namespaces, with_text)
            elif depth == 1 and tag == "page":
                result = _finish(page, page_line) if _wanted(page, namespaces) else None
                if result is not None:
                    yield result
                page = None
                root.clear()
    except ParseError as exc:
        where = getattr(exc, "position", (line(), 0))[0]
        if root is None:
            raise ExportError(path, f"empty or not XML: {exc}", where) from exc
        raise ExportError(path, f"broken XML{_in_page(page)}: {_parse_message(exc)}", where) from exc
    except DefusedXmlException as exc:
        raise ExportError(
            path, f"refused: DTD or entity declarations are not allowed in an export ({exc})", line()
        ) from exc
    except (LookupError, ValueError) as exc:  # expat cannot use the declared encoding
        raise ExportError(path, f"cannot decode the file: {exc}", line()) from exc


def _page_field(
    page: _PageState,
    tag: str,
    elem: Element,
    ns: str,
    namespaces: frozenset[int] | None,
    with_text: bool,
) -> None:
    if tag == "title":
        page.title = elem.text or ""
    elif tag == "ns":
        page.ns = _int(elem.text)
        if page.ns is None:
            page.problem = page.problem or f"bad <ns> {elem.text!r}"
    elif tag == "id":
        page.page_id = _int(elem.text)
    elif tag == "redirect":
        page.redirect = True
    elif tag == "revision":
        if _wanted(page, namespaces):
            _add_revision(page, elem, ns, with_text)
        elem.clear()


def _check_root(path: Path, tag: str) -> str:
    match = _ROOT_TAG.match(tag)
    if match is None:
        raise ExportError(path, f"not a MediaWiki export: root element is {tag!r}", 1)
    version = (int(match.group(1)), int(match.group(2)))
    if version < _MIN_SCHEMA:
        raise ExportError(path, f"export schema {version[0]}.{version[1]} is older than 0.10", 1)
    return tag[: -len("mediawiki")]


def _siteinfo(elem: Element, ns: str) -> SiteInfo:
    names: dict[int, list[str]] = {}
    for item in elem.iter(f"{ns}namespace"):
        key = _int(item.get("key"))
        if key is not None and item.text:
            names.setdefault(key, []).append(item.text)
    return SiteInfo(
        sitename=elem.findtext(f"{ns}sitename"), base=elem.findtext(f"{ns}base"), namespaces=names
    )


def _wanted(page: _PageState, namespaces: frozenset[int] | None) -> bool:
    if page.redirect:
        return False
    return namespaces is None or page.ns is None or page.ns in namespaces


def _add_revision(page: _PageState, elem: Element, ns: str, with_text: bool) -> None:
    rev_id = _int(elem.findtext(f"{ns}id"))
    stamp = elem.findtext(f"{ns}timestamp")
    try:
        when = to_utc(datetime.fromisoformat((stamp or "").replace("Z", "+00:00")))
    except ValueError:
        page.problem = page.problem or f"revision {rev_id} has a bad <timestamp> {stamp!r}"
        return
    if rev_id is None:
        page.problem = page.problem or "a revision has no numeric <id>"
        return
    text_elem = elem.find(f"{ns}text")
    size = _int(text_elem.get("bytes")) if text_elem is not None else None
    text = text_elem.text if text_elem is not None else None
    if size is None and text is not None:
        size = len(text.encode("utf-8"))
    page.revisions.append(
        WikiRevision(
            rev_id=rev_id,
            timestamp=when,
            parent_id=_int(elem.findtext(f"{ns}parentid")),
            user=_contributor(elem.find(f"{ns}contributor"), ns),
            size=size,
        )
    )
    key = (when, rev_id)
    if page.latest_key is None or key >= page.latest_key:
        page.latest_key = key
        page.model = elem.findtext(f"{ns}model") or "wikitext"
        page.text, page.text_problem = None, None
        if text_elem is None:
            page.text_problem = f"latest revision {rev_id} has no <text>"
        elif text_elem.get("deleted") is not None:
            page.text_problem = f"the text of latest revision {rev_id} is deleted"
        elif text is None and (size or 0) > 0:
            page.text_problem = f"latest revision {rev_id} has no text content (a stub dump?)"
        elif with_text:
            page.text = text or ""


def _contributor(elem: Element | None, ns: str) -> str | None:
    if elem is None or elem.get("deleted") is not None:
        return None
    name = (elem.findtext(f"{ns}username") or elem.findtext(f"{ns}ip") or "").strip()
    return name or None


def _finish(page: _PageState, line: int) -> WikiPage | PageProblem | None:
    if page.problem is None:
        if page.page_id is None:
            page.problem = "the page has no numeric <id>"
        elif not page.title:
            page.problem = "the page has no <title>"
        elif page.ns is None:
            page.problem = "the page has no <ns>"
        elif page.text_problem is not None:
            page.problem = page.text_problem
    if page.problem is not None:
        return PageProblem(page.problem, line, page.page_id, page.title)
    assert page.page_id is not None and page.title is not None and page.ns is not None
    revisions = tuple(sorted(page.revisions, key=lambda r: (r.timestamp, r.rev_id)))
    return WikiPage(page.page_id, page.ns, page.title, page.text or "", revisions, page.model)


def _in_page(page: _PageState | None) -> str:
    if page is None:
        return ""
    return f" in page {page.title!r}" if page.title else " in a page"


def _parse_message(exc: ParseError) -> str:
    message = str(exc)
    if message.startswith("no element found"):
        return f"{message} (the file ends early: truncated?)"
    return message


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
