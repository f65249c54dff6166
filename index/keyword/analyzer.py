"""Text to index terms: Unicode words, folded (case, diacritics) and Porter-stemmed, for chunks and queries
alike, so a query term matches exactly the chunks whose words stem to it. User text is only ever split
into words: no character of it is query syntax."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence

import Stemmer

# Letters and digits of any script; the underscore, punctuation and symbols separate words (as SQLite's
# unicode61 tokenizer does, which the engine before this one used).
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_WORD_CHARS = 64  # longer "words" are hashes, base64 or URLs: never a useful term, and never indexed
# Word -> stem memo: text repeats its words, and the stemmer is the costliest step of analysis.
STEM_CACHE_MAX = 200_000


def fold(text: str) -> str:
    """Lower case without diacritics ("Café" -> "cafe"): NFKD, combining marks dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


class Analyzer:
    """Words -> terms. `stem=False` keeps the folded words (the plain-BM25 reference check uses it)."""

    def __init__(self, stem: bool = True, language: str = "porter"):
        self.stem = stem
        self.language = language
        self._stemmer = Stemmer.Stemmer(language) if stem else None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def words(self, text: str) -> list[str]:
        """The folded words of `text`, in order, too-long ones dropped."""
        if not text:
            return []
        text = text.lower() if text.isascii() else fold(text)
        return [w for w in _WORD.findall(text) if len(w) <= MAX_WORD_CHARS]

    def terms(self, text: str) -> list[str]:
        """The index terms of `text`, in order (repeats kept: they are term frequencies)."""
        return self.stems(self.words(text))

    def stems(self, words: Sequence[str]) -> list[str]:
        if self._stemmer is None:
            return list(words)
        cache = self._cache  # shared by the threads of a server: read it with get, never assume a key
        missing = [w for w in set(words) if w not in cache]
        fresh: dict[str, str] = {}
        if missing:
            with self._lock:  # a Stemmer object must not be used by two threads at once
                fresh = dict(zip(missing, self._stemmer.stemWords(missing), strict=True))
            if len(cache) + len(fresh) > STEM_CACHE_MAX:
                cache.clear()
            cache.update(fresh)
        out = []
        for w in words:
            stem = fresh.get(w) or cache.get(w)
            if stem is None:
                with self._lock:
                    stem = self._stemmer.stemWord(w)
            out.append(stem)
        return out

    def query_terms(self, words: Iterable[str]) -> list[str]:
        """Distinct terms of already chosen query words, in their order (the words are folded here too)."""
        seen: dict[str, None] = {}
        for word in words:
            for term in self.terms(word):
                seen.setdefault(term, None)
        return list(seen)
