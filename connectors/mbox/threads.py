"""Mail messages for the `mbox` connector: tolerant header and body decoding, own words, thread rebuilding."""

from __future__ import annotations

import email.errors
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from connectors._shared.html_text import html_to_text
from connectors.base import to_utc

# What the email package is known to raise on hostile input (besides its own MessageError).
EMAIL_ERRORS = (ValueError, TypeError, LookupError, IndexError, AttributeError, email.errors.MessageError)
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_ADDRESS = re.compile(r"^[^@\s<>()\",;]+@[^@\s<>()\",;]+\.[^@\s<>()\",;]+$")
_VIA = re.compile(r"^(.+?)\s+via\s+\S.*$", re.I)  # DMARC-munged "Name via List <list@...>"
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|wg|fwd?|fw)(\[\d+\])?\s*:|\[[^\[\]]*\])\s*", re.I)
_ASCTIME = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} +\d{1,2} [\d:]{4,8}( \S+)? \d{4}\s*$")
_LOOSE_DATE = re.compile(r"\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d{2}(?::\d{2})?(?: [+-]\d{4})?")
_ATTRIBUTION_VERB = re.compile(
    r"\b(wrote|writes|schrieb|escribió|a écrit|ha scritto|scripsit|skrev|napisał|пишет|写道)\b\W*$"
    r"|\b(schrieb|escribió|a écrit|ha scritto)\b.*:\s*$",
    re.I,
)
_ATTRIBUTION_OPENER = re.compile(r"^(On|Am|Le|El|Il|Op|Em|W dniu|В|\?)\s.*\d")
_CUT_MARKERS = re.compile(r"^-{5,} ?(Original Message|Ursprüngliche Nachricht|next part) ?-{5,}\s*$", re.I)
_FOOTER_HINT = re.compile(r"mailing list|listinfo|unsubscribe|^From:\s|^De:\s|^Von:\s", re.I)
_HTML_DELETED = re.compile(r"^\s*\[\[alternative HTML version deleted\]\]\s*$", re.I)
_BLANKS = re.compile(r"\n{3,}")
_HEADERISH = re.compile(r"^[^\s:][^:]{0,25}:\s?\S")  # "Sent: ...", "Van: ...", "??????: ..."
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
_QUOTED = re.compile(r"^[ \t]*>")
_SIGNATURE_MAX_LINES = 15


class MessageError(ValueError):
    """A message that cannot be read at all (no headers, nothing to attribute)."""


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message as the connector keeps it; `own_text` is `body` without quotes, signature and footer."""

    file: str
    index: int  # position in its file, from 1
    message_id: str  # without <>, or a generated "gen-<hash>"
    subject: str
    sender_key: str  # lowercase address, else normalised display name
    sender_name: str | None
    sender_email: str | None
    date: datetime | None
    body: str
    own_text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    list_id: str | None = None
    generated_id: bool = False

    @property
    def linked(self) -> bool:
        return self.in_reply_to is not None or bool(self.references)


@dataclass
class Thread:
    """Messages of one conversation in date order; `root` names it, `started` is False when the opening
    message is not in the archive (the first one kept is itself a reply)."""

    root: MailMessage
    messages: list[MailMessage] = field(default_factory=list)
    started: bool = True


# --- parsing ----------------------------------------------------------------------------------------


def parse_message(raw: bytes, file: str, index: int, from_line: str = "") -> MailMessage:
    """Read one message; the default policy first, compat32 when it raises on broken headers."""
    try:
        msg: Message = BytesParser(policy=policy.default).parsebytes(raw)
        body = body_text(msg)
    except EMAIL_ERRORS:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
        body = body_text(msg)
    headers = {name.lower() for name, _ in msg.raw_items()}
    if not headers & {"from", "subject", "date", "message-id", "in-reply-to", "references"}:
        raise MessageError("no mail headers (not a message, or cut off before its headers)")
    sender_raw = header(msg, "from") or ""
    name, address, key = parse_sender(sender_raw)
    subject = header(msg, "subject") or ""
    mid_raw = header(msg, "message-id") or ""
    found = _MSG_ID.findall(mid_raw)
    message_id = found[0] if found else mid_raw.strip().strip("<>").split(" ")[0]
    generated = not message_id
    if generated:
        digest = hashlib.sha256()
        for part in (sender_raw, header(msg, "date") or "", subject, body):
            digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
        message_id = f"gen-{digest.hexdigest()[:24]}"
    irt = _MSG_ID.findall(header(msg, "in-reply-to") or "")
    refs = tuple(r for r in _MSG_ID.findall(header(msg, "references") or "") if r != message_id)
    return MailMessage(
        file=file,
        index=index,
        message_id=message_id,
        subject=" ".join(subject.split()),
        sender_key=key,
        sender_name=name,
        sender_email=address,
        date=parse_mail_date(header(msg, "date"), from_line),
        body=body,
        own_text=own_words(body),
        in_reply_to=irt[0] if irt and irt[0] != message_id else None,
        references=refs,
        list_id=header(msg, "list-id"),
        generated_id=generated,
    )


def header(msg: Message, name: str) -> str | None:
    """The first `name` header, unfolded and decoded (RFC 2047 words, raw 8-bit bytes), never raising."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            text = re.sub(r"\r?\n[ \t]*", " ", str(value)).strip()
            return decode_words(_undo_surrogates(text))
    return None


def decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded; unknown charsets read as UTF-8, else Latin-1."""
    if "=?" not in text:
        return text
    try:
        chunks = decode_header(text)
    except EMAIL_ERRORS:
        return text
    return "".join(c if isinstance(c, str) else decode_bytes(c, cs) for c, cs in chunks).strip()


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in their declared charset. A missing, unknown or wrong label: UTF-8 when the bytes hold UTF-8
    sequences (bad bytes replaced), else Latin-1 (any byte is a Latin-1 character). Never raises."""
    label = (charset or "").strip().lower()
    if label and label not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        try:
            return data.decode(label)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if _UTF8_SEQUENCE.search(data):
            return data.decode("utf-8", "replace")
        return data.decode("latin-1")


def _undo_surrogates(text: str) -> str:
    """Header bytes outside ASCII arrive as surrogate escapes: read them as UTF-8, else Latin-1."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("ascii", "surrogateescape"), None)


def parse_sender(value: str) -> tuple[str | None, str | None, str]:
    """(display name, address, person key) from `Name <a@b>`, `a@b (Name)`, `a at b (Name)` or garbage.
    The key is the lowercase address when it is a real one, else the normalised display name."""
    value = " ".join(value.split())
    name: str | None = None
    address = value
    if m := re.match(r"^(.*?)<([^<>]*)>\s*$", value):
        name, address = m.group(1).strip().strip('"').strip(), m.group(2)
    elif m := re.match(r"^(.*?)\s*\((.*)\)\s*$", value):
        address, name = m.group(1), m.group(2).strip().strip('"').strip()
    address = address.strip().replace(" at ", "@")
    email_ok = bool(_ADDRESS.match(address))
    if name and (via := _VIA.match(name)):
        name, email_ok = via.group(1).strip(), False  # the address is the list's, not the person's
    name = name or None
    if email_ok:
        return name, address.lower(), address.lower()
    key = " ".join((name or address).lower().split()) or "unknown sender"
    return name, None, key


def parse_mail_date(value: str | None, from_line: str = "") -> datetime | None:
    """The Date header (a recognisable date inside a mangled one too), else the mbox From_ line's date."""
    candidates = [value, *(m.group(0) for m in _LOOSE_DATE.finditer(value))] if value else []
    if m := _ASCTIME.search(from_line):  # "From a@b  Tue Jan  2 13:59:13 2024", taken as UTC
        candidates.append(m.group(0))
    for candidate in candidates:
        try:
            return to_utc(parsedate_to_datetime(candidate))
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    return None


def body_text(msg: Message) -> str:
    """The text/plain parts that are not attachments; HTML-only mail converted to text."""
    plain: list[str] = []
    html: list[str] = []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = decode_bytes(payload, part.get_content_charset())
        (plain if kind == "text/plain" else html).append(text)
    if plain:
        return "\n\n".join(plain).replace("\r\n", "\n")
    if html:
        return "\n\n".join(html_to_text(h) for h in html)
    broken = not msg.is_multipart() and msg.get_content_maintype() in ("multipart", "text")
    payload = msg.get_payload(decode=True) if broken else None
    # A multipart without a boundary (or text/enriched and the like): its bytes read as text.
    return decode_bytes(payload, msg.get_content_charset()) if isinstance(payload, bytes) else ""


# --- own words --------------------------------------------------------------------------------------


def own_words(body: str) -> str:
    """The sender's own words: quoted lines (`>`, and `|` after an attribution), the "On ... wrote:" line
    above them, a top-posted original below one, the signature after `-- `, list footers,
    scrubbed-attachment notes and Outlook's "Original Message" tail removed."""
    lines = _cut_tail(body.replace("\r\n", "\n").split("\n"))
    kept: list[str] = []
    quoting = pipe_style = False
    for i, line in enumerate(lines):
        if line.startswith(">From "):  # mboxo escaping, not a quote
            kept.append(line[1:])
            quoting = False
        elif _QUOTED.match(line) or (line.startswith("|") and (pipe_style or quoting)):
            if not quoting:
                _drop_attribution(kept)
            quoting = True
        elif line.startswith("|") and _drop_attribution(kept):
            quoting = pipe_style = True  # "| " quoting, as some long-time list members write
        elif _is_top_post(lines, i):
            if kept and _ATTRIBUTION_OPENER.match(kept[-1].strip()):
                kept.pop()
            break  # everything below "On ... wrote:" is the original, not quoted line by line
        else:
            quoting = False
            if not _HTML_DELETED.match(line):
                kept.append(line.rstrip())
    kept = _drop_signature(kept)
    return _BLANKS.sub("\n\n", "\n".join(kept)).strip()


def _is_top_post(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if not _ATTRIBUTION_VERB.search(line) or _QUOTED.match(lines[i]):
        return False
    if not (_ATTRIBUTION_OPENER.match(line) or re.search(r"<|@| at |\d{1,2}:\d{2}", line)):
        return False
    following = next((x for x in lines[i + 1 :] if x.strip()), None)
    return following is not None and not _QUOTED.match(following) and not following.startswith("|")


def _cut_tail(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if _CUT_MARKERS.match(line.strip()):
            return lines[:i]
        if re.match(r"^_{10,}\s*$", line):
            after = lines[i + 1 : i + 4]
            if any(_FOOTER_HINT.search(x) for x in after) or all(_HEADERISH.match(x) for x in after[:2]):
                return lines[:i]  # a list footer, or Outlook's copy of the original's headers
    return lines


def _drop_attribution(kept: list[str]) -> bool:
    """Remove the attribution above a quote block: up to 3 lines, joined, that name a writer or a date."""
    end = len(kept)
    while end and not kept[end - 1].strip():
        end -= 1
    if end == 0 or len(kept) - end > 2:
        return False
    for size in (1, 2, 3):
        start = end - size
        if start < 0 or not kept[start].strip():
            return False
        joined = " ".join(x.strip() for x in kept[start:end])
        if _is_attribution(joined):
            if start > 0 and _ATTRIBUTION_OPENER.match(kept[start - 1].strip()) and size < 3:
                start -= 1  # "On Tue, 2 Jan 2024 at 10:00," / "John <j@x> wrote:"
            del kept[start:]
            return True
    return False


def _is_attribution(text: str) -> bool:
    if _ATTRIBUTION_VERB.search(text):
        return True
    dated = bool(re.search(r"\d{1,2}:\d{2}", text) and re.search(r"\b(19|20)\d{2}\b", text))
    if text.endswith(":") and dated:
        return True
    return bool(_ATTRIBUTION_OPENER.match(text) and dated and text.endswith(("<", ",", ":")))


def _drop_signature(lines: list[str]) -> list[str]:
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] in ("-- ", "--"):
            if sum(1 for x in lines[i + 1 :] if x.strip()) <= _SIGNATURE_MAX_LINES:
                return lines[:i]
            break
    return lines


# --- threads ----------------------------------------------------------------------------------------


def clean_subject(subject: str, prefixes: tuple[str, ...] = ()) -> str:
    """Subject without reply/forward markers, the configured list prefixes and leading [tags]."""
    text = subject.strip()
    while True:
        before = text
        for prefix in prefixes:
            if prefix and text.lower().startswith(prefix.lower()):
                text = text[len(prefix) :].lstrip()
        text = _REPLY_PREFIX.sub("", text, count=1)
        if text == before:
            return " ".join(text.split())


def _is_reply_subject(subject: str) -> bool:
    text = re.sub(r"^(\s*\[[^\[\]]*\])+", "", subject)
    return bool(re.match(r"^\s*(re|aw|sv|antw)(\[\d+\])?\s*:", text, re.I))


def build_threads(messages: list[MailMessage], prefixes: tuple[str, ...] = ()) -> list[Thread]:
    """Group messages into threads: by In-Reply-To and References (ids of messages not in the archive
    still link their repliers together), then, for a "Re:" message with no such headers only, by subject.
    Threads come out in the order of their first message."""
    order = {m.message_id: n for n, m in enumerate(messages)}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # deterministic representative

    for m in messages:
        find(m.message_id)
        for other in (m.in_reply_to, *m.references):
            if other is not None:
                union(m.message_id, other)
    groups: dict[str, list[MailMessage]] = {}
    for m in messages:
        groups.setdefault(find(m.message_id), []).append(m)
    by_subject: dict[str, str] = {}
    leads = {key: min(members, key=lambda m: _sort_key(m, order)) for key, members in groups.items()}
    for key in sorted(groups, key=lambda k: _sort_key(leads[k], order)):
        lead = leads[key]
        subject = clean_subject(lead.subject, prefixes).lower()
        target = by_subject.get(subject) if subject else None
        if target is not None and not lead.linked and _is_reply_subject(lead.subject):
            union(target, key)  # a "Re:" that lost its headers joins the thread of that subject
        elif subject:
            by_subject.setdefault(subject, key)
    merged: dict[str, list[MailMessage]] = {}
    for m in messages:
        merged.setdefault(find(m.message_id), []).append(m)
    threads = [_thread(members, order) for members in merged.values()]
    return sorted(threads, key=lambda t: _sort_key(t.messages[0], order))


def _thread(members: list[MailMessage], order: dict[str, int]) -> Thread:
    """The root is the earliest message whose parent (In-Reply-To, else any References id) is not here."""
    members = sorted(members, key=lambda m: _sort_key(m, order))
    present = {m.message_id for m in members}
    tops = [m for m in members if m.in_reply_to not in present and not present & set(m.references)]
    root = tops[0] if tops else members[0]
    return Thread(root=root, messages=members, started=not root.linked)


def _sort_key(m: MailMessage, order: dict[str, int]) -> tuple[bool, str, int]:
    # Undated messages keep their archive position after the dated ones.
    return (m.date is None, m.date.isoformat() if m.date else "", order.get(m.message_id, 0))
