"""Mailing-list archives (type = "mbox"): threads rebuilt from Message-ID, In-Reply-To and References."""

from __future__ import annotations

import hashlib
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from bs4 import BeautifulSoup

from connectors.base import (
    ConnectorError,
    ConnectorFailure,
    Contribution,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    to_utc,
)
from connectors.config import ConfigError, SourceConfig, SourceContext

_MSGID = re.compile(r"<([^<>\s]+)>")
_SUBJECT_NOISE = re.compile(r"^\s*((re|fwd?|aw|sv)\s*:\s*|\[[^\]]{1,40}\]\s*)+", re.IGNORECASE)
_ATTRIBUTION = re.compile(r"^(on .{0,200}wrote:|.{0,120} (wrote|writes):)\s*$", re.IGNORECASE)
_FOOTER = re.compile(r"^_{5,}\s*$")
_REAL_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@dataclass
class Mail:
    """One parsed message."""

    msgid: str
    parents: list[str]
    subject: str
    sender: PersonRef | None
    date: datetime | None
    body: str
    own_text: str


@dataclass
class Thread:
    root: Mail
    messages: list[Mail] = field(default_factory=list)


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value)))).strip()
    except (UnicodeDecodeError, LookupError, ValueError):
        return str(value).strip()


def _body(msg: Message) -> str:
    """The plain-text body; HTML-only messages become text; unknown charsets never crash."""
    parts = list(msg.walk()) if msg.is_multipart() else [msg]
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.get_content_type() != wanted or part.get_filename():
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            charset = part.get_content_charset() or "utf-8"
            try:
                text = payload.decode(charset, errors="replace")
            except LookupError:
                text = payload.decode("latin-1", errors="replace")
            if wanted == "text/html":
                text = BeautifulSoup(text, "lxml").get_text("\n")
            return text.replace("\r\n", "\n")
    return ""


def own_words(body: str) -> str:
    """The sender's own words: quotes, attribution lines, signatures and list footers removed."""
    kept: list[str] = []
    for line in body.split("\n"):
        if line.rstrip() == "--" or _FOOTER.match(line):
            break
        if line.lstrip().startswith(">") or _ATTRIBUTION.match(line.strip()):
            continue
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _sender(msg: Message) -> PersonRef | None:
    raw = _header(msg, "From")
    pairs = getaddresses([raw])
    if not pairs:
        return None
    name, address = pairs[0]
    paren = re.search(r"\(([^()]+)\)\s*$", raw)  # pipermail obfuscation: "a@ @b (Display Name)"
    if paren and not name:
        name = paren.group(1).strip()
    address = address.strip().lower()
    if _REAL_EMAIL.match(address):
        return PersonRef(account=address, name=name or None, email=address)
    if name:
        return PersonRef(account=" ".join(name.split()), name=name)
    return None


def _date(msg: Message) -> datetime | None:
    try:
        return to_utc(parsedate_to_datetime(_header(msg, "Date")))
    except (TypeError, ValueError, IndexError):
        return None


def parse_message(msg: Message, fallback_id: str) -> Mail:
    ids = _MSGID.findall(_header(msg, "Message-ID"))
    body = _body(msg)
    msgid = ids[0] if ids else f"generated-{hashlib.sha256((fallback_id + body).encode()).hexdigest()[:16]}"
    parents = _MSGID.findall(_header(msg, "References")) + _MSGID.findall(_header(msg, "In-Reply-To"))
    return Mail(msgid, parents, _header(msg, "Subject"), _sender(msg), _date(msg), body, own_words(body))


def build_threads(mails: list[Mail]) -> list[Thread]:
    """Attach each message to the nearest ancestor present (In-Reply-To first, then References)."""
    by_id = {m.msgid: m for m in mails}
    root_of: dict[str, str] = {}

    def find_root(m: Mail, depth: int = 0) -> str:
        if m.msgid in root_of:
            return root_of[m.msgid]
        parent = next((p for p in reversed(m.parents) if p in by_id and p != m.msgid), None)
        root = find_root(by_id[parent], depth + 1) if parent and depth < 200 else m.msgid
        root_of[m.msgid] = root
        return root

    threads: dict[str, Thread] = {}
    undated = datetime.max.replace(tzinfo=UTC)
    for m in sorted(mails, key=lambda m: (m.msgid not in root_of.values(), m.date or undated, m.msgid)):
        root = find_root(m)
        threads.setdefault(root, Thread(root=by_id[root])).messages.append(m)
    for thread in threads.values():  # the starter first, then replies by date (undated last)
        thread.messages.sort(key=lambda m: (m.msgid != thread.root.msgid, m.date or undated, m.msgid))
    return list(threads.values())


class MboxConnector:
    """An .mbox file or a folder of them; one document per thread."""

    def __init__(self, config: SourceConfig):
        self.name = config.name
        self.config = config
        self.url_base = config.options.get("url_base")
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> MboxConnector:
        if config.path is None:
            raise ConfigError(f"source {config.name!r}: field 'path' is required for type mbox")
        return cls(config)

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def _files(self) -> list[Path]:
        path = self.config.path
        assert path is not None
        if not path.exists():
            raise ConnectorError(f"{path} does not exist")
        return sorted(path.glob("*.mbox")) if path.is_dir() else [path]

    def _read(self) -> tuple[list[Mail], list[ConnectorFailure]]:
        mails: list[Mail] = []
        failures: list[ConnectorFailure] = []
        for file in self._files():
            try:
                box = mailbox.mbox(file, create=False)
                keys = list(box.keys())
            except Exception as exc:
                failures.append(
                    ConnectorFailure(source=self.name, path=file.name, error=f"{file.name}: {exc}")
                )
                continue
            for i, key in enumerate(keys):
                try:
                    mails.append(parse_message(box[key], f"{file.name}:{i}"))
                except Exception as exc:
                    failures.append(
                        ConnectorFailure(
                            source=self.name,
                            path=file.name,
                            error=f"{file.name} message {i}: cannot parse: {exc}",
                        )
                    )
        return mails, failures

    def _doc_id(self, thread: Thread) -> str:
        return f"{self.name}:{re.sub(r'[^A-Za-z0-9._@+-]', '_', thread.root.msgid)}"

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        mails, failures = self._read()
        yield from failures
        threshold = to_utc(datetime.fromisoformat(since)) if since else None
        newest: datetime | None = None
        for thread in build_threads(mails):
            dates = [m.date for m in thread.messages if m.date]
            last = max(dates) if dates else None
            if last and (newest is None or last > newest):
                newest = last
            if threshold and last and last <= threshold:
                continue
            yield self._document(thread)
        self._cursor = newest.isoformat() if newest else since

    def list_ids(self) -> Iterator[str]:
        mails, failures = self._read()
        if failures and not mails:
            raise ConnectorError(failures[0].error)
        for thread in build_threads(mails):
            yield self._doc_id(thread)

    def _document(self, thread: Thread) -> SourceDocument:
        title = _SUBJECT_NOISE.sub("", thread.root.subject).strip() or "(no subject)"
        sections, people = [], []
        for i, m in enumerate(thread.messages):
            who = (m.sender.name or m.sender.account) if m.sender else "unknown sender"
            when = m.date.strftime("%Y-%m-%d") if m.date else "undated"
            text = m.own_text or m.body.strip()
            if text:
                sections.append(Section(text=text, heading=(f"{who}, {when}",)))
            if m.sender:
                role = Role.ASKER if i == 0 else Role.ANSWERER
                people.append(
                    Contribution(person=m.sender, role=role, at=m.date, weight=1.0, text=m.own_text)
                )
        digest = hashlib.sha256("".join(m.msgid + m.body for m in thread.messages).encode()).hexdigest()[:32]
        dates = [m.date for m in thread.messages if m.date]
        doc_id = self._doc_id(thread)
        return SourceDocument(
            doc_id=doc_id,
            source=self.name,
            kind="mail",
            title=title,
            url=f"{self.url_base}{thread.root.msgid}" if self.url_base else None,
            sections=sections or [Section(text=title)],
            created_at=min(dates) if dates else None,
            updated_at=max(dates) if dates else None,
            version=digest,
            acl=self.config.acl,
            contributions=people,
        )
