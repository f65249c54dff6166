"""Query text handling: safe terms for FTS5 (user text is never FTS syntax), stems, and snippets."""

from __future__ import annotations

import functools
import html
import re

_WORD = re.compile(r"\w+", re.UNICODE)

# A short English stop list: these words match nearly every chunk and only slow an OR query down.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)

MAX_TERMS = 64  # distinct query words kept: longer queries are pasted text, not questions
MAX_TERM_CHARS = 64  # longer "words" are hashes, base64 or URLs, never a useful search term
# A snippet shows about this many characters of its chunk: two or three lines of the result list.
SNIPPET_CHARS = 260
# Words whose highlight stem is remembered (a few MB at most).
LIGHT_STEM_CACHE = 100_000


def query_terms(text: str, drop_stopwords: bool = True) -> list[str]:
    """Distinct lower-case words of the query, stop words dropped (unless nothing else is left)."""
    words = [w.lower() for w in _WORD.findall(text or "")]
    words = [w for w in words if len(w) <= MAX_TERM_CHARS]
    kept = ([w for w in words if w not in STOPWORDS] if drop_stopwords else words) or words
    seen: dict[str, None] = {}
    for w in kept:
        seen.setdefault(w, None)
    return list(seen)[:MAX_TERMS]


def fts_match(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression ORing the terms, each quoted: no operator in user text survives."""
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


@functools.lru_cache(maxsize=LIGHT_STEM_CACHE)
def light_stem(word: str) -> str:
    """A crude suffix stripper, only to decide which words of a snippet to highlight (memoised: a
    snippet tests every word of its chunk, and texts repeat their words)."""
    w = word.lower()
    for suffix in ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied", "es", "ed", "ly", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def overlap_length(previous: str, following: str, longest: int, shortest: int = 1) -> int:
    """Length of the longest prefix of `following` that `previous` ends with (chunkers repeat a tail),
    between `shortest` and `longest` characters; 0 when there is none."""
    for size in range(min(len(previous), len(following), longest), shortest - 1, -1):
        if previous.endswith(following[:size]):
            return size
    return 0


def make_snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """An HTML-safe window of `text` around the densest run of query terms, terms in <mark>."""
    stems = {light_stem(t) for t in terms}
    matches = [m for m in _WORD.finditer(text) if light_stem(m.group()) in stems]
    if len(text) <= width:
        start, end = 0, len(text)
    elif matches:
        best_start, best_count = matches[0].start(), 0
        j = 0
        for i, m in enumerate(matches):
            while matches[j].start() < m.start() - width // 2:
                j += 1
            if i - j + 1 > best_count:
                best_count, best_start = i - j + 1, matches[j].start()
        start = max(0, best_start - 40)
        end = min(len(text), start + width)
    else:
        start, end = 0, width
    # Widen to word boundaries.
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace() and end - start < width + 30:
        end += 1
    out: list[str] = []
    pos = start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        out.append(html.escape(text[pos : m.start()]))
        out.append(f"<mark>{html.escape(m.group())}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:end]))
    body = " ".join("".join(out).split())
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")
