"""PDF files for the `files` connector: one section per page (pypdf), title, authors and dates from the info."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from connectors._shared.text import normalise_text
from connectors.base import PersonRef, Role, Section, to_utc
from connectors.files.base import FileInfo, ParsedFile
from connectors.files.text import FileParseError, person_from_string, split_names

_log = logging.getLogger(__name__)
_current_file: ContextVar[str] = ContextVar("files_pdf_current_file", default="?")

# Producer leftovers that are no title: "10811.exe", "Microsoft Word - notes.docx", "untitled".
_JUNK_TITLE = re.compile(
    r"untitled|(microsoft \w+ - )?.*\.(exe|docx?|rtf|odt|pdf|indd|tex|dvi|ps|pptx?|xlsx?)", re.IGNORECASE
)
_MAX_LINE_TITLE_CHARS = 200
_TITLE_SCAN_LINES = 10
# The PDF header may sit anywhere in the first KB (ISO 32000-1, 7.5.2 as implemented by readers).
_HEADER_WINDOW = 1024


def parse_pdf(raw: bytes, info: FileInfo) -> ParsedFile:
    """Pages with text become sections (`page` is 1-based); a PDF with no text at all is an error."""
    if not raw:
        raise FileParseError("empty file (0 bytes), not a PDF")
    if b"%PDF-" not in raw[:_HEADER_WINDOW]:
        raise FileParseError("not a PDF (no %PDF- header)")
    _route_pypdf_logs()
    token = _current_file.set(info.rel_path)
    try:
        reader = _open(raw)
        sections: list[Section] = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                text = normalise_text(page.extract_text() or "")
            except Exception as exc:  # pypdf raises many types on broken content streams
                raise FileParseError(
                    f"cannot extract text of page {number}: {type(exc).__name__}: {exc}"
                ) from exc
            if text:
                sections.append(Section(text=text, page=number))
        title, author, created_at, updated_at = _info(reader)
    finally:
        _current_file.reset(token)
    if not sections:
        raise FileParseError(f"no extractable text (scanned?) in {len(reader.pages)} page(s)")
    if not title:
        title = _first_line_title(sections[0].text) or info.stem
    people: list[tuple[PersonRef, Role]] = []
    for name in split_names(author or ""):
        person = person_from_string(name)
        if person is not None:
            people.append((person, Role.AUTHOR))
    return ParsedFile(
        title=title or info.stem,
        sections=sections,
        created_at=created_at,
        updated_at=updated_at,
        people=people,
    )


def _first_line_title(text: str) -> str | None:
    """The first of the opening lines that reads like a title: some letters, not a paragraph."""
    for line in text.split("\n")[:_TITLE_SCAN_LINES]:
        line = line.strip()
        if sum(c.isalpha() for c in line) >= 4 and len(line) <= _MAX_LINE_TITLE_CHARS:
            return line
    return None


def _open(raw: bytes) -> PdfReader:
    """A reader with every page reachable; corrupt, truncated and locked files are errors."""
    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:  # AES needs the `cryptography` package
                raise FileParseError(f"encrypted PDF, cannot decrypt: {exc}") from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise FileParseError("encrypted PDF (the empty password does not open it)")
        if len(reader.pages) == 0:
            raise FileParseError("PDF has no pages")
    except FileParseError:
        raise
    except Exception as exc:  # PdfReadError, and ValueError/KeyError/... from damaged structures
        raise FileParseError(f"cannot read PDF (corrupt or truncated): {type(exc).__name__}: {exc}") from exc
    return reader


def _info(reader: PdfReader) -> tuple[str | None, str | None, datetime | None, datetime | None]:
    """Title, author, creation and modification time; a damaged info dictionary only loses these."""
    try:
        meta = reader.metadata
    except Exception:
        _log.debug("%s: unreadable document info", _current_file.get(), exc_info=True)
        return None, None, None, None
    if meta is None:
        return None, None, None, None
    title = _field(lambda: meta.title)
    if title is not None and _JUNK_TITLE.fullmatch(title.strip()):
        title = None
    author = _field(lambda: meta.author)
    return title, author, _date(lambda: meta.creation_date), _date(lambda: meta.modification_date)


def _field(read: Callable[[], object]) -> str | None:
    try:
        value = read()
    except Exception:
        _log.debug("%s: unreadable info field", _current_file.get(), exc_info=True)
        return None
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\x00", "").split())
    return text or None


def _date(read: Callable[[], object]) -> datetime | None:
    try:
        value = read()
    except Exception:  # pypdf raises ValueError on dates that do not follow D:YYYYMMDDHHmmSS
        _log.debug("%s: unreadable info date", _current_file.get(), exc_info=True)
        return None
    return to_utc(value) if isinstance(value, datetime) else None


class _DebugRelay(logging.Handler):
    """pypdf warns about every repairable flaw ("EOF marker not found", "Ignoring wrong pointing
    object"); those are noise for an indexer, so they go to our logger at debug, with the file name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _log.debug("%s: pypdf: %s", _current_file.get(), record.getMessage())
        except Exception:
            self.handleError(record)


def _route_pypdf_logs() -> None:
    """Idempotent: once installed, pypdf's records stop at its own logger and reach ours at debug."""
    logger = logging.getLogger("pypdf")
    if not any(isinstance(h, _DebugRelay) for h in logger.handlers):
        logger.addHandler(_DebugRelay())
        logger.propagate = False
