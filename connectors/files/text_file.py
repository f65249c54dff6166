"""Plain-text files."""

from __future__ import annotations

from connectors._shared.text import normalise_text
from connectors.base import (
    Section,
)
from connectors.files.base import FileInfo, ParsedFile
from connectors.files.text import FileParseError, decode_text


def parse_text(raw: bytes, info: FileInfo) -> ParsedFile:
    """Plain text: one section; the first line is the title when it is short."""
    text = normalise_text(decode_text(raw))
    if not text:
        raise FileParseError("empty document")
    first = text.split("\n", 1)[0].strip()
    return ParsedFile(title=first if len(first) < 120 else info.stem, sections=[Section(text=text)])
