"""Text normalisation every connector applies to extracted text."""

from __future__ import annotations

import re
import unicodedata

# Line separators become newlines; Latin ligatures (common in PDF text) become letters so words match.
_TRANSLATE = str.maketrans(
    {"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"}
    | {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb06": "st"}
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LINE_EDGES = re.compile(r" *\n *")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """NFC; control characters out; runs of spaces collapsed; at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").translate(_TRANSLATE))
    text = _SPACES.sub(" ", _CONTROL.sub("", text))
    return _BLANK_RUNS.sub("\n\n", _LINE_EDGES.sub("\n", text)).strip()
