"""MediaWiki page records shared by the export reader and the API client, and wikitext -> clean sections."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Node,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.wikicode import Wikicode

from connectors.base import Section

# Canonical names MediaWiki accepts on every wiki, whatever the local namespace names are.
FILE_NAMESPACE_NAMES = frozenset({"file", "image", "media"})
CATEGORY_NAMESPACE_NAMES = frozenset({"category"})
NS_MEDIA, NS_FILE, NS_CATEGORY = -2, 6, 14

# Tags whose content a reader never sees as body text (references, galleries, formulas, widgets).
_DROPPED_TAGS = frozenset(
    {
        "ref",
        "references",
        "gallery",
        "imagemap",
        "timeline",
        "math",
        "chem",
        "ce",
        "score",
        "graph",
        "hiero",
        "templatedata",
        "templatestyles",
        "inputbox",
        "categorytree",
        "mapframe",
        "maplink",
        "indicator",
        "includeonly",
        "section",
    }
)
_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "syntaxhighlight", "source", "poem", "center", "ul", "ol"}
)
_LIST_MARKUP = frozenset({"li", "dt", "dd"})
# [[de:Seite]] without a label is an interlanguage link, shown in the sidebar, not in the text.
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*:", re.ASCII)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
# '' italic and ''' bold stay text (style tags are not parsed, see clean_wikitext) and are dropped here.
_QUOTES = re.compile(r"'{2,}")
_DUP_COMMA = re.compile(r",(?:\s*,)+")
_PAREN_OPEN = re.compile(r"\(\s*(?:[,;:]\s*)+")
_PAREN_CLOSE = re.compile(r"(?:\s*[,;:])+\s*\)")
_EMPTY_PARENS = re.compile(r"\(\s*\)")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.;:])(?=\s|$)")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2009\u202f]+")


@dataclass(frozen=True)
class WikiRevision:
    """One revision's metadata: who, when, and the page size after it (bytes, when known)."""

    rev_id: int
    timestamp: datetime
    parent_id: int | None = None
    user: str | None = None  # user name or IP address; None when hidden or deleted
    size: int | None = None


@dataclass(frozen=True)
class WikiPage:
    """A page as either reader yields it: identity, latest text, and the revisions it knows."""

    page_id: int
    ns: int
    title: str
    text: str  # wikitext (or another content model's source) of the latest revision
    revisions: tuple[WikiRevision, ...]  # oldest first, never empty; the last is the latest
    model: str = "wikitext"


@dataclass(frozen=True)
class WikiNamespaces:
    """Which link prefixes mean a file or a category on this wiki (lower-case, spaces not underscores)."""

    file_prefixes: frozenset[str] = FILE_NAMESPACE_NAMES
    category_prefixes: frozenset[str] = CATEGORY_NAMESPACE_NAMES

    @classmethod
    def from_names(cls, names: Mapping[int, Iterable[str]]) -> WikiNamespaces:
        """From namespace id -> local names and aliases, as siteinfo lists them."""
        files = {n.lower().replace("_", " ") for key in (NS_FILE, NS_MEDIA) for n in names.get(key, ())}
        cats = {n.lower().replace("_", " ") for n in names.get(NS_CATEGORY, ())}
        return cls(FILE_NAMESPACE_NAMES | files, CATEGORY_NAMESPACE_NAMES | cats)


@dataclass
class CleanPage:
    """Readable sections (heading path without the title) and the page's categories."""

    sections: list[Section] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


def clean_wikitext(wikitext: str, namespaces: WikiNamespaces | None = None) -> CleanPage:
    """Render wikitext as a reader sees the body: link labels kept, templates, refs, files,
    categories and comments dropped, tables as `cell | cell` lines, one section per heading."""
    renderer = _Renderer(namespaces or WikiNamespaces())
    # Unbalanced '' and ''' are common and make the parser give up on the refs and tables around
    # them; leaving style markup as text and dropping the quote runs later keeps structure parsed.
    code = mwparserfromhell.parse(wikitext, skip_style_tags=True)
    page = CleanPage()
    path: list[tuple[int, str]] = []
    chunk: list[Node] = []

    def flush() -> None:
        text = _tidy(renderer.render(chunk))
        if text:
            page.sections.append(Section(text=text, heading=tuple(title for _, title in path)))
        chunk.clear()

    for node in code.nodes:
        if isinstance(node, Heading):
            flush()
            title = _tidy(renderer.render(node.title.nodes)).replace("\n", " ")
            while path and path[-1][0] >= node.level:
                path.pop()
            path.append((node.level, title))
        else:
            chunk.append(node)
    flush()
    page.categories = list(dict.fromkeys(renderer.categories))
    return page


def plain_sections(text: str) -> list[Section]:
    """Sections for a page in a non-wikitext model (plain text, CSS, JSON): the text as it is."""
    text = text.strip()
    return [Section(text=text)] if text else []


class _Renderer:
    """Turns parsed wikitext nodes into plain text, collecting categories on the way."""

    def __init__(self, namespaces: WikiNamespaces) -> None:
        self._ns = namespaces
        self.categories: list[str] = []

    def render(self, nodes: Iterable[Node]) -> str:
        return "".join(self._node(n) for n in nodes)

    def _code(self, code: Wikicode | None) -> str:
        return "" if code is None else self.render(code.nodes)

    def _node(self, node: Node) -> str:
        if isinstance(node, Text):
            return str(node.value)
        if isinstance(node, Wikilink):
            return self._link(node)
        if isinstance(node, ExternalLink):
            if node.title is not None:
                return self._code(node.title)
            return "" if node.brackets else str(node.url)
        if isinstance(node, HTMLEntity):
            return str(node.normalize())
        if isinstance(node, Tag):
            return self._tag(node)
        if isinstance(node, Heading):  # a heading nested in a tag: keep it as a line
            return "\n" + self._code(node.title).strip() + "\n"
        if isinstance(node, (Template, Comment, Argument)):
            return ""
        return ""

    def _link(self, link: Wikilink) -> str:
        target = str(link.title).strip()
        leading_colon = target.startswith(":")
        target = target.lstrip(":").strip()
        prefix, sep, rest = target.partition(":")
        prefix = prefix.strip().lower().replace("_", " ")
        if sep and not leading_colon:
            if prefix in self._ns.file_prefixes:
                return ""
            if prefix in self._ns.category_prefixes:
                name = rest.strip().replace("_", " ")
                if name:
                    self.categories.append(name[:1].upper() + name[1:])
                return ""
            if link.text is None and _INTERLANGUAGE.match(target):
                return ""
        if link.text is not None:
            return self._code(link.text)
        return target.replace("_", " ")

    def _tag(self, tag: Tag) -> str:
        name = str(tag.tag).strip().lower()
        if name in _DROPPED_TAGS:
            return ""
        if name == "table":
            return "\n" + self._table(tag) + "\n"
        if name == "br":
            return "\n"
        if name == "hr":
            return "\n"
        if name in _LIST_MARKUP and tag.wiki_markup:
            return ""  # the `*`, `#`, `;`, `:` markers; the item text follows as plain nodes
        inner = self._code(tag.contents) if tag.contents is not None else ""
        if name in _BLOCK_TAGS or name in _LIST_MARKUP or name in ("tr", "td", "th", "caption"):
            return "\n" + inner + "\n"
        return inner

    def _table(self, table: Tag) -> str:
        lines: list[str] = []
        row: list[str] = []

        def flush_row() -> None:
            cells = [c for c in row if c]
            if cells:
                lines.append(" | ".join(cells))
            row.clear()

        for node in _children(table):
            if not isinstance(node, Tag):
                continue
            name = str(node.tag).strip().lower()
            if name == "tr":
                flush_row()
                row.extend(self._cells(node))
                flush_row()
            elif name in ("td", "th"):
                text = self._cell(node)
                # mwparserfromhell reads the `|+` caption line as a cell whose text starts with '+'.
                if name == "td" and node.wiki_markup == "|" and text.startswith("+"):
                    flush_row()
                    lines.append(text[1:].strip())
                else:
                    row.append(text)
            elif name == "caption":
                flush_row()
                lines.append(self._cell(node))
            elif name == "table":
                flush_row()
                lines.append(self._table(node))
        flush_row()
        return "\n".join(line for line in lines if line)

    def _cells(self, row: Tag) -> Iterator[str]:
        for node in _children(row):
            if isinstance(node, Tag) and str(node.tag).strip().lower() in ("td", "th"):
                yield self._cell(node)

    def _cell(self, cell: Tag) -> str:
        nested = [n for n in _children(cell) if isinstance(n, Tag) and str(n.tag).strip().lower() == "table"]
        text = self._code(cell.contents) if cell.contents is not None else ""
        if nested:  # a table in a cell keeps its own lines
            return _tidy(text).replace("\n\n", "\n")
        return " ".join(_tidy(text).split())


def _children(tag: Tag) -> list[Node]:
    return list(tag.contents.nodes) if tag.contents is not None else []


def _tidy(text: str) -> str:
    """Collapse spaces, drop the debris removed templates leave, keep one blank line between blocks."""
    text = _MAGIC_WORD.sub("", text)
    text = _QUOTES.sub(_quote_run, text)
    text = _DUP_COMMA.sub(",", text)
    text = _PAREN_OPEN.sub("(", text)
    text = _PAREN_CLOSE.sub(")", text)
    text = _EMPTY_PARENS.sub("", text)
    lines = [_SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", line)).strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _quote_run(match: re.Match[str]) -> str:
    run = len(match.group(0))
    # MediaWiki reads four quotes as an apostrophe then bold, six or more as apostrophes then bold italic.
    if run == 4:
        return "'"
    return "'" * (run - 5) if run > 5 else ""
