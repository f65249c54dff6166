"""Confluence (type = "confluence"): an HTML space export folder, or the REST API when `url` is set."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from connectors.base import (
    ConnectorError,
    ConnectorFailure,
    Contribution,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
)
from connectors.config import ConfigError, SourceConfig, SourceContext

_META = re.compile(
    r"Created by\s+(?P<creator>.+?)\s*(?:,\s*last modified(?: by\s+(?P<editor>.+?))?\s+on\s+(?P<date>[A-Z][a-z]{2} \d{1,2}, \d{4}))?\s*$"
)
_PAGE_ID = re.compile(r"(?:_|^)(\d{4,})\.html$")
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%b %d, %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _sections(main: Tag) -> list[Section]:
    """Split the page body at headings; each section keeps its heading path."""
    for bad in main.select("script, style, noscript"):
        bad.decompose()
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []

    def flush() -> None:
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(buffer)).strip()
        if text:
            sections.append(Section(text=text, heading=tuple(h for _, h in path)))
        buffer.clear()

    for node in main.find_all([*HEADINGS, "p", "li", "td", "th", "pre", "blockquote"]):
        if node.name in HEADINGS:
            flush()
            level = int(node.name[1])
            path[:] = [p for p in path if p[0] < level]
            path.append((level, node.get_text(" ", strip=True)))
        elif not node.find_parent(["li", "td", "th", "pre", "blockquote"]) or node.name in ("td", "th"):
            text = node.get_text(" ", strip=True)
            if text:
                buffer.append(text)
    flush()
    return sections


def parse_export_page(raw: bytes, name: str) -> dict:  # type: ignore[type-arg]
    """The parts of one exported page; raises ValueError naming what is missing."""
    try:
        html = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not valid UTF-8 (byte {exc.start})") from None
    soup = BeautifulSoup(html, "lxml")
    main = soup.select_one("#main-content") or soup.select_one("#content")
    if main is None or soup.select_one("#title-text") is None:
        raise ValueError(f"{name}: no #title-text or #main-content (not a Confluence page export?)")
    title_node = soup.select_one("#title-text")
    title = (
        title_node.get_text(" ", strip=True)
        if title_node
        else (soup.title.get_text(strip=True) if soup.title else name)
    )
    crumbs = [a.get_text(strip=True) for a in soup.select("#breadcrumbs li a")]
    if crumbs and title.startswith(f"{crumbs[0]} : "):
        title = title[len(crumbs[0]) + 3 :]
    meta = soup.select_one(".page-metadata")
    creator = editor = None
    modified = None
    if meta is not None:
        author = meta.select_one(".author")
        last = meta.select_one(".editor")
        creator = author.get_text(" ", strip=True) if author else None
        editor = last.get_text(" ", strip=True) if last else None
        m = _META.search(meta.get_text(" ", strip=True))
        if m:
            creator = creator or m.group("creator")
            editor = editor or m.group("editor")
            modified = parse_date(m.group("date"))
    attachments = sorted({Path(str(a.get("href"))).name for a in soup.select("a[href^='attachments/']")})
    for chrome in main.select(".page-metadata, #breadcrumb-section, #main-header, #footer"):
        chrome.decompose()
    sections = _sections(main)
    if attachments:
        sections.append(Section(text="Attachments: " + ", ".join(attachments), heading=("Attachments",)))
    return {
        "title": title or name,
        "path": tuple(crumbs),
        "creator": creator,
        "editor": editor,
        "modified": modified,
        "sections": sections,
    }


class ConfluenceConnector:
    """One document per exported page; creator as author, last modifier as editor."""

    def __init__(self, config: SourceConfig, context: SourceContext):
        self.name = config.name
        self.config = config
        self.context = context
        self.url_base = config.options.get("url_base")
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext):  # type: ignore[no-untyped-def]
        if config.url:
            from connectors.confluence_api import ConfluenceApiConnector

            return ConfluenceApiConnector(config, context)
        if config.path is None or not config.path.is_dir():
            raise ConfigError(f"source {config.name!r}: field 'path' must be an HTML space export folder")
        return cls(config, context)

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def _pages(self) -> list[Path]:
        folder = self.config.path
        if folder is None or not folder.is_dir():
            raise ConnectorError(f"{folder}: export folder is missing")
        return sorted(p for p in folder.glob("*.html") if p.name != "index.html")

    def _doc_id(self, page: Path) -> str:
        m = _PAGE_ID.search(page.name)
        return f"{self.name}:{m.group(1) if m else page.stem}"

    def list_ids(self) -> Iterator[str]:
        for page in self._pages():
            yield self._doc_id(page)

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        started = datetime.now(UTC).isoformat()
        threshold = datetime.fromisoformat(since).timestamp() - 2 if since else None
        for page in self._pages():
            try:
                if threshold is not None and page.stat().st_mtime < threshold:
                    continue
                raw = page.read_bytes()
                parts = parse_export_page(raw, page.name)
                if not parts["sections"]:  # an empty page still says who made it and what it is about
                    parts["sections"] = [Section(text=parts["title"])]
            except (OSError, ValueError) as exc:
                yield ConnectorFailure(
                    source=self.name, path=page.name, doc_id=self._doc_id(page), error=str(exc)
                )
                continue
            people = []
            at = parts["modified"]
            if parts["creator"]:
                people.append(
                    Contribution(
                        person=PersonRef(account=parts["creator"], name=parts["creator"]),
                        role=Role.AUTHOR,
                        at=at,
                    )
                )
            if parts["editor"] and parts["editor"] != parts["creator"]:
                people.append(
                    Contribution(
                        person=PersonRef(account=parts["editor"], name=parts["editor"]),
                        role=Role.EDITOR,
                        at=at,
                    )
                )
            yield SourceDocument(
                doc_id=self._doc_id(page),
                source=self.name,
                kind="wiki",
                title=parts["title"],
                url=(self.url_base + page.name) if self.url_base else page.resolve().as_uri(),
                sections=parts["sections"],
                updated_at=at,
                version=content_version(raw),
                acl=self.config.acl,
                contributions=people,
                path=parts["path"],
            )
        self._cursor = started


def storage_version(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:32]
