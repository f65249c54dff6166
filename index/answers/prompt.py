"""Generative answers, the pure part: the prompt with numbered sources, and checking the reply's citations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from index.answers.passages import Passage

MAX_SOURCE_CHARS = 1500
SYSTEM_PROMPT = (
    "You answer questions for employees using only the numbered sources from the company intranet "
    "given below. Cite every statement with the number of its source in square brackets, like [1] or "
    "[2][3]. Use only the numbers of the sources listed. If the sources do not contain the answer, say "
    "that the documents do not answer the question; do not guess. Answer in at most four sentences, in "
    "the language of the question."
)

# A citation group: "[1]", "[1, 3]", "[2][4]" is two groups. Nothing else in brackets is touched.
_GROUP = re.compile(r"\[\s*(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\s*\]")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")
_MULTISPACE = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True)
class Message:
    role: str  # system | user
    content: str


def format_source(n: int, passage: Passage) -> str:
    where = " > ".join(x for x in (passage.title, passage.heading) if x)
    if passage.page:
        where += f" (page {passage.page})"
    text = " ".join(passage.text.split())[:MAX_SOURCE_CHARS]
    return f"[{n}] {where}\n{text}"


def build_messages(question: str, sources: Sequence[Passage]) -> list[Message]:
    """System instructions, then the sources numbered from 1 and the question."""
    listed = "\n\n".join(format_source(i, p) for i, p in enumerate(sources, 1))
    user = f"Sources:\n\n{listed}\n\nQuestion: {question.strip()}\nAnswer with citations:"
    return [Message("system", SYSTEM_PROMPT), Message("user", user)]


@dataclass
class CheckedText:
    """A reply with its citations checked: `text` keeps only known ones."""

    text: str
    cited: list[int] = field(default_factory=list)  # known numbers, in order of first use
    removed: list[int] = field(default_factory=list)  # unknown numbers taken out, in order of first use


def check_citations(text: str, known: int) -> CheckedText:
    """Keep citations [1]..[known]; remove any other number from the text and report it.

    "[2, 9]" becomes "[2]" when only 9 is unknown; a group with no known number disappears.
    """
    cited: list[int] = []
    removed: list[int] = []

    def replace(m: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", m.group(1))]
        good = [n for n in numbers if 1 <= n <= known]
        for n in numbers:
            bucket = cited if n in good else removed
            if n not in bucket:
                bucket.append(n)
        return "".join(f"[{n}]" for n in good)

    checked = _GROUP.sub(replace, text)
    checked = _MULTISPACE.sub(" ", _SPACE_BEFORE_PUNCT.sub(r"\1", checked)) if removed else checked
    return CheckedText(checked.strip(), cited, removed)


class StreamingCitationFilter:
    """Checks citations while a reply streams: text is released once no open "[" could still become a
    citation, so an invented number never reaches the client even briefly."""

    MAX_PENDING = 24  # longer than any citation group we accept

    def __init__(self, known: int):
        self.known = known
        self._pending = ""
        self.removed: list[int] = []

    def feed(self, delta: str) -> str:
        self._pending += delta
        cut = self._pending.rfind("[")
        if cut == -1 or "]" in self._pending[cut:] or len(self._pending) - cut > self.MAX_PENDING:
            cut = len(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._check(ready)

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return self._check(ready)

    def _check(self, text: str) -> str:
        if not text:
            return ""
        checked = check_citations(text, self.known)
        for n in checked.removed:
            if n not in self.removed:
                self.removed.append(n)
        # keep the delta's own leading/trailing spaces: the pieces are concatenated by the client
        if not checked.removed:
            return text
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()) :] if text.strip() else ""
        return lead + checked.text + trail if checked.text else lead
