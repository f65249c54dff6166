"""HTML fragments (forum posts, mail bodies) as readable text: blocks become paragraphs, code stays verbatim."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment as HtmlComment

_BLOCKS = frozenset({"p", "div", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "hr"})
_BLOCKS |= {"h1", "h2", "h3", "h4", "h5", "h6", "aside", "section", "details", "summary", "figure"}
_BLOCKS |= {"dl", "dt", "dd", "figcaption", "header", "footer", "article"}
_SKIP = frozenset({"script", "style", "template", "head"})


def html_to_text(html: str) -> str:
    """Readable text from post HTML: blocks become paragraphs, `<pre>` code is kept verbatim."""
    if not html.strip():
        return ""
    parts: list[str | int | tuple[str]] = []  # text, newlines wanted, or (verbatim,)
    _walk(BeautifulSoup(html, "lxml"), parts)
    out: list[str] = []
    pending = 0
    for part in parts:
        if isinstance(part, int):
            pending = max(pending, part)
            continue
        verbatim = isinstance(part, tuple)
        text = part[0] if isinstance(part, tuple) else part
        if pending and not verbatim:
            text = text.lstrip(" ")
        if not text:
            continue
        if pending and out:
            out[-1] = out[-1].rstrip(" ")
            out.append("\n" * pending)
        pending = 0
        out.append(text)
    return "".join(out).strip()


def _walk(node: Tag, parts: list[str | int | tuple[str]]) -> None:
    for child in node.children:
        if isinstance(child, HtmlComment):
            continue
        if isinstance(child, NavigableString):
            parts.append(re.sub(r"\s+", " ", str(child)))
            continue
        if not isinstance(child, Tag) or child.name in _SKIP:
            continue
        if child.name == "br":
            parts.append(1)
        elif child.name == "pre":
            parts.extend([2, (child.get_text().strip("\n"),), 2])
        elif child.name == "img":
            alt = child.get("alt")
            if isinstance(alt, str) and alt.strip():
                parts.append(f" {alt.strip()} ")
        elif child.name == "li":
            parts.extend([1, "- "])
            _walk(child, parts)
            parts.append(1)
        elif child.name in ("td", "th"):
            _walk(child, parts)
            parts.append(" | ")
        elif child.name in _BLOCKS:
            parts.append(2)
            _walk(child, parts)
            parts.append(2)
        else:
            _walk(child, parts)
