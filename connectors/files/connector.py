"""The `files` connector: a folder of PDF, HTML, Markdown and plain-text files, one document per file."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from connectors.base import (
    Acl,
    ConnectorError,
    ConnectorFailure,
    Contribution,
    DocId,
    SourceDocument,
    content_version,
    to_utc,
)
from connectors.config import SourceConfig, SourceContext, parse_options, resolve_source_path
from connectors.files.base import FileInfo, ParsedFile, Parser
from connectors.files.html_file import parse_html
from connectors.files.markdown_file import parse_markdown
from connectors.files.options import FilesOptions
from connectors.files.pdf_file import parse_pdf
from connectors.files.text import FileParseError
from connectors.files.text_file import parse_text

_log = logging.getLogger(__name__)

# Suffix -> parser. Parsers share their types through `base.py`, never through this module.
PARSERS: dict[str, Parser] = {
    ".pdf": parse_pdf,
    ".html": parse_html,
    ".htm": parse_html,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".txt": parse_text,
}
MTIME_SLACK = timedelta(seconds=2)  # coarse filesystem timestamps (FAT keeps 2 s) and writes racing the scan
MAX_TITLE_CHARS = 300
_MB = 1024 * 1024


class FilesConnector:
    """Every supported file under one folder; ids are `<source>:<relative posix path>`."""

    def __init__(self, name: str, root: Path, options: FilesOptions, acl: Acl) -> None:
        self.name = name
        self._root = root
        self._options = options
        self._acl = acl
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> FilesConnector:
        root = resolve_source_path(
            config,
            context,
            missing="required for type 'files' (the folder to read)",
            must_exist=True,
            kind="folder",
        )
        options = parse_options(config, FilesOptions, label="option", list_known=True)
        return cls(config.name, root.resolve(), options, config.acl)

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def list_ids(self) -> Iterator[DocId]:
        for entry in self._walk():
            if isinstance(entry, _WalkError):
                raise ConnectorError(f"source {self.name!r}: cannot list {entry.rel_path}: {entry.message}")
            if _name_is_utf8(entry):  # other names only ever yield failures, never documents
                yield self._doc_id(entry)

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        started = datetime.now(UTC)
        try:
            threshold = None if since is None else to_utc(datetime.fromisoformat(since)) - MTIME_SLACK
        except ValueError as exc:
            raise ConnectorError(f"source {self.name!r}: cursor {since!r} is not an ISO-8601 time") from exc
        for entry in self._walk():
            if isinstance(entry, _WalkError):
                yield ConnectorFailure(
                    source=self.name,
                    path=entry.rel_path,
                    error=f"{entry.rel_path}: cannot read folder: {entry.message}",
                )
                continue
            item = self._load_file(entry, threshold)
            if item is not None:
                yield item
        self._cursor = started.isoformat()

    def _walk(self) -> Iterator[str | _WalkError]:
        """Selected files, sorted by name, depth first; hidden names and symlinked folders are skipped."""
        pending = [""]
        while pending:
            rel_dir = pending.pop()
            try:
                with os.scandir(self._root / rel_dir) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                if not rel_dir:
                    raise ConnectorError(
                        f"source {self.name!r}: cannot read folder {self._root}: {exc.strerror or exc}"
                    ) from exc
                yield _WalkError(_printable(rel_dir), exc.strerror or str(exc))
                continue
            subdirs: list[str] = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(rel)
                    elif self._selected(rel) and entry.is_file():  # FIFOs, sockets, broken links: skipped
                        yield rel
                except OSError:
                    _log.debug("files %s: cannot stat %r, skipped", self.name, rel)
            pending.extend(reversed(subdirs))

    def _selected(self, rel: str) -> bool:
        if PurePosixPath(rel).suffix.lower() not in PARSERS:
            return False
        include = self._options.include
        if include is not None and not any(glob_match(rel, p) for p in include):
            return False
        return not any(glob_match(rel, p) for p in self._options.exclude)

    def _doc_id(self, rel: str) -> DocId:
        return f"{self.name}:{rel}"

    def _failure(self, rel: str, message: str) -> ConnectorFailure:
        doc_id = self._doc_id(rel) if _name_is_utf8(rel) else None
        shown = _printable(rel)
        return ConnectorFailure(source=self.name, doc_id=doc_id, path=shown, error=f"{shown}: {message}")

    def _load_file(self, rel: str, threshold: datetime | None) -> SourceDocument | ConnectorFailure | None:
        if not _name_is_utf8(rel):
            return self._failure(rel, "file name is not valid UTF-8")
        path = self._root / rel
        try:
            stat = path.stat()
        except OSError as exc:
            return self._failure(rel, f"cannot read file: {exc.strerror or exc}")
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC)
        if threshold is not None and mtime < threshold:
            return None
        limit = int(self._options.max_file_mb * _MB)
        if stat.st_size > limit:
            return self._failure(rel, self._too_big(stat.st_size))
        try:
            with path.open("rb") as fh:
                raw = fh.read(limit + 1)  # the file may have grown since stat
        except OSError as exc:
            return self._failure(rel, f"cannot read file: {exc.strerror or exc}")
        if len(raw) > limit:
            return self._failure(rel, self._too_big(len(raw)))
        try:
            parser = PARSERS[PurePosixPath(rel).suffix.lower()]
            return self._document(rel, raw, mtime, parser(raw, FileInfo(rel_path=rel, mtime=mtime)))
        except FileParseError as exc:
            return self._failure(rel, str(exc))
        except Exception as exc:  # a parser bug or a hostile file must cost one file, not the run
            _log.debug("files %s: %s failed", self.name, rel, exc_info=True)
            return self._failure(rel, f"unexpected {type(exc).__name__}: {exc}")

    def _too_big(self, size: int) -> str:
        limit = f"{self._options.max_file_mb:g}"
        return f"file is {size / _MB:.1f} MB, over the max_file_mb limit of {limit}"

    def _document(self, rel: str, raw: bytes, mtime: datetime, parsed: ParsedFile) -> SourceDocument:
        sections = [s for s in parsed.sections if s.text.strip()]
        if not sections:
            raise FileParseError("no text in any section")
        updated_at = parsed.updated_at or mtime
        people = dict.fromkeys(parsed.people)  # PersonRef is frozen: duplicates collapse, order stays
        contributions = [Contribution(person=p, role=r, at=updated_at) for p, r in people]
        title = " ".join(parsed.title.split())[:MAX_TITLE_CHARS] or PurePosixPath(rel).stem
        if self._options.url_prefix is not None:
            url = self._options.url_prefix.rstrip("/") + "/" + quote(rel)
        else:
            url = (self._root / rel).as_uri()
        return SourceDocument(
            doc_id=self._doc_id(rel),
            source=self.name,
            kind="doc",
            title=title,
            url=url,
            sections=sections,
            created_at=parsed.created_at,
            updated_at=updated_at,
            version=content_version(raw),
            # A file's own ACL narrows the source's, never widens it: writing a file must not publish it.
            acl=parsed.acl.within_ceiling(self._acl) if parsed.acl is not None else self._acl,
            contributions=contributions,
            tags=list(dict.fromkeys(t for t in parsed.tags if t)),
            path=tuple(rel.split("/")[:-1]),
        )


@dataclass(frozen=True)
class _WalkError:
    rel_path: str
    message: str


def _name_is_utf8(rel: str) -> bool:
    """Names that are not UTF-8 arrive as surrogate escapes; they cannot be stored as ids."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(rel: str) -> str:
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def glob_match(rel_path: str, pattern: str) -> bool:
    """fnmatch on the relative posix path, where `*` also crosses folders (`drafts/*` is a whole
    subtree); a pattern without `/` also matches the bare file name; a leading `**/` may match nothing.
    """
    if fnmatchcase(rel_path, pattern):
        return True
    if "/" not in pattern:
        return fnmatchcase(rel_path.rsplit("/", 1)[-1], pattern)
    return pattern.startswith("**/") and glob_match(rel_path, pattern[3:])
