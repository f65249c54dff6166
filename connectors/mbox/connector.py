"""The `mbox` connector: a mailing-list archive (an .mbox file or a folder of them), one document per thread."""

from __future__ import annotations

import hashlib
import json
import logging
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from connectors.base import (
    Acl,
    ConnectorError,
    ConnectorFailure,
    Contribution,
    DocId,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
    to_utc,
)
from connectors.config import ConfigError, SourceConfig, SourceContext, parse_options, resolve_source_path
from connectors.mbox.options import MboxOptions
from connectors.mbox.threads import (
    EMAIL_ERRORS,
    MailMessage,
    MessageError,
    Thread,
    build_threads,
    clean_subject,
    parse_message,
)

_log = logging.getLogger(__name__)

# A real mbox separator ends with an asctime date ("From a@b  Tue Jan  2 13:59:13 2024"); a body line
# that merely starts with "From " (pipermail does not escape them) does not.
_FROM_LINE = re.compile(
    r"^From \S.*\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b.*\b\d{1,2}:\d{2}(:\d{2})?\b.*\d{4}\s*$", re.I
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._@+=$-]")
_MID_IN_RAW = re.compile(rb"^message-id:[ \t]*<([^<>\s]+)>", re.I | re.M)
_MAX_ID = 150


@dataclass
class MboxScan:
    """Every message of the archive (one copy per Message-ID) and what could not be read."""

    messages: list[MailMessage] = field(default_factory=list)
    failures: list[ConnectorFailure] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that could not be read at all
    rejoined: int = 0  # chunks split off by an unescaped "From " body line, joined back
    duplicates: int = 0  # the same message stored twice


class MboxConnector:
    """Threads of a mailing list; ids are `<source>:<root Message-ID>`, the cursor an ISO UTC time."""

    def __init__(self, name: str, root: Path, options: MboxOptions, acl: Acl) -> None:
        self.name = name
        self._root = root
        self._options = options
        self._acl = acl
        self._cursor: str | None = None
        self._cache: tuple[tuple[tuple[str, int, int], ...], MboxScan] | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> MboxConnector:
        where = f"source {config.name!r}"
        if config.path is None or config.url is not None:
            raise ConfigError(f"{where}: give 'path' (an .mbox file or a folder of them), not 'url'")
        options = parse_options(config, MboxOptions)
        root = resolve_source_path(config, context, must_exist=True)
        return cls(config.name, root, options, config.acl)

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        """Every file is read each time (threads span files); threads with a message dated after the
        cursor are yielded. The cursor stays put while a file cannot be read at all."""
        since_at = _parse_cursor(since)
        scan = self.scan()
        yield from scan.failures
        latest = since_at
        for thread in build_threads(scan.messages, self._prefixes()):
            dates = [m.date for m in thread.messages if m.date is not None]
            newest = max(dates) if dates else None
            if newest is not None and (latest is None or newest > latest):
                latest = newest
            if since_at is not None and (newest is None or newest <= since_at):
                continue
            yield thread_document(self.name, thread, self._options, self._acl)
        self._cursor = since if scan.unreadable else (latest.isoformat() if latest else since)

    def list_ids(self) -> Iterator[DocId]:
        scan = self.scan()
        if scan.unreadable:
            raise ConnectorError(f"cannot read {', '.join(scan.unreadable)}; the thread list is incomplete")
        for thread in build_threads(scan.messages, self._prefixes()):
            yield thread_doc_id(self.name, thread.root.message_id)

    def scan(self) -> MboxScan:
        """All messages; reused while no file changed (a run calls load, then list_ids)."""
        files = self._files()
        signature = tuple(_stat(path, rel) for path, rel in files)
        if self._cache is not None and self._cache[0] == signature:
            return self._cache[1]
        scan = MboxScan()
        seen: dict[str, MailMessage] = {}
        for path, rel in files:
            messages = read_mbox_file(self.name, path, rel, self._options, scan)
            for message in messages:
                first = seen.get(message.message_id)
                if first is None:
                    seen[message.message_id] = message
                    scan.messages.append(message)
                elif first.body == message.body:
                    scan.duplicates += 1
                else:  # two different messages claim one id: keep both, the later one renamed
                    renamed = f"{message.message_id}#{message.file}:{message.index}"
                    scan.messages.append(replace(message, message_id=renamed))
        if scan.rejoined or scan.duplicates:
            _log.info(
                "%s: %d split bodies rejoined, %d duplicates", self.name, scan.rejoined, scan.duplicates
            )
        self._cache = (signature, scan)
        return scan

    def _files(self) -> list[tuple[Path, str]]:
        if self._root.is_dir():
            paths = sorted(p for p in self._root.rglob(self._options.pattern) if p.is_file())
            return [(p, p.relative_to(self._root).as_posix()) for p in paths]
        return [(self._root, self._root.name)]

    def _prefixes(self) -> tuple[str, ...]:
        return (self._options.subject_prefix,) if self._options.subject_prefix else ()


def read_mbox_file(
    source: str, path: Path, rel: str, options: MboxOptions, scan: MboxScan
) -> list[MailMessage]:
    """The messages of one mbox file; unreadable messages and files are recorded in `scan`."""

    def fail(error: str) -> None:
        scan.failures.append(ConnectorFailure(source=source, error=f"{rel}: {error}", path=str(path)))

    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 20)
        box = mailbox.mbox(str(path), create=False)
    except (OSError, mailbox.Error) as exc:
        scan.unreadable.append(rel)
        fail(f"cannot read: {getattr(exc, 'strerror', None) or exc}")
        return []
    chunks: list[tuple[str, bytes]] = []  # (From_ line, message bytes)
    try:
        for key in box.iterkeys():
            data = box.get_bytes(key, from_=True)
            first, _, rest = data.partition(b"\n")
            from_line = first.decode("latin-1").rstrip("\r")
            if chunks and not _FROM_LINE.match(from_line) and not _HEADER_LINE.match(rest):
                chunks[-1] = (chunks[-1][0], chunks[-1][1] + data)
                scan.rejoined += 1
                continue
            chunks.append((from_line, rest))
    except OSError as exc:
        scan.unreadable.append(rel)
        fail(f"cannot read: {exc.strerror or exc}")
        return []
    finally:
        box.close()
    if head and not head.startswith(b"From "):
        junk = head.find(b"\nFrom ")
        size = f"{junk + 1} bytes" if junk >= 0 else "everything"
        if head[: junk if junk >= 0 else len(head)].strip():
            fail(
                f"{size} before the first 'From ' separator line skipped (not an mbox file?)"
                if junk >= 0
                else "no 'From ' separator line: not an mbox file"
            )
    messages: list[MailMessage] = []
    max_bytes = int(options.max_message_mb * 1024 * 1024)
    for n, (from_line, raw) in enumerate(chunks, 1):
        mid = _MID_IN_RAW.search(raw[:65536])
        where = f"message #{n}" + (f" <{mid.group(1).decode('latin-1')}>" if mid else "")
        if len(raw) > max_bytes:
            fail(f"{where}: over max_message_mb ({options.max_message_mb:g} MB)")
            continue
        try:
            messages.append(parse_message(raw, rel, n, from_line))
        except (MessageError, *EMAIL_ERRORS) as exc:
            fail(f"{where}: {exc}")
    return messages


def thread_document(source: str, thread: Thread, options: MboxOptions, acl: Acl) -> SourceDocument:
    """A thread as one mail document: a section per message (own words only), the starter as asker and
    everyone else as answerer; the starter's later messages count as comments on their own question."""
    prefixes = (options.subject_prefix,) if options.subject_prefix else ()
    root = thread.root
    title = clean_subject(root.subject, prefixes) or "(no subject)"
    sections: list[Section] = []
    people: list[Contribution] = []
    for m in thread.messages:
        who = m.sender_name or m.sender_email or m.sender_key
        when = f"{m.date:%Y-%m-%d %H:%M} UTC" if m.date else "undated"
        if m.own_text:
            sections.append(Section(text=m.own_text, heading=(f"{who}, {when}",)))
        if thread.started and m is root:
            role = Role.ASKER
        elif thread.started and m.sender_key == root.sender_key:
            role = Role.COMMENTER
        else:
            role = Role.ANSWERER
        person = PersonRef(account=m.sender_key, name=m.sender_name, email=m.sender_email)
        people.append(Contribution(person=person, role=role, at=m.date, text=m.own_text or None))
    if not sections:  # every message was only quotes: the subject keeps the thread findable
        sections.append(Section(text=title))
    dates = [m.date for m in thread.messages if m.date is not None]
    label = options.list_name or _list_name(root)
    payload = [
        [m.message_id, hashlib.sha256(m.body.encode("utf-8", "replace")).hexdigest()] for m in thread.messages
    ]
    return SourceDocument(
        doc_id=thread_doc_id(source, root.message_id),
        source=source,
        kind="mail",
        title=title,
        url=_thread_url(options.url_base, root.message_id),
        sections=sections,
        created_at=min(dates) if dates else None,
        updated_at=max(dates) if dates else None,
        version=content_version(json.dumps([title, payload]).encode()),
        acl=acl,
        contributions=people,
        tags=[label],
        path=(label,),
    )


def thread_doc_id(source: str, message_id: str) -> DocId:
    """`<source>:<Message-ID>`; characters unsafe in URLs become `_` and a short hash keeps ids distinct."""
    native = _UNSAFE_ID.sub("_", message_id)
    if native != message_id or len(native) > _MAX_ID:
        native = f"{native[:_MAX_ID]}~{hashlib.sha256(message_id.encode()).hexdigest()[:10]}"
    return f"{source}:{native}"


def _thread_url(url_base: str | None, message_id: str) -> str | None:
    if not url_base:
        return None
    quoted = quote(message_id, safe="@")
    return url_base.replace("{message_id}", quoted) if "{message_id}" in url_base else url_base + quoted


def _list_name(root: MailMessage) -> str:
    if root.list_id and (m := re.search(r"<([^<>.\s]+)", root.list_id)):
        return m.group(1)
    return Path(root.file).stem


def _stat(path: Path, rel: str) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (rel, -1, -1)
    return (rel, st.st_size, st.st_mtime_ns)


def _parse_cursor(since: str | None) -> datetime | None:
    if not since:
        return None
    try:
        return to_utc(datetime.fromisoformat(since))
    except ValueError as exc:
        raise ConnectorError(f"cursor {since!r} is not an ISO date") from exc
